"""PRIME's search over tag sets (paper 001), on packed bitsets.

The exhaustive search goes level by level over tag sets in increasing index order, holding each
group as a packed bitset (64 images per machine word). A group can only shrink when a tag is
added, so a set whose group is below ``s`` is never extended (support pruning). The greedy
search keeps only the ``beam`` hardest sets of each level. The naive search is the reference: a
pandas filter per subset, with no pruning, for checks and benchmarks. Each search returns, per
level, every evaluated set whose group has at least ``s`` images; :func:`failure_modes` then
applies PRIME's accuracy and minimality conditions.
"""

from __future__ import annotations

import itertools
from typing import Mapping

import numpy as np
import pandas as pd

# Words of packed bits processed per numpy call; bounds the temporaries to ~32 MB.
CHUNK_WORDS = 1 << 22
EPS = 1e-12

BYTE_COUNTS = np.array([bin(i).count("1") for i in range(256)], np.uint8)


def popcount(words: np.ndarray) -> np.ndarray:
    """Set bits per row of uint64 words (numpy >= 2 counts natively; older numpy byte by byte)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(words).sum(axis=-1, dtype=np.int64)
    return BYTE_COUNTS[words.view(np.uint8)].sum(axis=-1, dtype=np.int64)


class TagBits:
    """Tag columns and correctness of one class as packed bitsets, rows = tags."""

    def __init__(self, member: np.ndarray, correct: np.ndarray):
        self.tags = self._pack(member)
        self.correct = self._pack(correct[:, None])[0]
        self.n_tags, self.words = self.tags.shape

    @staticmethod
    def _pack(matrix: np.ndarray) -> np.ndarray:
        packed = np.packbits(matrix, axis=0, bitorder="little")
        pad = -packed.shape[0] % 8
        packed = np.pad(packed, ((0, pad), (0, 0)))
        return np.ascontiguousarray(packed.T).view(np.uint64)

    def _stats(self, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return popcount(bits), popcount(bits & self.correct)

    def count(self, sets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Group size and correct predictions of each row of ``sets`` ((m, k) tag indices)."""
        count = np.empty(len(sets), np.int64)
        right = np.empty(len(sets), np.int64)
        step = max(1, CHUNK_WORDS // self.words)
        for start in range(0, len(sets), step):
            rows = sets[start: start + step]
            bits = self.tags[rows[:, 0]]
            for j in range(1, rows.shape[1]):
                bits = bits & self.tags[rows[:, j]]
            count[start: start + step], right[start: start + step] = self._stats(bits)
        return count, right

    def extend(self, sets: np.ndarray, bits: np.ndarray, s: int, keep_bits: bool):
        """Every extension of ``sets`` by one tag of higher index whose group has >= s images."""
        out_sets, out_count, out_right, out_bits = [], [], [], []
        last = sets[:, -1]
        for tag in np.unique(last):
            rows = np.flatnonzero(last == tag)
            new = np.arange(tag + 1, self.n_tags)
            if not len(new):
                continue
            step = max(1, CHUNK_WORDS // (len(new) * self.words))
            for start in range(0, len(rows), step):
                chunk = rows[start: start + step]
                joined = bits[chunk][:, None, :] & self.tags[new][None, :, :]
                count, right = self._stats(joined)
                i, j = np.nonzero(count >= s)
                out_sets.append(np.column_stack([sets[chunk[i]], new[j]]))
                out_count.append(count[i, j])
                out_right.append(right[i, j])
                if keep_bits:
                    out_bits.append(joined[i, j])
        k = sets.shape[1] + 1
        if not out_sets:
            return (np.empty((0, k), np.int64), np.empty(0, np.int64), np.empty(0, np.int64),
                    np.empty((0, self.words), np.uint64))
        bits_out = np.concatenate(out_bits) if keep_bits else None
        return np.concatenate(out_sets), np.concatenate(out_count), np.concatenate(out_right), bits_out


class TagFrame:
    """The naive counterpart of :class:`TagBits`: one pandas filter per tag set."""

    def __init__(self, member: np.ndarray, correct: np.ndarray):
        self.frame = pd.DataFrame(member)
        self.frame["correct"] = correct
        self.n_tags = member.shape[1]

    def count(self, sets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Group size and correct predictions of each row of ``sets``, one pandas filter per set."""
        count, right = np.empty(len(sets), np.int64), np.empty(len(sets), np.int64)
        for r, row in enumerate(sets):
            group = self.frame[self.frame[list(row)].all(axis=1)]
            count[r], right[r] = len(group), int(group["correct"].sum())
        return count, right


# -- searches: each returns every evaluated set with a group of >= s images -------------------------
def exhaustive_search(bits: TagBits, l: int, s: int, **_) -> list[tuple]:
    """Every tag set of up to ``l`` tags with at least ``s`` images, grown level by level from the sets that pass."""
    sets = np.arange(bits.n_tags)[:, None]
    count, right = bits.count(sets)
    keep = count >= s
    levels = [(sets[keep], count[keep], right[keep])]
    frontier, frontier_bits = sets[keep], bits.tags[keep]
    for k in range(2, l + 1):
        if not len(frontier):
            break
        frontier, count, right, frontier_bits = bits.extend(frontier, frontier_bits, s, keep_bits=k < l)
        levels.append((frontier, count, right))
    return levels


def greedy_search(bits: TagBits, l: int, s: int, beam: int = 20, **_) -> list[tuple]:
    """Tag sets of up to ``l`` tags grown from the ``beam`` lowest-accuracy sets of each level."""
    sets = np.arange(bits.n_tags)[:, None]
    levels = []
    for k in range(1, l + 1):
        count, right = bits.count(sets)
        keep = count >= s
        sets, count, right = sets[keep], count[keep], right[keep]
        levels.append((sets, count, right))
        if not len(sets) or k == l:
            break
        hardest = sets[np.argsort(right / count, kind="stable")[:beam]]
        grown = [np.append(row, t) for row in hardest for t in range(bits.n_tags) if t not in row]
        sets = np.unique(np.sort(np.array(grown), axis=1), axis=0)
    return levels


def naive_search(frame: TagFrame, l: int, s: int, **_) -> list[tuple]:
    """The exhaustive search with a pandas filter per subset: the reference the bitset search is checked against."""
    levels = []
    for k in range(1, l + 1):
        sets = np.array(list(itertools.combinations(range(frame.n_tags), k)), dtype=np.int64).reshape(-1, k)
        count, right = frame.count(sets)
        keep = count >= s
        levels.append((sets[keep], count[keep], right[keep]))
    return levels


def failure_modes(levels, counter, class_acc: float, a: float, b: Mapping[int, float]) -> list[tuple]:
    """Apply the accuracy and minimality conditions to the evaluated sets."""
    found = []
    for sets, count, right in levels:
        if not len(sets):
            continue
        acc = right / count
        hard = acc <= class_acc - a + EPS
        sets, count, acc = sets[hard], count[hard], acc[hard]
        k = sets.shape[1]
        gain = np.full(len(sets), np.nan)
        if k > 1 and len(sets):
            gains = []
            for t in range(k):
                sub_count, sub_right = counter.count(np.delete(sets, t, axis=1))
                gains.append(sub_right / sub_count - acc)
            gain = np.min(gains, axis=0)
            ok = gain >= b[k] - EPS
            sets, count, acc, gain = sets[ok], count[ok], acc[ok], gain[ok]
        found += list(zip(sets, count, acc, gain))
    return found
