"""What every benchmark writes beside its figures: the date, the command, the machine and its load.

Each benchmark writes its own table to ``benchmarks/results/<name>.md`` through :func:`write_results`,
so a figure in the docs (which include these files) is never typed by hand from a run.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> out = write_results("demo", table(["a", "b"], [[1, 2]]), folder=Path(tempfile.mkdtemp()),
    ...                     command="python benchmarks/demo.py")  # doctest: +ELLIPSIS
    | a | b |
    |---|---|
    | 1 | 2 |
    written to .../demo.md
    >>> out.read_text().splitlines()[0]
    '# demo'
    >>> out.read_text().splitlines()[-1]
    '| 1 | 2 |'
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def machine() -> str:
    """The CPU model and core count, and torch's build and thread count when torch is loaded."""
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor() or "unknown CPU") \
        if Path("/proc/cpuinfo").exists() else platform.processor() or "unknown CPU"
    text = f"{os.cpu_count()} cores (nproc), {model}"
    try:
        import torch

        text += f"; torch {torch.__version__}, {torch.get_num_threads()} threads"
    except ImportError:
        pass
    return text


def load() -> str:
    """The load average over 1, 5 and 15 minutes: other work sharing the cores is named, not subtracted."""
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def command_line() -> str:
    """How this process was started, as a results file records it: the thread cap in the
    environment (it changes the figures) and the arguments (a smaller size than the default shows)."""
    env = " ".join(f"{k}={os.environ[k]}" for k in ("OMP_NUM_THREADS",) if k in os.environ)
    script = Path(sys.argv[0]).resolve()
    script = script.relative_to(Path.cwd()) if script.is_relative_to(Path.cwd()) else script
    return " ".join(filter(None, [env, ".venv/bin/python", str(script), *sys.argv[1:]]))


def table(columns: list[str], rows: list[list]) -> list[str]:
    """A Markdown table's lines: ``columns`` as the header, each row's cells as written."""
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns),
            *("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows)]


def frame_table(frame) -> list[str]:
    """A pandas DataFrame's Markdown table lines (its index not included: reset it first to keep it);
    missing values are left blank."""
    return table([str(c) for c in frame.columns], frame.astype(object).fillna("").values.tolist())


def write_results(name: str, body: list[str], command: str | None = None, load_at_start: str | None = None,
                  folder: Path = RESULTS) -> Path:
    """Write ``body`` (Markdown lines) to ``<folder>/<name>.md`` under a header with the date, the
    command that made it (by default :func:`command_line`), the machine and the load at the start
    and the end; prints the body and returns the path."""
    command = command or command_line()
    header = [f"# {name}", "", f"Made by `{command}` on {datetime.datetime.now().isoformat(timespec='minutes')}.",
              "", f"Machine: {machine()}.", "",
              f"Load average (1/5/15 min): {load_at_start or load()} at the start, {load()} at the end.", ""]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.md"
    path.write_text("\n".join(header + body) + "\n")
    print("\n".join(body), f"\nwritten to {path}", sep="")
    return path
