"""Methods of papers 001-004 built on the engine; PRIME, LBEE and their tagging here."""

from .lbee import LBEEResult, evaluate, explain_failures, ground_truth, split_hard_easy
from .prime import PrimeResult, description_quality, find_failure_modes, generalisation
from .tagging import TagVocabulary, tag_images
