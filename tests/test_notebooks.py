"""Every notebook runs top to bottom in a fresh kernel, offline, and shows its widgets (03 on its
stand-in folder and the bundled CLIP)."""

import os
import shutil
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
# No test may fail because the machine is busy: a cell gets half an hour (the slowest takes about a
# minute on 2 idle cores), and a slower host can set DRML_NOTEBOOK_CELL_TIMEOUT (seconds; 0 = none).
CELL_TIMEOUT = int(os.environ.get("DRML_NOTEBOOK_CELL_TIMEOUT", "1800")) or None


def execute(name: str, tmp_path: Path, **options):
    """Run notebooks/<name> in tmp_path; options go to NotebookClient (allow_errors=True, say)."""
    path = tmp_path / Path(name).name
    shutil.copy(NOTEBOOKS / name, path)
    book = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(book, timeout=CELL_TIMEOUT, startup_timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}, **options).execute()
    return book, time.perf_counter() - start


def widget_outputs(book) -> list[str]:
    """Our widgets shown in the outputs, by class (progress bars from tqdm are widgets too)."""
    state = book.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    ids = [out["data"][WIDGET_MIME]["model_id"] for c in book.cells if c.cell_type == "code"
           for out in c.outputs if WIDGET_MIME in out.get("data", {})]
    names = [state[i]["state"].get("_anywidget_id", "") for i in ids if i in state]
    return [n.rsplit(".", 1)[1] for n in names if n.startswith("drml_widgets.")]


@pytest.mark.slow
def test_quickstart_runs_the_whole_loop(tmp_path):
    committed = nbformat.read(NOTEBOOKS / "01_quickstart.ipynb", as_version=4)
    assert not any(c.get("outputs") for c in committed.cells if c.cell_type == "code"), "commit notebooks without outputs"
    book, seconds = execute("01_quickstart.ipynb", tmp_path)
    assert widget_outputs(book) == ["GapPlot", "PromptBuilder", "SliceTable", "InfluenceChart", "RectifyPanel"]
    text = "".join(out.get("text", "") for c in book.cells if c.cell_type == "code" for out in c.outputs)
    assert "RectifyResult(mode='replay', version=1" in text
    assert (tmp_path / "drml-quickstart-report.html").stat().st_size > 1_000_000
    print(f"01_quickstart ran in {seconds:.0f} s")


# 02_teaching_lab runs in test_teaching_lab.py: blank (every check gives its hint) and solved.


@pytest.mark.slow
def test_your_data_runs_offline_on_the_stand_in_folder(tmp_path):
    book, _ = execute("03_your_data.ipynb", tmp_path)
    text = "".join(str(out.get("data", {}).get("text/plain", "")) + out.get("text", "")
                   for c in book.cells if c.cell_type == "code" for out in c.outputs)
    for shown in ("ImageDataset(3000 images from folder", "metadata columns ['color', 'size', 'position']",
                  "built-in vocabulary, proposed ['color'", "Surrogate(linear head", "known by its outputs"):
        assert shown in text, f"notebook 03 did not show {shown!r}"
    assert widget_outputs(book) == ["Dashboard"]


# The views each method notebook shows, in order (instead of hand-made figures).
METHOD_VIEWS = {"04_prime.ipynb": ["FailureModes"], "05_lbee.ipynb": ["HardClusters"], "06_llm2loss.ipynb": ["LossQuery"],
                "07_spurious.ipynb": ["SpuriousPanel", "SpuriousPanel"]}


@pytest.mark.slow
@pytest.mark.parametrize("name, expected", [
    ("04_prime.ipynb", ["square: orange", "triangle: green"]),
    ("05_lbee.ipynb", ["hard cluster", "FPDiff"]),
    ("06_llm2loss.ipynb", ["LLM2Loss(members=5", "spearman"]),
    ("07_spurious.ipynb", ["FineTuneComparison", "worst_group"]),
])
def test_method_notebooks_run_and_show_what_they_found(tmp_path, name, expected):
    book, _ = execute(name, tmp_path)
    shown = "".join(str(out.get("data", {}).get("text/plain", "")) + out.get("text", "")
                    for c in book.cells if c.cell_type == "code" for out in c.outputs)
    state = book.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    shown += "".join(m["state"].get("value", "") for m in state.values() if m["model_name"] == "HTMLModel")
    missing = [e for e in expected if e not in shown]
    assert not missing, f"{name} did not show {missing}"
    if name in METHOD_VIEWS:
        assert widget_outputs(book) == METHOD_VIEWS[name]
