"""Write the teaching lab's solutions notebook from the lab itself.

Each answer cell of ``notebooks/02_teaching_lab.ipynb`` opens blank and keeps its one solution in
its metadata (``"solution"``); this writes ``02_teaching_lab_solutions.ipynb`` beside this script,
the lab with every answer cell filled in. Run it after editing the lab:

    python notebooks/solutions/make_solutions.py

``tests/test_teaching_lab.py`` fails while the committed solutions notebook differs from what this
writes, so the two never drift.
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
LAB = HERE.parent / "02_teaching_lab.ipynb"
SOLUTIONS = HERE / "02_teaching_lab_solutions.ipynb"
NOTE = ("**Solutions, for instructors.** Generated from `../02_teaching_lab.ipynb` by `make_solutions.py`: "
        "edit the lab (an answer cell's solution is in its metadata, `\"solution\"`), then rerun the script.")


def solved(lab: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The lab with each answer cell's source replaced by its stored solution, and a note on top.

    Example:
        >>> lab = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = None  # your answer")])
        >>> lab.cells[0].metadata["solution"] = "x = 1"
        >>> [c.source for c in solved(lab).cells][1]
        'x = 1'
    """
    book = copy.deepcopy(lab)
    for cell in book.cells:
        solution = cell.metadata.pop("solution", None)
        if solution is not None:
            cell.source = solution
    book.cells.insert(0, nbformat.v4.new_markdown_cell(NOTE, id="solutions-note"))
    return book


def render(lab_path: Path = LAB) -> str:
    """The solutions notebook's text, as :func:`main` writes it (the test compares it with the file)."""
    return nbformat.writes(solved(nbformat.read(lab_path, as_version=4))) + "\n"


def main() -> None:
    SOLUTIONS.write_text(render())
    print(f"wrote {SOLUTIONS}")


if __name__ == "__main__":
    main()
