"""One object that ties encoder, data, head, prompts and results together.

A notebook user drives it alone; the widgets bind to it and re-render when it announces a change
(``session.observe(callback)`` hears ``head`` and ``prompts``). Kernels stay in ``diagnose/``
and ``methods/``; the session keeps state and routes data between them.
"""

from __future__ import annotations

from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from ._common import Observable
from .diagnose.gap import GapCloser, GapStats, gap_stats
from .diagnose.heads import Head, train_head
from .diagnose.influence import attribute_influence
from .diagnose.rectify import (HeadVersions, RectifyResult, before_after, check_mode, fit_rectified,
                               held_out_templates, rectify_sets)
from .diagnose.rectify_advice import margin_change, slice_margins
from .diagnose.slices import (MIN_DROP, SliceComparison, all_slices, check_slice_types, compare_slices,
                              flag_failing, image_slice_scores, named_slices, slices_mask, text_slice_scores)
from .diagnose.surrogate import Surrogate, UserModel, train_surrogate
from .diagnose.transfer import TransferReport, cross_modal_transfer
from .diagnose.validate import check_embeddings, check_labels, check_training
from .embed.encoder import ClipEncoder
from .errors import SessionError
from .prompts.generate import DEFAULT_MAX_PROMPTS, AttributeSet, PromptSpec, captions, generate_prompts
from .session_methods import PaperMethods
from .session_setup import SessionSetup


class Session(Observable, SessionSetup, PaperMethods):
    """Encoder + image embeddings with their attribute table + head + prompts + results.

    ``table`` has one row per image with the attribute columns, ``label`` (class index) and
    ``split`` (``train``/``val`` for the head, ``test`` for evaluation; without it every image
    is evaluated and the head needs training data passed in). ``label_rule`` names the
    attribute whose value is the class (or is a function of a combination).

    Example:
        >>> s = Session.from_shapes_world(n=1200, ensemble=False)
        >>> len(s.slices(by=["color", "shape"]).worst(4))
        4
        >>> result = s.rectify([{"color": "green", "shape": "triangle"}])
        >>> s.version, s.undo()
        (1, 0)
    """

    def __init__(
        self,
        encoder: ClipEncoder,
        image_emb,
        table: pd.DataFrame,
        classes: Sequence[str],
        attributes: AttributeSet,
        spec: PromptSpec,
        label_rule: str | Callable,
        *,
        images=None,
        model: UserModel | None = None,
        close_gap: bool = False,
        seed: int = 0,
    ):
        self.encoder = encoder
        self.image_emb = check_embeddings(image_emb, "image embeddings")
        if len(table) != len(self.image_emb):
            raise SessionError(
                f"The table has {len(table)} rows but there are {len(self.image_emb)} image embeddings. "
                "Fix: one table row per image, in the same order."
            )
        if not isinstance(table, pd.DataFrame) or "label" not in table.columns:
            columns = list(table.columns) if isinstance(table, pd.DataFrame) else type(table).__name__
            raise SessionError(f"The image table needs a 'label' column of class indices; it has {columns}. "
                               "Fix: add table['label'] (the class index of each image).")
        self.table = table.reset_index(drop=True)
        self.classes = list(classes)
        self.labels = check_labels(self.table["label"].to_numpy(), len(self.table), len(self.classes))
        self.images = images
        if model is not None and len(model.predictions) != len(self.table):
            raise SessionError(f"The model's outputs cover {len(model.predictions)} images, the table "
                               f"{len(self.table)}. Fix: one output per image, in table order.")
        self.model = model
        self.surrogate: Surrogate | None = None
        # Where the images and their attributes came from, when built from a user's data.
        self.dataset = self.attribute_tags = self.proposals = None
        self.attribute_source = "given attributes"
        self.seed = seed
        self.close_gap = close_gap
        Observable.__init__(self)
        self.head: Head | None = None
        self.versions: HeadVersions | None = None
        self.last_rectify: RectifyResult | None = None
        self.set_prompts(attributes, spec, label_rule, notify=False)

    # -- construction: SessionSetup adds from_shapes_world, from_dataset, from_folder, from_frame
    # -- prompts ---------------------------------------------------------------------------
    def set_prompts(self, attributes: AttributeSet, spec: PromptSpec, label_rule: str | Callable | None = None,
                    notify: bool = True, max_prompts: int = DEFAULT_MAX_PROMPTS) -> pd.DataFrame:
        """Replace the attribute set, templates and label rule (``None`` keeps the current rule);
        prompts are generated now and embedded on first use. Nothing changes if generation fails.

        Example:
            >>> s = Session.from_shapes_world(n=1200, ensemble=False, train=False)
            >>> len(s.set_prompts(s.attributes, PromptSpec(["{size} {color} {shape}."])))
            36
        """
        if label_rule is None:
            label_rule = getattr(self, "label_rule", None)
            if label_rule is None:
                raise SessionError("No label rule: name the attribute whose value is the class, or pass a function.")
        prompts = generate_prompts(attributes, spec, label_rule, self.classes, max_prompts=max_prompts)
        self.attributes, self.spec, self.label_rule = attributes, spec, label_rule
        self.prompts = prompts
        self._text_emb: np.ndarray | None = None
        self._closer = None
        if notify:
            self._notify("prompts")
        return prompts

    @property
    def text_emb(self) -> np.ndarray:
        """Embeddings of ``self.prompts`` (computed once, cached on disk by the encoder)."""
        if self._text_emb is None:
            self._text_emb = self.encoder.encode_texts(self.prompts["prompt"].tolist())
        return self._text_emb

    # -- the gap ---------------------------------------------------------------------------
    @property
    def closer(self) -> GapCloser | None:
        """The gap-closing transform when ``close_gap`` is on (fit on training images + prompts)."""
        if not self.close_gap:
            return None
        if self._closer is None:
            self._closer = GapCloser.fit(self.image_emb[self._split("train")], self.text_emb)
        return self._closer

    def image_features(self, emb: np.ndarray | None = None) -> np.ndarray:
        emb = self.image_emb if emb is None else emb
        return self.closer.transform(emb, "image") if self.closer is not None else emb

    def text_features(self, emb: np.ndarray | None = None) -> np.ndarray:
        emb = self.text_emb if emb is None else emb
        return self.closer.transform(emb, "text") if self.closer is not None else emb

    def _captions(self, mask: np.ndarray) -> np.ndarray:
        """Embeddings of one caption per selected image: its attributes in the last template,
        each distinct caption embedded once (10,000 images have a few dozen distinct captions)."""
        texts = captions(self.table[mask], self.attributes, self.spec.templates[-1])
        unique, inverse = np.unique(np.array(texts, dtype=object), return_inverse=True)
        return self.encoder.encode_texts(list(unique))[inverse]

    def gap(self, closed: bool = False) -> GapStats:
        """Gap statistics between each evaluated image and a caption of its own attributes,
        with the class-level gap. ``closed``: first centre each modality on its own mean over
        these pairs and renormalise (what closing the gap does to the picture; the head's
        ``close_gap`` uses the means of its training data instead).

        Example:
            >>> s = Session.from_shapes_world(n=1200, ensemble=False, train=False)
            >>> def direction(g): return g.summary.query("statistic == 'direction' and level == 'pair'")["mean"].item()
            >>> direction(s.gap(closed=True)) < direction(s.gap()) / 4
            True
        """
        mask = self._split("test")
        images, captions = self.image_emb[mask], self._captions(mask)
        if closed:
            closer = GapCloser.fit(images, captions)
            images, captions = closer.transform(images, "image"), closer.transform(captions, "text")
        return gap_stats(images, captions, self.labels[mask], self.labels[mask])

    def transfer(self, kind: str = "linear") -> TransferReport:
        """Cross-modal transfer on (image, caption) pairs of the evaluated images."""
        mask = self._split("test")
        return cross_modal_transfer(self.image_emb[mask], self._captions(mask), self.labels[mask],
                                    kind=kind, seed=self.seed)

    # -- the head --------------------------------------------------------------------------
    def _splits(self) -> np.ndarray:
        if "split" not in self.table.columns:
            return np.full(len(self.table), "test", dtype=object)
        return self.table["split"].to_numpy(dtype=object)

    def _split(self, name: str) -> np.ndarray:
        if "split" not in self.table.columns:
            return np.ones(len(self.table), dtype=bool)
        mask = (self.table["split"] == name).to_numpy()
        if not mask.any():
            raise SessionError(f"No images in split {name!r}. Fix: mark rows of the table's 'split' column.")
        return mask

    def train_head(self, kind: str = "linear", epochs: int = 25, lr: float = 1e-3, batch_size: int = 32) -> Head:
        """Train the head on the ``train`` split, selecting on ``val``; starts a new version history.
        With the user's own model, the head is a surrogate trained to reproduce its predictions
        (``session.surrogate`` holds its agreement with the model)."""
        if self.model is not None:
            self.surrogate = train_surrogate(self.image_features(), self.model.predictions, self.classes,
                                             kind=kind, epochs=epochs, seed=self.seed)
            head, made = self.surrogate.head, f"{kind} surrogate of {self.model.name}"
        else:
            train, val = self._split("train"), self._split("val")
            x = self.image_features()
            head = train_head(x[train], self.labels[train], x[val], self.labels[val], classes=self.classes,
                              kind=kind, epochs=epochs, lr=lr, batch_size=batch_size, seed=self.seed)
            made = f"{kind} head trained on images"
        self.head = head
        self.versions = HeadVersions(head, made)
        self.last_rectify = None
        self._notify("head")
        return head

    def _require_head(self) -> Head:
        if self.head is None:
            raise SessionError("No head yet. Fix: call session.train_head() first.")
        return self.head

    # -- slices ----------------------------------------------------------------------------
    def _check_types(self, types: Iterable[str], where: str) -> list[str]:
        return check_slice_types(types, self.attributes, self.table.columns, where)

    def slices(self, by: Sequence[str]) -> SliceComparison:
        """Text-discovered error slices over the attribute types ``by`` (e.g. ``["color",
        "shape"]``) beside image accuracy on the ``test`` split, with Spearman and Pearson.

        Example:
            >>> s = Session.from_shapes_world(n=1200, ensemble=False)
            >>> s.slices(["color", "shape"]).table.shape[0]
            12
        """
        by = self._check_types(by, "The slice")
        text, image, _ = self._slice_scores(by)
        return compare_slices(text, image, by)

    def all_slices(self, max_order: int | None = None) -> pd.DataFrame:
        """Every slice of every subset of attribute types (up to ``max_order`` of them), the
        other types shown as ``"*"``, worst text score first, with image accuracy where the
        table has the slice's types.

        Example:
            >>> s = Session.from_shapes_world(n=1200, ensemble=False)
            >>> int(s.all_slices()["order"].max())
            3
        """
        head = self._require_head()
        test = self._split("test")
        image_types = [t for t in self.attributes.types if t in self.table.columns]
        return all_slices(head.predict_proba(self.text_features()), self.prompts, self.attributes.types,
                          self.image_predictions(test), self.labels[test],
                          self.table.loc[test, image_types], max_order=max_order)

    def failing_slices(self, by: Sequence[str], threshold: float | None = None,
                       min_drop: float = MIN_DROP) -> pd.DataFrame:
        """Slices the head gets wrong, worst first, ready to pass to :meth:`rectify`.

        By default text probability is calibrated to image accuracy on the slices that have
        images (``calibrate_slices(session.slices(by).table)`` shows the fit), and a slice fails when its predicted accuracy is
        ``min_drop`` or more below the rest of its class. ``threshold`` instead flags mean
        true-label probability below it (the paper's fixed rule).

        Example:
            >>> s = Session.from_shapes_world(n=1200, ensemble=False)
            >>> list(s.failing_slices(["color", "shape"]).columns[:2])
            ['color', 'shape']
        """
        cmp = self.slices(by)
        if threshold is not None:
            return cmp.table[cmp.table["text_prob"] < threshold].reset_index(drop=True)
        test = self._split("test")
        return flag_failing(cmp, self.prompts, self.image_predictions(test), self.labels[test], len(self.classes),
                            min_drop)

    def image_predictions(self, mask: np.ndarray | None = None) -> np.ndarray:
        """Predicted classes of the images (all, or ``mask``): the user's model's when the
        session has one, else the head's.

        Example:
            >>> s = Session.from_shapes_world(n=1200, ensemble=False)
            >>> s.image_predictions().shape
            (1200,)
        """
        mask = slice(None) if mask is None else mask
        if self.model is not None:
            return self.model.predictions[mask]
        return self._require_head().predict(self.image_features()[mask])

    def image_accuracy(self) -> float:
        """Accuracy of the classifier under diagnosis on the evaluated (``test``) images."""
        test = self._split("test")
        return float(np.mean(self.image_predictions(test) == self.labels[test]))

    # -- influence -------------------------------------------------------------------------
    def influence(self, target: str | int, method: str = "drml", **kwargs) -> pd.DataFrame:
        """Influence of every attribute value on class ``target`` (see :func:`attribute_influence`)."""
        head = self._require_head()
        index = self._class_index(target)
        return attribute_influence(
            self.attributes, self.spec, self.encoder.encode_texts,
            lambda emb: head.predict_proba(self.text_features(emb)), index, method, **kwargs,
        )

    def _class_index(self, target: str | int) -> int:
        if isinstance(target, (int, np.integer)) and 0 <= target < len(self.classes):
            return int(target)
        if target in self.classes:
            return self.classes.index(target)
        raise SessionError(f"Unknown class {target!r}; the classes are {self.classes}.")

    # -- rectification ---------------------------------------------------------------------
    def rectify(
        self,
        slices,
        mode: str = "replay",
        epochs: int = 50,
        lr: float = 1e-3,
        batch_size: int = 32,
        holdout: float = 0.2,
        progress: Callable[[int, int], None] | None = None,
    ) -> RectifyResult:
        """Fix the head on the given slices by training on their text; a new head version.

        ``slices`` are dicts of attribute values (or rows of :meth:`slices`). ``mode`` is
        ``replay`` (slice text + the original training images), ``balanced`` (slice text + text
        of every combination) or ``text`` (slice text only, as in the paper). A seeded
        ``holdout`` share of templates is kept out of training for model selection. Returns
        before/after per slice; :meth:`undo` restores the exact previous weights.
        """
        head = self._require_head()
        if self.model is not None:
            raise SessionError(f"Rectification retrains a head on CLIP embeddings, and the classifier here is "
                               f"{self.model.name}, known by its outputs: changing its surrogate would not change it. "
                               "Fix: fine-tune your model on the failing slices' images, or diagnose a CLIP head.")
        check_mode(mode)
        check_training(epochs, lr, batch_size)
        slices, by = named_slices(slices, self.attributes)
        self._check_types(by, "The slice")
        text_x = self.text_features()
        images = images_val = None
        if mode == "replay":
            tr, va = self._split("train"), self._split("val")
            x = self.image_features()
            images, images_val = (x[tr], self.labels[tr]), (x[va], self.labels[va])
        sets = rectify_sets(mode, text_x, self.prompts["label"].to_numpy(), slices_mask(self.prompts, slices),
                            held_out_templates(self.prompts["template"], holdout, self.seed), images, images_val)
        before = self._slice_scores(by, slices)
        new, history, best = fit_rectified(
            head, sets.slice_text, sets.slice_text_val, mode=mode, replay=sets.replay, keep_val=sets.keep_val,
            epochs=epochs, lr=lr, batch_size=batch_size, seed=self.seed, progress=progress,
        )
        head.load_state(new.state())
        names = "; ".join(", ".join(f"{k}={v}" for k, v in s.items()) for s in slices)
        version = self.versions.commit(f"rectified ({mode}, {epochs} epochs): {names}")
        after = self._slice_scores(by, slices)
        result = RectifyResult(mode, slices, before_after(before[0], after[0], by, "text_prob", slices),
                               before_after(before[1], after[1], by, "image_acc", slices),
                               history, best, version, margin_change(before[2], after[2]))
        self.last_rectify = result
        self._notify("head")
        return result

    def _slice_scores(self, by: list[str], slices=()) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
        """The current head's text and image scores of the slices over ``by``, and the true-class
        log-odds of ``slices`` on their text and images (:func:`slice_margins`; None without slices)."""
        head, test = self._require_head(), self._split("test")
        text = text_slice_scores(text_proba := head.predict_proba(self.text_features()), self.prompts, by)
        image = image_slice_scores(self.image_predictions(test), self.labels[test], self.table[test], by)
        if not slices:
            return text, image, None
        image_proba = head.predict_proba(self.image_features()[test])
        return text, image, slice_margins(text_proba, self.prompts, image_proba, self.labels[test], self.table[test], slices)

    def undo(self) -> int:
        """Go back one head version (exact weights)."""
        version = self._require_versions().undo()
        self._notify("head")
        return version

    def redo(self) -> int:
        """Go forward one head version (exact weights)."""
        version = self._require_versions().redo()
        self._notify("head")
        return version

    def _require_versions(self) -> HeadVersions:
        self._require_head()
        return self.versions

    @property
    def version(self) -> int:
        """The current head version (0 is the head as trained)."""
        return self._require_versions().current

    def __repr__(self) -> str:
        head = repr(self.head) if self.head is not None else "no head"
        if self.model is not None:
            head = f"{self.model!r}, " + (repr(self.surrogate) if self.surrogate is not None else "no surrogate")
        version = f", version {self.version}/{len(self.versions) - 1}" if self.versions else ""
        return (f"Session({len(self.table)} images, {len(self.prompts)} prompts, "
                f"classes={self.classes}, {head}{version}, close_gap={self.close_gap})")
