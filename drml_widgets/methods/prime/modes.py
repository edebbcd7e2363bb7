"""PRIME's failure modes of any classifier (paper 001): candidate tags per class, the search for
modes over them, and checks of the modes found: on held-out images (:func:`generalisation`) and
by how well their descriptions fit their images (:func:`description_quality`)."""

from __future__ import annotations

import time
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..._common import empty_frame, text_encoder
from ...diagnose.validate import check_embeddings, check_number, check_whole
from ...errors import PrimeError
from ...prompts.text import fix_articles
from ..tagging import check_known, check_tag_table
from .result import PrimeResult
from .search import EPS, TagBits, TagFrame, exhaustive_search, failure_modes, greedy_search, naive_search

DEFAULT_B = {2: 0.10, 3: 0.05, 4: 0.025}
SEARCHES = ("exhaustive", "greedy", "naive")
MODE_COLUMNS = {
    "class": "object", "tags": "object", "n_tags": "int64", "n_images": "int64", "accuracy": "float64",
    "class_accuracy": "float64", "drop": "float64", "min_gain": "float64", "description": "object",
}


def _class_names(labels, classes: Sequence[str] | None, name: str,
                 strict: bool = True) -> tuple[np.ndarray, list[str]]:
    """Labels as class-name strings, and the class list (given, or the sorted labels).

    ``strict=False`` lets names outside the classes through (a model may predict a class that
    has no images here)."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise PrimeError(f"{name} must be one value per image; got shape {labels.shape}.")
    if classes is None:
        classes = [str(c) for c in np.unique(labels)]
        return labels.astype(str), classes
    classes = [str(c) for c in classes]
    if np.issubdtype(labels.dtype, np.integer):
        if len(labels) and (labels.min() < 0 or labels.max() >= len(classes)):
            raise PrimeError(f"{name} hold indices outside [0, {len(classes)}) for classes {classes}.")
        return np.asarray(classes, dtype=object)[labels].astype(str), classes
    names = labels.astype(str)
    unknown = sorted(set(names) - set(classes))
    if unknown and strict:
        raise PrimeError(f"{name} hold {unknown[:5]}, which are not classes {classes}. Fix: pass matching classes.")
    return names, classes


def _outcomes(tags, predictions, labels, classes, what: str = "images"):
    """Validate one data set: tag table, per-image correctness and class names."""
    tags = check_tag_table(tags)
    n = len(tags)
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    for arr, name in ((predictions, "predictions"), (labels, "labels")):
        if arr.ndim != 1 or len(arr) != n:
            raise PrimeError(f"{name} have {len(arr) if arr.ndim else 0} values but there are {n} {what} "
                             f"(tag rows). Fix: one {name[:-1]} per image, in the same order as the tags.")
    names, classes = _class_names(labels, classes, "labels")
    pred_names, _ = _class_names(predictions, classes, "predictions", strict=False)
    return tags, names == pred_names, names, classes


def candidate_tags(tags: pd.DataFrame, labels, classes: Sequence[str] | None = None,
                   min_count: int = 30) -> pd.DataFrame:
    """Per class, the tags seen on at least ``min_count`` of its images, most frequent first.

    Example:
        >>> tags = pd.DataFrame({"red": [True, True, False], "big": [True, False, False]})
        >>> candidate_tags(tags, ["cat", "cat", "dog"], min_count=2).to_dict("list")
        {'class': ['cat'], 'tag': ['red'], 'count': [2]}
    """
    tags = check_tag_table(tags)
    names, classes = _class_names(labels, classes, "labels")
    if len(names) != len(tags):
        raise PrimeError(f"labels have {len(names)} values but there are {len(tags)} images (tag rows). "
                         "Fix: one label per image, in the same order as the tags.")
    counts = tags.groupby(names).sum().reindex(classes, fill_value=0)
    frame = counts.stack().rename("count").rename_axis(["class", "tag"]).reset_index()
    frame = frame[frame["count"] >= min_count].astype({"count": "int64"})
    order = {c: i for i, c in enumerate(classes)}
    frame = frame.sort_values(["class", "count"], key=lambda col: col.map(order) if col.name == "class" else -col)
    return frame.reset_index(drop=True)


def _candidates(tags: pd.DataFrame, names: np.ndarray, classes: list[str], s: int, min_count: int) -> pd.DataFrame:
    """The candidate tags per class, or an error saying why no group can reach ``s`` images.

    Checked on every tag seen in a class, before ``min_count`` filters them: with the default
    ``min_count = s`` a too large ``s`` would otherwise leave no candidate and, silently, no mode.
    A tag set's group is never larger than its smallest tag's, so the largest single-tag group
    bounds every group.
    """
    seen = candidate_tags(tags, names, classes, min_count=1)
    if not len(seen):
        raise PrimeError("No image carries any tag, so PRIME has no group to search. "
                         "Fix: check the tag table (are the tag thresholds too high?).")
    top = seen.loc[seen["count"].idxmax()]
    largest = int(top["count"])
    if s > largest:
        sizes = {c: int((names == c).sum()) for c in classes}
        raise PrimeError(f"s={s} is larger than any group, so no failure mode can be found: the largest, tag "
                         f"{top['tag']!r} in class {top['class']!r}, has {largest} images (images per class: "
                         f"{sizes}). Fix: lower s to at most {largest}, e.g. s={max(1, largest // 2)}.")
    cands = candidate_tags(tags, names, classes, min_count)
    if not len(cands):
        raise PrimeError(f"min_count={min_count} leaves no candidate tag: the most frequent, tag {top['tag']!r} in "
                         f"class {top['class']!r}, is on {largest} images. Fix: lower min_count to at most {largest}, "
                         "or leave it out (it defaults to s).")
    return cands


def _check_options(s, a, l, min_count, search, beam) -> tuple[int, float, int, int | None, int]:
    """The scalar options checked before any data is read: ``(s, a, l, min_count, beam)``."""
    s = check_whole(s, "s (the fewest images a failure mode may hold)", fix="pass e.g. s=30 (the paper's)",
                    error=PrimeError)
    a = check_number(a, "a (the least accuracy drop of a failure mode below its class)", 0, 1,
                     "pass e.g. a=0.3 (the paper's)", error=PrimeError)
    l = check_whole(l, "l (the most tags in a failure mode)", fix="pass e.g. l=4 (the paper's)", error=PrimeError)
    if min_count is not None:
        min_count = check_whole(min_count, "min_count (the fewest images of a class a candidate tag is on)",
                                fix="leave it out (it defaults to s), or pass e.g. min_count=30", error=PrimeError)
    if not isinstance(search, str) or search not in SEARCHES:
        raise PrimeError(f"Unknown search {search!r}; PRIME searches with one of {SEARCHES}. Fix: pass "
                         "search='exhaustive' (every tag set), 'greedy' (the beam hardest per size) or 'naive'.")
    beam = check_whole(beam, "beam (the hardest tag sets the greedy search grows per size)", fix="pass e.g. beam=20",
                       error=PrimeError)
    return s, a, l, min_count, beam


def _check_gains(b, l: int, n_tags: int) -> dict[int, float]:
    """``b`` (or the paper's) with a gain in [0, 1] for every set size from 2 to ``l``; ``l`` beyond
    the ``n_tags`` tags asks for no larger set, so a huge ``l`` costs nothing."""
    if b is not None and not isinstance(b, Mapping):
        raise PrimeError(f"b maps a tag-set size to the least accuracy gain a mode must have over each of its "
                         f"subsets; got {b!r}. Fix: pass e.g. b={DEFAULT_B} (the paper's), or leave it out.")
    b = dict(DEFAULT_B if b is None else b)
    top = min(l, n_tags)
    missing = [k for k in range(2, top + 1) if k not in b]
    if missing:
        run = len(missing) > 1 and missing[-1] - missing[0] == len(missing) - 1
        sizes = f"sizes {missing[0]}..{missing[-1]}" if run else f"size {missing}"
        raise PrimeError(f"b gives no minimum gain for tag sets of {sizes} (l={l} allows sets of up to {top} of the "
                         f"{n_tags} tags). Fix: pass b with keys 2..{top}, e.g. {{**DEFAULT_B, 5: 0.0125}}, "
                         "or l=4 (the paper's; DEFAULT_B covers 2..4).")
    for k in range(2, top + 1):
        b[k] = check_number(b[k], f"b[{k}] (the least accuracy gain of a {k}-tag mode over its subsets)", 0, 1,
                            f"pass e.g. b[{k}]={DEFAULT_B.get(k, 0.0125)}", error=PrimeError)
    return b


def find_failure_modes(
    tags: pd.DataFrame,
    predictions,
    labels,
    classes: Sequence[str] | None = None,
    *,
    l: int = 4,
    s: int = 30,
    a: float = 0.3,
    b: Mapping[int, float] | None = None,
    min_count: int | None = None,
    vocabulary: Sequence[str] | None = None,
    search: str = "exhaustive",
    beam: int = 20,
) -> PrimeResult:
    """Find PRIME's failure modes of any classifier from its per-image predictions.

    ``tags`` is a boolean table (rows = images, columns = tags), from :mod:`~drml_widgets.methods.tagging` or your
    own tagger; ``predictions`` and ``labels`` are class indices into ``classes`` or class names.
    Defaults follow the paper's Living17 run (l=4, s=30, a=0.3; b2..b4 = 0.10, 0.05, 0.025).
    ``min_count`` (default ``s``: rarer tags cannot make a group of ``s``) picks the candidate
    tags per class; ``vocabulary`` restricts the search to those tags. ``search`` is
    ``exhaustive``, ``greedy`` (the ``beam`` hardest sets per level) or ``naive`` (reference). An ``l``
    above the number of tags searches sets of every size, and ``b`` needs gains up to that number only.

    Example:
        >>> tags = pd.DataFrame({"dark": [True] * 40 + [False] * 40, "blur": [True, False] * 40})
        >>> labels = np.array(["cat"] * 80)
        >>> pred = np.where(tags["dark"] & tags["blur"], "dog", "cat")
        >>> result = find_failure_modes(tags, pred, labels, s=10)
        >>> result.modes[["class", "tags", "n_images", "accuracy"]].to_dict("records")
        [{'class': 'cat', 'tags': ('dark', 'blur'), 'n_images': 20, 'accuracy': 0.0}]
    """
    start = time.perf_counter()
    s, a, l, min_count, beam = _check_options(s, a, l, min_count, search, beam)
    tags, correct, names, classes = _outcomes(tags, predictions, labels, classes)
    if vocabulary is not None:
        tags = tags[check_known(vocabulary, tags.columns, "vocabulary")]
    b = _check_gains(b, l, tags.shape[1])
    empty = [c for c in classes if not (names == c).any()]
    if empty:
        raise PrimeError(f"Classes {empty} have no images. Fix: drop them from classes, or add their images.")
    min_count = s if min_count is None else min_count
    cands = _candidates(tags, names, classes, s, min_count)
    class_acc = pd.Series({c: float(correct[names == c].mean()) for c in classes}, name="accuracy")
    run: Callable = {"exhaustive": exhaustive_search, "greedy": greedy_search, "naive": naive_search}[search]
    rows, evaluated = [], 0
    for cls in classes:
        columns = cands.loc[cands["class"] == cls, "tag"].tolist()
        if not columns:
            continue
        in_class = names == cls
        member = tags.loc[in_class, columns].to_numpy(bool)
        counter = (TagFrame if search == "naive" else TagBits)(member, correct[in_class])
        levels = run(counter, l=min(l, len(columns)), s=s, beam=beam)
        evaluated += sum(len(sets) for sets, _, _ in levels)
        for sets, count, acc, gain in failure_modes(levels, counter, class_acc[cls], a, b):
            chosen = tuple(columns[i] for i in sets)
            rows.append({"class": cls, "tags": chosen, "n_tags": len(chosen), "n_images": int(count),
                         "accuracy": float(acc), "class_accuracy": class_acc[cls],
                         "drop": class_acc[cls] - float(acc), "min_gain": float(gain),
                         "description": f"{cls}: {', '.join(chosen)}"})
    modes = pd.DataFrame(rows, columns=list(MODE_COLUMNS)).astype(MODE_COLUMNS) if rows else empty_frame(MODE_COLUMNS)
    modes = modes.sort_values(["class", "n_tags", "accuracy"], kind="stable").reset_index(drop=True)
    params = {"l": l, "s": s, "a": a, "b": b, "min_count": min_count, "search": search}
    if search == "greedy":
        params["beam"] = beam
    return PrimeResult(modes, class_acc, cands, params, evaluated, time.perf_counter() - start, tags, names)


HELDOUT_COLUMNS = {"heldout_images": "int64", "heldout_accuracy": "float64",
                   "heldout_class_accuracy": "float64", "heldout_drop": "float64", "holds": "bool"}


def generalisation(result: PrimeResult, tags: pd.DataFrame, predictions, labels,
                   classes: Sequence[str] | None = None) -> pd.DataFrame:
    """Each mode's accuracy on held-out images beside its accuracy where it was found.

    The held-out group of a mode is the held-out images of its class carrying all its tags.
    ``holds`` is true when the held-out drop from the class accuracy is still at least ``a``.

    Example:
        >>> tags = pd.DataFrame({"dark": [True, True, False, False]})
        >>> result = find_failure_modes(tags, ["dog", "dog", "cat", "cat"], ["cat"] * 4, s=2, a=0.1)
        >>> held = generalisation(result, tags, ["dog", "cat", "cat", "cat"], ["cat"] * 4)
        >>> held[["tags", "accuracy", "heldout_accuracy", "holds"]].to_dict("records")
        [{'tags': ('dark',), 'accuracy': 0.0, 'heldout_accuracy': 0.5, 'holds': True}]
    """
    classes = list(result.class_accuracy.index) if classes is None else classes
    tags, correct, names, _ = _outcomes(tags, predictions, labels, classes, "held-out images")
    base = result.modes[["class", "tags", "n_images", "accuracy", "class_accuracy"]]
    if not len(base):
        return empty_frame({**{c: MODE_COLUMNS[c] for c in base.columns}, **HELDOUT_COLUMNS})
    check_known(sorted({t for ts in base["tags"] for t in ts}), tags.columns, "The held-out tag table (columns)")
    rows = []
    for cls, chosen in zip(base["class"], base["tags"]):
        in_class = names == cls
        group = in_class & tags[list(chosen)].all(axis=1).to_numpy()
        class_acc = float(correct[in_class].mean()) if in_class.any() else np.nan
        acc = float(correct[group].mean()) if group.any() else np.nan
        rows.append({"heldout_images": int(group.sum()), "heldout_accuracy": acc,
                     "heldout_class_accuracy": class_acc, "heldout_drop": class_acc - acc,
                     "holds": bool(class_acc - acc >= result.params["a"] - EPS)})
    return pd.concat([base, pd.DataFrame(rows).astype(HELDOUT_COLUMNS)], axis=1)


QUALITY_COLUMNS = {"class": "object", "tags": "object", "sentence": "object", "similarity_mean": "float64",
                   "similarity_std": "float64", "auroc": "float64"}


def description_quality(result: PrimeResult, image_emb, encoder,
                        template: str = "a photo of a {tags} {label}.") -> pd.DataFrame:
    """How well each mode's description fits its images (paper 001, section 4.3).

    The description is ``template`` filled with the mode's tags and class, embedded by
    ``encoder`` (a ClipEncoder or a callable on a list of texts). Per mode: the mean and the
    standard deviation of its images' similarity to it, and the AUROC of that similarity between
    the mode's images and the other images of the class (1.0: the text singles them out).

    Example:
        >>> tags = pd.DataFrame({"dark": [True, True, False, False]})
        >>> result = find_failure_modes(tags, ["dog", "dog", "cat", "cat"], ["cat"] * 4, s=2, a=0.1)
        >>> emb = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], np.float32)
        >>> encode = lambda texts: np.array([[1, 0]] * len(texts), np.float32)
        >>> description_quality(result, emb, encode)[["sentence", "similarity_mean", "auroc"]].to_dict("records")
        [{'sentence': 'a photo of a dark cat.', 'similarity_mean': 1.0, 'auroc': 1.0}]
    """
    from sklearn.metrics import roc_auc_score

    x = check_embeddings(image_emb, "image embeddings")
    if len(x) != len(result.tags):
        raise PrimeError(f"image_emb has {len(x)} rows but PRIME searched {len(result.tags)} images. "
                         "Fix: pass the embeddings of the same images, in the same order.")
    if not len(result.modes):
        return empty_frame(QUALITY_COLUMNS)
    encode = text_encoder(encoder, error=PrimeError)
    sentences = [fix_articles(template.format(tags=" ".join(t), label=c))
                 for c, t in zip(result.modes["class"], result.modes["tags"])]
    text = encode(sentences)
    rows = []
    for i, (cls, chosen) in enumerate(zip(result.modes["class"], result.modes["tags"])):
        inside = np.zeros(len(x), bool)
        inside[result.members(i)] = True
        others = (result.labels == cls) & ~inside
        sims = x @ text[i]
        auroc = np.nan
        if others.any():
            auroc = roc_auc_score(np.r_[np.ones(inside.sum()), np.zeros(others.sum())],
                                  np.r_[sims[inside], sims[others]])
        rows.append({"class": cls, "tags": chosen, "sentence": sentences[i],
                     "similarity_mean": float(sims[inside].mean()), "similarity_std": float(sims[inside].std()),
                     "auroc": float(auroc)})
    return pd.DataFrame(rows, columns=list(QUALITY_COLUMNS)).astype(QUALITY_COLUMNS)
