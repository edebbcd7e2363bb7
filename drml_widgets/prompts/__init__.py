"""Attribute sets, templates and prompt generation."""

from .generate import AttributeSet, PromptError, PromptSpec, count_prompts, generate_prompts
from .text import fix_articles, imagenet_templates

__all__ = ["AttributeSet", "PromptError", "PromptSpec", "count_prompts", "fix_articles",
           "generate_prompts", "imagenet_templates"]
