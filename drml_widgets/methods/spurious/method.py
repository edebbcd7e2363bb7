"""Spurious-aware fine-tuning (paper 004) as a registered method on a session: which values of a
suspected attribute the classifier leans on (accuracy discrepancy per class and tag, eq. 7), then
CLIP's projections fine-tuned against the attribute (each variant over seeds) and compared with
zero-shot on average and worst-group accuracy, a group being a class and an attribute value."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from ...errors import InputError
from ...prompts.generate import CLASS
from ...results import Finding, Result, name_label
from ..clip_reads import read_poorly
from ..detection import accuracy_discrepancy
from ..protocol import Method, SessionView, register
from ..tagging import tags_from_table
from .comparison import FineTuneComparison, compare_fine_tuning as compare_models
from .projections import ProjectionData, cache_features


@dataclass(frozen=True, repr=False)
class SpuriousSetting:
    """What one run of paper 004 works on, checked against a session: the suspected
    ``attribute`` (a column of its table) and its ``values``, the rows fine-tuned on (``train``)
    and measured on (``evaluate``), and the attribute columns detection reads (``tags``). Build
    it with :meth:`of`.

    Example:
        >>> from drml_widgets import Session
        >>> SpuriousSetting.of(Session.from_shapes_world(n=300, ensemble=False, train=False).view, "color",
        ...                    ["orange", "green"])
        SpuriousSetting(color in ['orange', 'green'], train 28 images, evaluate 60, tags ['size', 'color'])
    """

    attribute: str
    values: tuple[str, ...]
    train: np.ndarray
    evaluate: np.ndarray
    tags: tuple[str, ...]

    @classmethod
    def of(cls, view: SessionView, attribute: str, values: Sequence[str], *, train=None, evaluate=None, tags=None,
           data: ProjectionData | None = None) -> "SpuriousSetting":
        """Check the options against ``view``. ``train`` defaults to the ``train`` split,
        ``evaluate`` to the ``test`` split's images whose attribute is one of ``values`` (so each
        is in a class x value group), ``tags`` to the view's attribute types; without ``data``
        (frozen tower outputs) the view must hold the images."""
        table = view.table
        if attribute not in table.columns:
            raise InputError(f"{attribute!r} is not a column of the session's table {list(table.columns)}. "
                             "Fix: name the attribute you suspect, e.g. 'color'.")
        values = tuple(str(v) for v in values)
        present = set(table[attribute].astype(str))
        missing = [v for v in values if v not in present]
        if not values or missing:
            raise InputError(f"Values {missing or list(values)} are not values of {attribute!r} ({sorted(present)}). "
                             "Fix: name two or more values the images have.")
        if view.images is None and data is None:
            raise InputError("Spurious-aware fine-tuning tunes CLIP's projections on the session's images, and this "
                             "session holds none. Fix: build the session with images=, or pass data= "
                             "(spurious.cache_features).")
        in_values = table[attribute].astype(str).isin(values).to_numpy()
        return cls(attribute, values, _rows(train, view.split("train"), len(table), "train"),
                   _rows(evaluate, view.split("test") & in_values, len(table), "evaluate"),
                   tuple(tags) if tags is not None else view.image_types)

    def __repr__(self) -> str:
        return (f"SpuriousSetting({self.attribute} in {list(self.values)}, train {len(self.train)} images, "
                f"evaluate {len(self.evaluate)}, tags {list(self.tags)})")


def _rows(rows, default_mask: np.ndarray, n: int, name: str) -> np.ndarray:
    """Row numbers from indices, a mask, or the default mask; at least two, all in range."""
    out = np.flatnonzero(default_mask) if rows is None else np.asarray(rows)
    if out.dtype == bool:
        out = np.flatnonzero(out)
    if out.ndim != 1 or len(out) < 2 or out.min() < 0 or out.max() >= n:
        raise InputError(f"{name} must name at least two of the session's {n} images (row numbers or a mask). "
                         "Fix: check the rows, or the table's 'split' column.")
    return out.astype(int)


@dataclass(repr=False)
class SpuriousResult(Result):
    """One run of paper 004 on a session: the ``comparison`` of zero-shot and each variant
    (:class:`~drml_widgets.methods.spurious.FineTuneComparison`; its table is ``table``), the
    ``detections`` per model (eq. 7 on the evaluated images, shortcut candidates first), the
    ``setting`` it ran on (its ``train`` and ``evaluate`` rows), the frozen towers' outputs
    (``data``, to reuse), and the evaluated images' groups (``members``: class and attribute
    value, indexed by table row). Build it with :func:`compare_fine_tuning`.

    Example:
        >>> from drml_widgets import Session
        >>> view = Session.from_shapes_world(n=300, ensemble=False, train=False).view
        >>> result = compare_fine_tuning(view, "color", ["orange", "green"], variants=())  # zero-shot alone
        >>> print(result.describe())
        SpuriousResult(color in ['orange', 'green']: zero-shot; train 28 images, evaluate 60)
          1. zero-shot: worst group shape=triangle, color=green: worst_group 1.000, 24 images
    """

    comparison: FineTuneComparison
    detections: dict[str, pd.DataFrame]
    setting: SpuriousSetting
    data: ProjectionData
    members: pd.DataFrame
    class_type: str = CLASS  # the name findings give the class under
    method = "spurious_fine_tuning"

    @property
    def table(self) -> pd.DataFrame:
        """The comparison's table: average and worst-group accuracy per model, sd across seeds."""
        return self.comparison.table

    @property
    def train(self) -> np.ndarray:
        """Table rows fine-tuned on."""
        return self.setting.train

    @property
    def evaluate(self) -> np.ndarray:
        """Table rows the accuracies and detections are measured on."""
        return self.setting.evaluate

    def findings(self) -> list[Finding]:
        """Each model's worst group (the one worst most often over the seeds), lowest worst-group
        accuracy first, named by its class and attribute value; rows are its evaluated images."""
        attribute = self.setting.attribute
        by_label = {" ".join(map(str, group)): group
                    for group in self.comparison.groups[[CLASS, attribute]].itertuples(index=False, name=None)}
        out = []
        for _, row in self.table.sort_values("worst_group", kind="stable").iterrows():
            cls, value = by_label[row["worst"]]
            name = {self.class_type: str(cls), attribute: str(value)}
            inside = ((self.members[CLASS] == cls) & (self.members[attribute] == value)).to_numpy()
            out.append(Finding(name, f"{row['method']}: worst group {name_label(name)}", float(row["worst_group"]),
                               "worst_group", self.members.index.to_numpy()[inside]))
        return out

    def __repr__(self) -> str:
        setting = self.setting
        return (f"SpuriousResult({setting.attribute} in {list(setting.values)}: {', '.join(self.table['method'])}; "
                f"train {len(self.train)} images, evaluate {len(self.evaluate)})\n"
                + self.table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))

    def _repr_html_(self) -> str:
        return self.comparison._repr_html_()


def _detect(view: SessionView, setting: SpuriousSetting, predictions: np.ndarray) -> pd.DataFrame:
    """Eq. 7 on the evaluated images, with the training images' tag shares to rank candidates.
    Both are tagged over one vocabulary: a value the training images lack has a share of 0 there."""
    ev, tr = setting.evaluate, setting.train
    both = tags_from_table(view.table.iloc[np.r_[ev, tr]], list(setting.tags))
    return accuracy_discrepancy(predictions, view.labels[ev], both.iloc[: len(ev)].reset_index(drop=True),
                                view.classes, train_tags=both.iloc[len(ev):].reset_index(drop=True),
                                train_labels=view.labels[tr])


def compare_fine_tuning(view: SessionView, attribute: str, values: Sequence[str], *,
                        variants: Sequence[str] = ("plain", "language", "vision"), seeds: Sequence[int] = (0,),
                        epochs: int = 50, train=None, evaluate=None, tags=None, data: ProjectionData | None = None,
                        progress: Callable[[str, int, int], None] | None = None) -> SpuriousResult:
    """Paper 004 on the session's images, for a suspected ``attribute`` (e.g. ``"color"``) and
    its ``values`` (e.g. ``["orange", "green"]``): CLIP's frozen towers run once (unless
    ``data`` gives their outputs), then zero-shot and each of ``variants`` fine-tuned ``epochs``
    per seed of ``seeds`` (no variant: zero-shot alone), compared on average and worst-group
    accuracy over class x value groups, with each model's detection table.

    ``train``, ``evaluate`` and ``tags`` are as in :meth:`SpuriousSetting.of`;
    ``progress(label, done, total)`` hears epochs done over the whole run (and then the towers
    run without a progress bar). Findings are each model's worst group.

    Example:
        >>> from drml_widgets import Session
        >>> s = Session.from_shapes_world(n=300, ensemble=False, train=False)
        >>> result = compare_fine_tuning(s.view, "color", ["orange", "green"], variants=["plain"], epochs=1)
        >>> result.table["method"].tolist(), list(result.detections), sorted(result.top().name)
        (['zero-shot', 'plain'], ['zero-shot', 'plain'], ['color', 'shape'])
    """
    setting = SpuriousSetting.of(view, attribute, values, train=train, evaluate=evaluate, tags=tags, data=data)
    if data is None:
        data = cache_features(view.encoder, view.images, view.classes, spurious_values=list(setting.values),
                              progress=None if progress is None else False)
    by = [CLASS, setting.attribute]
    groups = view.table.assign(**{CLASS: np.asarray(view.classes, dtype=object)[view.labels]})
    comparison = compare_models(data, view.labels, groups, setting.train, setting.evaluate, by=by,
                                attribute=view.table[setting.attribute].astype(str).to_numpy(), variants=variants,
                                seeds=seeds, epochs=epochs, progress=progress)
    detections = {name: _detect(view, setting, model.predict(data, setting.evaluate))
                  for name, model in comparison.tuned.items()}
    members = groups.iloc[setting.evaluate][by].set_axis(setting.evaluate)
    result = SpuriousResult(comparison, detections, setting, data, members, view.class_type or CLASS)
    result.caveats = language_caveats(view, setting.attribute, variants)
    for line in result.caveats:
        warnings.warn(f"{line}. Fix: weigh the vision variant, which learns the attribute from the images' "
                      "groups, or use a CLIP that sees it.", stacklevel=2)
    return result


def language_caveats(view: SessionView, attribute: str, variants: Sequence[str]) -> tuple[str, ...]:
    """A caution line when ``variants`` hold the language variant and the session's CLIP reads
    ``attribute`` poorly: that variant pushes class prompts away from captions of the attribute's
    values, which then do not point where the images differ. None otherwise.

    Example:
        >>> from drml_widgets import Session
        >>> language_caveats(Session.from_shapes_world(n=300, ensemble=False, train=False).view, "color", ["language"])
        ()
    """
    why = read_poorly(view, [attribute]).get(attribute) if "language" in variants else None
    if why is None:
        return ()
    return (f"CLIP reads {attribute} poorly ({why}): the language variant pushes against captions of "
            f"{attribute} that do not point where the images differ",)


register(Method("spurious_fine_tuning", "004 spurious-aware fine-tuning",
                "Which attribute value does it lean on, and does fine-tuning CLIP against it lift the worst group?",
                compare_fine_tuning, needs=("images",), view="SpuriousPanel"))
