"""PRIME search benchmarks, measured side by side in one run.

1. The bitset search with support pruning against the naive reference (one pandas filter per
   tag subset, no pruning) on the same synthetic data, small enough for the naive one to finish;
   both must return the same modes.
2. A synthetic data set of Living17's size (88,400 images, 17 classes, ~100 candidate tags per
   class, l = 4, s = 30, a = 0.3): the paper reports under 5 minutes for this run. Time and peak
   memory (tracemalloc peak during the search; process max RSS) are printed, for sparse (~5 tags
   per image) and dense (~23 per image, millions of tag sets above s) tagging.

Tags follow a Zipf-like frequency per class and are correlated through a latent scene per image,
as real tags are; a few tag pairs and triples per class are planted as failure modes.

Run: nice -n 10 .venv/bin/python benchmarks/bench_prime.py
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np
import pandas as pd

from drml_widgets.methods.prime import find_failure_modes
from record import load, table, write_results


# (top frequency, Zipf exponent): about 5 and about 23 tags per image.
DENSITIES = {"sparse": (0.5, 0.8), "dense": (0.7, 0.4)}


def synthetic(n_classes: int, per_class: int, n_tags: int, seed: int = 0, density: str = "sparse",
              n_scenes: int = 6):
    """Tags (images x tags, tag names shared across classes), predictions and labels."""
    rng = np.random.default_rng(seed)
    n = n_classes * per_class
    labels = np.repeat(np.arange(n_classes), per_class)
    top, exponent = DENSITIES[density]
    base = top / np.arange(1, n_tags + 1) ** exponent
    tags = np.zeros((n, n_tags), bool)
    wrong = rng.random(n) < 0.08
    for c in range(n_classes):
        rows = np.flatnonzero(labels == c)
        freq = rng.permutation(base)
        scene = rng.integers(0, n_scenes, len(rows))
        lift = rng.lognormal(0.0, 0.7, (n_scenes, n_tags))  # scenes make tags co-occur
        p = np.clip(freq[None, :] * lift[scene], 0, 0.95)
        tags[rows] = rng.random(p.shape) < p
        for size in (2, 2, 3):  # planted failure modes among the frequent tags
            chosen = rng.choice(np.argsort(-freq)[:20], size, replace=False)
            hit = rows[tags[rows][:, chosen].all(axis=1)]
            wrong[hit] = rng.random(len(hit)) < 0.6
    predictions = np.where(wrong, (labels + 1) % n_classes, labels)
    return pd.DataFrame(tags, columns=[f"tag{i}" for i in range(n_tags)]), predictions, labels


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def against_naive(per_class: int, n_tags: int, l: int) -> list[str]:
    tags, pred, labels = synthetic(2, per_class, n_tags, seed=1)
    kwargs = dict(l=l, s=30, a=0.2)
    t_fast, fast = timed(lambda: find_failure_modes(tags, pred, labels, **kwargs))
    t_greedy, greedy = timed(lambda: find_failure_modes(tags, pred, labels, search="greedy", **kwargs))
    t_naive, naive = timed(lambda: find_failure_modes(tags, pred, labels, search="naive", **kwargs))
    same = fast.modes.equals(naive.modes)
    if not same:
        raise SystemExit("The fast search and the naive filter disagree.")
    return [f"{len(tags):,} images, 2 classes, {n_tags} tags, l={l}: {naive.n_evaluated:,} tag sets reach s=30, "
            f"{len(fast.modes)} modes, identical to the naive filter's", "", *table(
                ["search", "s", "naive / this", "modes found"],
                [["naive: one pandas filter per tag subset", f"{t_naive:.2f}", "1x", len(naive.modes)],
                 ["bitsets + support pruning (default)", f"{t_fast:.3f}", f"{t_naive / t_fast:.0f}x", len(fast.modes)],
                 ["greedy", f"{t_greedy:.3f}", f"{t_naive / t_greedy:.0f}x", len(greedy.modes)]])]


def living17(per_class: int, density: str) -> list:
    tags, pred, labels = synthetic(17, per_class, 110, seed=0, density=density)
    tracemalloc.start()
    seconds, result = timed(lambda: find_failure_modes(tags, pred, labels, l=4, s=30, a=0.3))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    per_cls = result.candidates.groupby("class").size()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    by_size = result.modes.groupby("n_tags").size()
    return [f"{density} ({tags.to_numpy().sum(axis=1).mean():.1f} per image)", f"{len(tags):,}",
            f"{per_cls.mean():.0f} ({per_cls.min()}-{per_cls.max()})", f"{result.n_evaluated:,}",
            "; ".join(f"k={k}: {n}" for k, n in by_size.items()), f"{seconds:.1f}", f"{peak / 2**20:.0f}",
            f"{rss:.0f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args()
    at_start = load()
    per_class, densities = (500, ["sparse"]) if args.quick else (5200, list(DENSITIES))
    body = ["## 1. The search against the naive reference", "",
            *(against_naive(per_class=500, n_tags=12, l=3) if args.quick else against_naive(2000, 25, 3)), "",
            "## 2. Living17-sized (17 classes, l=4, s=30, a=0.3; the paper: under 300 s)", "",
            *table(["tags", "images", "candidate tags per class (min-max)", "tag sets reaching s",
                    "failure modes with k tags", "s", "peak traced MiB", "process max RSS MiB"],
                   [living17(per_class, density) for density in densities]), "",
            "naive / this: how many times longer the naive filter takes than each search, same data, one run."]
    write_results("bench_prime", body, load_at_start=at_start)


if __name__ == "__main__":
    main()
