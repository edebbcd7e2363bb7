"""LBEE's tau on worlds with near-neighbour failures (issue 25): does FPDiff name the planted slices?

Each world plants two failing slices on the scorecard pool's test images (3,000 shapes, every
attribute drawn uniformly), each a colour with a near neighbour among the world's six (cyan and
blue, pink and red and orange) paired with one value of size, shape or position; seed 0's first
slice is small cyan. An image in a planted slice is wrong with probability ``--inside`` (0.8 and
0.6), any other with 0.04. LBEE splits by correctness, makes 5 hard and 5 easy clusters and keeps
k = 1 sentence per hard cluster by FPDiff, among the scorecard's 419 naming sentences (every
combination of 1-4 attribute values), on both bundled CLIPs.

Figures per CLIP and tau rule, over every world:

- covered: share of planted slices whose values some hard cluster's sentence states;
- right: share of hard clusters mostly (> 50%) of one planted slice whose sentence states all its values;
- neighbour: share of those clusters whose sentence states another value of a planted attribute
  (small blue for small cyan): a near neighbour displaced the right sentence.

Rules: ``old default`` (the mean + 1 sd floor alone, the default before issue 25), ``default``
(that floor raised per prototype to within half a standard deviation of its best sentence) and
fixed values. Run: nice -n 10 .venv/bin/python benchmarks/bench_lbee_tau.py
"""

from __future__ import annotations

import argparse
import itertools
import warnings

import numpy as np
import pandas as pd

from drml_widgets.embed.encoder import ClipEncoder
from drml_widgets.methods.lbee import find_hard_clusters, split_hard_easy
from drml_widgets.scorecard.protocol import ATTRIBUTE_SET
from drml_widgets.scorecard.settings import TYPES, describe, load_pool
from record import frame_table, load, write_results

NEAR = ["cyan", "blue", "pink", "red", "orange"]
FIXED = (0.25, 0.35, 0.5, 0.6)


def planted(rng: np.random.Generator, seed: int) -> list[dict]:
    """Two slices, each a colour with a near neighbour and one other value; seed 0 starts with small cyan."""
    slices = [{"color": "cyan", "size": "small"}] if seed == 0 else []
    while len(slices) < 2:
        color = str(rng.choice([c for c in NEAR if c not in {s["color"] for s in slices}]))
        kind = str(rng.choice(["size", "shape", "position"]))
        slices.append({"color": color, kind: str(rng.choice(ATTRIBUTE_SET.values[kind]))})
    return slices


def states(sentence: dict, values: dict) -> bool:
    return all(sentence.get(t) == v for t, v in values.items())


def score(result, inside: np.ndarray, slices: list[dict], combos: list[dict]) -> dict:
    """covered / right / neighbour counts of one LBEE result (see the module docstring)."""
    said = result.selections[result.selections["method"] == "FPDiff"].set_index("cluster")["sentence"]
    index = {describe(c): c for c in combos}
    named = {c: index[s] for c, s in said.items()}
    out = {"covered": sum(any(states(n, s) for n in named.values()) for s in slices), "slices": len(slices),
           "right": 0, "neighbour": 0, "dominated": 0}
    hard = np.flatnonzero(result.assignments >= 0)
    for c, sentence in named.items():
        members = inside[hard[result.assignments[hard] == c]]
        for i, values in enumerate(slices):
            if (members == i).mean() > 0.5:
                out["dominated"] += 1
                out["right"] += states(sentence, values)
                out["neighbour"] += any(sentence.get(t) not in (None, v) for t, v in values.items())
    return out


def run_clip(name: str, seeds: int, rates: tuple[float, ...]) -> tuple[pd.DataFrame, list[list]]:
    encoder = ClipEncoder(name)
    pool = load_pool(seed=0, encoder=encoder)
    emb, table = pool.emb[pool.test], pool.test_table
    combos = [dict(zip(types, vals)) for r in range(1, len(TYPES) + 1) for types in itertools.combinations(TYPES, r)
              for vals in itertools.product(*(ATTRIBUTE_SET.values[t] for t in types))]
    sentences = [describe(c) for c in combos]
    text = encoder.encode_texts(sentences)
    rows, cyan = [], []
    for rate, seed in itertools.product(rates, range(seeds)):
        rng = np.random.default_rng(seed)
        slices = planted(rng, seed)
        inside = np.full(len(table), -1)
        for i, values in enumerate(slices):
            inside[np.all([table[t].to_numpy() == v for t, v in values.items()], axis=0)] = i
        wrong = rng.random(len(table)) < np.where(inside >= 0, rate, 0.04)
        split = split_hard_easy(predictions=wrong.astype(int), labels=np.zeros(len(wrong), int))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            default = find_hard_clusters(emb, split, sentences, text, n_clusters=5, k=1)
            runs = {"default": default, "old default": find_hard_clusters(emb, split, sentences, text, n_clusters=5,
                                                                          k=1, tau=default.params["tau"])}
            runs |= {f"{tau:g}": find_hard_clusters(emb, split, sentences, text, n_clusters=5, k=1, tau=tau)
                     for tau in FIXED}
        for rule, result in runs.items():
            rows.append({"clip": name, "rule": rule, "inside": rate, "seed": seed,
                         **score(result, inside, slices, combos)})
        if seed == 0:
            for rule in ("old default", "default"):
                result = runs[rule]
                top = result.clusters.assign(cyan=[(inside[np.flatnonzero(result.assignments == c)] == 0).mean()
                                                   for c in result.clusters["cluster"]])
                c = int(top.sort_values("cyan", ascending=False)["cluster"].iloc[0])
                picked = result.selections.query("method == 'FPDiff' and cluster == @c")["sentence"].iloc[0]
                cyan.append([name, rate, rule, f"{top.loc[top['cluster'] == c, 'cyan'].iloc[0]:.2f}", picked])
    return pd.DataFrame(rows), cyan


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    sums = rows.groupby(["clip", "rule"], sort=False)[["covered", "slices", "right", "neighbour", "dominated"]].sum()
    out = pd.DataFrame({"covered": sums["covered"] / sums["slices"], "right": sums["right"] / sums["dominated"],
                        "neighbour": sums["neighbour"] / sums["dominated"], "clusters": sums["dominated"]})
    return out.round(3).reset_index()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=16, help="worlds per error rate and CLIP")
    parser.add_argument("--inside", type=float, nargs="+", default=[0.8, 0.6],
                        help="error rate inside the planted slices")
    args = parser.parse_args()
    at_start = load()
    frames, cyan = [], []
    for name in ("shapes", "shapes-noisy"):
        rows, small_cyan = run_clip(name, args.seeds, tuple(args.inside))
        frames.append(rows)
        cyan += small_cyan
    rows = pd.concat(frames, ignore_index=True)
    body = [f"{args.seeds} worlds per error rate inside the planted slices ({', '.join(map(str, args.inside))}) "
            "and CLIP, two planted slices each; FPDiff, 5 hard clusters, k = 1.", "",
            "## Over every world", "", *frame_table(summary(rows)), "",
            "## By error rate inside the planted slices", "",
            *frame_table(pd.concat([summary(g).assign(inside=r) for r, g in rows.groupby("inside")])), "",
            "## The small-cyan slice of seed 0: its cluster and the sentence FPDiff keeps", "",
            *frame_table(pd.DataFrame(cyan, columns=["clip", "inside", "rule", "share small cyan", "sentence"]))]
    write_results("bench_lbee_tau", body, load_at_start=at_start)


if __name__ == "__main__":
    main()
