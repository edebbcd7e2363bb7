"""Building a Session: from the shapes world, or from a user's images, labels and classifier.

From a user's data the steps are: load (any source, see :func:`~drml_widgets.data.sources.load_images`),
encode (cached; unreadable files skipped and listed), find attributes to slice by, write prompts,
and train the head, or a surrogate of the user's own model. Attributes come from, in order:
the ``attributes`` given (values the metadata lacks are tagged zero-shot by CLIP), the metadata's
categorical columns, or, with neither, proposals from the built-in vocabulary ranked by how well
they separate the classifier's errors from its successes.
"""

from __future__ import annotations

import html
import warnings
from dataclasses import replace
from typing import Callable, Sequence, TypeVar

import numpy as np
import pandas as pd

from .data.sources import ImageDataset, load_images
from .data.tables import attribute_columns
from .diagnose.surrogate import UserModel, user_model
from .embed.encoder import ClipEncoder
from .embed.identity import keyed_images
from .errors import InputError
from .prompts.generate import CLASS, AttributeSet, PromptSpec

S = TypeVar("S")  # the Session class these build
# A metadata column is an attribute to slice by when it has a few repeated values, not ids or numbers.
MAX_ATTRIBUTE_VALUES = 24
LOAD_OPTIONS = ("labels", "classes", "root", "path_column", "label_column", "image_column", "split_column", "split",
                "seed", "fill_missing")


class SessionSetup:
    """The ways to build a :class:`~drml_widgets.session.Session` (mixed into it)."""

    @classmethod
    def from_shapes_world(cls: type[S], n: int = 10_000, bias: float = 1.0, seed: int = 0, encoder: ClipEncoder | None = None,
                          ensemble: bool = True, train: bool = True) -> S:
        """The offline default: the shapes world, its CLIP, the paper's prompts, a trained head.

        Example:
            >>> from drml_widgets import Session
            >>> Session.from_shapes_world(n=1200, ensemble=False, train=False).head is None
            True
        """
        from .data.shapes import load_shapes_world
        from .data.shapes_presets import LABEL_RULE, SHAPES_ATTRIBUTES, shapes_prompt_spec

        world = load_shapes_world(n=n, bias=bias, seed=seed)
        encoder = encoder or ClipEncoder("shapes")
        # keyed by how each image is rendered: a warm start draws no pixel (views render the rows they show)
        image_emb = encoder.encode_images(keyed_images(world.pixels, world.pixels.ids()))
        session = cls(encoder, image_emb, world.table, world.classes,
                      SHAPES_ATTRIBUTES, shapes_prompt_spec(ensemble), LABEL_RULE, images=world.pixels, seed=seed)
        if train:
            session.train_head()
        return session

    @classmethod
    def from_dataset(
        cls: type[S],
        dataset: ImageDataset,
        encoder: ClipEncoder | None = None,
        *,
        attributes: AttributeSet | None = None,
        templates: Sequence[str] | None = None,
        ensemble: bool = False,
        predictions=None,
        proba=None,
        losses=None,
        model: Callable | None = None,
        model_name: str = "your model",
        n_proposed_types: int = 3,
        seed: int = 0,
    ) -> S:
        """A session on a loaded dataset, ready for ``Dashboard(session)``.

        ``encoder`` defaults to ViT-B-32 with OpenAI's weights (downloaded once, then cached).
        Attributes: ``attributes`` if given (types the metadata lacks are tagged by CLIP), else
        the metadata's categorical columns, else the ``n_proposed_types`` vocabulary types that
        best separate the classifier's errors. ``templates`` default to "a photo of a {...} {class}.".
        Your own classifier: ``predictions`` (aligned with ``dataset.images``: an array, a list or
        a Series indexed 0..n-1; or keyed by path: a dict or a Series indexed by path), ``proba``,
        ``losses`` or ``model`` (a callable on batches of images); the head is then a surrogate
        trained to reproduce it, and rectification does not apply. A classifier that makes no
        error on the evaluated images leaves nothing to propose attributes from: the session opens
        with the class alone, and ``attribute_source`` says so.

        Example:
            >>> from drml_widgets import Session, load_shapes_world
            >>> w = load_shapes_world(n=600)
            >>> ds = load_images(w.images, labels=w.labels, classes=w.classes, metadata=w.table[["color", "split"]])
            >>> Session.from_dataset(ds, ClipEncoder("shapes")).attributes.types
            ['color', 'class']
        """
        encoder = encoder or ClipEncoder("ViT-B-32", pretrained="openai")
        mine = None
        if model is not None or predictions is not None or proba is not None:
            mine = user_model(len(dataset), dataset.classes, dataset.labels, predictions=_aligned(predictions, dataset),
                              proba=_aligned(proba, dataset), losses=_aligned(losses, dataset), model=model,
                              images=dataset.images, name=model_name)
        elif losses is not None:
            raise InputError("losses= describes a classifier given by predictions=, proba= or model=; losses alone "
                             "cannot tell which images it gets wrong. Fix: pass its predictions too, or fit LLM2Loss "
                             "directly: methods.fit_loss_predictor(session.image_emb, losses, encoder).")
        image_emb = encoder.encode_images(dataset.images, on_error="skip")
        if len(encoder.last_skipped):
            gone = encoder.last_skipped
            keep = np.setdiff1d(np.arange(len(dataset)), gone["position"].to_numpy())
            dataset = dataset.without(gone["position"].tolist(), gone["error"].tolist())
            if mine is not None:
                mine = _subset(mine, keep)
        table, tags, source = dataset.table, None, "given attributes"
        if attributes is not None:
            attributes = _with_class(attributes, dataset.classes)
            missing = [t for t in attributes.types if t not in table.columns]
            if missing:
                tags = _tag(image_emb, attributes, missing, encoder, table)
                table = pd.concat([table, tags.values.set_axis(table.index)], axis=1)
                source = f"given attributes, {missing} tagged by CLIP"
        else:
            attributes = metadata_attributes(table)
            source = f"metadata columns {attributes.types[:-1]}" if attributes is not None else None
        session = cls(encoder, image_emb, table, dataset.classes, attributes or _with_class(None, dataset.classes),
                      PromptSpec(list(templates or [default_template(attributes)]), ensemble=ensemble), CLASS,
                      images=dataset.images, model=mine, seed=seed)
        session.dataset, session.attribute_tags = dataset, tags
        session.train_head()
        session.attribute_source = source or _propose(session, n_proposed_types, templates, ensemble)
        return session

    @classmethod
    def from_folder(cls: type[S], folder, encoder: ClipEncoder | None = None, *, metadata=None, **options) -> S:
        """:meth:`from_dataset` on a folder with one sub-folder per class (``metadata``: a table
        of extra columns keyed by path relative to the folder). Loading options (``split``,
        ``seed``, ``fill_missing``, ...) go to :func:`~drml_widgets.data.sources.load_images`.

        Example:
            >>> import tempfile
            >>> from drml_widgets import Session, load_shapes_world
            >>> folder = load_shapes_world(n=600).to_folder(tempfile.mkdtemp())
            >>> Session.from_folder(folder, ClipEncoder("shapes"), metadata=folder / "metadata.csv").classes
            ['square', 'triangle']
        """
        return cls._from_source(folder, encoder, metadata=metadata, **options)

    @classmethod
    def from_frame(cls: type[S], frame, encoder: ClipEncoder | None = None, **options) -> S:
        """:meth:`from_dataset` on a DataFrame, CSV or Parquet table with a path and a label column.

        Example:
            >>> import tempfile
            >>> from drml_widgets import Session, load_shapes_world
            >>> folder = load_shapes_world(n=600).to_folder(tempfile.mkdtemp())
            >>> table = pd.read_csv(folder / "metadata.csv").assign(label=lambda t: t["path"].str.split("/").str[0])
            >>> Session.from_frame(table, ClipEncoder("shapes"), root=folder).attributes.types
            ['color', 'size', 'position', 'class']
        """
        return cls._from_source(frame, encoder, **options)

    @classmethod
    def _from_source(cls: type[S], source, encoder, **options) -> S:
        loading = {k: options.pop(k) for k in LOAD_OPTIONS if k in options}
        if "metadata" in options:
            loading["metadata"] = options.pop("metadata")
        if "seed" in loading:
            options["seed"] = loading["seed"]
        return cls.from_dataset(load_images(source, **loading), encoder, **options)

    def _repr_html_(self) -> str:
        # The summary (repr) wrapping at the output's width: marimo shows plain text on one line and clips it.
        return f'<pre style="white-space: pre-wrap; overflow-wrap: anywhere; margin: 0">{html.escape(repr(self))}</pre>'


def metadata_attributes(table: pd.DataFrame) -> AttributeSet | None:
    """An attribute set from a table's categorical columns of scalars
    (:func:`~drml_widgets.data.tables.attribute_columns`: not floats, lists or arrays, not the
    label, class, split or path) with 2 to 24 distinct values, plus ``class``; ``None`` when
    there are none.

    Example:
        >>> t = pd.DataFrame({"weather": ["sun", "rain", "sun"], "id": [1, 2, 3], "label": [0, 1, 0],
        ...                   "class": ["cat", "dog", "cat"], "split": ["train", "test", "val"]})
        >>> metadata_attributes(t)
        AttributeSet(weather=2, class=2; 4 combinations)
    """
    types = {}
    for column in attribute_columns(table):
        distinct = sorted(table[column].astype(str).unique())
        if 2 <= len(distinct) <= MAX_ATTRIBUTE_VALUES and len(distinct) < len(table):
            types[str(column)] = distinct
    if not types:
        return None
    return AttributeSet({**types, CLASS: sorted(table[CLASS].unique(), key=list(table[CLASS]).index)})


def default_template(attributes: AttributeSet | None) -> str:
    """"a photo of a {...} {class}." with every other attribute type before the class.

    Example:
        >>> default_template(AttributeSet({"color": ["red"], "class": ["cat"]}))
        'a photo of a {color} {class}.'
    """
    types = [t for t in (attributes.types if attributes is not None else []) if t != CLASS]
    return "a photo of a " + "".join("{" + t + "} " for t in types) + "{" + CLASS + "}."


def _with_class(attributes: AttributeSet | None, classes: Sequence[str]) -> AttributeSet:
    if attributes is not None and CLASS in attributes.types:
        return attributes
    values = attributes.values if attributes is not None else {}
    return AttributeSet({**values, CLASS: list(classes)}, dict(attributes.phrases) if attributes is not None else {})


def _tag(image_emb: np.ndarray, attributes: AttributeSet, types: Sequence[str], encoder, table: pd.DataFrame):
    """CLIP's tags of ``types``. The class (and any type the table knows) is tagged too, for the
    reliability check alone: its true values decide which of two tags that follow each other CLIP reads."""
    from .diagnose.tag_reliability import TagReliability
    from .diagnose.zero_shot import tag_attributes

    checked = list(types) + [t for t in attributes.types if t not in types and t in table.columns]
    wanted = AttributeSet({t: attributes.values[t] for t in checked},
                          {t: p for t, p in attributes.phrases.items() if t in checked})
    tags = tag_attributes(image_emb, wanted, encoder)
    known = table[[t for t in checked if t in table.columns]].reset_index(drop=True)
    verdicts = tags.reliability(known=known).table
    TagReliability(verdicts[verdicts["type"].isin(types)]).warn(stacklevel=4)  # the tags the session will use
    return tags.only(types)


def _aligned(values, dataset: ImageDataset):
    """Outputs in the dataset's order. A dict, or a Series indexed by text, is keyed by path; a
    Series indexed by the positions 0..n-1 (a plain RangeIndex, or those positions in any order)
    is read by position; arrays and lists are aligned already."""
    if isinstance(values, pd.Series) and not all(isinstance(k, str) for k in values.index):
        positions, n = values.index, len(dataset)
        if not (pd.api.types.is_integer_dtype(positions) and positions.sort_values().equals(pd.RangeIndex(n))):
            raise InputError(f"A Series of outputs is read by its index: paths, or the positions 0..{n - 1}; this "
                             f"one is indexed by {str(list(positions[:3]))[:80]}.... Fix: pass series.to_numpy() "
                             "if it is in the dataset's order, or index it by dataset.paths.")
        return values.sort_index().to_numpy()
    if isinstance(values, (dict, pd.Series)):
        lookup, paths = dict(values), dataset.paths
        if not paths:
            raise InputError("Outputs keyed by path need images that are files; these images are arrays. "
                             "Fix: pass an array of outputs in the images' order.")
        missing = [p for p in paths if p not in lookup]
        if missing:
            raise InputError(f"Outputs keyed by path must name every image; {len(missing)} are missing, e.g. "
                             f"{missing[:3]}. Fix: key them by the paths in dataset.paths, or pass an aligned array.")
        return np.asarray([lookup[p] for p in paths])
    return values


def _subset(model: UserModel, keep: np.ndarray) -> UserModel:
    pick = lambda a: None if a is None else a[keep]  # noqa: E731
    return replace(model, predictions=model.predictions[keep], proba=pick(model.proba), losses=pick(model.losses))


def _propose(session, n_types: int, templates, ensemble: bool) -> str:
    """Attributes from the built-in vocabulary that best separate the classifier's errors: every
    image is tagged with all values of the chosen types (to slice by); prompts use their top values."""
    from .diagnose.proposals import propose_attributes
    from .diagnose.zero_shot import tag_attributes

    judged = session.view.splits != "train"
    correct = session.image_predictions(judged) == session.labels[judged]
    proposals = propose_attributes(session.image_emb[judged], correct, session.encoder, labels=session.labels[judged],
                                   classes=session.classes)
    session.proposals = proposals
    if proposals.values.empty:  # a classifier without errors there: nothing to rank, and no reason to refuse
        warnings.warn(f"No attributes proposed, nothing to rank: {proposals.note} The session slices by class alone. "
                      "Fix: pass attributes= or metadata columns to slice by.", stacklevel=3)
        return f"none proposed, nothing to rank: {proposals.note}"
    chosen = proposals.attribute_set(n_types=n_types)
    vocab = proposals.vocabulary
    tags = tag_attributes(session.image_emb, vocab.attribute_set(chosen.types), session.encoder,
                          templates=vocab.tag_templates(chosen.types))
    template = templates or [proposals.template(object_field=CLASS, n_types=n_types)]
    session.add_attributes(tags.values, _with_class(chosen, session.classes), PromptSpec(list(template), ensemble=ensemble))
    session.attribute_tags = tags
    return f"built-in vocabulary, proposed {chosen.types}"
