"""Torch thread count for loops over small tensors.

A training step on a few hundred rows of 64-128 numbers costs microseconds of arithmetic; with
torch's default of one thread per core, each of its many small operations also waits for the other
threads, and when the cores are busy with other work a thread that is not scheduled holds up every
step. Projection fine-tuning on the shapes world took 1,653 s with the default threads on a busy
2-core machine and 24.6 s with one thread, with the same numbers. ``benchmarks/bench_threads.py``
measures it side by side: on an idle 2-core machine the default is as fast or up to ~30% faster;
with the cores busy it was 5-15 times slower, while one thread kept the same time.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from .errors import InputError


@contextmanager
def small_tensor_threads(n: int = 1) -> Iterator[int]:
    """Run the block with ``torch.set_num_threads(n)``, then restore the previous count.

    Use it around training loops whose tensors are small (heads on embeddings, projection
    fine-tuning); large convolutions and the CLIP towers are faster with torch's default. The
    count is restored even when the block raises. Yields the thread count that was replaced.

    Example:
        >>> import torch
        >>> before = torch.get_num_threads()
        >>> with small_tensor_threads(1):
        ...     torch.get_num_threads()
        1
        >>> torch.get_num_threads() == before
        True
    """
    import torch

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InputError(f"small_tensor_threads needs a whole number of threads >= 1; got {n!r}. "
                         "Fix: pass n=1 (the usual choice for small tensors).")
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield previous
    finally:
        torch.set_num_threads(previous)
