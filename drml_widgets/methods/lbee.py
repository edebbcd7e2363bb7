"""LBEE (paper 003): describe where a model fails by contrasting hard and easy image clusters.

Images are split into hard and easy (by correctness, confidence or entropy); each set is
clustered (agglomerative, Ward) and each cluster is summarised by its prototype, the normalised
mean embedding. For every hard cluster, sentences are ranked by their similarity to its prototype
and contrasted with the nearest easy prototype; four rules keep ``k`` sentences each:

- TopS: the most similar to the hard prototype, no contrast;
- PDiff: the largest difference of similarity (hard minus easy);
- SetDiff: the most similar to the hard prototype among those not above ``tau`` for the easy one;
- FPDiff: the largest difference among those above ``tau`` for the hard prototype.

Evaluation needs image-sentence relevance: from ground-truth attributes where they exist, or
from CLIP similarity above a chosen threshold. A sentence is a ground-truth failure description
(S*_beta) when the model's mean performance on its relevant images is below the overall mean by
more than ``beta``. Metrics: AHR (share of retained sentences in S*, averaged over clusters),
ACR (share of a cluster's images each retained sentence is relevant to), TPR and Jaccard (JI)
between the union of retained sentences and S*.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._common import empty_frame, unit_rows
from ..diagnose.validate import check_embeddings
from ..errors import DrmlError

METHODS = ("TopS", "PDiff", "SetDiff", "FPDiff")
SPLITS = ("correctness", "confidence", "entropy")
CLUSTER_COLUMNS = {"cluster": "int64", "n_images": "int64", "accuracy": "float64", "nearest_easy": "int64",
                   "prototype_similarity": "float64"}
SELECTION_COLUMNS = {"method": "object", "cluster": "int64", "rank": "int64", "sentence": "object",
                     "hard_similarity": "float64", "easy_similarity": "float64"}
METRIC_COLUMNS = {"method": "object", "AHR": "float64", "ACR": "float64", "TPR": "float64", "JI": "float64",
                  "n_retained": "int64", "relevance": "object"}
# Ward needs every pairwise distance (O(n^2) memory); larger sets are clustered on a sample.
MAX_CLUSTER_POINTS = 4000


class LBEEError(DrmlError, ValueError):
    """Inputs or parameters LBEE cannot work with."""


def _check_n_clusters(n_clusters) -> int:
    if isinstance(n_clusters, bool) or not isinstance(n_clusters, (int, np.integer)) or n_clusters < 1:
        raise LBEEError(f"n_clusters must be a whole number of clusters, at least 1; got {n_clusters!r}. "
                        "Fix: pass e.g. n_clusters=5 (the hard and the easy images are each split into that many).")
    return int(n_clusters)


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

    n_clusters = min(_check_n_clusters(n_clusters), len(emb))
    if n_clusters < 2:
        assign = np.zeros(len(emb), np.int64)
    else:
        sample = np.arange(len(emb))
        if len(emb) > max_points:
            sample = np.sort(np.random.default_rng(seed).choice(len(emb), max_points, replace=False))
        fitted = AgglomerativeClustering(n_clusters=n_clusters, linkage="ward").fit_predict(emb[sample])
        assign = fitted.astype(np.int64)
        if len(sample) < len(emb):
            assign = np.argmax(emb @ _prototypes(emb[sample], fitted, n_clusters).T, axis=1)
    return assign, _prototypes(emb, assign, int(assign.max()) + 1)


def _prototypes(emb: np.ndarray, assign: np.ndarray, n: int) -> np.ndarray:
    return unit_rows(np.stack([emb[assign == c].mean(axis=0) for c in range(n)]))


def select_sentences(method: str, v_hard: np.ndarray, v_easy: np.ndarray, k: int, tau: float) -> np.ndarray:
    """Indices of the ``k`` sentences a method keeps for one hard cluster, best first.

    ``v_hard`` and ``v_easy`` are every sentence's similarity to the hard prototype and to its
    nearest easy one. When a tau-filtered pool holds fewer than ``k`` sentences it is topped up
    in the order the paper ranks by (similarity to the hard prototype), so every method keeps
    exactly ``k``.

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
        return np.lexsort((-v_hard, v_easy > tau))[:k]
    pool = v_hard > tau
    if pool.sum() < k:
        pool[np.argsort(-v_hard, kind="stable")[:k]] = True
    return np.lexsort((-diff, ~pool))[:k]


@dataclass(repr=False)
class LBEEResult:
    """What :func:`explain_failures` found: hard clusters and the sentences kept for each.

    ``clusters``: one row per hard cluster (size, accuracy where known, nearest easy cluster,
    similarity of the two prototypes). ``selections``: one row per (method, cluster, rank) with
    the sentence and its similarity to the hard and the easy prototype. ``assignments``: the hard
    cluster of every image (-1 for images not in the hard set).
    """

    clusters: pd.DataFrame
    selections: pd.DataFrame
    assignments: np.ndarray
    sentences: list[str]
    params: dict

    def retained(self, method: str = "FPDiff") -> list[str]:
        """The union of the sentences a method kept over all hard clusters, in sentence order.

        Example:
            >>> emb = np.array([[1, 0], [0, 1]], np.float32)
            >>> result = explain_failures(emb, ["hard", "easy"], ["left", "up"], emb, n_clusters=1, k=1)
            >>> result.retained("FPDiff"), result.retained("TopS")
            (['left'], ['left'])
        """
        if method not in METHODS:
            raise LBEEError(f"Unknown method {method!r}; choose one of {METHODS}.")
        kept = set(self.selections.loc[self.selections["method"] == method, "sentence"])
        return [s for s in self.sentences if s in kept]

    def table(self, method: str = "FPDiff") -> pd.DataFrame:
        """One row per hard cluster with the sentences a method kept, joined by " | "."""
        if method not in METHODS:
            raise LBEEError(f"Unknown method {method!r}; choose one of {METHODS}.")
        chosen = self.selections[self.selections["method"] == method]
        joined = chosen.groupby("cluster")["sentence"].agg(" | ".join).rename("sentences")
        return self.clusters.join(joined, on="cluster")

    def __repr__(self) -> str:
        p = self.params
        lines = [f"LBEEResult({len(self.clusters)} hard clusters, {len(self.sentences)} sentences, "
                 f"k={p['k']}, tau={p['tau']})"]
        for _, row in self.table().iterrows():
            lines.append(f"  cluster {row['cluster']} ({row['n_images']} images): FPDiff -> {row['sentences']}")
        return "\n".join(lines)


def _sentence_list(sentences) -> list[str]:
    if isinstance(sentences, pd.DataFrame):
        if "prompt" not in sentences.columns:
            raise LBEEError("A sentence DataFrame needs a 'prompt' column (as generate_prompts writes).")
        sentences = sentences["prompt"]
    sentences = [sentences] if isinstance(sentences, str) else [str(s) for s in sentences]
    if not sentences:
        raise LBEEError("The sentence set is empty. Fix: give sentences, or generate them from an attribute set.")
    return sentences


def explain_failures(image_emb, split, sentences, text_emb, *, n_clusters: int = 5, k: int = 3,
                     tau: float = 0.25, correct=None, seed: int = 0) -> LBEEResult:
    """Cluster hard and easy images and keep ``k`` sentences per hard cluster with each method.

    ``split`` marks each image ``hard``/``easy``/``neutral`` (see :func:`split_hard_easy`);
    ``sentences`` is a list of strings or a prompt DataFrame with a ``prompt`` column and
    ``text_emb`` their unit embeddings in the images' space. ``correct`` (optional, per image)
    adds each hard cluster's accuracy. ``n_clusters`` (at least 1) applies to hard and easy sets
    alike; a set with fewer images gets one cluster per image, with a warning. Without hard
    images (the model made no mistake there) or without easy ones there is nothing to contrast:
    the result is empty, with a warning saying why.

    Example:
        >>> emb = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], np.float32)
        >>> emb /= np.linalg.norm(emb, axis=1, keepdims=True)
        >>> text = np.array([[1, 0], [0, 1]], np.float32)
        >>> res = explain_failures(emb, ["hard", "hard", "easy", "easy"], ["left", "up"], text, n_clusters=1, k=1)
        >>> res.retained("FPDiff")
        ['left']
    """
    x = check_embeddings(image_emb, "image embeddings")
    sentences = _sentence_list(sentences)
    t = check_embeddings(text_emb, "sentence embeddings", dim=x.shape[1])
    if len(t) != len(sentences):
        raise LBEEError(f"{len(sentences)} sentences but {len(t)} sentence embeddings. Fix: embed each sentence once.")
    if not 1 <= k <= len(sentences):
        raise LBEEError(f"k={k} is larger than the sentence set ({len(sentences)} sentences) or below 1. "
                        f"Fix: choose k between 1 and {len(sentences)}, or add sentences.")
    split = np.asarray(split, dtype=object)
    if split.shape != (len(x),):
        raise LBEEError(f"split has {split.size} values but there are {len(x)} images. Fix: one mark per image.")
    unknown = set(split) - {"hard", "easy", "neutral"}
    if unknown:
        raise LBEEError(f"split holds {sorted(map(str, unknown))}; use 'hard', 'easy' or 'neutral'.")
    if correct is not None:
        correct = np.asarray(correct, dtype=bool)
        if correct.shape != (len(x),):
            raise LBEEError(f"correct has {correct.size} values but there are {len(x)} images.")
    n_clusters = _check_n_clusters(n_clusters)
    params = {"n_clusters": n_clusters, "k": k, "tau": tau, "seed": seed}
    hard, easy = np.flatnonzero(split == "hard"), np.flatnonzero(split == "easy")
    assignments = np.full(len(x), -1, np.int64)
    if not len(hard) or not len(easy):
        counts = {mark: int((split == mark).sum()) for mark in ("hard", "easy", "neutral")}
        why = ("no image is hard, so there is no failure to describe (the model made no mistake on these "
               "images?). Fix: pass images it gets wrong, or split by confidence or entropy to take its least "
               "certain images as hard" if not len(hard) else
               "no image is easy, so there is nothing to contrast the hard clusters with. Fix: pass images the "
               "model gets right too, or split by confidence or entropy")
        warnings.warn(f"LBEE found nothing to explain: {why}. Split: {counts}.", stacklevel=2)
        return LBEEResult(empty_frame(CLUSTER_COLUMNS), empty_frame(SELECTION_COLUMNS), assignments, sentences, params)
    for mark, members in (("hard", hard), ("easy", easy)):
        if n_clusters > len(members):
            warnings.warn(f"n_clusters={n_clusters} is more than the {len(members)} {mark} image(s), so they make "
                          f"{len(members)} cluster(s) of one image each. Fix: pass n_clusters <= {len(members)}.",
                          stacklevel=2)
    hard_assign, hard_proto = cluster(x[hard], n_clusters, seed)
    _, easy_proto = cluster(x[easy], n_clusters, seed)
    assignments[hard] = hard_assign
    v_hard, v_easy = hard_proto @ t.T, easy_proto @ t.T
    proto_sim = hard_proto @ easy_proto.T
    nearest = proto_sim.argmax(axis=1)
    clusters, picks = [], []
    for c in range(len(hard_proto)):
        members = hard[hard_assign == c]
        clusters.append({"cluster": c, "n_images": len(members),
                         "accuracy": float(correct[members].mean()) if correct is not None else np.nan,
                         "nearest_easy": int(nearest[c]), "prototype_similarity": float(proto_sim[c, nearest[c]])})
        for method in METHODS:
            for rank, i in enumerate(select_sentences(method, v_hard[c], v_easy[nearest[c]], k, tau)):
                picks.append({"method": method, "cluster": c, "rank": rank, "sentence": sentences[i],
                              "hard_similarity": float(v_hard[c, i]), "easy_similarity": float(v_easy[nearest[c], i])})
    return LBEEResult(pd.DataFrame(clusters).astype(CLUSTER_COLUMNS), pd.DataFrame(picks).astype(SELECTION_COLUMNS),
                      assignments, sentences, params)


def relevance_from_attributes(table: pd.DataFrame, sentences: pd.DataFrame) -> pd.DataFrame:
    """Ground-truth relevance: a sentence is relevant to an image whose attributes match all of its own.

    ``sentences`` has a ``prompt`` column and attribute columns (``None`` = not mentioned), as
    :func:`~drml_widgets.prompts.generate.generate_prompts` writes. Returns a boolean
    (images x sentences) table named ``source = "attributes"`` in ``.attrs``.

    Example:
        >>> table = pd.DataFrame({"color": ["red", "blue"]})
        >>> sents = pd.DataFrame({"color": ["red", "blue"], "prompt": ["a red one.", "a blue one."]})
        >>> relevance_from_attributes(table, sents).to_numpy().tolist()
        [[True, False], [False, True]]
    """
    sentences_list = _sentence_list(sentences)
    attrs = [c for c in sentences.columns if c in table.columns]
    if not attrs:
        raise LBEEError(f"The sentences share no attribute column with the image table {list(table.columns)}. "
                        "Fix: generate sentences from the images' attributes, or use relevance_from_similarity.")
    out = np.ones((len(table), len(sentences)), dtype=bool)
    for col in attrs:
        wanted = sentences[col].to_numpy()
        mentioned = pd.notna(wanted)
        out[:, mentioned] &= table[col].to_numpy()[:, None] == wanted[mentioned][None, :]
    frame = pd.DataFrame(out, columns=sentences_list)
    frame.attrs["source"] = "attributes"
    return frame


def relevance_from_similarity(image_emb, text_emb, sentences, threshold: float) -> pd.DataFrame:
    """Pseudo ground truth: a sentence is relevant where its CLIP similarity to the image exceeds ``threshold``.

    Example:
        >>> rel = relevance_from_similarity(np.eye(2), np.eye(2), ["a", "b"], threshold=0.5)
        >>> rel.to_numpy().tolist(), rel.attrs["source"]
        ([[True, False], [False, True]], 'CLIP similarity > 0.5')
    """
    x = check_embeddings(image_emb, "image embeddings")
    t = check_embeddings(text_emb, "sentence embeddings", dim=x.shape[1])
    frame = pd.DataFrame(x @ t.T > threshold, columns=_sentence_list(sentences))
    frame.attrs["source"] = f"CLIP similarity > {threshold:g}"
    return frame


def ground_truth(relevance: pd.DataFrame, performance, beta: float | None = None, o: float = 0.2) -> pd.DataFrame:
    """S*_beta: the sentences whose relevant images score below the overall mean by more than beta.

    ``performance`` is the model's per-image score (1/0 correctness for a classifier).
    ``beta`` defaults to ``o`` times the standard deviation of ``performance`` (paper: o = 0.2).
    One row per sentence: ``n_images``, ``hardness`` (mean performance on its images),
    ``in_ground_truth`` and ``relevance`` (where relevance came from: ``attributes``, CLIP
    similarity above a threshold, or ``user``); ``.attrs`` keeps ``beta`` and the overall mean.

    Example:
        >>> rel = pd.DataFrame({"dark": [True, True, False, False], "bright": [False, False, True, True]})
        >>> ground_truth(rel, [0, 1, 1, 1])["in_ground_truth"].tolist()
        [True, False]
    """
    perf = np.asarray(performance, dtype=np.float64)
    if perf.shape != (len(relevance),):
        raise LBEEError(f"performance has {perf.size} values but relevance has {len(relevance)} images. "
                        "Fix: one score per image, in the same order.")
    rel = relevance.to_numpy(bool)
    beta = o * perf.std() if beta is None else beta
    n_images = rel.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        hardness = (perf @ rel) / n_images
    frame = pd.DataFrame({"sentence": relevance.columns, "n_images": n_images.astype(np.int64), "hardness": hardness,
                          "in_ground_truth": hardness < perf.mean() - beta,
                          "relevance": relevance.attrs.get("source", "user")})
    frame.attrs.update(beta=float(beta), mean=float(perf.mean()))
    return frame


def evaluate(result: LBEEResult, relevance: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """AHR, ACR, TPR and JI of every method, side by side (paper 003, section 5).

    ``relevance`` is the (images x sentences) table of the images ``result`` was built on;
    ``truth`` comes from :func:`ground_truth`. TPR is NaN when S* is empty.

    Example:
        >>> emb = np.array([[1, 0], [0, 1]], np.float32)
        >>> result = explain_failures(emb, ["hard", "easy"], ["left", "up"], emb, n_clusters=1, k=1)
        >>> relevance = pd.DataFrame({"left": [True, False], "up": [False, True]})
        >>> metrics = evaluate(result, relevance, ground_truth(relevance, [0, 1]))
        >>> metrics.loc[metrics["method"] == "FPDiff", ["AHR", "ACR", "TPR", "JI"]].to_dict("records")
        [{'AHR': 1.0, 'ACR': 1.0, 'TPR': 1.0, 'JI': 1.0}]
    """
    if len(relevance) != len(result.assignments) or list(relevance.columns) != result.sentences:
        raise LBEEError("relevance must have one row per image the result was built on and one column per "
                        "sentence, in the same order. Fix: build it from the same images and sentences.")
    source = truth["relevance"].iloc[0] if len(truth) else "user"
    if not len(result.clusters):
        return empty_frame(METRIC_COLUMNS)
    rel = relevance.to_numpy(bool)
    star = set(truth.loc[truth["in_ground_truth"], "sentence"])
    index = {s: i for i, s in enumerate(result.sentences)}
    rows = []
    for method in METHODS:
        chosen = result.selections[result.selections["method"] == method]
        hr, cr = [], []
        for c, group in chosen.groupby("cluster"):
            kept = group["sentence"].tolist()
            hr.append(np.mean([s in star for s in kept]))
            members = result.assignments == c
            cr.append(rel[members][:, [index[s] for s in kept]].mean())
        union = set(chosen["sentence"])
        hit = len(union & star)
        rows.append({"method": method, "AHR": float(np.mean(hr)), "ACR": float(np.mean(cr)),
                     "TPR": hit / len(star) if star else np.nan, "JI": hit / len(union | star),
                     "n_retained": len(union), "relevance": source})
    return pd.DataFrame(rows).astype(METRIC_COLUMNS)
