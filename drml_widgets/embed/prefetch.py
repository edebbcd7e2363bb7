"""Model inputs made ahead of the model, by a thread pool, or in step with it."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable


def prefetched(pool: ThreadPoolExecutor | None, prepare: Callable[[Any], Any], batches: list[list[int]],
               whole: bool, depth: int) -> Iterator[tuple[list[int], list[Future]]]:
    """Each batch with futures of its inputs: ``prepare(position)`` for each of its positions, or
    with ``whole`` one ``prepare(batch)``. With a pool, ``depth`` batches are already being made while
    one is handed out; without one (``whole`` only), a batch's input is made when its turn comes.

    Example:
        >>> with ThreadPoolExecutor(2) as pool:
        ...     [(b, [f.result() for f in fs]) for b, fs in prefetched(pool, lambda j: j * 10, [[0, 1], [2]], False, 1)]
        [([0, 1], [0, 10]), ([2], [20])]
        >>> [(b, fs[0].result()) for b, fs in prefetched(None, sum, [[1, 2], [3]], True, 1)]
        [([1, 2], 3), ([3], 3)]
    """
    if pool is None:
        for batch in batches:
            made: Future = Future()
            made.set_result(prepare(batch))
            yield batch, [made]
        return
    ahead: deque[tuple[list[int], list[Future]]] = deque()
    for batch in batches:
        ahead.append((batch, [pool.submit(prepare, batch)] if whole else [pool.submit(prepare, j) for j in batch]))
        if len(ahead) > depth:
            yield ahead.popleft()
    yield from ahead
