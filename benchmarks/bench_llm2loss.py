"""LLM2Loss ensemble training time for 10,000 embeddings, measured side by side in one run.

The three ensembles (loss regressor, pairwise ranker, in-distribution classifier; 5 members
each, 20 epochs, batch 256) are trained on 10,000 embeddings of the shapes CLIP's width (64)
and of ViT-B-32's (512), with linear and with 2-layer MLP heads. Embeddings are random unit
rows with a loss that grows along one direction: the time depends on the sizes, not on what
the embeddings show. Printed: seconds for 1 and for 5 members side by side, and ratios (5 members
over 1, MLP over linear, 512-d over 64-d).

Run: OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/bench_llm2loss.py
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from drml_widgets.methods.llm2loss import fit_loss_predictor
from record import load, table, write_results


def data(n: int, dim: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(n, dim)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    losses = np.exp(3 * emb[:, 0]) * rng.lognormal(0, 0.3, n)
    return emb, losses.astype(np.float32)


def timed_fit(emb, losses, head: str, members: int) -> float:
    start = time.perf_counter()
    fit_loss_predictor(emb, losses, lambda texts: emb[: len(texts)], head=head, members=members)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    args = parser.parse_args()
    at_start, results, rows = load(), {}, []
    timed_fit(*data(200, 8), "mlp", 1)  # warm-up: the first fit pays for torch's start-up
    for dim in (64, 512):
        emb, losses = data(args.n, dim)
        for head in ("linear", "mlp"):
            one = timed_fit(emb, losses, head, 1)
            five = results[dim, head] = timed_fit(emb, losses, head, 5)
            rows.append([dim, head, f"{one:.1f}", f"{five:.1f}", f"{five / one:.1f}x"])
    write_results("bench_llm2loss", [
        f"LLM2Loss's three ensembles on {args.n:,} embeddings (20 epochs, batch 256; 80% train / 20% epoch "
        "selection), one fit each:", "", *table(["dim", "head", "1 member, s", "5 members, s", "5 / 1"], rows), "",
        "Ratios of the 5-member time: MLP / linear at 64-d {:.2f}x, at 512-d {:.2f}x; 512-d / 64-d with MLP heads "
        "{:.2f}x. 5 / 1 near 5 means the members cost alike and nothing else does.".format(
            results[64, "mlp"] / results[64, "linear"], results[512, "mlp"] / results[512, "linear"],
            results[512, "mlp"] / results[64, "mlp"])], load_at_start=at_start)


if __name__ == "__main__":
    main()
