"""A warm start and a cold one, before and after issue 24's warm-start work, each in a fresh process.

Both sides run side by side, on the same machine, in alternation: the package as of ``--old``
(default: the last commit before the work) and as of ``--new`` (default: this checkout; a git
ref exports that commit instead, leaving others' unfinished edits out). Each side has its own
embedding cache, since the shapes world's keys changed.

- shapes, cold: ``Session.from_shapes_world()`` + ``Dashboard(session)`` on an empty cache;
- shapes, warm: the same again, in a new process (the time after ``import drml_widgets``);
- folder, warm: ``Session.from_folder`` on 10,000 cached PNG files (one cache: file keys did not change);
- the floor under a start that trains its head: ``import torch`` and ``torch._dynamo`` (which
  torch's optimisers import on first use), timed alone in fresh processes. A warm start with the
  head kept from the cold one (diagnose/head_cache.py) imports neither; the table says whether
  each side imported torch.

The embeddings of the new cold and warm starts are checked equal to the old ones, bit for bit.
Writes benchmarks/results/bench_warm_start.md.

    .venv/bin/python benchmarks/bench_warm_start.py --new HEAD
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from record import table, write_results

REPO = Path(__file__).resolve().parent.parent
OLD = "eed8322"  # the last commit before the warm-start work (764592d and after)

# Run in a fresh interpreter: times after import, what was built, the embeddings saved.
CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import drml_widgets
from drml_widgets import ClipEncoder, Dashboard, Session
t1 = time.perf_counter()
mode, out = sys.argv[1], sys.argv[2]
if mode == "shapes":
    session = Session.from_shapes_world()
    t2 = time.perf_counter()
    Dashboard(session)
else:
    folder = sys.argv[3]
    session = Session.from_folder(folder, ClipEncoder("shapes", progress=False), metadata=folder + "/metadata.csv")
    t2 = time.perf_counter()
t3 = time.perf_counter()
import numpy as np
np.save(out, session.image_emb)
print(json.dumps({"import": t1 - t0, "session": t2 - t1, "view": t3 - t2, "after_import": t3 - t1,
                  "model_built": session.encoder.is_loaded, "open_clip": "open_clip" in sys.modules,
                  "torch": "torch" in sys.modules}))
"""
FLOOR = "import time; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)"


def export(ref: str | None, into: Path) -> Path:
    """The package as of ``ref`` in a folder of its own (``None``: this checkout as it is)."""
    if ref is None:
        return REPO
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref, "drml_widgets"], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def child(tree: Path, cache: Path, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree), "DRML_WIDGETS_CACHE": str(cache)}
    done = subprocess.run([sys.executable, "-c", CHILD, *args], env=env, capture_output=True, text=True, cwd=tree)
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def floor(stmt: str, repeats: int) -> float:
    return statistics.median(float(subprocess.run([sys.executable, "-c", FLOOR.format(stmt=stmt)], capture_output=True,
                                                  text=True, check=True).stdout) for _ in range(repeats))


def middle(runs: dict[str, list[dict]]) -> tuple[dict, dict]:
    """Per side, the median of each timing over its runs (and the last run's flags)."""
    return tuple({k: statistics.median(r[k] for r in side) if isinstance(side[0][k], float) else side[-1][k]
                  for k in side[0]} for side in (runs["old"], runs["new"]))


def load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--old", default=OLD, help="git ref of the package before the work")
    parser.add_argument("--new", default=None, help="git ref of the package after it (default: this checkout)")
    parser.add_argument("--repeats", type=int, default=3, help="warm runs per side (the median is reported)")
    parser.add_argument("--cold-repeats", type=int, default=2, choices=(1, 2), help="cold runs per side")
    parser.add_argument("--files", type=int, default=10_000, help="images in the cached folder")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-warm-"))
    loads = [load()]
    try:
        trees = {"old": export(args.old, work / "old"), "new": export(args.new, work / "new")}
        # Sides alternate (cold: old new new old; warm: old new old new ...), so load that drifts
        # during the run (other engineers' jobs) weighs on both alike.
        order = ["old", "new", "new", "old"][: 2 * args.cold_repeats]
        cold_runs = {"old": [], "new": []}
        for i, side in enumerate(order):
            cold_runs[side].append(child(trees[side], work / f"cache-{side}-{i}", "shapes", str(work / f"cold-{side}.npy")))
            loads.append(load())
        emb = {f"cold-{side}": np.load(work / f"cold-{side}.npy") for side in trees}
        warm_runs = {"old": [], "new": []}
        for _ in range(args.repeats):
            for side in trees:  # on the cache of the side's last cold run
                last = len(order) - 1 - order[::-1].index(side)
                warm_runs[side].append(child(trees[side], work / f"cache-{side}-{last}", "shapes", str(work / f"warm-{side}.npy")))
        emb.update({f"warm-{side}": np.load(work / f"warm-{side}.npy") for side in trees})
        loads.append(load())
        # a folder as a user's: written by the new side (same pixels), cached once, then timed warm on both sides
        sys.path.insert(0, str(trees["new"]))
        from drml_widgets import load_shapes_world

        folder = load_shapes_world(n=args.files).to_folder(work / "photos", image_format="png")
        child(trees["new"], work / "cache-folder", "folder", str(work / "folder-cold.npy"), str(folder))
        folder_runs = {"old": [], "new": []}
        for _ in range(args.repeats):
            for side, tree in trees.items():
                folder_runs[side].append(child(tree, work / "cache-folder", "folder", str(work / f"folder-{side}.npy"),
                                               str(folder)))
        loads.append(load())
        rows = [(f"shapes, cold: from_shapes_world + Dashboard (median of {args.cold_repeats})", *middle(cold_runs)),
                (f"shapes, warm: from_shapes_world + Dashboard (median of {args.repeats})", *middle(warm_runs)),
                (f"folder, warm: from_folder on {args.files:,} cached PNGs (median of {args.repeats})",
                 *middle(folder_runs))]
        same = {name: bool(np.array_equal(emb["cold-old"], emb[name])) for name in ("cold-new", "warm-new", "warm-old")}
        same["folder new = old"] = bool(np.array_equal(np.load(work / "folder-old.npy"), np.load(work / "folder-new.npy")))
        torch_s = floor("import torch", args.repeats)
        dynamo_s = floor("import torch; t = time.perf_counter(); import torch._dynamo", args.repeats)
        loads.append(load())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    write(rows, same, torch_s, dynamo_s, loads, args)


def _flags(run: dict) -> str:
    return f"{run['model_built']}, {run['open_clip']}, {run['torch']}"


def write(rows, same, torch_s: float, dynamo_s: float, loads: list[str], args) -> None:
    body = [
        f"Old: `{args.old}`; new: `{args.new or 'this checkout'}`. Every figure is a fresh process, in seconds "
        f"after `import drml_widgets`. The cores are shared with other engineers: load average (1 min) through the "
        f"run {' -> '.join(loads)}.",
        "",
        *table(["case", "old s", "new s", "new / old", "old: model built, open_clip, torch imported",
                "new: model built, open_clip, torch imported"],
               [[name, f"{old['after_import']:.2f}", f"{new['after_import']:.2f}",
                 f"{new['after_import'] / old['after_import']:.2f}", _flags(old), _flags(new)]
                for name, old, new in rows]),
        "",
        "The new side's time split as session / view (Dashboard; none for the folder): "
        + "; ".join(f"{name.split(':')[0]} {new['session']:.2f} / {new['view']:.2f}" for name, _, new in rows) + ".",
        "",
        f"The floor under any start that trains a head: `import torch` {torch_s:.2f} s, then `torch._dynamo` "
        f"{dynamo_s:.2f} s more (torch's optimisers import it on their first use), medians of {args.repeats} fresh "
        "processes. A warm start whose head was kept by an earlier one (diagnose/head_cache.py) trains nothing and "
        "needs neither.",
        "",
        "Embeddings equal to the old cold start's, bit for bit: " + ", ".join(f"{k}: {v}" for k, v in same.items()) + ".",
    ]
    write_results("bench_warm_start", body, load_at_start=loads[0])


if __name__ == "__main__":
    main()
