"""Methods of papers 001-004 built on the engine, one module each: :mod:`.prime` (with
:mod:`.tagging`), :mod:`.llm2loss` (with :mod:`.blackbox`), :mod:`.lbee`, and :mod:`.spurious`
(with :mod:`.detection`).

Reach a method's steps through its module, so each call says which method it belongs to::

    from drml_widgets.methods import lbee, prime
    prime.generalisation(...); lbee.evaluate(...)

Names that already say their method are also importable from here (``find_failure_modes``,
``find_hard_clusters``, ``fit_loss_predictor``, ``compare_fine_tuning``, ...); generic ones
(``evaluate``, ``generalisation``, ``ground_truth``, ``cache_features``, ...) are not.
"""

# Registration order is the order of session.methods(): the papers in turn.
from . import drml, prime, llm2loss, lbee, spurious  # noqa: I001
from . import blackbox, detection, protocol, tagging
from .blackbox import BlackBox, per_image_loss, train_black_box, train_example_black_box
from .detection import accuracy_discrepancy
from .lbee import LBEEResult, explain_failures, find_hard_clusters
from .llm2loss import LLM2Loss, fit_llm2loss, fit_loss_predictor
from .prime import PrimeResult, find_failure_modes
from .protocol import Method, SessionView, get_method, register, registered, unregister
from .spurious import FineTuneComparison, TunedProjections, compare_fine_tuning, fine_tune_projections
from .tagging import TagVocabulary, tag_images

__all__ = [
    # one module per method
    "blackbox", "detection", "drml", "lbee", "llm2loss", "prime", "protocol", "spurious",
    "tagging",
    # the method protocol and its registry
    "Method", "SessionView", "get_method", "register", "registered", "unregister",
    # PRIME and its tagging
    "PrimeResult", "TagVocabulary", "find_failure_modes", "tag_images",
    # LBEE
    "LBEEResult", "explain_failures", "find_hard_clusters",
    # LLM2Loss and its example black box
    "BlackBox", "LLM2Loss", "fit_llm2loss", "fit_loss_predictor", "per_image_loss", "train_black_box", "train_example_black_box",
    # spurious-aware fine-tuning and its detection
    "FineTuneComparison", "TunedProjections", "accuracy_discrepancy", "compare_fine_tuning", "fine_tune_projections",
]
