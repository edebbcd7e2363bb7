"""What the scorecard scores: one entry per column, each finding a top slice on one setting with
the same signature. Putting a method on the scorecard is registering it, not editing the run.

- Every method in the registry of :mod:`drml_widgets.methods.protocol` is scored through the
  same protocol a user's session runs it with: the setting becomes a
  :class:`~drml_widgets.methods.protocol.SessionView` (:func:`setting_view`) and the method's
  top finding, its name and member rows, is the top slice. A method is left out when no entry
  stands for it already (``covers``), when ``run`` needs an option the scorecard cannot guess, or
  when it says it names no slice of images (``Method.scorecard`` False).
- The entries below are the variants the README's scorecard compares: DrML's probe ranked two
  ways, image slices, PRIME over two taggers, LBEE, and the Domino- and PlaneSpot-style
  baselines. Each says which registered method it stands for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from .._common import true_label_loss
from ..diagnose.slices import rows_in_slice
from ..methods.drml import find_failing_slices, find_text_failure
from ..methods.protocol import Method, SessionView, registered
from . import protocol as P
from .settings import ATTRIBUTE_SET, Outcome

Find = Callable[[P.Context, Outcome, int, dict], "P.Found | None"]


@dataclass(frozen=True)
class Entry:
    """One scored column: ``find(ctx, out, seed, memo)`` returns the top slice of a kept setting
    (``memo`` is shared by the entries of one setting: work two entries need is done once), or
    None when the method finds none; ``covers`` names the registered methods it stands for.

    Example:
        >>> [e.name for e in entries()][:3]
        ['drml_text', 'drml_text_mean', 'drml_image']
    """

    name: str
    find: Find
    covers: tuple[str, ...] = ()


_ENTRIES: dict[str, Entry] = {}


def add_entry(entry: Entry) -> Entry:
    """Add (or replace) a scorecard variant; returns it."""
    _ENTRIES[entry.name] = entry
    return entry


def scoreable(method: Method) -> bool:
    """Whether the scorecard can run a registered method on its own: it names slices of images
    and every option of its ``run`` has a default.

    Example:
        >>> from drml_widgets.methods.protocol import get_method
        >>> scoreable(get_method("text_failure")), scoreable(get_method("text_slices"))
        (True, False)
    """
    return method.scorecard and not method.options(required=True)


def entries() -> list[Entry]:
    """Every column of the scorecard, in order: the variants, then each registered method no
    variant stands for."""
    covered = {name for e in _ENTRIES.values() for name in e.covers}
    generic = [Entry(m.name, _registered(m), (m.name,)) for m in registered()
               if m.name not in covered and m.name not in _ENTRIES and scoreable(m)]
    return [*_ENTRIES.values(), *generic]


# -- a setting as a session's view -------------------------------------------------------------
@dataclass
class SettingSource:
    """A setting's classifier outcomes on its view's rows, read as a session's would be."""

    emb: np.ndarray
    text_emb: np.ndarray
    proba: np.ndarray
    labels: np.ndarray

    def image_features(self) -> np.ndarray:
        """The setting's test image embeddings, as its head reads them."""
        return self.emb

    def text_features(self) -> np.ndarray:
        """The probe prompts' embeddings."""
        return self.text_emb

    def image_predictions(self, mask: np.ndarray | None = None) -> np.ndarray:
        """The planted model's predicted class per test image (of ``mask`` when given)."""
        predictions = self.proba.argmax(axis=1)
        return predictions if mask is None else predictions[mask]

    def image_losses(self) -> np.ndarray:
        """The planted model's loss on each test image's true label."""
        return true_label_loss(self.proba, self.labels)


def setting_view(ctx: P.Context, out: Outcome, seed: int = 0, head=None) -> SessionView:
    """The setting as a user's session would show it to a method: for a CLIP head, its training
    rows (split ``train``) and the pool's test rows (split ``test``); for the CNN, the test rows
    alone, read through ``head`` (a surrogate) where one is given. Prompts are the probe prompts.

    Example: see :func:`run_methods <drml_widgets.scorecard.run.run_methods>`.
    """
    s = out.setting
    test_table = ctx.test_table
    if out.head is not None:
        head = out.head
        train = ctx.pool.table.iloc[s.train_rows].reset_index(drop=True).assign(split="train")
        table = pd.concat([train, test_table.assign(split="test")], ignore_index=True)
        emb = np.concatenate([ctx.pool.emb[s.train_rows], ctx.test_emb])
        proba = np.concatenate([head.predict_proba(ctx.pool.emb[s.train_rows]), out.proba])
        labels = np.concatenate([s.train_labels, out.labels])
        name = None
    else:
        table, emb, proba, labels, name = test_table, ctx.test_emb, out.proba, out.labels, "the CNN"
    source = SettingSource(emb, ctx.probe_emb, proba, labels)
    return SessionView(source, table, tuple(s.classes), labels, ATTRIBUTE_SET, P.PROBE_SPEC, ctx.probes[s.class_attr],
                       s.class_attr, ctx.encoder, emb, seed=seed, head=head, model_name=name)


def positions_among_test(view: SessionView, rows: np.ndarray) -> np.ndarray:
    """A finding's rows of a :func:`setting_view` as positions among the test images (its
    training rows left out), in the finding's order."""
    n_train = int((view.splits == "train").sum())
    rows = np.asarray(rows, dtype=np.int64)
    return rows[rows >= n_train] - n_train


def adaptive_flagged(ctx: P.Context, out: Outcome) -> bool:
    """Whether ``Session.find_failing_slices``' adaptive default flags a head setting's planted
    slice, run on the setting's view over exactly its attribute types plus the class attribute:
    True when a flagged row states the planted values and class."""
    s = out.setting
    by = [t for t in ATTRIBUTE_SET.types if t in s.values or t == s.class_attr]
    return bool(rows_in_slice(find_failing_slices(setting_view(ctx, out), by).table, s.truth).any())


def _registered(method: Method) -> Find:
    def find(ctx: P.Context, out: Outcome, seed: int, memo: dict) -> P.Found | None:
        view = setting_view(ctx, out, seed)
        if not method.applies(view)[0]:
            return None
        top = method(view).top()
        if top is None:
            return None
        return P.Found(dict(top.name or {}), positions_among_test(view, top.rows))
    return find


# -- the README's variants ---------------------------------------------------------------------
def _probe_head(ctx, out, seed, memo) -> tuple:
    if "probe_head" not in memo:  # both DrML text variants read one head (the CNN's surrogate is trained once)
        memo["probe_head"] = P.probe_head(ctx, out, seed)
    return memo["probe_head"]


def drml_text(ctx: P.Context, out: Outcome, seed: int, memo: dict) -> P.Found:
    """DrML's text probe as a session runs it (the registered ``text_failure``, no image of the
    slice used), on the setting's view; its members retrieved from the name (:func:`~.protocol.retrieve`)."""
    head, _ = _probe_head(ctx, out, seed, memo)
    answer = find_text_failure(setting_view(ctx, out, seed, head))
    found = P.retrieve(ctx, out, answer.name)
    found.next = [a["name"] for a in answer.alternatives]
    return found


def drml_text_mean(ctx: P.Context, out: Outcome, seed: int, memo: dict) -> P.Found:
    """DrML's raw ranking, the lowest mean text probability (:func:`~.protocol.drml_text_mean`)."""
    return P.drml_text_mean(ctx, out, P.text_proba(ctx, *_probe_head(ctx, out, seed, memo)))


add_entry(Entry("drml_text", drml_text, ("text_failure",)))
add_entry(Entry("drml_text_mean", drml_text_mean, ("all_slices",)))
add_entry(Entry("drml_image", lambda ctx, out, seed, memo: P.drml_image(ctx, out)))
add_entry(Entry("prime_table", lambda ctx, out, seed, memo: P.prime(ctx, out, "table"), ("failure_modes",)))
add_entry(Entry("prime_clip", lambda ctx, out, seed, memo: P.prime(ctx, out, "clip"), ("failure_modes",)))
add_entry(Entry("lbee", lambda ctx, out, seed, memo: P.lbee(ctx, out, seed), ("hard_clusters",)))
add_entry(Entry("domino", lambda ctx, out, seed, memo: P.domino_style(ctx, out, seed)))
add_entry(Entry("planespot", lambda ctx, out, seed, memo: P.planespot_style(ctx, out, seed)))
