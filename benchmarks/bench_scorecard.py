"""Scorecard timings: the whole run and each method's seconds per setting, on this machine.

The stages are timed inside one run: rendering and encoding the pool (cached on disk after the
first run of a pool seed), the shared context (probe prompts, naming sentences, CLIP tags, the UMAP
for PlaneSpot), training every drawn setting's model (kept or dropped), and the methods on the
kept ones. With ``--settings`` below 200 the 200-setting time is extrapolated linearly from the
per-setting stages (pool and context are paid once) and says so.

Run: nice -n 10 .venv/bin/python benchmarks/bench_scorecard.py --settings 48 [--seed 0]
"""

from __future__ import annotations

import argparse
import time

from drml_widgets.scorecard.run import run_scorecard
from record import frame_table, load, write_results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cnn-share", type=float, default=0.05)
    args = parser.parse_args()
    at_start, start = load(), time.perf_counter()
    card = run_scorecard(args.settings, args.seed, cnn_share=args.cnn_share, progress=print)
    wall = time.perf_counter() - start
    s = card.seconds
    print("\n", card)
    timings = card.timings().round(2).reset_index()
    train = card.settings.groupby("model")["train_seconds"].agg(["mean", "count"]).round(2).reset_index()
    body = [f"{args.settings} settings: {wall:.0f} s wall; pool {s['pool']:.0f} s, context {s['context']:.0f} s, "
            f"training {len(card.settings)} drawn models {s['train']:.0f} s, methods {s['methods']:.0f} s.", "",
            "Mean seconds per kept setting, by method and model:", "",
            *frame_table(timings), "",
            "Model training per drawn setting (s):", "", *frame_table(train)]
    if args.settings != 200:
        per = (s["train"] + s["methods"]) / args.settings
        body += ["", f"Extrapolated to 200 settings (linear in the per-setting stages, pool and context once): "
                 f"{s['pool'] + s['context'] + 200 * per:.0f} s."]
    write_results("bench_scorecard", body, load_at_start=at_start)


if __name__ == "__main__":
    main()
