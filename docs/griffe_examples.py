"""Griffe extension: the package's docstrings head their doctests ``Example:``; Google style as griffe
parses it knows only ``Examples:``, and renders ``Example:`` as prose (so ``[0, 1]`` in an output
reads as a Markdown link). Renaming the heading at load time renders every example as code."""

from __future__ import annotations

import re

import griffe

HEADING = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)


class ExampleSections(griffe.Extension):
    def on_object(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = HEADING.sub(r"\1Examples:", obj.docstring.value)
