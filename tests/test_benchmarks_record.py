"""Benchmarks write their own results (benchmarks/record.py): the header names the date, the command,
the machine and the load, and every benchmark script calls ``write_results``."""

from __future__ import annotations

import datetime
import importlib.util
import os
import re
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def record():
    spec = importlib.util.spec_from_file_location("bench_record", BENCHMARKS / "record.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_write_results_writes_header_and_body(record, tmp_path, capsys):
    body = record.table(["kernel", "s"], [["gap", 1.5]]) + ["", "a note"]
    path = record.write_results("demo", body, command="python benchmarks/demo.py --n 10",
                                load_at_start="1.00/2.00/3.00", folder=tmp_path)
    text = path.read_text()
    lines = text.splitlines()
    assert path == tmp_path / "demo.md" and lines[0] == "# demo"
    assert f"Made by `python benchmarks/demo.py --n 10` on {datetime.date.today().isoformat()}T" in text
    assert f"Machine: {os.cpu_count()} cores" in text
    assert re.search(r"Load average \(1/5/15 min\): 1\.00/2\.00/3\.00 at the start, [\d.]+/[\d.]+/[\d.]+ at the end",
                     text)
    assert lines[-5:] == ["| kernel | s |", "|---|---|", "| gap | 1.5 |", "", "a note"]
    assert "| gap | 1.5 |" in capsys.readouterr().out  # the run shows what it wrote


def test_command_line_records_arguments_and_thread_cap(record, monkeypatch):
    monkeypatch.setattr(sys, "argv", [str(BENCHMARKS / "bench_demo.py"), "--n", "1000"])
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.chdir(BENCHMARKS.parent)
    assert record.command_line() == "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_demo.py --n 1000"
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert record.command_line() == ".venv/bin/python benchmarks/bench_demo.py --n 1000"


def test_frame_table_leaves_missing_values_blank(record):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"kernel": ["gap", "lbee"], "1M s": [10.5, float("nan")]})
    assert record.frame_table(frame) == ["| kernel | 1M s |", "|---|---|", "| gap | 10.5 |", "| lbee |  |"]


@pytest.mark.parametrize("script", sorted(p.name for p in BENCHMARKS.glob("bench_*.py")))
def test_every_benchmark_writes_its_results(script):
    assert "write_results(" in (BENCHMARKS / script).read_text(), (
        f"{script} only prints. Fix: write its table with record.write_results (benchmarks/record.py), "
        "so the docs include it instead of a figure typed by hand.")
