"""Spurious-aware CLIP fine-tuning (paper 004): detect an attribute CLIP leans on, then fine-tune
only CLIP's two projections with language (or image groups) to set it apart from the classes.

Detection ranks, per class, each attribute's accuracy discrepancy
``delta = acc(attribute present) - acc(absent)`` (eq. 7). Mitigation trains the image projection
(``model.visual.proj``) and the text projection (``model.text_projection``), everything else
frozen, on

- ``L_CLIP`` (eq. 1): each image against its class in a random template of CLIP's 80;
- ``L_vc`` and ``L_lc`` (eqs. 2-3): in-modal class contrast of the images in a batch, and of
  the class prompts across templates;
- one spurious term, ``L_ls`` (language, eq. 5: class prompts pushed away from the attribute's
  prompts) or ``L_vs`` (vision, eq. 4: images grouped by class and attribute value),

summed unweighted (eq. 6). Every term after the first is the paper's cross-group similarity
(CS). With the towers frozen, their outputs before the projections are computed once
(:func:`cache_features`) and the projections train on them: seconds on a CPU. The base model is
never changed; a tuned pair of projections is saved as a new open_clip folder, which
:class:`~drml_widgets.ClipEncoder` loads like any model, and going back is loading the base.
"""

from __future__ import annotations

import copy
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from ..data.shapes_clip import SHAPES_MODEL_DIR, write_model_dir
from ..diagnose.gap import _unit
from ..diagnose.slices import image_slice_scores
from ..embed.encoder import PROGRESS_MIN_ITEMS
from ..embed.images import as_image_list, load_rgb
from ..embed.models import LOCAL_DIR
from ..errors import DrmlError
from ..prompts.text import fix_articles, imagenet_templates
from .tagging import check_tag_table

VARIANTS: dict[str, tuple[str, ...]] = {
    "plain": (),                        # the CLIP loss alone: ordinary contrastive fine-tuning
    "class": ("vc", "lc"),              # + in-modal class contrast (ablation: no spurious term)
    "language": ("vc", "lc", "ls"),     # paper 004, L_CLIP + L_vc + L_lc + L_ls
    "vision": ("vc", "lc", "vs"),       # paper 004, L_CLIP + L_vc + L_lc + L_vs
}


class SpuriousError(DrmlError, ValueError):
    """A spurious attribute, label or variant that cannot be used for detection or fine-tuning."""


class ProjectionNotFoundError(DrmlError, RuntimeError):
    """A model without the two projection layers that spurious-aware fine-tuning trains."""


# -- the model's projections --------------------------------------------------------------
def find_projections(model) -> tuple[object, object]:
    """The image and text projections of an open_clip ``CLIP``, or a clear error.

    Example:
        >>> import torch.nn as nn
        >>> find_projections(nn.Linear(2, 2))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        drml_widgets.methods.spurious.ProjectionNotFoundError: The model has no image projection (model.visual.proj is missing). ... Fix: use an open_clip CLIP whose image tower ends in a projection matrix ...
    """
    import torch

    fix = ("Spurious-aware fine-tuning trains only the two projections into the shared space. Fix: use an "
           "open_clip CLIP whose image tower ends in a projection matrix (ViT towers, as in the shapes CLIP) "
           "and whose text tower has text_projection.")
    visual = getattr(getattr(model, "visual", None), "proj", None)
    if not isinstance(visual, torch.Tensor) or visual.ndim != 2:
        raise ProjectionNotFoundError(f"The model has no image projection (model.visual.proj is missing). {fix}")
    text = getattr(model, "text_projection", None)
    if isinstance(text, torch.nn.Linear) and text.bias is not None:
        raise ProjectionNotFoundError("The model's text projection has a bias; only matrix projections are tuned. "
                                      "Fix: use an open_clip CLIP whose text_projection is a matrix.")
    if not (isinstance(text, torch.nn.Linear) or (isinstance(text, torch.Tensor) and text.ndim == 2)):
        raise ProjectionNotFoundError(f"The model has no text projection (model.text_projection is missing). {fix}")
    return visual, text


def _as_matrix(projection) -> np.ndarray:
    """The projection as an ``(in, out)`` matrix (``x @ P``), whatever form the model keeps it in."""
    import torch

    weight = projection.weight.T if isinstance(projection, torch.nn.Linear) else projection
    return weight.detach().float().cpu().numpy().copy()


@contextmanager
def _projections_off(model):
    """Run the towers without their projections (open_clip skips a projection set to None)."""
    visual, text = model.visual.proj, model.text_projection
    model.visual.proj, model.text_projection = None, None
    try:
        yield model
    finally:
        model.visual.proj, model.text_projection = visual, text


# -- cached tower outputs -----------------------------------------------------------------
@dataclass(repr=False)
class ProjectionData:
    """What fine-tuning the projections needs, computed once with the towers frozen.

    ``image`` holds the image tower's output before projection (one row per image);
    ``class_text`` the text tower's output for each class through each template
    (``classes x templates x width``); ``spurious_text`` the same for the spurious attribute's
    values, or ``None``. ``visual_proj`` and ``text_proj`` are the base model's projections,
    ``logit_scale`` its ``1 / tau``; ``encoder`` is the base :class:`~drml_widgets.ClipEncoder`.
    Build it with :func:`cache_features`.

    Example:
        >>> from drml_widgets import ClipEncoder
        >>> cache_features(ClipEncoder("shapes"), np.zeros((2, 64, 64, 3), np.uint8), ["triangle", "square"],
        ...                spurious_values=["orange"], templates=["a {}."])
        ProjectionData(images=2, classes=['triangle', 'square'], templates=1, spurious=['orange'], projections (128, 64) and (128, 64))
    """

    image: np.ndarray
    class_text: np.ndarray
    spurious_text: np.ndarray | None
    classes: list[str]
    spurious_values: list[str]
    templates: list[str]
    visual_proj: np.ndarray
    text_proj: np.ndarray
    logit_scale: float
    encoder: object = None

    def base(self) -> "TunedProjections":
        """The base model's projections, for zero-shot results side by side with tuned ones."""
        return TunedProjections("zero-shot", self.visual_proj.copy(), self.text_proj.copy())

    def __repr__(self) -> str:
        return (f"ProjectionData(images={len(self.image)}, classes={self.classes}, "
                f"templates={len(self.templates)}, spurious={self.spurious_values}, "
                f"projections {self.visual_proj.shape} and {self.text_proj.shape})")


def _phrases(values: Sequence[str], templates: Sequence[str], phrase: str) -> list[str]:
    return [fix_articles(t.format(phrase.format(v))) for v in values for t in templates]


def cache_features(
    encoder,
    images,
    classes: Sequence[str],
    *,
    spurious_values: Sequence[str] = (),
    templates: Sequence[str] | None = None,
    spurious_phrase: str = "{} object",
    batch_size: int = 256,
    progress: bool | None = None,
) -> ProjectionData:
    """Run the frozen towers once: images, class prompts and the spurious attribute's prompts.

    ``encoder`` is a :class:`~drml_widgets.ClipEncoder`; its preprocessing is used, so the
    features match what it embeds. Prompts are ``templates`` (default: CLIP's 80 ImageNet
    templates, as in the paper) filled with each class name, and with
    ``spurious_phrase.format(value)`` for each spurious value ("an orange object").
    A progress bar shows for 512 images or more unless ``progress=False``.

    Example:
        >>> from drml_widgets import ClipEncoder
        >>> data = cache_features(ClipEncoder("shapes"), np.zeros((2, 64, 64, 3), np.uint8),
        ...                       ["triangle", "square"], spurious_values=["orange"], templates=["a {}."])
        >>> data.image.shape, data.class_text.shape, data.spurious_text.shape
        ((2, 128), (2, 1, 128), (1, 1, 128))
    """
    import torch

    model, preprocess, tokenizer = encoder.load()
    visual, text = find_projections(model)
    templates = list(templates) if templates is not None else imagenet_templates()
    classes, spurious_values = [str(c) for c in classes], [str(v) for v in spurious_values]
    if len(classes) < 2:
        raise SpuriousError(f"Zero-shot classification needs at least two classes; got {classes}.")
    items = as_image_list(images)
    device = next(model.parameters()).device
    batches = range(0, len(items), batch_size)
    if progress if progress is not None else len(items) >= PROGRESS_MIN_ITEMS:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc="image tower (frozen)", unit="batch")

    def run_texts(texts: list[str], n_values: int) -> np.ndarray:
        out = [model.encode_text(tokenizer(texts[i: i + batch_size]).to(device)).float().cpu()
               for i in range(0, len(texts), batch_size)]
        return torch.cat(out).numpy().reshape(n_values, len(templates), -1)

    with torch.inference_mode(), _projections_off(model):
        feats = []
        for start in batches:
            pixels = torch.stack([preprocess(load_rgb(item, start + j))
                                  for j, item in enumerate(items[start: start + batch_size])])
            feats.append(model.encode_image(pixels.to(device)).float().cpu())
        class_text = run_texts(_phrases(classes, templates, "{}"), len(classes))
        spurious_text = (run_texts(_phrases(spurious_values, templates, spurious_phrase), len(spurious_values))
                         if spurious_values else None)
    return ProjectionData(torch.cat(feats).numpy(), class_text, spurious_text, classes, spurious_values, templates,
                          _as_matrix(visual), _as_matrix(text), float(model.logit_scale.detach().exp()), encoder)


# -- losses ---------------------------------------------------------------------------------
def clip_loss(image, text, scale: float):
    """Eq. 1: symmetric cross-entropy of matched (image, text) rows against the rest of the batch.

    Example:
        >>> import torch
        >>> e = torch.eye(3)
        >>> round(float(clip_loss(e, e, 10.0)), 4)
        0.0001
    """
    import torch
    import torch.nn.functional as F

    logits = scale * image @ text.T
    target = torch.arange(len(image))
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def cross_group_similarity(anchors, others, same, different, scale: float):
    """The paper's CS: for each anchor i, ``-mean_p log(e^{<A_i,B_p>/tau} / (sum_p + sum_q))``
    over its own group ``p`` (``same[i]``) against the other group ``q`` (``different[i]``),
    averaged over anchors.

    An anchor is left out when its own group is empty (the term is undefined); a pair in
    neither mask takes no part.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
        >>> same, different = group_masks(torch.tensor([0, 0, 1, 1]))
        >>> float(cross_group_similarity(x, x, same, different, 10.0)) < 1e-3  # groups already apart
        True
        >>> float(cross_group_similarity(x, x, different, same, 10.0)) > 5  # the opposite grouping
        True
    """
    has = same.any(dim=1)
    if not has.any():
        return (anchors.sum() + others.sum()) * 0.0
    same, members = same[has], (same | different)[has]
    logits = scale * anchors[has] @ others.T
    log_norm = logits.masked_fill(~members, float("-inf")).logsumexp(dim=1, keepdim=True)
    log_prob = (logits - log_norm).masked_fill(~same, 0.0)
    return -(log_prob.sum(dim=1) / same.sum(dim=1)).mean()


def group_masks(groups):
    """``same[i, j]``: j is in i's group and is not i; ``different[i, j]``: j is in another group.

    Example:
        >>> import torch
        >>> same, different = group_masks(torch.tensor([0, 0, 1]))
        >>> same.int().tolist(), different.int().tolist()
        ([[0, 1, 0], [1, 0, 0], [0, 0, 0]], [[0, 0, 1], [0, 0, 1], [1, 1, 0]])
    """
    import torch

    equal = groups[:, None] == groups[None, :]
    return equal & ~torch.eye(len(groups), dtype=torch.bool), ~equal


def language_spurious_masks(n_classes: int, n_values: int, n_templates: int):
    """Masks of ``L_ls`` over the prompts ``[classes x templates; attribute values x templates]``.

    A class prompt's own group is its class in the other templates (the attribute is absent);
    its other group is every attribute prompt, so it is pushed away from the attribute. Class
    prompts of other classes take no part (setting classes apart is ``L_lc``'s job). An
    attribute prompt's own group is its value in the other templates; its other group is every
    prompt with another value or with none.

    Example:
        >>> same, different = language_spurious_masks(2, 1, 1)  # triangle, square, orange
        >>> same.int().tolist(), different.int().tolist()
        ([[0, 0, 0], [0, 0, 0], [0, 0, 0]], [[0, 0, 1], [0, 0, 1], [1, 1, 0]])
    """
    import torch

    group = torch.arange(n_classes + n_values).repeat_interleave(n_templates)
    is_class = group < n_classes
    same, different = group_masks(group)
    return same, different & ~(is_class[:, None] & is_class[None, :])


# -- evaluation -------------------------------------------------------------------------------
@dataclass(repr=False)
class GroupAccuracy:
    """Accuracy per group (``table``, worst first), over all images (``average``) and in the
    worst group (``worst``, ``worst_group``). Build it with :func:`group_accuracy`.

    Example:
        >>> acc = group_accuracy([0, 1, 1], [0, 1, 0], pd.DataFrame({"color": ["red", "red", "blue"]}), ["color"])
        >>> acc.table.values.tolist(), acc.worst_group
        ([['blue', 0.0, 1], ['red', 1.0, 2]], ('blue',))
    """

    table: pd.DataFrame
    average: float
    worst: float
    worst_group: tuple

    def __repr__(self) -> str:
        return (f"GroupAccuracy(average={self.average:.3f}, worst={self.worst:.3f} in {self.worst_group}, "
                f"groups={len(self.table)})")


def group_accuracy(pred, labels, table: pd.DataFrame, by: Sequence[str] = ("color", "shape")) -> GroupAccuracy:
    """Average accuracy and worst-group accuracy, groups being the value combinations of ``by``.

    Example:
        >>> t = pd.DataFrame({"color": ["red", "red", "blue"], "shape": ["sq", "sq", "sq"]})
        >>> group_accuracy([0, 1, 0], [0, 0, 0], t)
        GroupAccuracy(average=0.667, worst=0.500 in ('red', 'sq'), groups=2)
    """
    by = list(by)
    pred, labels = np.asarray(pred), np.asarray(labels)
    if not len(pred) == len(labels) == len(table) > 0:
        raise SpuriousError(f"Got {len(pred)} predictions, {len(labels)} labels and {len(table)} table rows. "
                            "Fix: one of each per evaluated image.")
    missing = [c for c in by if c not in table.columns]
    if missing:
        raise SpuriousError(f"Group columns {missing} are not in the table {list(table.columns)}.")
    per = image_slice_scores(pred, labels, table.reset_index(drop=True), by)
    per = per.rename(columns={"image_acc": "accuracy"}).sort_values("accuracy", kind="stable").reset_index(drop=True)
    return GroupAccuracy(per, float(np.mean(pred == labels)), float(per.loc[0, "accuracy"]), tuple(per.loc[0, by]))


def accuracy_discrepancy(pred, labels, tags: pd.DataFrame, classes: Sequence[str], min_count: int = 10, *,
                         train_tags: pd.DataFrame | None = None, train_labels=None,
                         min_share_gap: float = 0.1) -> pd.DataFrame:
    """Eq. 7 per class and tag: ``delta = acc(tag present) - acc(tag absent)``, largest first.

    ``tags`` is a boolean table, one row per image and one column per tag: the shapes world's
    attributes (``tags_from_table``) or a CLIP zero-shot tagger's output (``tag_images``).
    Pairs with fewer than ``min_count`` images on either side are left out (a discrepancy
    between a handful of images is noise).

    A large delta means the tag is a shortcut the model learned *or* simply makes the class
    easier to see (large shapes, daylight). Pass the fine-tuning data's ``train_tags`` and
    ``train_labels`` to tell them apart: ``train_share`` is the fraction of the class's training
    images with the tag and ``train_share_other`` that of the other classes'. A tag the class's
    training images carry at least ``min_share_gap`` more often is a ``candidate`` shortcut, and
    candidates are ranked first; a tag every class has alike cannot stand in for one class.

    Example:
        >>> tags = pd.DataFrame({"orange": [True, True, False, False]})
        >>> accuracy_discrepancy([0, 0, 1, 0], [0, 0, 0, 0], tags, ["triangle"], min_count=2)[["tag", "delta"]].values.tolist()
        [['orange', 0.5]]
        >>> train = pd.DataFrame({"orange": [True, True, False]})
        >>> accuracy_discrepancy([0, 0, 1, 0], [0, 0, 0, 0], tags, ["triangle", "square"], min_count=2,
        ...                      train_tags=train, train_labels=[0, 0, 1])[["tag", "train_share", "candidate"]].values.tolist()
        [['orange', 1.0, True]]
    """
    pred, labels = np.asarray(pred), np.asarray(labels)
    tags = check_tag_table(tags, n=len(labels))
    if len(pred) != len(labels):
        raise SpuriousError(f"pred has {len(pred)} entries for {len(labels)} labels; pass one per image.")
    if (train_tags is None) != (train_labels is None):
        raise SpuriousError("Pass train_tags and train_labels together (the fine-tuning images' tags and classes).")
    if train_tags is not None:
        train_labels = np.asarray(train_labels)
        train_tags = check_tag_table(train_tags, n=len(train_labels))
        missing = [t for t in tags.columns if t not in train_tags.columns]
        if missing:
            raise SpuriousError(f"train_tags lacks the tags {missing}. Fix: tag the training images with the same vocabulary.")
    min_count = max(int(min_count), 1)
    correct = pred == labels
    rows = []
    for c, name in enumerate(classes):
        in_class = labels == c
        for tag in tags.columns:
            has = tags[tag].to_numpy()
            present, absent = in_class & has, in_class & ~has
            if present.sum() < min_count or absent.sum() < min_count:
                continue
            row = {"class": name, "tag": tag, "n_present": int(present.sum()), "n_absent": int(absent.sum()),
                   "acc_present": float(correct[present].mean()), "acc_absent": float(correct[absent].mean())}
            if train_tags is not None:
                trained = train_tags[tag].to_numpy()
                row["train_share"] = _share(trained[train_labels == c])
                row["train_share_other"] = _share(trained[train_labels != c])
            rows.append(row)
    columns = ["class", "tag", "n_present", "n_absent", "acc_present", "acc_absent"]
    out = pd.DataFrame(rows, columns=columns + ([] if train_tags is None else ["train_share", "train_share_other"]))
    out.insert(len(columns), "delta", out["acc_present"] - out["acc_absent"])
    if train_tags is None:
        return out.sort_values("delta", ascending=False, kind="stable").reset_index(drop=True)
    out["candidate"] = (out["train_share"] - out["train_share_other"]) >= min_share_gap
    return out.sort_values(["candidate", "delta"], ascending=False, kind="stable").reset_index(drop=True)


def _share(has: np.ndarray) -> float:
    return float(has.mean()) if len(has) else float("nan")


# -- tuned projections ------------------------------------------------------------------
def _base_config(spec) -> dict:
    """The base model's open_clip folder config, from its spec (no download)."""
    architecture = spec.identity.get("architecture")
    if isinstance(architecture, dict):  # a model folder, such as the shapes CLIP
        return {"model_cfg": architecture, "preprocess_cfg": spec.identity.get("preprocess", {})}
    if isinstance(architecture, str):  # an open_clip name with a pretrained tag or file
        import open_clip

        return {"model_cfg": open_clip.get_model_config(architecture), "preprocess_cfg": spec.identity["preprocess"]}
    raise SpuriousError(f"Cannot write a model folder for {spec.label!r}: its architecture config is not known "
                        "offline. Fix: save the hub model as an open_clip folder and load it from there.")


@dataclass(repr=False)
class TunedProjections:
    """A pair of projections (``visual``: image width x d, ``text``: text width x d) and how they
    were trained. ``history`` has one row per epoch (loss terms; with validation rows, their
    average and worst-group accuracy); epoch 0 is the starting point.

    Example:
        >>> from drml_widgets import ClipEncoder
        >>> data = cache_features(ClipEncoder("shapes"), np.zeros((3, 64, 64, 3), np.uint8), ["a", "b"],
        ...                       templates=["{}."])
        >>> base = data.base()
        >>> base, base.predict(data).shape, base.image_embeddings(data).shape
        (TunedProjections('zero-shot', epochs=0), (3,), (3, 64))
    """

    variant: str
    visual: np.ndarray
    text: np.ndarray
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    seconds: float = 0.0

    def image_embeddings(self, data: ProjectionData, rows=None) -> np.ndarray:
        """Unit image embeddings of the cached images (``rows``: a subset)."""
        x = data.image if rows is None else data.image[rows]
        return _unit(x @ self.visual)

    def class_embeddings(self, data: ProjectionData) -> np.ndarray:
        """One unit embedding per class: the mean of its prompts over templates, as in CLIP."""
        return _unit(_unit(data.class_text @ self.text).mean(axis=1))

    def predict(self, data: ProjectionData, rows=None) -> np.ndarray:
        """Zero-shot class indices: the nearest class embedding."""
        return (self.image_embeddings(data, rows) @ self.class_embeddings(data).T).argmax(axis=1)

    def to_model(self, base_model):
        """A copy of ``base_model`` carrying these projections (the base is left untouched).

        Example:
            >>> from drml_widgets import ClipEncoder
            >>> enc = ClipEncoder("shapes")
            >>> data = cache_features(enc, np.zeros((1, 64, 64, 3), np.uint8), ["a", "b"], templates=["{}."])
            >>> model = data.base().to_model(enc.model)
            >>> bool((model.visual.proj == enc.model.visual.proj).all()), model is enc.model
            (True, False)
        """
        import torch

        model = copy.deepcopy(base_model)
        visual, text = find_projections(model)
        with torch.no_grad():
            visual.copy_(torch.from_numpy(self.visual).to(visual))
            if isinstance(text, torch.nn.Linear):
                text.weight.copy_(torch.from_numpy(self.text.T).to(text.weight))
            else:
                text.copy_(torch.from_numpy(self.text).to(text))
        return model

    def save(self, data: ProjectionData, out_dir: str | os.PathLike) -> Path:
        """Write the base model with these projections as a new open_clip folder and return it.

        Load it with ``ClipEncoder(path)``; its embeddings are cached apart from the base's (the
        cache is keyed by the weights). To revert, load the base again: its folder is refused
        as a target, so it is never overwritten. Weights are stored in fp16, as the base's.

        Example:
            >>> import tempfile
            >>> from drml_widgets import ClipEncoder
            >>> data = cache_features(ClipEncoder("shapes"), np.zeros((1, 64, 64, 3), np.uint8), ["a", "b"],
            ...                       templates=["{}."])
            >>> path = data.base().save(data, Path(tempfile.mkdtemp()) / "tuned")
            >>> ClipEncoder(path).encode_texts("a square.").shape
            (1, 64)
        """
        out = Path(out_dir).expanduser().resolve()
        spec = data.encoder.spec
        protected = {SHAPES_MODEL_DIR.resolve()}
        if spec.open_clip_name.startswith(LOCAL_DIR):
            protected.add(Path(spec.open_clip_name[len(LOCAL_DIR):]).expanduser().resolve())
        if out in protected:
            raise SpuriousError(f"Refusing to overwrite the base model's weights at {str(out)!r}. "
                                "Fix: save the tuned model to a new folder; the base stays as it was.")
        return write_model_dir(self.to_model(data.encoder.model), out, config=_base_config(spec))

    def __repr__(self) -> str:
        extra = ""
        if "val_worst" in self.history and len(self.history):
            last = self.history.iloc[-1]
            extra = f", val_average={last['val_average']:.3f}, val_worst={last['val_worst']:.3f}"
        return f"TunedProjections({self.variant!r}, epochs={max(len(self.history) - 1, 0)}{extra})"


def _check_labels(labels, n: int, n_classes: int) -> np.ndarray:
    y = np.asarray(labels)
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= n_classes:
        raise SpuriousError(f"labels must be {n} class indices in [0, {n_classes}), one per cached image; "
                            f"got shape {y.shape}, dtype {y.dtype}.")
    return y.astype(np.int64)


def _check_spurious(data: ProjectionData, attribute, rows: np.ndarray, variant: str) -> None:
    terms = VARIANTS[variant]
    if "ls" in terms and data.spurious_text is None:
        raise SpuriousError("The language variant needs prompts of the spurious attribute. "
                            "Fix: pass spurious_values=[...] (e.g. ['orange', 'green']) to cache_features.")
    if "vs" in terms and attribute is None:
        raise SpuriousError("The vision variant groups images by their spurious attribute. "
                            "Fix: pass attribute= one value per cached image (e.g. table['color']).")
    if attribute is None:
        return
    present = set(attribute[rows].astype(str))
    missing = [v for v in data.spurious_values if v not in present]
    if missing:
        raise SpuriousError(f"No training image has the spurious attribute value(s) {missing}; the training rows "
                            f"have {sorted(present)}. Fix: check the spelling, or pick a value the images have.")
    if "vs" in terms and len(present) < 2:
        raise SpuriousError(f"Every training image has the same attribute value {sorted(present)}, so the vision "
                            "variant has nothing to separate. Fix: use the language variant, or more images.")


def fine_tune_projections(
    data: ProjectionData,
    labels,
    rows=None,
    *,
    variant: str = "language",
    attribute=None,
    epochs: int = 50,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    batch_size: int = 128,
    seed: int = 0,
    val_rows=None,
    progress: Callable[[int, int], None] | None = None,
) -> TunedProjections:
    """Fine-tune only the two projections on cached tower outputs; the base is not changed.

    ``labels`` holds a class index for every cached image; ``rows`` picks the training images
    (default: all). ``variant`` is ``plain`` (the CLIP loss), ``class`` (+ in-modal class
    contrast), ``language`` or ``vision`` (+ the spurious term, paper 004). ``attribute`` gives
    each cached image its spurious attribute value: the vision variant needs it, and with it
    every spurious value of ``data`` must occur in the training rows. The temperature stays the
    base model's. AdamW with the paper's weight decay (1e-4) and Adam's usual learning rate
    rather than the paper's SGD at 1e-5, which suits a large CLIP, not a 64-d one. With
    ``val_rows`` each epoch records their average and worst class x attribute accuracy; the
    last epoch is kept. ``progress(epoch, epochs)`` runs after each epoch.

    Example:
        >>> from drml_widgets import ClipEncoder
        >>> imgs = np.zeros((4, 64, 64, 3), np.uint8); imgs[:2, 20:40, 20:40] = 200
        >>> data = cache_features(ClipEncoder("shapes"), imgs, ["square", "blank"], templates=["a {}."])
        >>> tuned = fine_tune_projections(data, [0, 0, 1, 1], variant="class", epochs=2)
        >>> tuned.predict(data).shape, len(tuned.history)
        ((4,), 3)
    """
    import torch
    import torch.nn.functional as F

    if variant not in VARIANTS:
        raise SpuriousError(f"Unknown variant {variant!r}; choose one of {list(VARIANTS)}.")
    terms = VARIANTS[variant]
    n = len(data.image)
    labels = _check_labels(labels, n, len(data.classes))
    rows = np.arange(n) if rows is None else np.asarray(rows)
    attribute = None if attribute is None else np.asarray(attribute, dtype=object)
    if attribute is not None and len(attribute) != n:
        raise SpuriousError(f"attribute has {len(attribute)} values for {n} cached images; pass one per image.")
    _check_spurious(data, attribute, rows, variant)
    if len(rows) < 2 or len(np.unique(labels[rows])) < 2:
        raise SpuriousError("Fine-tuning needs training images of at least two classes. Fix: pass more rows.")

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    visual = torch.tensor(data.visual_proj, requires_grad=True)
    text = torch.tensor(data.text_proj, requires_grad=True)
    opt = torch.optim.AdamW([visual, text], lr=lr, weight_decay=weight_decay)
    feats, y = torch.from_numpy(data.image[rows]), torch.from_numpy(labels[rows])
    n_classes, n_templates, width = data.class_text.shape
    n_class_prompts = n_classes * n_templates
    prompts = [data.class_text.reshape(n_class_prompts, width)]
    if "ls" in terms:
        prompts.append(data.spurious_text.reshape(-1, width))
        ls_masks = language_spurious_masks(n_classes, len(data.spurious_values), n_templates)
    prompts = torch.from_numpy(np.concatenate(prompts))
    lc_masks = group_masks(torch.arange(n_classes).repeat_interleave(n_templates))
    if "vs" in terms:
        _, codes = np.unique(attribute[rows].astype(str), return_inverse=True)
        spurious_group = torch.from_numpy(labels[rows] * (codes.max() + 1) + codes)
    scale = data.logit_scale

    log = []
    start = time.perf_counter()
    for epoch in range(epochs + 1):
        totals: dict[str, float] = {}
        order = torch.randperm(len(rows), generator=gen) if epoch else torch.arange(0)  # epoch 0: the start
        for b in range(0, len(order), batch_size):
            idx = order[b: b + batch_size]
            if len(idx) < 2:
                continue
            x = F.normalize(feats[idx] @ visual, dim=-1)
            t = F.normalize(prompts @ text, dim=-1)
            template = torch.randint(n_templates, (len(idx),), generator=gen)
            parts = {"clip": clip_loss(x, t[y[idx] * n_templates + template], scale)}
            if "vc" in terms:
                parts["vc"] = cross_group_similarity(x, x, *group_masks(y[idx]), scale)
            if "lc" in terms:
                parts["lc"] = cross_group_similarity(t[:n_class_prompts], t[:n_class_prompts], *lc_masks, scale)
            if "ls" in terms:
                parts["ls"] = cross_group_similarity(t, t, *ls_masks, scale)
            if "vs" in terms:
                parts["vs"] = cross_group_similarity(x, x, *group_masks(spurious_group[idx]), scale)
            loss = sum(parts.values())  # eq. 6: the terms are summed unweighted
            opt.zero_grad()
            loss.backward()
            opt.step()
            for k, v in parts.items():
                totals[f"loss_{k}"] = totals.get(f"loss_{k}", 0.0) + float(v.detach()) * len(idx) / len(rows)
        record = {"epoch": epoch, **totals}
        if val_rows is not None:
            current = TunedProjections(variant, visual.detach().numpy(), text.detach().numpy())
            groups = pd.DataFrame({"class": labels[val_rows],
                                   "attribute": "" if attribute is None else attribute[val_rows].astype(str)})
            acc = group_accuracy(current.predict(data, val_rows), labels[val_rows], groups, ["class", "attribute"])
            record.update(val_average=acc.average, val_worst=acc.worst)
        log.append(record)
        if progress is not None and epoch:
            progress(epoch, epochs)
    return TunedProjections(variant, visual.detach().numpy().copy(), text.detach().numpy().copy(),
                            pd.DataFrame(log), time.perf_counter() - start)


# -- side by side ---------------------------------------------------------------------------
@dataclass(repr=False)
class FineTuneComparison:
    """Zero-shot and each fine-tuning variant side by side.

    ``table`` has a row per method: average and worst-group accuracy as means over the seeds,
    their standard deviations across seeds (``_sd``; NaN with one seed, 0 for zero-shot, which
    has no randomness), the group that was worst most often, and seconds per run. ``groups``
    holds every group's accuracy per method (mean over seeds), ``runs`` one row per method and
    seed, and ``tuned`` the projections of each method trained with the first seed. Build it
    with :func:`compare_fine_tuning`.

    Example:
        >>> runs = pd.DataFrame({"method": ["zero-shot", "plain", "plain"], "seed": [None, 0, 1],
        ...                      "average": [0.99, 0.9, 0.8], "worst_group": [0.98, 0.5, 0.7],
        ...                      "worst": ["green triangle"] * 3, "seconds": [0.0, 1.0, 1.0]})
        >>> FineTuneComparison.from_runs(runs, pd.DataFrame(), {})
        FineTuneComparison
           method  average  average_sd  worst_group  worst_group_sd          worst  seconds  seeds
        zero-shot   0.9900      0.0000       0.9800          0.0000 green triangle   0.0000      0
            plain   0.8500      0.0707       0.6000          0.1414 green triangle   1.0000      2
    """

    table: pd.DataFrame
    groups: pd.DataFrame
    tuned: dict[str, TunedProjections]
    runs: pd.DataFrame = field(default_factory=pd.DataFrame)

    @classmethod
    def from_runs(cls, runs: pd.DataFrame, groups: pd.DataFrame, tuned: dict) -> "FineTuneComparison":
        """Summarise per-seed ``runs`` (columns method, seed, average, worst_group, worst, seconds)."""
        by_method = runs.groupby("method", sort=False)
        table = by_method.agg(average=("average", "mean"), average_sd=("average", "std"),
                              worst_group=("worst_group", "mean"), worst_group_sd=("worst_group", "std"),
                              worst=("worst", lambda w: w.mode().iloc[0]), seconds=("seconds", "mean"),
                              seeds=("seed", "count")).reset_index()
        deterministic = table["method"] == "zero-shot"
        table.loc[deterministic, ["average_sd", "worst_group_sd"]] = 0.0
        return cls(table, groups, tuned, runs)

    def row(self, method: str) -> pd.Series:
        """The ``table`` row of one method (``zero-shot`` or a variant)."""
        return self.table.set_index("method").loc[method]

    def __repr__(self) -> str:
        return "FineTuneComparison\n" + self.table.to_string(index=False, float_format=lambda v: f"{v:.4f}")

    def _repr_html_(self) -> str:
        return self.table.to_html(index=False, float_format=lambda v: f"{v:.4f}")


def compare_fine_tuning(
    data: ProjectionData,
    labels,
    table: pd.DataFrame,
    train_rows,
    eval_rows,
    *,
    attribute=None,
    variants: Sequence[str] = ("plain", "language", "vision"),
    by: Sequence[str] = ("color", "shape"),
    seeds: Sequence[int] = (0,),
    progress: Callable[[str, int, int], None] | None = None,
    **fine_tune_kw,
) -> FineTuneComparison:
    """Zero-shot, then each variant fine-tuned on ``train_rows`` once per seed with the same
    settings, all evaluated on ``eval_rows`` (average and worst-group accuracy, groups by ``by``).

    Worst-group accuracy of a fine-tuned model swings with the seed (the batches decide how
    often the rare groups are seen), so compare variants over several ``seeds``: the table
    reports means and standard deviations. ``table`` has one row per cached image;
    ``progress(label, done, total)`` reports epochs done over the whole comparison; other
    keywords go to :func:`fine_tune_projections`.

    Example:
        >>> from drml_widgets import ClipEncoder
        >>> imgs = np.zeros((4, 64, 64, 3), np.uint8); imgs[:2, 20:40, 20:40] = 200
        >>> data = cache_features(ClipEncoder("shapes"), imgs, ["square", "blank"], templates=["a {}."])
        >>> t = pd.DataFrame({"kind": ["square", "square", "blank", "blank"]})
        >>> cmp = compare_fine_tuning(data, [0, 0, 1, 1], t, [0, 1, 2, 3], [0, 1, 2, 3], variants=["plain"],
        ...                           by=["kind"], seeds=[0, 1], epochs=1)
        >>> cmp.table.columns.tolist(), cmp.table["method"].tolist(), len(cmp.runs)
        (['method', 'average', 'average_sd', 'worst_group', 'worst_group_sd', 'worst', 'seconds', 'seeds'], ['zero-shot', 'plain'], 3)
    """
    labels = _check_labels(labels, len(data.image), len(data.classes))
    if len(table) != len(data.image):
        raise SpuriousError(f"table has {len(table)} rows for {len(data.image)} cached images; pass one per image.")
    if "seed" in fine_tune_kw:
        raise SpuriousError("compare_fine_tuning trains once per seed. Fix: pass seeds=[...] instead of seed=.")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise SpuriousError("seeds is empty. Fix: pass at least one seed, e.g. seeds=[0, 1, 2].")
    eval_rows = np.asarray(eval_rows)
    n_runs, runs, groups, tuned = len(variants) * len(seeds), [], [], {}

    def evaluate(name: str, seed, model: TunedProjections) -> None:
        acc = group_accuracy(model.predict(data, eval_rows), labels[eval_rows], table.iloc[eval_rows], by)
        runs.append({"method": name, "seed": seed, "average": acc.average, "worst_group": acc.worst,
                     "worst": " ".join(map(str, acc.worst_group)), "seconds": model.seconds})
        groups.append(acc.table.assign(method=name))
        tuned.setdefault(name, model)

    evaluate("zero-shot", None, data.base())
    for i, (variant, seed) in enumerate((v, s) for v in variants for s in seeds):
        label = f"{variant}, seed {seed}" if len(seeds) > 1 else variant
        report = (lambda e, n, i=i, lab=label: progress(lab, i * n + e, n_runs * n)) if progress else None
        evaluate(variant, seed, fine_tune_projections(data, labels, train_rows, variant=variant, attribute=attribute,
                                                      seed=seed, progress=report, **fine_tune_kw))
    wide = pd.concat(groups).pivot_table(index=list(by), columns="method", values="accuracy", aggfunc="mean")
    runs = pd.DataFrame(runs).astype({"seed": "Int64"})  # zero-shot has no seed: <NA>, not 0.0
    return FineTuneComparison.from_runs(runs, wide[list(tuned)].reset_index(), tuned)
