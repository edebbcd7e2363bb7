"""Spurious-aware CLIP fine-tuning (paper 004): fine-tune only CLIP's two projections with
language (or image groups) to set an attribute it leans on apart from the classes.

- :mod:`.projections`: finding the projections, caching the frozen towers' outputs
  (:func:`cache_features`, :class:`ProjectionData`) and a tuned pair saved as an open_clip
  folder (:class:`TunedProjections`);
- :mod:`.losses`: ``L_CLIP`` and the paper's cross-group similarity with its masks;
- :mod:`.fine_tuning`: :func:`fine_tune_projections`, one variant, one seed;
- :mod:`.comparison`: :func:`compare_fine_tuning`, zero-shot and every variant over seeds;
- :mod:`.method`: paper 004 as a registered method on a session (``spurious_fine_tuning``):
  detection, the comparison and the groups, as a :class:`SpuriousResult` that ``SpuriousPanel``
  shows.

Detecting the attribute (``accuracy_discrepancy``) needs only tags and predictions, so it lives in
:mod:`drml_widgets.methods.detection`.
"""

from .comparison import ZERO_SHOT, FineTuneComparison, compare_fine_tuning
from .fine_tuning import VARIANTS, fine_tune_projections
from .losses import clip_loss, cross_group_similarity, group_masks, language_spurious_masks
from .projections import (ProjectionData, ProjectionNotFoundError, SpuriousError, TunedProjections, cache_features,
                          class_indices, find_projections, model_folder_config, projections_off)
from .method import SpuriousResult, SpuriousSetting  # importing it registers the method

__all__ = [
    "VARIANTS", "ZERO_SHOT", "FineTuneComparison", "ProjectionData", "ProjectionNotFoundError", "SpuriousError",
    "SpuriousResult", "SpuriousSetting", "TunedProjections", "cache_features", "class_indices", "clip_loss",
    "compare_fine_tuning",    "cross_group_similarity", "find_projections", "fine_tune_projections", "group_masks",
    "language_spurious_masks", "model_folder_config", "projections_off",
]
