"""LBEE's search: cluster hard and easy images and keep the sentences that set each hard cluster apart."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..._common import deprecated_alias, empty_frame
from ...diagnose.validate import check_embeddings
from ...errors import LBEEError
from ...results import Finding, Result, name_label
from .clusters import (CLUSTER_COLUMNS, MAX_CLUSTER_POINTS, METHODS, NEAR_BEST_SD, SELECTION_COLUMNS, check_k,
                       check_n_clusters, check_tau, cluster, near_best_tau, select_sentences)


@dataclass(repr=False)
class LBEEResult(Result):
    """What :func:`find_hard_clusters` found: hard clusters and the sentences kept for each.

    ``clusters``: one row per hard cluster (size, accuracy where known, nearest easy cluster,
    similarity of the two prototypes). ``selections``: one row per (method, cluster, rank) with
    the sentence and its similarity to the hard and the easy prototype. ``assignments``: the hard
    cluster of every image (-1 for images not in the hard set). ``params["ward_on"]`` gives, for
    the hard and the easy set, how many images Ward's clustering ran on and how many there are:
    above :data:`~.clusters.MAX_CLUSTER_POINTS` it fits a seeded sample (all pairwise distances
    would not fit in memory) and the other images join the nearest prototype.
    """

    clusters: pd.DataFrame
    selections: pd.DataFrame
    assignments: np.ndarray
    sentences: list[str]
    params: dict
    rows: np.ndarray | None = None  # where the images come from (a Session: its table rows)
    sentence_names: dict | None = None  # sentence -> the attribute values it states, where known
    method = "hard_clusters"

    def retained(self, method: str = "FPDiff") -> list[str]:
        """The union of the sentences a method kept over all hard clusters, in sentence order.

        Example:
            >>> emb = np.array([[1, 0], [0, 1]], np.float32)
            >>> result = find_hard_clusters(emb, ["hard", "easy"], ["left", "up"], emb, n_clusters=1, k=1)
            >>> result.retained("FPDiff"), result.retained("TopS")
            (['left'], ['left'])
        """
        if method not in METHODS:
            raise LBEEError(f"Unknown method {method!r}; choose one of {METHODS}.")
        kept = set(self.selections.loc[self.selections["method"] == method, "sentence"])
        return [s for s in self.sentences if s in kept]

    @property
    def table(self) -> pd.DataFrame:
        """One row per hard cluster with the sentences FPDiff kept, joined by " | " (the other
        selection methods: :meth:`selection`)."""
        return self.selection("FPDiff")

    def selection(self, method: str = "FPDiff") -> pd.DataFrame:
        """One row per hard cluster with the sentences ``method`` kept, joined by " | ".

        Example:
            >>> emb = np.array([[1, 0], [0, 1]], np.float32)
            >>> find_hard_clusters(emb, ["hard", "easy"], ["left", "up"], emb, n_clusters=1, k=1).selection("TopS")["sentences"].tolist()
            ['left']
        """
        if method not in METHODS:
            raise LBEEError(f"Unknown method {method!r}; choose one of {METHODS}.")
        chosen = self.selections[self.selections["method"] == method]
        joined = chosen.groupby("cluster")["sentence"].agg(" | ".join).rename("sentences")
        return self.clusters.join(joined, on="cluster")

    def findings(self, method: str = "FPDiff") -> list[Finding]:
        """The hard clusters, largest first, each read by the first sentence ``method`` kept
        (named by its attribute values where ``sentence_names`` knows them); rows are the
        cluster's images (the session's table rows where the result came from one).

        Example:
            >>> emb = np.array([[1, 0], [0, 1]], np.float32)
            >>> find_hard_clusters(emb, ["hard", "easy"], ["left", "up"], emb, n_clusters=1, k=1).findings()
            [Finding(left: n_images 1, 1 images)]
        """
        chosen = self.selections[self.selections["method"] == method]
        out = []
        for _, cluster in self.clusters.sort_values("n_images", ascending=False, kind="stable").iterrows():
            said = chosen.loc[chosen["cluster"] == cluster["cluster"], "sentence"]
            sentence = str(said.iloc[0]) if len(said) else f"cluster {cluster['cluster']}"
            name = (self.sentence_names or {}).get(sentence)
            members = np.flatnonzero(self.assignments == cluster["cluster"])
            rows = self.rows[members] if self.rows is not None else members
            out.append(Finding(name, name_label(name, sentence), float(cluster["n_images"]), "n_images", rows))
        return out

    def __repr__(self) -> str:
        p = self.params
        lines = [f"LBEEResult({len(self.clusters)} hard clusters, {len(self.sentences)} sentences, "
                 f"k={p['k']}, tau={p['tau']}: {p['tau_from']})"]
        capped = [f"{made:,} {mark}" for mark, made in p.get("clusters_made", {}).items() if made < p["n_clusters"]]
        if capped:
            lines.append(f"  n_clusters={p['n_clusters']} capped at {' and '.join(capped)} images: one image each")
        sampled = [f"{used:,} of {total:,} {mark}" for mark, (used, total) in p.get("ward_on", {}).items()
                   if used < total]
        if sampled:
            lines.append(f"  Ward fit on seeded samples ({', '.join(sampled)} images); the rest joined the nearest "
                         "prototype")
        for _, row in self.table.iterrows():
            lines.append(f"  cluster {row['cluster']} ({row['n_images']} images): FPDiff -> {row['sentences']}")
        return "\n".join(lines)


def sentence_list(sentences) -> list[str]:
    """Sentences as a list of str, from a list, one string, or prompts (their ``prompt`` column).

    Example:
        >>> sentence_list(pd.DataFrame({"prompt": ["a red square.", "a blue one."]}))
        ['a red square.', 'a blue one.']
    """
    if isinstance(sentences, pd.DataFrame):
        if "prompt" not in sentences.columns:
            raise LBEEError("A sentence DataFrame needs a 'prompt' column (as generate_prompts writes).")
        sentences = sentences["prompt"]
    sentences = [sentences] if isinstance(sentences, str) else [str(s) for s in sentences]
    if not sentences:
        raise LBEEError("The sentence set is empty. Fix: give sentences, or generate them from an attribute set.")
    return sentences


def find_hard_clusters(image_emb, split, sentences, text_emb, *, n_clusters: int = 5, k: int = 3,
                     tau: float | None = None, correct=None, seed: int = 0) -> LBEEResult:
    """Cluster hard and easy images and keep ``k`` sentences per hard cluster with each method.

    ``split`` marks each image ``hard``/``easy``/``neutral`` (see :func:`split_hard_easy`);
    ``sentences`` is a list of strings or a prompt DataFrame with a ``prompt`` column and
    ``text_emb`` their unit embeddings in the images' space. ``correct`` (optional, per image)
    adds each hard cluster's accuracy. ``n_clusters`` (at least 1) applies to hard and easy sets
    alike; it is capped at each set's size, so a set with fewer images gets one cluster per image,
    with a warning, ``params["clusters_made"]`` and the result's repr saying so. ``tau`` (the
    cosine similarity, in [-1, 1], above which a sentence counts as describing a prototype, for
    SetDiff and FPDiff) follows the CLIP in use unless given: its floor is the mean plus one
    standard deviation of every prototype-sentence similarity (about the paper's 0.25 for a real
    CLIP, whose similarities crowd near 0.2, and about 0.34 for the shapes CLIP, whose spread is
    wide), and each prototype raises it to within half a standard deviation of its own best
    sentence, so a near neighbour of the right sentence (small blue for small cyan) cannot win
    FPDiff's contrast; ``params`` records the floor and how tau was chosen, and the clusters'
    ``tau`` column each hard cluster's value. Without hard
    images (the model made no mistake there) or without easy ones there is nothing to contrast:
    the result is empty, with a warning saying why.

    Example:
        >>> emb = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], np.float32)
        >>> emb /= np.linalg.norm(emb, axis=1, keepdims=True)
        >>> text = np.array([[1, 0], [0, 1]], np.float32)
        >>> res = find_hard_clusters(emb, ["hard", "hard", "easy", "easy"], ["left", "up"], text, n_clusters=1, k=1)
        >>> res.retained("FPDiff")
        ['left']
    """
    x = check_embeddings(image_emb, "image embeddings")
    sentences = sentence_list(sentences)
    t = check_embeddings(text_emb, "sentence embeddings", dim=x.shape[1])
    if len(t) != len(sentences):
        raise LBEEError(f"{len(sentences)} sentences but {len(t)} sentence embeddings. Fix: embed each sentence once.")
    k, tau = check_k(k, len(sentences)), check_tau(tau)
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
    n_clusters = check_n_clusters(n_clusters)
    params = {"n_clusters": n_clusters, "k": k, "tau": tau, "seed": seed,
              "tau_from": "given" if tau is not None else "the similarities (none computed: nothing to explain)"}
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
    # More clusters than images cannot be made: each set is capped at its size, and says so.
    params["clusters_made"] = {"hard": min(n_clusters, len(hard)), "easy": min(n_clusters, len(easy))}
    for mark, members in (("hard", hard), ("easy", easy)):
        if n_clusters > len(members):
            warnings.warn(f"n_clusters={n_clusters} is more than the {len(members)} {mark} image(s), so they make "
                          f"{len(members)} cluster(s) of one image each. Fix: pass n_clusters <= {len(members)}.",
                          stacklevel=2)
    hard_assign, hard_proto = cluster(x[hard], n_clusters, seed)
    _, easy_proto = cluster(x[easy], n_clusters, seed)
    # Ward needs every pairwise distance: above MAX_CLUSTER_POINTS it runs on a seeded sample.
    params["ward_on"] = {mark: (min(len(rows), MAX_CLUSTER_POINTS), len(rows)) for mark, rows in (("hard", hard),
                                                                                                  ("easy", easy))}
    assignments[hard] = hard_assign
    v_hard, v_easy = hard_proto @ t.T, easy_proto @ t.T
    if tau is not None:
        hard_tau, easy_tau = np.full(len(hard_proto), tau), np.full(len(easy_proto), tau)
    else:
        both = np.concatenate([v_hard.ravel(), v_easy.ravel()])
        params["tau"] = round(float(both.mean() + both.std()), 4)
        hard_tau, easy_tau = near_best_tau(v_hard, params["tau"]), near_best_tau(v_easy, params["tau"])
        params["tau_from"] = (f"mean + 1 sd of {both.size} prototype-sentence similarities "
                              f"({both.mean():.3f} + {both.std():.3f}), raised for each prototype to within "
                              f"{NEAR_BEST_SD:g} sd of its best sentence (the clusters' tau column)")
    proto_sim = hard_proto @ easy_proto.T
    nearest = proto_sim.argmax(axis=1)
    clusters, picks = [], []
    for c in range(len(hard_proto)):
        members = hard[hard_assign == c]
        clusters.append({"cluster": c, "n_images": len(members),
                         "accuracy": float(correct[members].mean()) if correct is not None else np.nan,
                         "nearest_easy": int(nearest[c]), "prototype_similarity": float(proto_sim[c, nearest[c]]),
                         "tau": float(hard_tau[c])})
        for method in METHODS:
            for rank, i in enumerate(select_sentences(method, v_hard[c], v_easy[nearest[c]], k, hard_tau[c],
                                                      easy_tau[nearest[c]])):
                picks.append({"method": method, "cluster": c, "rank": rank, "sentence": sentences[i],
                              "hard_similarity": float(v_hard[c, i]), "easy_similarity": float(v_easy[nearest[c], i])})
    return LBEEResult(pd.DataFrame(clusters).astype(CLUSTER_COLUMNS), pd.DataFrame(picks).astype(SELECTION_COLUMNS),
                      assignments, sentences, params)


explain_failures = deprecated_alias(find_hard_clusters, "explain_failures")
