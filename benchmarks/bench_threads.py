"""Small-tensor training loops with torch's default thread count against one thread, side by side.

The package runs its small-tensor loops on one thread (``drml_widgets.threads.small_tensor_threads``
in projection fine-tuning and in ``diagnose.heads.fit_module``, which trains LLM2Loss's heads and
the example black box). Here each loop runs twice with the same inputs and seeds: once with the
context manager swapped for one that sets torch's default count (one thread per core), once as
shipped (one thread). Printed per loop: seconds both ways, default / one (above 1: one thread is
faster), the largest absolute difference between the two runs' results (0: identical), and the
load average: with every core busy with other work, waiting for the extra threads costs far more
than on an idle machine, so run it in both conditions before drawing conclusions.

1. projection fine-tuning, language variant, Waterbirds-like world (the spurious notebook's loop);
2. LLM2Loss's three ensembles (MLP heads) on shapes-CLIP embeddings;
3. the example black box, a small CNN on 64 x 64 pixels (convolutions: not a small-tensor loop).

Run without OMP_NUM_THREADS (it would cap the default): nice -n 10 .venv/bin/python benchmarks/bench_threads.py
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from unittest import mock

import numpy as np
import torch

from drml_widgets import WATERBIRDS_LIKE, ClipEncoder, load_shapes_world
from drml_widgets.methods.blackbox import train_example_black_box
from drml_widgets.methods.llm2loss import fit_loss_predictor
from drml_widgets.methods.spurious import cache_features, fine_tune_projections
from drml_widgets.threads import small_tensor_threads
from record import load, table, write_results

DEFAULT_THREADS = torch.get_num_threads()  # torch's own choice, before anything changes it
# Every place the package pins its small-tensor loops to one thread.
PINNED = ("drml_widgets.methods.spurious.fine_tuning.small_tensor_threads",
          "drml_widgets.diagnose.heads.small_tensor_threads")


@contextlib.contextmanager
def threads(n: int | None):
    """Run the package's loops on ``n`` threads (``None``: as shipped, one)."""
    if n is None:
        yield
        return
    with contextlib.ExitStack() as stack:
        for target in PINNED:
            stack.enter_context(mock.patch(target, lambda _=1: small_tensor_threads(n)))
        yield


def timed(run, n: int | None) -> tuple[float, np.ndarray]:
    with threads(n):
        start = time.perf_counter()
        result = run()
        return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="images in each world")
    parser.add_argument("--epochs", type=int, default=20, help="epochs of projection fine-tuning")
    args = parser.parse_args()
    at_start = load()
    world = load_shapes_world(n=args.n, seed=0, **WATERBIRDS_LIKE)
    encoder = ClipEncoder("shapes", progress=False)
    data = cache_features(encoder, world.images, world.classes, spurious_values=["orange", "green"], progress=False)
    train = np.flatnonzero(world.table["split"] == "train")
    colours = world.table["color"].to_numpy()
    emb = encoder.encode_images(world.images)
    plain = load_shapes_world(n=args.n, seed=0)
    box = train_example_black_box(plain, epochs=1)
    losses = -np.log(np.clip(box(plain.images)[np.arange(args.n), plain.labels], 1e-12, None))

    def fine_tune():
        tuned = fine_tune_projections(data, world.labels, train, variant="language", attribute=colours,
                                      epochs=args.epochs)
        return np.concatenate([tuned.visual.ravel(), tuned.text.ravel()])

    def ensembles():
        llm = fit_loss_predictor(emb, losses, lambda texts: emb[: len(texts)], members=2, epochs=5)
        return llm.predict_images(emb[:500]).to_numpy()

    def black_box():
        return train_example_black_box(plain)(plain.images[:500])

    loops = {f"projection fine-tuning ({len(train):,} images, {args.epochs} epochs)": fine_tune,
             f"LLM2Loss ensembles ({args.n:,} x {emb.shape[1]}, 2 members, 5 epochs)": ensembles,
             f"example black box (CNN, {(plain.table['split'] == 'train').sum():,} images, 6 epochs)": black_box}
    rows = []
    for name, run in loops.items():
        default, a = timed(run, DEFAULT_THREADS)
        one, b = timed(run, None)
        # The 1-minute load average: other work on the cores is what makes extra threads cost.
        rows.append([name, f"{default:.1f}", f"{one:.1f}", f"{default / one:.2f}x",
                     f"{float(np.max(np.abs(a - b))):.3g}", f"{os.getloadavg()[0]:.1f}"])
    write_results("bench_threads", [
        f"torch's default thread count ({DEFAULT_THREADS}, one per core) against one thread, the same call:", "",
        *table(["loop", f"{DEFAULT_THREADS} threads, s", "1 thread, s", "default / 1", "max abs diff of results",
                "load (1 min)"], rows), "",
        "default / 1 above 1: one thread is faster. A difference of 0: the two runs' results are identical."],
        load_at_start=at_start)


if __name__ == "__main__":
    main()
