"""The teaching lab teaches: it opens blank and runs top to bottom that way, each self-check stopping
with its hint; filled with its solutions (the generated solutions notebook) every check passes; and
the committed solutions notebook is what the generator writes from the lab."""

import doctest
import importlib.util

import nbformat
import pytest

from test_notebooks import NOTEBOOKS, execute, widget_outputs

LAB = NOTEBOOKS / "02_teaching_lab.ipynb"
SOLUTIONS = NOTEBOOKS / "solutions" / "02_teaching_lab_solutions.ipynb"
N_EXERCISES = 5


def generator():
    spec = importlib.util.spec_from_file_location("make_solutions", NOTEBOOKS / "solutions" / "make_solutions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def is_check(cell) -> bool:
    return cell.cell_type == "code" and "\ncheck(" in "\n" + cell.source


def errors(cell) -> list:
    return [out for out in cell.outputs if out.output_type == "error"]


def printed(cell) -> str:
    return "".join(out.get("text", "") for out in cell.outputs)


def test_solutions_notebook_is_generated_from_the_lab():
    make_solutions = generator()
    assert doctest.testmod(make_solutions).failed == 0
    assert SOLUTIONS.read_text() == make_solutions.render(LAB), \
        "notebooks/solutions is out of date: run python notebooks/solutions/make_solutions.py"
    lab = nbformat.read(LAB, as_version=4)
    answers = [c for c in lab.cells if "solution" in c.metadata]
    assert len(answers) == N_EXERCISES and sum(map(is_check, lab.cells)) == N_EXERCISES
    assert all("# your answer" in c.source and "= None" in c.source for c in answers), "answer cells open blank"
    for book in (lab, nbformat.read(SOLUTIONS, as_version=4)):
        assert not any(c.get("outputs") for c in book.cells if c.cell_type == "code"), "commit notebooks without outputs"


@pytest.mark.slow
def test_blank_lab_runs_and_every_check_says_not_yet_with_its_hint(tmp_path):
    book, _ = execute(LAB.name, tmp_path, allow_errors=True)
    checks = [c for c in book.cells if is_check(c)]
    assert len(checks) == N_EXERCISES
    for cell in checks:
        (error,) = errors(cell)
        assert error.ename == "AssertionError" and error.evalue.startswith("Not yet. Hint: "), (cell.source, error.evalue)
        assert "correct" not in printed(cell)
    others = [(c.source[:60], e.ename, e.evalue) for c in book.cells if c.cell_type == "code" and not is_check(c)
              for e in errors(c)]
    assert not others, f"cells other than the checks failed on the blank lab: {others}"
    assert widget_outputs(book) == ["Dashboard"]


@pytest.mark.slow
def test_solved_lab_passes_every_check(tmp_path):
    book, _ = execute("solutions/" + SOLUTIONS.name, tmp_path)
    checks = [c for c in book.cells if is_check(c)]
    assert len(checks) == N_EXERCISES and all(printed(c).rstrip().endswith("correct") for c in checks)
    text = "".join(printed(c) for c in book.cells if c.cell_type == "code")
    assert "still falling at the last epoch (50 of 50)" in text  # the defaults stop before the run settles
    assert "of the text's gain reached the images" in text  # at 75 epochs the text passes, and it says why images lag
    assert widget_outputs(book) == ["Dashboard"]
