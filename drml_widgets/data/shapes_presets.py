"""The shapes world's presets for DrML: its attribute set, the paper's templates, the slices the
demo reports and the attribute that is the class. Generic code takes these as arguments; only
shapes-world entry points (the demo, ``Session.from_shapes_world``, tests) pass them."""

from __future__ import annotations

from ..prompts.generate import AttributeSet, PromptSpec
from .shapes import ATTRIBUTES

# The paper's dSpritesV attributes and prompts (appendix B.2-B.3).
SHAPES_ATTRIBUTES = AttributeSet({k: list(ATTRIBUTES[k]) for k in ("size", "color", "shape")})
RAW_TEMPLATE = "{size}, {color}, {shape}."
ENGINEERED_TEMPLATE = "{size} {color} {shape}."
SLICE_BY = ["color", "shape"]
LABEL_RULE = "shape"


def shapes_prompt_spec(ensemble: bool = True) -> PromptSpec:
    """Raw and engineered prompts, plus CLIP's 80-template ensemble over "{size} {color} {shape}".

    Example:
        >>> shapes_prompt_spec().n_per_combination
        82
    """
    return PromptSpec([RAW_TEMPLATE, ENGINEERED_TEMPLATE], ensemble=ensemble,
                      ensemble_phrase="{size} {color} {shape}")
