"""One object that ties encoder, data, head, prompts and results together.

A notebook user drives it alone; the widgets bind to it and re-render when it announces a change
(``session.observe(callback)`` hears ``head`` and ``prompts``). Kernels stay in ``diagnose/``
and ``methods/``; the session keeps state and routes data between them.
"""

from __future__ import annotations

import warnings
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from ._common import Observable, true_label_loss
from .diagnose.gap import GapCloser, GapStats
from .diagnose.heads import Head, heads_folder, train_head
from .diagnose.influence import attribute_influence
from .diagnose.rectify import HeadVersions, RectifyResult, check_mode
from .diagnose.rectify_guard import warn_cost
from .diagnose.slices import check_slice_types, named_slices
from .diagnose.surrogate import Surrogate, UserModel, train_surrogate
from .diagnose.transfer import TransferReport
from .diagnose.validate import check_embeddings, check_labels, check_training
from .embed.encoder import ClipEncoder
from .errors import SessionError
from .methods import drml, drml_measures, lbee, llm2loss, prime, spurious
from .methods.protocol import SessionView, get_method, methods_table
from .prompts.generate import DEFAULT_MAX_PROMPTS, AttributeSet, PromptSpec, generate_prompts
from .results import Result
from .session_routes import renamed, route
from .session_rectify import apply_rectify, fit_session_rectify
from .session_setup import SessionSetup


class Session(Observable, SessionSetup):
    """Encoder + image embeddings with their attribute table + head + prompts + results.

    ``table`` has one row per image with the attribute columns, ``label`` (class index) and
    ``split`` (``train``/``val`` for the head, ``test`` for evaluation; without it every image
    is evaluated and the head needs training data passed in). ``label_rule`` names the
    attribute whose value is the class (or is a function of a combination).

    Example:
        >>> s = Session.from_shapes_world(n=1200, ensemble=False)
        >>> len(s.find_slices(by=["color", "shape"]).worst(4))
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

    def add_attributes(self, columns: pd.DataFrame, attributes: AttributeSet, spec: PromptSpec) -> pd.DataFrame:
        """Add attribute columns to the image table (one row per image, e.g. CLIP tags) and
        switch to ``attributes`` and ``spec``; returns the new prompts. Nothing changes if the
        prompts cannot be generated.

        Example:
            >>> s = Session.from_shapes_world(n=1200, ensemble=False, train=False)
            >>> tags = pd.DataFrame({"tone": np.where(s.table["color"].isin(["red", "orange"]), "warm", "cool")})
            >>> attrs = AttributeSet({"tone": ["warm", "cool"], "shape": ["square", "triangle"]})
            >>> len(s.add_attributes(tags, attrs, PromptSpec(["a {tone} {shape}."]))), "tone" in s.table
            (4, True)
        """
        if len(columns) != len(self.table) or set(columns.columns) & set(self.table.columns):
            raise SessionError(f"add_attributes takes new columns with one row per image ({len(self.table)}); got "
                               f"{len(columns)} rows of {list(columns.columns)}. Fix: pass new columns, in table order.")
        table = pd.concat([self.table, columns.set_axis(self.table.index)], axis=1)
        previous, self.table = self.table, table
        try:
            return self.set_prompts(attributes, spec)
        except Exception:
            self.table = previous  # the prompts failed: keep the session as it was
            raise

    @property
    def text_emb(self) -> np.ndarray:
        """Embeddings of ``self.prompts`` (computed once, cached on disk by the encoder)."""
        if self._text_emb is None:
            self._text_emb = self.encoder.encode_texts(self.prompts["prompt"].tolist())
        return self._text_emb

    @property
    def closer(self) -> GapCloser | None:
        """The gap-closing transform when ``close_gap`` is on (fit on training images + prompts)."""
        if self.close_gap and self._closer is None:
            self._closer = GapCloser.fit(self.image_emb[self.view.split("train")], self.text_emb)
        return self._closer if self.close_gap else None

    def image_features(self, emb: np.ndarray | None = None) -> np.ndarray:
        """Image embeddings (``emb``, else the session's) as the head reads them: gap closed if ``close_gap``."""
        emb = self.image_emb if emb is None else emb
        return self.closer.transform(emb, "image") if self.closer is not None else emb

    def text_features(self, emb: np.ndarray | None = None) -> np.ndarray:
        """Prompt embeddings (``emb``, else the session's) as the head reads them: gap closed if ``close_gap``."""
        emb = self.text_emb if emb is None else emb
        return self.closer.transform(emb, "text") if self.closer is not None else emb

    def measure_gap(self, closed: bool = False) -> GapStats:
        return drml_measures.measure_gap(self.view, closed)

    def measure_transfer(self, kind: str = "linear") -> TransferReport:
        return drml_measures.measure_transfer(self.view, kind)

    measure_gap.__doc__, measure_transfer.__doc__ = drml_measures.measure_gap.__doc__, drml_measures.measure_transfer.__doc__

    # -- the head --------------------------------------------------------------------------
    def train_head(self, kind: str = "linear", epochs: int = 25, lr: float = 1e-3, batch_size: int = 32) -> Head:
        """Train the head on the ``train`` split, selecting on ``val``; starts a new version history.
        With the user's own model, the head is a surrogate trained to reproduce its predictions
        (``session.surrogate`` holds its agreement with the model)."""
        if self.model is not None:
            self.surrogate = train_surrogate(self.image_features(), self.model.predictions, self.classes, kind=kind,
                                             epochs=epochs, seed=self.seed, cache_dir=heads_folder(self.encoder))
            head, made = self.surrogate.head, f"{kind} surrogate of {self.model.name}"
        else:
            train, val, x = self.view.split("train"), self.view.split("val"), self.image_features()
            head = train_head(x[train], self.labels[train], x[val], self.labels[val], classes=self.classes, kind=kind,
                              epochs=epochs, lr=lr, batch_size=batch_size, seed=self.seed,
                              cache_dir=heads_folder(self.encoder))  # the same inputs train once
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
        test = self.view.split("test")
        return float(np.mean(self.image_predictions(test) == self.labels[test]))

    def compute_influence(self, target: str | int, method: str = "drml", **kwargs) -> pd.DataFrame:
        """Influence of every attribute value on class ``target`` (see :func:`attribute_influence`).

        Example:
            >>> s = Session.from_shapes_world(n=1200, ensemble=False)
            >>> s.compute_influence("triangle").columns[:2].tolist()
            ['attribute', 'value']
        """
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
        raise SessionError(f"Unknown class {target!r}; the classes are {self.classes}. "
                           "Fix: name one of them, or pass its index.")

    def rectify(
        self,
        slices,
        mode: str = "replay",
        epochs: int = 50,
        lr: float = 1e-3,
        batch_size: int = 32,
        holdout: float = 0.2,
        progress: Callable[[int, int], None] | None = None,
        guard: bool = True,
        dry_run: bool = False,
    ) -> RectifyResult:
        """Fix the head on the given slices by training on their text; a new head version.

        ``slices`` are dicts of attribute values (or rows of :meth:`slices`). ``mode`` is
        ``replay`` (slice text + the original training images), ``balanced`` (slice text + text
        of every combination) or ``text`` (slice text only, as in the paper). A seeded
        ``holdout`` share of templates is kept out of training for model selection. Before the head
        changes, every untargeted slice is read on the validation images (else on half its other
        images); ``guard`` refits with the examples of those it would cost over their bound, and any
        still cost are named in a warning and the result's ``cost``. Returns before/after per slice;
        :meth:`undo` restores the exact previous weights. ``dry_run`` reads all of it and leaves
        the head as it was (``applied`` False): what a run would do and cost, before it is done.
        """
        head = self._require_head()
        if self.model is not None:
            raise SessionError(f"Rectification retrains a head on CLIP embeddings, and the classifier here is "
                               f"{self.model.name}, known by its outputs: changing its surrogate would not change it. "
                               "Fix: fine-tune your model on the failing slices' images, or diagnose a CLIP head.")
        check_mode(mode)
        check_training(epochs, lr, batch_size)
        slices, by = named_slices(slices, self.attributes)
        check_slice_types(by, self.attributes, self.table.columns, "The slice")
        before = drml.slice_scores(self.view, by, slices)
        fitted = fit_session_rectify(self, head, slices, by, mode=mode, epochs=epochs, lr=lr, batch_size=batch_size,
                                     holdout=holdout, progress=progress, guard=guard)
        result = apply_rectify(self, head, slices, by, before, fitted, mode=mode, epochs=epochs,
                               dry_run=dry_run)
        warn_cost(result.cost, by)
        if not dry_run:
            self.last_rectify = result
            self._notify("head")
        return result

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

    def image_losses(self) -> np.ndarray:
        """Per-image loss of the classifier under diagnosis: the losses given for the user's
        model, else cross-entropy of the true label from its (or the head's) probabilities, else
        0/1 loss from predictions alone (with a warning: a ranker learns little from it).

        Example:
            >>> Session.from_shapes_world(n=1200, ensemble=False).image_losses().shape
            (1200,)
        """
        model = self.model
        if model is not None and model.losses is not None:
            return model.losses
        if model is not None:
            warnings.warn(f"{model.name} gave predictions only, so its per-image loss is 0/1 (wrong or right). "
                          "Fix: pass proba= or losses= for a loss that ranks images.", stacklevel=2)
            return (model.predictions != self.labels).astype(np.float64)
        proba = self._require_head().predict_proba(self.image_features())
        return true_label_loss(proba, self.labels)

    # -- methods: one registry, one view ---------------------------------------------------
    @property
    def view(self) -> SessionView:
        """The read-only view every method and view reads (see :class:`SessionView`)."""
        rule = self.label_rule
        return SessionView(self, self.table, tuple(self.classes), self.labels, self.attributes, self.spec, self.prompts,
                           rule if isinstance(rule, str) and rule in self.attributes.types else None, self.encoder,
                           self.image_emb, seed=self.seed, head=self.head,
                           model_name=self.model.name if self.model is not None else None, images=self.images,
                           close_gap=self.close_gap)

    def run(self, method: str, **options) -> Result:
        """Run a registered method by name on this session (``methods()`` lists them).

        Example:
            >>> s = Session.from_shapes_world(n=1200, ensemble=False)
            >>> s.run("text_slices", by=["color", "shape"]).top().name
            {'color': 'orange', 'shape': 'square'}
        """
        return get_method(method)(self.view, **options)

    def methods(self) -> pd.DataFrame:
        """Every registered method: its paper, the question it answers, whether it applies to
        this session and why not, the route that runs it and the view that shows it.

        Example:
            >>> s = Session.from_shapes_world(n=1200, ensemble=False)
            >>> bool(s.methods()["applies"].all()), s.methods()["method"].iloc[0]
            (True, 'text_slices')
        """
        routes = {f.method_name: name for name, f in vars(Session).items() if hasattr(f, "method_name")}
        return methods_table(self.view, routes | {"rectify": "rectify"}, also=(drml.RECTIFY,))

    find_slices = route("text_slices", drml.find_slices)
    find_failing_slices = route("failing_slices", drml.find_failing_slices)
    find_all_slices = route("all_slices", drml.find_all_slices)
    find_text_failure = route("text_failure", drml.find_text_failure)
    find_failure_modes = route("failure_modes", prime.method.find_failure_modes)
    find_hard_clusters = route("hard_clusters", lbee.method.find_hard_clusters)
    fit_loss_predictor = route("loss_predictor", llm2loss.method.fit_loss_predictor)
    compare_fine_tuning = route("spurious_fine_tuning", spurious.method.compare_fine_tuning)

    def sentence_relevance(self, result) -> pd.DataFrame:
        return lbee.method.sentence_relevance(self.view, result)

    sentence_relevance.__doc__ = lbee.method.sentence_relevance.__doc__

    def __repr__(self) -> str:
        head = repr(self.head) if self.head is not None else "no head"
        if self.model is not None:
            head = f"{self.model!r}, " + (repr(self.surrogate) if self.surrogate is not None else "no surrogate")
        version = f", version {self.version}/{len(self.versions) - 1}" if self.versions else ""
        return (f"Session({len(self.table)} images, {len(self.prompts)} prompts, "
                f"classes={self.classes}, {head}{version}, close_gap={self.close_gap})")


# One release of the old names: (old, new, how the new result becomes the old one).
for _old, _new, _adapt in (("slices", "find_slices", None), ("failing_slices", "find_failing_slices", "table"),
                           ("all_slices", "find_all_slices", "table"), ("top_text_failure", "find_text_failure", None),
                           ("failure_modes", "find_failure_modes", None), ("hard_clusters", "find_hard_clusters", None),
                           ("loss_predictor", "fit_loss_predictor", None), ("gap", "measure_gap", None),
                           ("transfer", "measure_transfer", None), ("influence", "compute_influence", None)):
    setattr(Session, _old, renamed(_old, _new, (lambda r: r.table) if _adapt else None))
