"""Run the scorecard: draw planted failures until each (kind, model) cell has its quota of kept
settings, run every method on each, and tabulate precision@10, exact names, real failures,
failing recall and time."""

from __future__ import annotations

import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from . import protocol as P
from .entries import adaptive_flagged, entries
from .settings import KINDS, MIN_GAP, Outcome, Pool, ScorecardError, draw_setting, load_pool, train_model

# A cell that keeps less than one setting in this many draws stops; the shortfall is reported. A CNN
# draw costs seconds (a head's a fraction of one), so the CNN gets fewer tries.
MAX_DRAWS_PER_KEPT = {"head": 15, "cnn": 5}


@dataclass(repr=False)
class Scorecard:
    """Every method on every kept setting (``results``: one row per setting and method; a head
    setting's ``adaptive_flagged`` says whether ``Session.failing_slices``'s adaptive default flags
    its planted slice, None for the CNN), every
    drawn setting with its planted slice's gap and whether it was kept (``settings``), the wall
    time of each stage (``seconds``), the shared :class:`~.protocol.Context` it ran with and the
    name of the CLIP whose embeddings it read (``clip``)."""

    results: pd.DataFrame
    settings: pd.DataFrame
    seconds: dict = field(default_factory=dict)
    seed: int = 0
    context: P.Context | None = None
    clip: str = "shapes"

    def table(self) -> pd.DataFrame:
        """Mean precision@10, share of exact names, and where the results have them, share of named
        slices that truly fail (``real``), mean failing recall (``recall``) and share whose planted
        slice, or one of its class nested with it, is the top slice or the next finding (``near2``;
        see :mod:`.protocol`), by model, method and kind (and all kinds).

        Example:
            >>> r = pd.DataFrame({"model": ["head"] * 2, "method": ["m"] * 2, "kind": ["rare", "noisy"],
            ...                   "precision_at_10": [1.0, 0.5], "exact_name": [True, False], "setting": [0, 1]})
            >>> float(Scorecard(r, pd.DataFrame()).table().loc[("head", "m"), ("p@10", "all")])
            0.75
        """
        grouped = self._grouped()
        means = {"p@10": grouped["precision_at_10"].mean(), "exact": grouped["exact_name"].mean()}
        for measure, column in (("real", "real_failure"), ("recall", "failing_recall"), ("near2", "near_in_two")):
            if column in self.results:  # CSVs written before these columns lack them
                means[measure] = grouped[column].mean()
        out = pd.DataFrame({**means, "n": grouped["setting"].nunique()}).unstack("kind")
        kinds = [k for k in (*KINDS, "all") if k in out.columns.get_level_values(1)]
        out = out.reindex(columns=pd.MultiIndex.from_product([[*means, "n"], kinds]))
        out["n"] = out["n"].fillna(0).astype(int)
        order = {m: i for i, m in enumerate(method_names())}
        return out.sort_index(key=lambda ix: ix.map(lambda v: order.get(v, v) if isinstance(v, str) and v in order
                                                     else v)).round(3)

    def _grouped(self):
        """The results by model, method and kind, each setting counted again under kind "all"."""
        both = pd.concat([self.results, self.results.assign(kind="all")])
        as_float = {c: both[c].astype(float) for c in ("exact_name", "real_failure", "near_in_two") if c in both}
        return both.assign(**as_float).groupby(["model", "method", "kind"], sort=False)

    def stderr(self) -> pd.DataFrame:
        """Standard error of each mean of :meth:`table` (its sd over settings / sqrt(n)), the same
        shape: how far a second seed's mean may fall from this one by chance alone (a difference
        of two means has sqrt(2) times it). Per-setting scores are mostly 0 or 1, so 60 settings
        give about 0.06 and 200 about 0.03.

        Example:
            >>> r = pd.DataFrame({"model": ["head"] * 4, "method": ["m"] * 4, "kind": ["rare"] * 4,
            ...                   "precision_at_10": [1.0, 0.0, 1.0, 0.0], "exact_name": [True] * 4, "setting": range(4)})
            >>> float(Scorecard(r, pd.DataFrame()).stderr().loc[("head", "m"), ("p@10", "rare")])
            0.289
        """
        grouped = self._grouped()
        out = pd.DataFrame({"p@10": grouped["precision_at_10"].sem(), "exact": grouped["exact_name"].sem()})
        means = self.table()[["p@10", "exact"]]
        return out.unstack("kind").reindex(index=means.index, columns=means.columns).round(3)

    def compare(self, other: "Scorecard", tolerance: float = 0.05) -> pd.DataFrame:
        """Every mean of :meth:`table` beside ``other``'s (another seed, say): the difference, its
        standard error (from both runs' :meth:`stderr`) and whether it lies within ``tolerance``.
        One row per model, method, measure and kind, largest difference first.

        Example:
            >>> r = pd.DataFrame({"model": ["head"] * 2, "method": ["m"] * 2, "kind": ["rare"] * 2,
            ...                   "precision_at_10": [1.0, 0.0], "exact_name": [True, False], "setting": [0, 1]})
            >>> a, b = Scorecard(r, pd.DataFrame()), Scorecard(r.assign(precision_at_10=[1.0, 0.5]), pd.DataFrame())
            >>> a.compare(b)[["measure", "kind", "difference", "within"]].head(1).values.tolist()
            [['p@10', 'rare', -0.25, False]]
        """
        def long(frame: pd.DataFrame, name: str) -> pd.Series:
            frame = frame[["p@10", "exact"]]
            frame.columns = frame.columns.set_names(["measure", "kind"])
            return frame.stack(["measure", "kind"], future_stack=True).rename(name)

        out = pd.concat([long(self.table(), "this"), long(other.table(), "other"),
                         long(self.stderr(), "se_this"), long(other.stderr(), "se_other")], axis=1).dropna(subset=["this", "other"])
        out["difference"] = (out["this"] - out["other"]).round(3)
        out["se_difference"] = np.sqrt(out["se_this"] ** 2 + out["se_other"] ** 2).round(3)
        out["within"] = out["difference"].abs() <= tolerance
        out = out.drop(columns=["se_this", "se_other"]).reset_index()
        return out.sort_values("difference", key=abs, ascending=False, kind="stable").reset_index(drop=True)

    def adaptive(self) -> pd.Series:
        """Share of kept head settings whose planted slice the adaptive default of
        ``Session.failing_slices`` flags, by kind, over correlation and rare settings (the failures
        text can see; the issue's bar) and over all (empty for results without it).

        Example:
            >>> r = pd.DataFrame({"model": ["head"] * 3, "kind": ["rare", "rare", "noisy"], "setting": [0, 0, 1],
            ...                   "adaptive_flagged": [True, True, False]})
            >>> Scorecard(r, pd.DataFrame()).adaptive().to_dict()
            {'rare': 1.0, 'noisy': 0.0, 'correlation+rare': 1.0, 'all': 0.5}
        """
        if "adaptive_flagged" not in self.results:
            return pd.Series(dtype=float, name="adaptive_flagged")
        per = self.results[self.results["model"] == "head"].drop_duplicates("setting")
        flagged = per["adaptive_flagged"].astype(str).str.lower() == "true"  # bools, or strings from a CSV
        share = flagged.groupby(per["kind"]).mean()
        share = share.reindex([k for k in KINDS if k in share.index])
        share["correlation+rare"] = flagged[per["kind"].isin(["correlation", "rare"])].mean()
        share["all"] = flagged.mean()
        return share.round(3).rename("adaptive_flagged")

    def misses(self) -> pd.DataFrame:
        """Of each method's head settings without the exact name, by kind: how many, the share
        whose named slice is still a real failure (``real_failure``; in CSVs written before that
        column, a ``found_gap`` of at least ``MIN_GAP``), and where the results have it, the share
        on a correlation's other side (``other_side``: the correlated class where it lacks the
        planted values, which fails too).

        Example:
            >>> r = pd.DataFrame({"model": ["head"] * 3, "method": ["m"] * 3, "kind": ["rare"] * 3,
            ...                   "exact_name": [True, False, False], "found_gap": [0.9, 0.5, 0.1]})
            >>> Scorecard(r, pd.DataFrame()).misses().loc[("m", "rare")].tolist()
            [2.0, 0.5]
        """
        head = self.results[(self.results["model"] == "head") & ~self.results["exact_name"].astype(bool)]
        real = head["real_failure"].astype(bool) if "real_failure" in head else head["found_gap"] >= MIN_GAP
        # bools, or strings read back from a CSV
        side = head["other_side"].astype(str).str.lower() == "true" if "other_side" in head else None
        grouped = head.assign(real=real, side=side).groupby(["method", "kind"], sort=False)
        out = pd.DataFrame({"misses": grouped.size().astype(float), "real_failure": grouped["real"].mean()})
        if side is not None:  # CSVs written before this column lack it; only a correlation has sides
            out["other_side"] = grouped["side"].mean().where(out.index.get_level_values("kind") == "correlation")
        return out.round(3)

    def dropped(self) -> pd.DataFrame:
        """Settings drawn, kept and dropped (their slice did not fail by 30 points) per kind and model."""
        g = self.settings.groupby(["kind", "model"])["kept"]
        return pd.DataFrame({"drawn": g.size(), "kept": g.sum().astype(int),
                             "dropped": (g.size() - g.sum()).astype(int)})

    def timings(self) -> pd.DataFrame:
        """Mean seconds per setting of each method (CNN text probes include training the surrogate)."""
        return self.results.pivot_table(index="method", columns="model", values="seconds", aggfunc="mean").reindex(
            [m for m in method_names() if m in set(self.results["method"])]).round(3)

    @classmethod
    def from_csv(cls, path) -> "Scorecard":
        """A scorecard back from :meth:`to_csv`'s files (the settings file, if beside it, too).

        Example:
            >>> Scorecard.from_csv("no-such-run.csv")
            Traceback (most recent call last):
            ...
            drml_widgets.errors.ScorecardError: No scorecard CSV at no-such-run.csv. Fix: pass a file written by `python -m drml_widgets scorecard --out FILE`.
        """
        path = Path(path)
        if not path.is_file():
            raise ScorecardError(f"No scorecard CSV at {path}. Fix: pass a file written by "
                                 "`python -m drml_widgets scorecard --out FILE`.")
        settings = path.with_name(path.stem + "-settings.csv")
        return cls(pd.read_csv(path), pd.read_csv(settings) if settings.is_file() else pd.DataFrame())

    def to_csv(self, path) -> Path:
        """Write ``results`` to ``path`` and every drawn setting to ``<stem>-settings.csv`` beside it."""
        path = Path(path)
        self.results.to_csv(path, index=False)
        self.settings.to_csv(path.with_name(path.stem + "-settings.csv"), index=False)
        return path

    def __repr__(self) -> str:
        with pd.option_context("display.width", 200, "display.max_columns", 40):
            kept = self.settings["kept"]
            return (f"Scorecard(clip={self.clip}, seed={self.seed}: {int(kept.sum())} settings kept of {len(kept)} drawn, "
                    f"{sum(self.seconds.values()):.0f} s)\n{self.table().to_string()}")


@contextmanager
def _quiet_one_thread():
    """One BLAS thread and no warnings: these fits are small (on 2 busy cores more threads made
    them 20x slower), and thin classes or tiny clusters warn where the score says what came of them."""
    from threadpoolctl import threadpool_limits

    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")
        yield


def method_names() -> list[str]:
    """The scorecard's columns, in order (:func:`~.entries.entries`)."""
    return [e.name for e in entries()]


def run_methods(ctx: P.Context, out: Outcome, seed: int = 0) -> list[dict]:
    """Every entry on one kept setting: its top slice's name, precision@10, exact name, seconds.

    Example: see :func:`run_scorecard`.
    """
    s = out.setting
    rows, memo = [], {}
    correct = out.predictions == out.labels
    failing = P.truly_failing(ctx.test_table, correct)
    for entry in entries():
        start = time.perf_counter()
        with _quiet_one_thread():
            found = entry.find(ctx, out, seed, memo)
        seconds = time.perf_counter() - start
        name = found.name if found is not None else {}
        rows.append({"method": entry.name, "found": P.describe(name) if name else "",
                     "precision_at_10": P.precision_at_k(found.ranking, out.truth) if found is not None else 0.0,
                     "exact_name": P.exact_name(name, s.truth),
                     "values_named": bool(name) and P.values_named(name, s.values, s.class_attr, s.slice_class),
                     "found_gap": P.found_gap(ctx.test_table, correct, name, s.class_attr),
                     "real_failure": P.real_failure(ctx.test_table, correct, name, s.class_attr),
                     "failing_recall": P.failing_recall(ctx.test_table, failing, name),
                     "other_side": s.kind == "correlation" and P.other_side(name, s.values, s.class_attr, s.target),
                     "near_in_two": bool(name) and P.near_in([name, *(found.next[:1] if found else [])], s.truth,
                                                             s.class_attr),
                     "seconds": seconds})
    return rows


def _quotas(n: int, cnn_share: float) -> dict[tuple[str, str], int]:
    """Kept settings wanted per (kind, model): kinds as even as n allows, the CNN on ``cnn_share``."""
    n_cnn = int(round(n * cnn_share))
    quotas = {}
    for i, kind in enumerate(KINDS):
        per_kind = n // len(KINDS) + (i < n % len(KINDS))
        cnn = n_cnn // len(KINDS) + (i < n_cnn % len(KINDS))
        quotas[(kind, "head")], quotas[(kind, "cnn")] = per_kind - cnn, cnn
    return {cell: q for cell, q in quotas.items() if q > 0}


def run_scorecard(n_settings: int = 200, seed: int = 0, *, pool: Pool | None = None, pool_seed: int = 0,
                  cnn_share: float = 0.05, progress: Callable[[str], None] | None = None,
                  encoder=None) -> Scorecard:
    """Plant ``n_settings`` failures that really fail (a third of each kind; ``cnn_share`` of them
    in the CNN, the rest in a CLIP head) and score every method on each.

    The pool is the benchmark's data set, as dcbench's is: ``pool`` defaults to :func:`load_pool`
    of ``pool_seed`` (12,000 images and their test split), whatever ``seed``, which draws the
    settings and seeds the models. ``progress`` receives a line now and then. Settings whose
    slice does not fail are drawn again and counted as dropped.

    Example (``run_scorecard(24)`` takes a few minutes; the CLI runs it)::

        >>> run_scorecard(0)
        Traceback (most recent call last):
        ...
        drml_widgets.errors.ScorecardError: n_settings must be at least 1; got 0. Fix: e.g. n_settings=24.
    """
    if n_settings < 1:
        raise ScorecardError(f"n_settings must be at least 1; got {n_settings}. Fix: e.g. n_settings=24.")
    if not 0 <= cnn_share <= 1:
        raise ScorecardError(f"cnn_share is the share of settings planted in the CNN, in [0, 1]; got {cnn_share}.")
    say = progress or (lambda line: None)
    seconds, start = {}, time.perf_counter()
    pool = pool if pool is not None else load_pool(seed=pool_seed, encoder=encoder)
    seconds["pool"] = time.perf_counter() - start
    start = time.perf_counter()
    if encoder is None:
        from ..embed.encoder import ClipEncoder

        encoder = ClipEncoder("shapes")
    ctx = P.Context(pool, encoder)
    seconds["context"] = time.perf_counter() - start
    rng = np.random.default_rng(seed)
    quotas = _quotas(n_settings, cnn_share)
    kept = {cell: 0 for cell in quotas}
    drawn = {cell: 0 for cell in quotas}
    settings, results = [], []
    train_s = methods_s = 0.0
    open_cells = list(quotas)
    while open_cells:
        for cell in list(open_cells):
            kind, model = cell
            setting = draw_setting(pool, rng, len(settings), kind, model)
            t0 = time.perf_counter()
            out = train_model(pool, setting, seed=seed + setting.id)
            train_s += time.perf_counter() - t0
            drawn[cell] += 1
            settings.append(out.row())
            if out.kept:
                t0 = time.perf_counter()
                with _quiet_one_thread():
                    extra = {"adaptive_flagged": adaptive_flagged(ctx, out) if model == "head" else None}
                results += [{**out.row(), **extra, **r} for r in run_methods(ctx, out, seed=seed)]
                methods_s += time.perf_counter() - t0
                kept[cell] += 1
                if sum(kept.values()) % 10 == 0:
                    say(f"kept {sum(kept.values())}/{n_settings} settings ({len(settings)} drawn)")
            if kept[cell] >= quotas[cell] or drawn[cell] >= MAX_DRAWS_PER_KEPT[model] * quotas[cell]:
                open_cells.remove(cell)
                if kept[cell] < quotas[cell]:
                    say(f"{kind} settings in the {model} rarely fail: {kept[cell]} kept of {drawn[cell]} drawn "
                        f"(wanted {quotas[cell]})")
    seconds["train"], seconds["methods"] = train_s, methods_s
    if not results:
        raise ScorecardError(f"None of the {len(settings)} drawn settings planted a failing slice. "
                             "Fix: draw more settings, or check the pool (load_pool renders every combination).")
    clip = getattr(getattr(encoder, "spec", None), "label", type(encoder).__name__)
    return Scorecard(pd.DataFrame(results), pd.DataFrame(settings), seconds, seed, ctx, clip)
