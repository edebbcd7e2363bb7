"""LBEE's building blocks: the hard/easy split, Ward clusters with prototypes, and the four
rules that pick sentences for a hard cluster."""

from __future__ import annotations

import numpy as np

from ..._common import group_means, unit_rows
from ...errors import LBEEError

METHODS = ("TopS", "PDiff", "SetDiff", "FPDiff")
SPLITS = ("correctness", "confidence", "entropy")
CLUSTER_COLUMNS = {"cluster": "int64", "n_images": "int64", "accuracy": "float64", "nearest_easy": "int64",
                   "prototype_similarity": "float64", "tau": "float64"}
SELECTION_COLUMNS = {"method": "object", "cluster": "int64", "rank": "int64", "sentence": "object",
                     "hard_similarity": "float64", "easy_similarity": "float64"}
METRIC_COLUMNS = {"method": "object", "AHR": "float64", "ACR": "float64", "TPR": "float64", "JI": "float64",
                  "n_retained": "int64", "relevance": "object"}
# Without a given tau, a prototype's pool keeps the sentences within this many standard deviations
# (of its similarities to every sentence) of its best one. A sentence that shares all but one value
# with the best (small blue for small cyan) can sit above a global tau, and then it wins FPDiff's
# contrast only because the nearest easy cluster resembles it less. Measured in
# benchmarks/bench_lbee_tau.py; widths from 0.4 to 0.75 did about as well in the sweep that chose it.
NEAR_BEST_SD = 0.5
# Ward needs every pairwise distance (O(n^2) memory); larger sets are clustered on a sample.
MAX_CLUSTER_POINTS = 4000


def check_n_clusters(n_clusters) -> int:
    """``n_clusters`` as an int, or an ``LBEEError`` naming the fix when it is not a whole number >= 1."""
    if isinstance(n_clusters, bool) or not isinstance(n_clusters, (int, np.integer)) or n_clusters < 1:
        raise LBEEError(f"n_clusters must be a whole number of clusters, at least 1; got {n_clusters!r}. "
                        "Fix: pass e.g. n_clusters=5 (the hard and the easy images are each split into that many).")
    return int(n_clusters)


def check_k(k, n_sentences: int) -> int:
    """``k``, the sentences kept per cluster, as an int from 1 to ``n_sentences``."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise LBEEError(f"k must be a whole number of sentences kept per cluster; got {k!r}. Fix: pass e.g. k=3.")
    if not 1 <= k <= n_sentences:
        raise LBEEError(f"k={k} is larger than the sentence set ({n_sentences} sentences) or below 1. "
                        f"Fix: choose k between 1 and {n_sentences}, or add sentences.")
    return int(k)


def check_tau(tau) -> float | None:
    """``tau`` as a float in [-1, 1] (a cosine similarity), or None to follow the similarities.

    Example:
        >>> check_tau(2.0)
        Traceback (most recent call last):
        ...
        drml_widgets.errors.LBEEError: tau is a cosine similarity in [-1, 1]; got 2.0, which no sentence can pass or fail. Fix: pass e.g. tau=0.25, or leave it out to follow the CLIP's similarities.
    """
    if tau is None:
        return None
    number = isinstance(tau, (int, float, np.integer, np.floating)) and not isinstance(tau, (bool, np.bool_))
    if not number or not -1 <= tau <= 1:  # NaN fails the comparison too
        raise LBEEError(f"tau is a cosine similarity in [-1, 1]; got {tau!r}, which no sentence can pass or fail. "
                        "Fix: pass e.g. tau=0.25, or leave it out to follow the CLIP's similarities.")
    return float(tau)


def near_best_tau(similarities: np.ndarray, floor: float) -> np.ndarray:
    """Each prototype's tau: within :data:`NEAR_BEST_SD` standard deviations of its best
    sentence, and never below ``floor`` (rows: prototypes, columns: sentences).

    Example:
        >>> v = np.array([[0.8, 0.7, 0.1, 0.0], [0.3, 0.25, 0.2, 0.1]])
        >>> near_best_tau(v, floor=0.3).round(3).tolist()
        [0.623, 0.3]
    """
    return np.maximum(floor, similarities.max(axis=1) - NEAR_BEST_SD * similarities.std(axis=1))


def split_hard_easy(*, predictions=None, labels=None, proba=None, by: str = "correctness",
                    spread: float = 0.2, thresholds: tuple[float, float] | None = None) -> np.ndarray:
    """Mark every image ``hard``, ``easy`` or ``neutral``.

    ``by="correctness"`` needs ``predictions`` and ``labels`` (wrong = hard). ``confidence`` (the
    top probability) and ``entropy`` need ``proba`` (n, classes) and no labels: with the paper's
    rule, hard lies beyond ``spread`` standard deviations from the mean on the uncertain side and
    easy beyond it on the confident side; ``thresholds=(hard, easy)`` sets both cut points.

    Example:
        >>> split_hard_easy(predictions=[0, 1, 1], labels=[0, 0, 1]).tolist()
        ['easy', 'hard', 'easy']
        >>> p = np.array([[0.5, 0.5], [0.99, 0.01], [0.9, 0.1]])
        >>> split_hard_easy(proba=p, by="entropy").tolist()
        ['hard', 'easy', 'neutral']
    """
    if by not in SPLITS:
        raise LBEEError(f"Unknown split {by!r}; choose one of {SPLITS}.")
    if by == "correctness":
        if predictions is None or labels is None:
            raise LBEEError("Splitting by correctness needs predictions and labels. "
                            "Fix: pass both, or split by confidence or entropy with proba.")
        predictions, labels = np.asarray(predictions), np.asarray(labels)
        if predictions.shape != labels.shape or predictions.ndim != 1:
            raise LBEEError(f"predictions {predictions.shape} and labels {labels.shape} differ in length. "
                            "Fix: one prediction and one label per image.")
        return np.where(predictions == labels, "easy", "hard").astype(object)
    if proba is None:
        raise LBEEError(f"Splitting by {by} needs proba, the (n, classes) predicted probabilities.")
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2:
        raise LBEEError(f"proba must be (n, classes); got shape {p.shape}.")
    # Score so that higher = more confident for both measures.
    score = p.max(axis=1) if by == "confidence" else (p * np.log(np.clip(p, 1e-12, 1))).sum(axis=1)
    if thresholds is None:
        hard_t, easy_t = score.mean() - spread * score.std(), score.mean() + spread * score.std()
    else:
        hard_t, easy_t = thresholds if by == "confidence" else (-thresholds[0], -thresholds[1])
    return np.select([score < hard_t, score > easy_t], ["hard", "easy"], "neutral").astype(object)


def cluster(emb: np.ndarray, n_clusters: int, seed: int = 0,
            max_points: int = MAX_CLUSTER_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Ward clusters of unit embeddings; returns (cluster per row, unit prototypes).

    Sets above ``max_points`` are clustered on a seeded sample and the other rows join the
    nearest prototype; prototypes are then the normalised means of all their members.

    Example:
        >>> emb = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], np.float32)
        >>> cluster(emb, 2)[0].tolist()
        [1, 1, 0, 0]
    """
    from sklearn.cluster import AgglomerativeClustering

    n_clusters = min(check_n_clusters(n_clusters), len(emb))
    if n_clusters < 2:
        assign = np.zeros(len(emb), np.int64)
    else:
        sample = np.arange(len(emb))
        if len(emb) > max_points:
            sample = np.sort(np.random.default_rng(seed).choice(len(emb), max_points, replace=False))
        fitted = AgglomerativeClustering(n_clusters=n_clusters, linkage="ward").fit_predict(emb[sample])
        assign = fitted.astype(np.int64)
        if len(sample) < len(emb):
            assign = np.argmax(emb @ prototypes(emb[sample], fitted, n_clusters).T, axis=1)
    return assign, prototypes(emb, assign, int(assign.max()) + 1)


def prototypes(emb: np.ndarray, assign: np.ndarray, n: int) -> np.ndarray:
    """Unit mean embedding of each of ``n`` clusters (one pass, no copy of a cluster's rows).

    Example:
        >>> (prototypes(np.array([[1, 0], [1, 2], [0, 3]], np.float32), np.array([0, 0, 1]), 2) * 1000).round().tolist()
        [[707.0, 707.0], [0.0, 1000.0]]
    """
    return unit_rows(group_means(emb, assign, n)[0]).astype(np.float32)


def select_sentences(method: str, v_hard: np.ndarray, v_easy: np.ndarray, k: int, tau: float,
                     easy_tau: float | None = None) -> np.ndarray:
    """Indices of the ``k`` sentences a method keeps for one hard cluster, best first.

    ``v_hard`` and ``v_easy`` are every sentence's similarity to the hard prototype and to its
    nearest easy one; FPDiff's pool is above ``tau`` for the hard prototype, SetDiff's is above
    ``easy_tau`` (``tau`` unless given) for the easy one. When a tau-filtered pool holds fewer
    than ``k`` sentences it is topped up in the order the paper ranks by (similarity to the hard
    prototype), so every method keeps exactly ``k``.

    Example:
        >>> v_hard, v_easy = np.array([0.9, 0.8, 0.3]), np.array([0.85, 0.1, -0.2])
        >>> [select_sentences(m, v_hard, v_easy, 2, tau=0.25).tolist() for m in ("TopS", "FPDiff")]
        [[0, 1], [1, 2]]
    """
    if method not in METHODS:
        raise LBEEError(f"Unknown method {method!r}; choose one of {METHODS}.")
    diff = v_hard - v_easy
    if method == "TopS":
        return np.argsort(-v_hard, kind="stable")[:k]
    if method == "PDiff":
        return np.argsort(-diff, kind="stable")[:k]
    if method == "SetDiff":
        # Sentences that describe the easy cluster go last, each part ranked by hard similarity.
        return np.lexsort((-v_hard, v_easy > (tau if easy_tau is None else easy_tau)))[:k]
    pool = v_hard > tau
    if pool.sum() < k:
        pool[np.argsort(-v_hard, kind="stable")[:k]] = True
    return np.lexsort((-diff, ~pool))[:k]
