"""The scorecard: many planted failures in the shapes world, every failure-finding method scored on
each with one protocol (precision@10 of the top slice's members, exact name, time).

Build the pool once (:func:`load_pool`), then :func:`run_scorecard`; or from a shell:
``python -m drml_widgets scorecard --settings 200``.
"""

from .settings import KINDS, MODELS, Pool, ScorecardError, Setting, draw_setting, load_pool, train_model

__all__ = ["KINDS", "MODELS", "Pool", "ScorecardError", "Setting", "draw_setting", "load_pool", "train_model"]
