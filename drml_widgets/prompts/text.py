"""Small text helpers shared by prompt generation and the shapes captions."""

from __future__ import annotations

import re
from functools import lru_cache

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
    from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES

    return tuple(t("{}") for t in OPENAI_IMAGENET_TEMPLATES)
