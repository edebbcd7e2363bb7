"""Methods of papers 001-004 built on the engine: PRIME and its tagging, LLM2Loss, LBEE and
spurious-aware CLIP fine-tuning."""

from .blackbox import BlackBox, per_image_loss, train_example_black_box
from .lbee import LBEEResult, evaluate, explain_failures, ground_truth, split_hard_easy
from .llm2loss import LLM2Loss, fit_llm2loss
from .prime import PrimeResult, description_quality, find_failure_modes, generalisation
from .spurious import (FineTuneComparison, TunedProjections, accuracy_discrepancy, cache_features,
                       compare_fine_tuning, fine_tune_projections)
from .tagging import TagVocabulary, tag_images
