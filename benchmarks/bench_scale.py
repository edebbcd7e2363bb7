"""Every kernel at 10 k, 100 k and 1 M synthetic 512-d images: time, peak memory, growth exponent.

The data is tests/scale_data.py's synthetic CLIP space (attribute table, class shortcut, a
planted black-box failure, captions), generated once per size into ``--data`` and loaded by a
fresh subprocess per kernel and size. Each subprocess loads the data and builds what the kernel
takes (a head trained on 20,000 rows, prompts and their embeddings: not timed), resets the
kernel's peak resident set (``/proc/self/clear_refs``), runs the kernel once, and reports its
wall time, its peak RSS (inputs included: the 1 M x 512 float32 images alone are 2 GiB) and the
RSS of the inputs before it ran. Time is wall-clock and CPU (user + system, all threads); the
growth exponent is the log-log slope of CPU time between consecutive sizes (1: linear; n log n
reads about 1.1 over a decade), CPU time because wall time on a shared machine follows the load
(recorded with each row) more than the kernel.

Training kernels (head, transfer, rectify, LLM2Loss) run ``--epochs`` epochs (default 1) and
LLM2Loss 1 member at every size: their cost is linear in epochs x rows, so the defaults (25 to
50 epochs, 5 members) multiply their time, not their exponent.

Run: nice -n 10 .venv/bin/python benchmarks/bench_scale.py [--sizes 10000 100000 1000000]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from scale_data import ATTRIBUTES, CLASSES, SPEC, TYPES, ScaleData, SyntheticTextEncoder, scale_data  # noqa: E402
from record import frame_table, load as load_average, write_results  # noqa: E402

KERNELS = ["gap", "transfer", "head", "slices", "failing", "influence", "rectify", "prime", "lbee", "llm2loss",
           "session", "tagging"]
GiB = 1 << 30


# -- data on disk, one folder per size ------------------------------------------------------
def make(n: int, folder: Path) -> None:
    data = scale_data(n, seed=0)
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("image_emb", "caption_emb", "predictions", "losses"):
        np.save(folder / f"{name}.npy", getattr(data, name))
    data.table.to_parquet(folder / "table.parquet")


def load(folder: Path, captions: bool = True) -> ScaleData:
    """The data of one size; ``captions=False`` leaves the captions' embeddings on disk."""
    arrays = {name: np.load(folder / f"{name}.npy") for name in ("image_emb", "predictions", "losses")}
    arrays["caption_emb"] = np.load(folder / "caption_emb.npy") if captions else None
    return ScaleData(table=pd.read_parquet(folder / "table.parquet"), encoder=SyntheticTextEncoder(0), **arrays)


# -- one kernel ------------------------------------------------------------------------------
def _rss(field: str) -> int:
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024
    raise RuntimeError(field)


def _context(data: ScaleData, epochs: int):
    """What the kernels take besides the data; built before the clock starts."""
    from drml_widgets.diagnose.heads import train_head
    from drml_widgets.prompts.generate import generate_prompts

    split = data.table["split"].to_numpy()
    masks = {s: split == s for s in ("train", "val", "test")}
    train = np.flatnonzero(masks["train"])[:20_000]
    head = train_head(data.image_emb[train], data.labels[train], classes=CLASSES, epochs=3)
    prompts = generate_prompts(ATTRIBUTES, SPEC, "class", CLASSES)
    text_emb = data.encoder.encode_texts(prompts["prompt"].tolist())
    return {"head": head, "prompts": prompts, "text_emb": text_emb, "epochs": epochs, **masks}


def run_kernel(name: str, data: ScaleData, c: dict):
    """Run kernel ``name``; returns a short description of its result."""
    from drml_widgets.diagnose import rectify as rect
    from drml_widgets.diagnose.gap import gap_stats
    from drml_widgets.diagnose.heads import train_head
    from drml_widgets.diagnose.influence import attribute_influence
    from drml_widgets.diagnose.slices import (all_slices, compare_slices, flag_failing, image_slice_scores,
                                              slices_mask, text_slice_scores)
    from drml_widgets.diagnose.transfer import cross_modal_transfer
    from drml_widgets.methods.lbee import find_hard_clusters, split_hard_easy
    from drml_widgets.methods.llm2loss import fit_loss_predictor
    from drml_widgets.methods.prime import find_failure_modes
    from drml_widgets.methods.tagging import tags_from_table

    x, y, table, head, prompts, test = data.image_emb, data.labels, data.table, c["head"], c["prompts"], c["test"]
    epochs = c["epochs"]
    if name == "gap":
        return f"{len(gap_stats(x, data.caption_emb, y, y).distributions):,} values"
    if name == "transfer":
        return f"{len(cross_modal_transfer(x, data.caption_emb, y, epochs=epochs).table)} rows"
    if name == "head":
        h = train_head(x[c["train"]], y[c["train"]], x[c["val"]], y[c["val"]], classes=CLASSES, epochs=epochs)
        return f"best epoch {h.best_epoch}"
    text_proba = head.predict_proba(c["text_emb"])
    if name == "slices":
        out = all_slices(text_proba, prompts, ATTRIBUTES.types, head.predict(x[test]), y[test], table[test])
        return f"{len(out):,} slices"
    if name == "failing":
        by = ["color", "class"]
        text = text_slice_scores(text_proba, prompts, by)
        pred = head.predict(x[test])
        cmp = compare_slices(text, image_slice_scores(pred, y[test], table[test], by), by)
        return f"{len(flag_failing(cmp, prompts, pred, y[test], len(CLASSES)))} failing"
    if name == "influence":
        out = attribute_influence(ATTRIBUTES, SPEC, data.encoder.encode_texts, head.predict_proba, 0)
        return f"{len(out)} values"
    if name == "rectify":
        target = [{"class": "c0", "color": "green"}]
        sets = rect.rectify_sets("replay", c["text_emb"], prompts["label"].to_numpy(), slices_mask(prompts, target),
                                 rect.held_out_templates(prompts["template"], 0.2, 0), (x[c["train"]], y[c["train"]]),
                                 (x[c["val"]], y[c["val"]]))
        new, _, best = rect.fit_rectified(head, sets.slice_text, sets.slice_text_val, replay=sets.replay,
                                          keep_val=sets.keep_val, epochs=epochs)
        after = image_slice_scores(new.predict(x[test]), y[test], table[test], ["color", "class"])
        return f"best epoch {best}, {len(after)} slices"
    if name == "prime":
        tags = tags_from_table(table.loc[test], TYPES)
        result = find_failure_modes(tags, data.predictions[test], y[test], CLASSES)
        return f"{len(result.modes)} modes"
    if name == "lbee":
        split = split_hard_easy(predictions=data.predictions, labels=y)
        result = find_hard_clusters(x, split, prompts["prompt"].tolist(), c["text_emb"], correct=data.predictions == y)
        return f"{len(result.clusters)} hard clusters"
    if name == "llm2loss":
        llm = fit_loss_predictor(x, data.losses, data.encoder, members=1, epochs=epochs)
        return f"spearman {llm.evaluate(x[test], data.losses[test]).spearman('ranker'):.2f}"
    if name == "session":
        from drml_widgets.session import Session
        from drml_widgets.diagnose.rectify import HeadVersions

        s = Session(data.encoder, x, table, CLASSES, ATTRIBUTES, SPEC, "class")
        s.head, s.versions = head, HeadVersions(head)
        failing = s.find_failing_slices(["color", "class"]).table
        return f"{len(failing)} failing, {len(s.find_all_slices(max_order=2).table):,} slices, gap n={s.measure_gap().summary['n'].max()}"
    if name == "tagging":
        from drml_widgets.diagnose.zero_shot import tag_attributes
        from drml_widgets.prompts.generate import AttributeSet

        tags = tag_attributes(x, AttributeSet({t: ATTRIBUTES.values[t] for t in TYPES}), data.encoder)
        return f"{tags.values.shape} tags"
    raise SystemExit(f"unknown kernel {name}")


def one(name: str, folder: Path, epochs: int) -> dict:
    data = load(folder, captions=name in ("gap", "transfer"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        context = _context(data, epochs)
        inputs = _rss("VmRSS")
        open("/proc/self/clear_refs", "w").write("5")  # VmHWM from here on is the kernel's peak
        start, cpu = time.perf_counter(), _cpu()
        what = run_kernel(name, data, context)
        seconds, cpu = time.perf_counter() - start, _cpu() - cpu
    return {"kernel": name, "n": len(data.table), "seconds": seconds, "cpu_seconds": cpu,
            "peak_gib": _rss("VmHWM") / GiB, "inputs_gib": inputs / GiB, "load": os.getloadavg()[0], "result": what}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- the table -------------------------------------------------------------------------------
def table(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows).sort_values(["kernel", "n"])
    out = []
    for kernel, group in frame.groupby("kernel", sort=False):
        entry = {"kernel": kernel}
        prev = None
        for r in group.itertuples():
            size = f"{r.n // 1000:,}k" if r.n < 1_000_000 else f"{r.n // 1_000_000}M"
            entry[f"{size} s"] = round(r.seconds, 2)
            entry[f"{size} cpu s"] = round(r.cpu_seconds, 2)
            entry[f"{size} GiB"] = round(r.peak_gib, 2)
            if prev is not None:
                entry[f"exp {prev[2]}->{size}"] = round(math.log(r.cpu_seconds / prev[1]) / math.log(r.n / prev[0]), 2)
            prev = (r.n, r.cpu_seconds, size)
        out.append(entry)
    order = {k: i for i, k in enumerate(KERNELS)}
    return pd.DataFrame(out).sort_values("kernel", key=lambda s: s.map(order)).reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--kernels", nargs="+", default=KERNELS, choices=KERNELS)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--data", type=Path, default=Path("/tmp/drml-scale-data"))
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench_scale.jsonl"))
    parser.add_argument("--one", nargs=2, metavar=("KERNEL", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--make", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make:
        return make(args.make, args.data / str(args.make))
    if args.one:
        name, n = args.one
        return print(json.dumps(one(name, args.data / n, args.epochs)))
    rows, at_start = [], load_average()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for n in args.sizes:
        folder = args.data / str(n)
        if not (folder / "table.parquet").exists():
            subprocess.run([sys.executable, __file__, "--make", str(n), "--data", str(args.data)], check=True)
        for name in args.kernels:
            cmd = [sys.executable, __file__, "--one", name, str(n), "--data", str(args.data),
                   "--epochs", str(args.epochs)]
            done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
            if done.returncode:
                row = {"kernel": name, "n": n, "seconds": float("nan"), "cpu_seconds": float("nan"),
                       "peak_gib": float("nan"), "inputs_gib": float("nan"), "load": os.getloadavg()[0],
                       "result": "FAILED: " + done.stderr.strip().splitlines()[-1]}
            else:
                row = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(json.dumps(row), flush=True)
            with args.out.open("a") as f:
                f.write(json.dumps(row) + "\n")
    loads = [r["load"] for r in rows]
    write_results("bench_scale", frame_table(table(rows)) + [
        "", f"Each kernel once, in a fresh process, {args.epochs} epoch(s) for the training kernels. s: wall "
        "seconds; cpu s: user + system seconds of all threads; GiB: peak resident memory while the kernel ran, "
        "its inputs included; exp: the log-log slope of CPU time between two sizes (1: linear, n log n reads "
        f"about 1.1 over a decade). 1-minute load average during the kernels: {min(loads):.1f} to {max(loads):.1f}."],
        load_at_start=at_start)


if __name__ == "__main__":
    main()
