"""A cold start before and after issue 24's cold-start work, each in a fresh process with an empty cache.

The new side is the package as of ``--new`` (default ``HEAD``; ``none``: this checkout as it is);
the old side is that same package with the files of the cold-start work (:data:`WORK`) as of
``--old``, so work by others in between is on both sides. The sides alternate (old new new old),
so load that drifts during the run weighs on both alike:

- shapes, cold: ``Session.from_shapes_world()`` + ``Dashboard(session)`` on an empty cache, the
  time after ``import drml_widgets`` split as session / view;
- rendering the 10,000 shapes of the world (``world.images``), CPU seconds of a fresh process.

The cold embeddings of both sides are checked equal, bit for bit. Writes
benchmarks/results/bench_cold_start.md.

    .venv/bin/python benchmarks/bench_cold_start.py
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from bench_warm_start import REPO, child, export, load, middle
from record import table, write_results

OLD = "b14e97e"  # the last commit before the cold-start work (a3f8b4d and after)
WORK = ["drml_widgets/data/shapes_render.py", "drml_widgets/embed/encoder.py", "drml_widgets/embed/images.py",
        "drml_widgets/embed/devices.py", "drml_widgets/embed/models.py"]
RENDER = r"""
import json, time
from drml_widgets import load_shapes_world
world = load_shapes_world()
t = time.process_time()
world.images
print(json.dumps({"render_cpu": time.process_time() - t}))
"""


def with_old_work(tree: Path, ref: str, into: Path) -> Path:
    """A copy of ``tree`` whose :data:`WORK` files are as of ``ref``."""
    shutil.copytree(tree / "drml_widgets", into / "drml_widgets", ignore=shutil.ignore_patterns("__pycache__"))
    for path in WORK:
        old = subprocess.run(["git", "-C", str(REPO), "show", f"{ref}:{path}"], check=True, capture_output=True).stdout
        (into / path).write_bytes(old)
    return into


def render_cpu(tree: Path) -> float:
    done = subprocess.run([sys.executable, "-c", RENDER], env={**os.environ, "PYTHONPATH": str(tree)},
                          capture_output=True, text=True, cwd=tree, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])["render_cpu"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--old", default=OLD, help="git ref of the cold-start files before the work")
    parser.add_argument("--new", default="HEAD", help="git ref of the package after it ('none': this checkout)")
    parser.add_argument("--repeats", type=int, default=2, help="cold runs per side (the median is reported)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-cold-"))
    loads = [load()]
    try:
        new = export(None if args.new == "none" else args.new, work / "new")
        trees = {"new": new, "old": with_old_work(new, args.old, work / "old")}
        order = (["old", "new", "new", "old"] * args.repeats)[: 2 * args.repeats]
        runs = {"old": [], "new": []}
        for i, side in enumerate(order):
            runs[side].append(child(trees[side], work / f"cache-{i}", "shapes", str(work / f"cold-{side}.npy")))
            loads.append(load())
        render = {side: [render_cpu(trees[side]) for _ in range(args.repeats)] for side in ("old", "new")}
        loads.append(load())
        same = bool(np.array_equal(np.load(work / "cold-old.npy"), np.load(work / "cold-new.npy")))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    old, new = middle(runs)
    body = [
        f"Old: this package with {', '.join(f'`{p}`' for p in WORK)} as of `{args.old}`; new: `{args.new}`. "
        f"Cold runs in fresh processes with empty caches, in seconds after `import drml_widgets`, medians of "
        f"{args.repeats}. The cores are shared with other engineers: load average (1 min) through the run "
        f"{' -> '.join(loads)}.",
        "",
        *table(["case", "old s", "new s", "new / old"],
               [["shapes, cold: from_shapes_world + Dashboard", f"{old['after_import']:.2f}",
                 f"{new['after_import']:.2f}", f"{new['after_import'] / old['after_import']:.2f}"],
                ["  of which from_shapes_world", f"{old['session']:.2f}", f"{new['session']:.2f}",
                 f"{new['session'] / old['session']:.2f}"],
                ["  of which Dashboard", f"{old['view']:.2f}", f"{new['view']:.2f}", f"{new['view'] / old['view']:.2f}"],
                ["rendering the 10,000 shapes (CPU s)", f"{np.median(render['old']):.2f}",
                 f"{np.median(render['new']):.2f}", f"{np.median(render['new']) / np.median(render['old']):.2f}"]]),
        "",
        f"Cold embeddings of the two sides equal, bit for bit: {same}.",
    ]
    write_results("bench_cold_start", body, load_at_start=loads[0])


if __name__ == "__main__":
    main()
