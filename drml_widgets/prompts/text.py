"""Small text helpers shared by prompt generation and the shapes captions."""

from __future__ import annotations

import importlib.util
import re
import sys
from functools import lru_cache
from pathlib import Path

_ARTICLE = re.compile(r"\b([Aa]) (?=[aeiouAEIOU])")


def fix_articles(text: str) -> str:
    """Turn "a" into "an" before a vowel, so templates read naturally.

    Example:
        >>> fix_articles("a orange triangle and a square")
        'an orange triangle and a square'
    """
    return _ARTICLE.sub(lambda m: m.group(1) + "n ", text)


def imagenet_templates() -> list[str]:
    """CLIP's 80 ImageNet prompt templates as format strings with one ``{}`` slot.

    They come from open_clip's own copy, so the list stays in step with the library.

    Example:
        >>> templates = imagenet_templates()
        >>> len(templates), templates[0]
        (80, 'a bad photo of a {}.')
    """
    return list(_imagenet_templates())


@lru_cache(maxsize=1)
def _imagenet_templates() -> tuple[str, ...]:
    # open_clip's package import builds torch and torchvision (seconds); this module of plain
    # lists needs neither, so a warm start reads it without them when they are not loaded yet.
    if "open_clip" in sys.modules:
        from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES
    else:
        folder = importlib.util.find_spec("open_clip").submodule_search_locations[0]
        spec = importlib.util.spec_from_file_location("_open_clip_templates", Path(folder) / "zero_shot_metadata.py")
        metadata = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(metadata)
        OPENAI_IMAGENET_TEMPLATES = metadata.OPENAI_IMAGENET_TEMPLATES
    return tuple(t("{}") for t in OPENAI_IMAGENET_TEMPLATES)
