"""LBEE's evaluation: which sentences truly describe failures (S*_beta), and how well the retained
sentences match them (AHR, ACR, TPR, JI)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..._common import empty_frame
from ...diagnose.validate import check_embeddings
from ...errors import LBEEError
from .clusters import METHODS, METRIC_COLUMNS
from .explain import LBEEResult, sentence_list


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
    sentences_list = sentence_list(sentences)
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
    frame = pd.DataFrame(x @ t.T > threshold, columns=sentence_list(sentences))
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
        >>> from drml_widgets.methods.lbee import find_hard_clusters
        >>> result = find_hard_clusters(emb, ["hard", "easy"], ["left", "up"], emb, n_clusters=1, k=1)
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
