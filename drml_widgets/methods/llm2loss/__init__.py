"""LLM2Loss (paper 002): learn a black box's loss from CLIP image embeddings, then ask in words.

Three ensembles of small heads (linear or 2-layer MLP, 5 seeds by default) read an image
embedding: a loss regressor (MSE on the loss, eq. 1), a pairwise ranker (binary cross-entropy
on score differences, eqs. 2-4: is image i harder than image j?) and an in-distribution
classifier (the training images against random unit vectors, section 3.1.3). Because CLIP puts
text in the same space, every head can then be read on a sentence: its estimated loss, how
familiar it is, which of two sentences is harder, and how unequal the black box is between "X"
and "not X" (a Rawlsian max-min gap). The spread across the ensemble says how far to trust
each answer.

- :mod:`.ensemble`: :func:`fit_loss_predictor` and :class:`LLM2Loss` (estimate, compare, bias);
- :mod:`.results`: what it reports about itself (:class:`LossEvaluation`, :class:`SliceLoss`);
- :mod:`.scale`: both models' estimates on one scale, the held-out images' loss
  (:class:`HeldOutScale`);
- :mod:`.method`: LLM2Loss as a registered method on a session (``session.fit_loss_predictor``).

The black box and its per-image loss are in :mod:`drml_widgets.methods.blackbox`.
"""

from ...errors import LLM2LossError
from .ensemble import MAX_RANK_VAL, MIN_IMAGES, OBJECTIVES, LLM2Loss, Ensemble, fit_llm2loss, fit_loss_predictor
from .results import CORRELATIONS, LossEvaluation, SliceLoss, check_model, correlations
from .scale import MODELS, HeldOutScale
from . import method  # registers LLM2Loss with the method registry

__all__ = ["CORRELATIONS", "MAX_RANK_VAL", "MIN_IMAGES", "MODELS", "OBJECTIVES", "Ensemble", "HeldOutScale",
           "LLM2Loss", "LLM2LossError", "LossEvaluation", "SliceLoss", "check_model", "correlations", "fit_llm2loss", "fit_loss_predictor"]
