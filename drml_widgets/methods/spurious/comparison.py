"""Zero-shot and each fine-tuning variant side by side, over several seeds (paper 004's table)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from ...errors import SpuriousError
from ...results import Finding, Result
from ..detection import group_accuracy
from .fine_tuning import fine_tune_projections
from .projections import ProjectionData, TunedProjections, class_indices

ZERO_SHOT = "zero-shot"  # the base model's row, beside the variants'


@dataclass(repr=False)
class FineTuneComparison(Result):
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
    method = "spurious_fine_tuning"

    @classmethod
    def from_runs(cls, runs: pd.DataFrame, groups: pd.DataFrame, tuned: dict) -> "FineTuneComparison":
        """Summarise per-seed ``runs`` (columns method, seed, average, worst_group, worst, seconds)."""
        by_method = runs.groupby("method", sort=False)
        table = by_method.agg(average=("average", "mean"), average_sd=("average", "std"),
                              worst_group=("worst_group", "mean"), worst_group_sd=("worst_group", "std"),
                              worst=("worst", lambda w: w.mode().iloc[0]), seconds=("seconds", "mean"),
                              seeds=("seed", "count")).reset_index()
        deterministic = table["method"] == ZERO_SHOT
        table.loc[deterministic, ["average_sd", "worst_group_sd"]] = 0.0
        return cls(table, groups, tuned, runs)

    def row(self, method: str) -> pd.Series:
        """The ``table`` row of one method (``zero-shot`` or a variant)."""
        methods = self.table["method"].tolist()
        if method not in methods:
            raise SpuriousError(f"No method {method!r} in this comparison; it has {methods}. "
                                "Fix: pass one of them, or compare again with it in variants=.")
        return self.table.set_index("method").loc[method]

    def findings(self) -> list[Finding]:
        """Each method's worst group, lowest worst-group accuracy first (the group is named by its
        class and attribute value, as text: its images are in ``groups``, not here)."""
        order = self.table.sort_values("worst_group", kind="stable")
        return [Finding(None, f"{r['method']}: worst group {r['worst']}", float(r["worst_group"]), "worst_group")
                for _, r in order.iterrows()]

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
    by: Sequence[str],
    attribute=None,
    variants: Sequence[str] = ("plain", "language", "vision"),
    seeds: Sequence[int] = (0,),
    progress: Callable[[str, int, int], None] | None = None,
    **fine_tune_kw,
) -> FineTuneComparison:
    """Zero-shot, then each variant fine-tuned on ``train_rows`` once per seed with the same
    settings, all evaluated on ``eval_rows`` (average and worst-group accuracy, groups being the
    value combinations of the ``table`` columns ``by``, e.g. the class and the attribute).

    Worst-group accuracy of a fine-tuned model swings with the seed (the batches decide how
    often the rare groups are seen), so compare variants over several ``seeds``: the table
    reports means and standard deviations. ``table`` has one row per cached image;
    ``progress(label, done, total)`` reports epochs done over the whole comparison; other
    keywords go to :func:`~drml_widgets.methods.spurious.fine_tune_projections`.

    Example:
        >>> from drml_widgets import ClipEncoder
        >>> from drml_widgets.methods.spurious import cache_features
        >>> imgs = np.zeros((4, 64, 64, 3), np.uint8); imgs[:2, 20:40, 20:40] = 200
        >>> data = cache_features(ClipEncoder("shapes"), imgs, ["square", "blank"], templates=["a {}."])
        >>> t = pd.DataFrame({"kind": ["square", "square", "blank", "blank"]})
        >>> cmp = compare_fine_tuning(data, [0, 0, 1, 1], t, [0, 1, 2, 3], [0, 1, 2, 3], variants=["plain"],
        ...                           by=["kind"], seeds=[0, 1], epochs=1)
        >>> cmp.table.columns.tolist(), cmp.table["method"].tolist(), len(cmp.runs)
        (['method', 'average', 'average_sd', 'worst_group', 'worst_group_sd', 'worst', 'seconds', 'seeds'], ['zero-shot', 'plain'], 3)
    """
    labels = class_indices(labels, len(data.image), len(data.classes))
    if len(table) != len(data.image):
        raise SpuriousError(f"table has {len(table)} rows for {len(data.image)} cached images; pass one per image.")
    if "seed" in fine_tune_kw:
        raise SpuriousError("compare_fine_tuning trains once per seed. Fix: pass seeds=[...] instead of seed=.")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise SpuriousError("seeds is empty. Fix: pass at least one seed, e.g. seeds=[0, 1, 2].")
    by = [by] if isinstance(by, str) else list(by)
    eval_rows = np.asarray(eval_rows)
    n_runs, runs, groups, tuned = len(variants) * len(seeds), [], [], {}

    def evaluate(name: str, seed, model: TunedProjections) -> None:
        acc = group_accuracy(model.predict(data, eval_rows), labels[eval_rows], table.iloc[eval_rows], by)
        runs.append({"method": name, "seed": seed, "average": acc.average, "worst_group": acc.worst,
                     "worst": " ".join(map(str, acc.worst_group)), "seconds": model.seconds})
        groups.append(acc.table.assign(method=name))
        tuned.setdefault(name, model)

    evaluate(ZERO_SHOT, None, data.base())
    for i, (variant, seed) in enumerate((v, s) for v in variants for s in seeds):
        label = f"{variant}, seed {seed}" if len(seeds) > 1 else variant
        report = (lambda e, n, i=i, lab=label: progress(lab, i * n + e, n_runs * n)) if progress else None
        evaluate(variant, seed, fine_tune_projections(data, labels, train_rows, variant=variant, attribute=attribute,
                                                      seed=seed, progress=report, **fine_tune_kw))
    wide = pd.concat(groups).pivot_table(index=by, columns="method", values="accuracy", aggfunc="mean")
    runs = pd.DataFrame(runs).astype({"seed": "Int64"})  # zero-shot has no seed: <NA>, not 0.0
    return FineTuneComparison.from_runs(runs, wide[list(tuned)].reset_index(), tuned)
