"""MkDocs hook: tables the docs would otherwise copy by hand, made from the code at build time.

- ``{{ methods_table }}``: every registered method, its question, paper, route and view, read from a
  shapes-world session's ``methods()`` (so a new registration shows up without editing a page);
- ``{{ traits: GapPlot }}``: a view's public synced traits with their ``help=`` text;
- ``reference/<part>.md``: one API page per part of the package, listing every public module found
  by walking it, so a new module is documented (and its docstrings checked) without a page edit.

A marker that names no view fails the build, as a broken link does in strict mode.
"""

from __future__ import annotations

import functools
import pkgutil
import re
from pathlib import Path

from mkdocs.structure.files import File


PACKAGE = Path(__file__).resolve().parents[1] / "drml_widgets"
# The API pages: the package's top-level modules, then each sub-package, in the nav's order.
PARTS = {"core": "Session, results and errors", "methods": "Methods (the five papers)",
         "diagnose": "Diagnostics (DrML)", "embed": "Embedding", "data": "Data", "prompts": "Prompts",
         "widgets": "Widgets", "scorecard": "Scorecard", "jobs": "Jobs"}
MARKER = re.compile(r"\{\{\s*(methods_table|traits:\s*(\w+))\s*\}\}")


def cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


@functools.lru_cache(maxsize=1)
def methods_markdown() -> str:
    from drml_widgets import Session

    table = Session.from_shapes_world(n=1200, ensemble=False).methods()
    rows = [[row.question, f"`{row.route}`", f"`{row.view}`" if row.view else "a table (or `FindingsView`)",
             row.paper, f"`{row.method}`"] for row in table.itertuples()]
    return markdown_table(["question", "route", "view", "paper", "method name"], rows)


def traits_markdown(name: str) -> str:
    import drml_widgets.widgets as widgets

    cls = getattr(widgets, name, None)
    if not isinstance(cls, type):
        raise ValueError(f"docs: {{{{ traits: {name} }}}} names no view in drml_widgets.widgets")
    rows = []
    for trait_name, trait in sorted(cls.class_traits(sync=True).items()):
        owner = next((base for base in cls.__mro__ if trait_name in vars(base)), cls)
        if trait_name.startswith("_") or not owner.__module__.startswith("drml_widgets."):
            continue
        kind = type(trait).__name__
        rows.append([f"`{trait_name}`", kind, trait.help or ""])
    return markdown_table(["trait", "type", "what it holds"], rows)


def on_page_markdown(markdown: str, **kwargs) -> str:
    def replace(match: re.Match) -> str:
        return methods_markdown() if match.group(1) == "methods_table" else traits_markdown(match.group(2))

    return MARKER.sub(replace, markdown)



def public_modules(part: str) -> list[str]:
    """Every public module of a part of the package (``core``: the top-level modules)."""
    if part == "core":
        found = [f"drml_widgets.{m.name}" for m in pkgutil.iter_modules([str(PACKAGE)]) if not m.ispkg]
    else:
        found = [f"drml_widgets.{part}"] + [m.name for m in pkgutil.walk_packages([str(PACKAGE / part)],
                                                                                  f"drml_widgets.{part}.")]
    return sorted(name for name in found if not any(piece.startswith("_") for piece in name.split(".")))


def reference_page(part: str) -> str:
    body = "\n\n".join(f"::: {name}" for name in public_modules(part))
    return f"# {PARTS[part]}\n\n{body}\n"


def on_files(files, config):
    for part in PARTS:
        files.append(File.generated(config, f"reference/{part}.md", content=reference_page(part)))
    return files
