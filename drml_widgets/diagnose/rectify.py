"""Rectification by text (DrML, paper 000, section 3.5), made safer than the reference code.

The head keeps training on text embeddings of the chosen error slices, labelled by their
attributes. To keep its behaviour elsewhere, the default mode replays the original training
image embeddings (``replay``); ``balanced`` adds text of every combination instead; ``text`` is
the paper's text-only variant. The epoch kept is the one with the lowest held-out loss: the
mean of the loss on held-out slice prompts (templates the training never saw) and the loss on
the original validation images (or balanced text), so a run that fixes the slices by breaking
the rest is not selected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from ..errors import InputError, VersionError
from .heads import Head, fit_module
from .rectify_advice import rectify_advice
from .rectify_guard import cost_lines
from .validate import check_embeddings, check_labels

MODES = ("replay", "balanced", "text")


@dataclass
class VersionInfo:
    """One head version: its weights and what made it."""

    state: dict = field(repr=False)
    description: str


class HeadVersions:
    """The versions of a head, with undo and redo that restore the exact weights.

    Example:
        >>> import torch
        >>> head = Head(torch.nn.Linear(2, 2), "linear", 2, ["a", "b"])
        >>> versions = HeadVersions(head)
        >>> _ = torch.nn.init.zeros_(head.module.weight)
        >>> versions.commit("zeroed")
        1
        >>> versions.undo()
        0
        >>> float(head.module.weight.detach().abs().sum()) > 0
        True
    """

    def __init__(self, head: Head, description: str = "trained"):
        self.head = head
        self._versions = [VersionInfo(head.state(), description)]
        self._current = 0

    @property
    def current(self) -> int:
        """The version number of the head now in use."""
        return self._current

    def commit(self, description: str) -> int:
        """Record the head's present weights as a new version; drops any redo branch."""
        del self._versions[self._current + 1:]
        self._versions.append(VersionInfo(self.head.state(), description))
        self._current = len(self._versions) - 1
        return self._current

    @property
    def can_undo(self) -> bool:
        """Whether an earlier version exists to go back to."""
        return self._current > 0

    @property
    def can_redo(self) -> bool:
        """Whether an undone version exists to go forward to."""
        return self._current < len(self._versions) - 1

    def undo(self) -> int:
        """Restore the previous version's exact weights; returns its number (``VersionError`` at the first)."""
        if not self.can_undo:
            raise VersionError("Nothing to undo: the head is at its first version.")
        return self.checkout(self._current - 1)

    def redo(self) -> int:
        """Restore the next version's exact weights; returns its number (``VersionError`` at the latest)."""
        if not self.can_redo:
            raise VersionError("Nothing to redo: the head is at its latest version.")
        return self.checkout(self._current + 1)

    def checkout(self, version: int) -> int:
        """Restore the exact weights of ``version``."""
        if not 0 <= version < len(self._versions):
            raise VersionError(f"No version {version}; there are {len(self._versions)}.")
        self.head.load_state(self._versions[version].state)
        self._current = version
        return version

    def table(self) -> pd.DataFrame:
        """One row per version, with the current one marked."""
        return pd.DataFrame({
            "version": range(len(self._versions)),
            "description": [v.description for v in self._versions],
            "current": [i == self._current for i in range(len(self._versions))],
        })

    def __len__(self) -> int:
        return len(self._versions)

    def __repr__(self) -> str:
        return f"HeadVersions(current={self._current}, versions={len(self._versions)})"


@dataclass(repr=False)
class RectifyResult:
    """What a rectification did: before/after per slice for text (and images when present), and
    the targeted slices' true-class log-odds on text and images before and after (``margins``),
    from which :meth:`advice` explains images that did not follow their text, and what it costs
    every untargeted slice (``cost``, see :func:`~drml_widgets.diagnose.rectify_guard.rectify_cost`).
    ``applied`` is False for a dry run, whose ``version`` is the unchanged head's."""

    mode: str
    slices: list[dict]
    text: pd.DataFrame
    image: pd.DataFrame | None
    history: pd.DataFrame
    best_epoch: int
    version: int
    margins: pd.DataFrame | None = None
    cost: pd.DataFrame | None = None
    applied: bool = True

    def summary(self) -> pd.DataFrame:
        """Before/after for the targeted slices and the largest loss anywhere else."""
        frame = self.image if self.image is not None else self.text
        return frame.sort_values("targeted", ascending=False).reset_index(drop=True)

    def advice(self) -> list[str]:
        """Why the targeted slices' images did not follow their text (measured), and what to try;
        empty when they did. See :func:`~drml_widgets.diagnose.rectify_advice.rectify_advice`."""
        return rectify_advice(self.text, self.image, self.margins, self.history, self.best_epoch, self.mode)

    def costs(self) -> list[str]:
        """The untargeted slices this rectification costs more than their bound, named with their drop;
        empty when none (see :func:`~drml_widgets.diagnose.rectify_guard.cost_lines`)."""
        if self.cost is None:
            return []
        return cost_lines(self.cost, list(self.cost.columns[: self.cost.columns.get_loc("source")]))

    def describe(self) -> str:
        """A few lines a person can read: targeted slices before and after, the largest drop
        elsewhere, the slices it costs over their bound, and advice."""
        lines = []
        for name, frame in (("text", self.text), ("image", self.image)):
            if frame is None:
                continue
            col = "text_prob" if name == "text" else "image_acc"
            t = frame[frame["targeted"]]
            o = frame[~frame["targeted"]]
            lines.append(
                f"{name}: targeted {t[col + '_before'].mean():.3f} -> {t[col + '_after'].mean():.3f}; "
                f"largest drop elsewhere {(-o['delta']).max() if len(o) else 0:.3f}"
            )
        preview = [] if self.applied else [f"a dry run: head version {self.version} is unchanged"]
        return "\n".join(preview + lines + self.costs() + self.advice())

    def __repr__(self) -> str:
        body = "\n".join(f"  {line}" for line in self.describe().splitlines())
        return f"RectifyResult(mode={self.mode!r}, version={self.version}, best_epoch={self.best_epoch},\n{body})"


def fit_rectified(
    head: Head,
    slice_text: tuple[np.ndarray, np.ndarray],
    slice_text_val: tuple[np.ndarray, np.ndarray],
    *,
    mode: str = "replay",
    replay: tuple[np.ndarray, np.ndarray] | None = None,
    keep_val: tuple[np.ndarray, np.ndarray] | None = None,
    epochs: int = 50,
    lr: float = 1e-3,
    batch_size: int = 32,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Head, pd.DataFrame, int]:
    """Continue training a copy of ``head``; returns ``(new_head, history, best_epoch)``.

    ``slice_text`` are the targeted slices' prompt embeddings and true labels for training,
    ``slice_text_val`` held-out prompts of the same slices. ``replay`` is what keeps behaviour
    elsewhere (original training images for ``replay``, text of every combination for
    ``balanced``; ignored for ``text``). ``keep_val`` is its held-out counterpart, used in the
    selection criterion. The input head is not modified.

    Example:
        >>> import torch
        >>> head = Head(torch.nn.Linear(2, 2), "linear", 2, ["a", "b"])
        >>> x = np.eye(2, dtype=np.float32); y = np.array([1, 0])
        >>> new, history, best = fit_rectified(head, (x, y), (x, y), mode="text", epochs=2)
        >>> list(history.columns)
        ['epoch', 'train_loss', 'val_loss']
    """
    check_mode(mode)
    x, y = _checked(slice_text, head, "slice text")
    val = [_checked(slice_text_val, head, "held-out slice text")]
    if mode != "text":
        if replay is None:
            raise InputError(f"Mode {mode!r} needs data to replay: pass replay=(embeddings, labels).")
        rx, ry = _checked(replay, head, "replay")
        x, y = np.concatenate([x, rx]), np.concatenate([y, ry])
        if keep_val is not None:
            val.append(_checked(keep_val, head, "held-out replay"))
    new = head.copy()
    history, best = fit_module(new.module, x, y, val, epochs=epochs, lr=lr, batch_size=batch_size,
                               seed=seed, progress=progress)
    new.history, new.best_epoch = history, best
    return new, history, best


def check_mode(mode: str) -> str:
    """``mode`` if it is one of :data:`MODES`, else an error listing them.

    Example:
        >>> check_mode("replay")
        'replay'
    """
    if mode not in MODES:
        raise InputError(f"Unknown rectification mode {mode!r}; choose one of {MODES}.")
    return mode


def held_out_templates(templates: pd.Series, holdout: float, seed: int) -> np.ndarray:
    """Mask of the prompts whose template is in a seeded ``holdout`` share of the distinct
    templates (at least one when there are two or more; none with a single template or
    ``holdout=0``), kept out
    of rectification's training to select the epoch on text it never saw.

    Example:
        >>> held = held_out_templates(pd.Series(["a", "b", "a", "c", "d", "e"]), 0.2, seed=0)
        >>> int(held.sum()) in (1, 2), len(held)
        (True, 6)
    """
    if isinstance(holdout, bool) or not isinstance(holdout, (int, float)) or not 0 <= holdout < 1:
        raise InputError(f"holdout is the share of templates kept for model selection, in [0, 1); got {holdout!r}. "
                         "Fix: use e.g. 0.2.")
    distinct = templates.unique()
    if len(distinct) < 2 or holdout == 0:
        return np.zeros(len(templates), dtype=bool)
    n_hold = max(1, int(round(holdout * len(distinct))))
    held = np.random.default_rng(seed).permutation(distinct)[:n_hold]
    return templates.isin(set(held)).to_numpy()


@dataclass(repr=False)
class RectifySets:
    """What rectification trains and selects on: the slices' text (train and held out) and what
    keeps behaviour elsewhere (``replay``, with its held-out ``keep_val``)."""

    slice_text: tuple[np.ndarray, np.ndarray]
    slice_text_val: tuple[np.ndarray, np.ndarray]
    replay: tuple[np.ndarray, np.ndarray] | None
    keep_val: tuple[np.ndarray, np.ndarray] | None


def rectify_sets(mode: str, text_x: np.ndarray, text_y: np.ndarray, in_slice: np.ndarray, held: np.ndarray,
                 images: tuple[np.ndarray, np.ndarray] | None = None,
                 images_val: tuple[np.ndarray, np.ndarray] | None = None) -> RectifySets:
    """Assemble the training and selection sets of one rectification.

    The targeted slices' prompts train on templates not ``held`` and select on those held out
    (on all their prompts when no template is held out). ``replay`` replays ``images`` (their
    validation split selects); ``balanced`` replays the text of every combination outside the
    held-out templates; ``text`` adds nothing.

    Example:
        >>> x = np.eye(4, dtype=np.float32); y = np.array([0, 1, 0, 1])
        >>> sets = rectify_sets("balanced", x, y, np.array([1, 1, 0, 0], bool), np.array([0, 1, 0, 1], bool))
        >>> len(sets.slice_text[0]), len(sets.slice_text_val[0]), len(sets.replay[0]), len(sets.keep_val[0])
        (1, 1, 2, 2)
    """
    check_mode(mode)
    any_held = bool(held.any())
    train_rows = in_slice & ~held
    val_rows = in_slice & held if any_held else in_slice
    if not train_rows.any():
        raise InputError("The chosen slices have no prompts to train on outside the held-out templates. "
                         "Fix: add templates, or pass holdout=0.")
    replay = keep_val = None
    if mode == "replay":
        if images is None:
            raise InputError("Mode 'replay' needs the training images' embeddings and labels. "
                             "Fix: give the table a 'split' column with train rows, or use mode='balanced'.")
        replay, keep_val = images, images_val
    elif mode == "balanced":
        replay = (text_x[~held], text_y[~held])
        keep_val = (text_x[held], text_y[held]) if any_held else None
    return RectifySets((text_x[train_rows], text_y[train_rows]), (text_x[val_rows], text_y[val_rows]),
                       replay, keep_val)


def _checked(pair, head: Head, name: str) -> tuple[np.ndarray, np.ndarray]:
    emb, labels = pair
    emb = check_embeddings(emb, f"{name} embeddings", dim=head.dim)
    return emb, check_labels(labels, len(emb), head.n_classes, f"{name} labels")


def before_after(before: pd.DataFrame, after: pd.DataFrame, by: list[str], score: str,
                 targeted: list[dict]) -> pd.DataFrame:
    """Join slice scores before and after, with the change and whether the slice was targeted."""
    merged = before.merge(after[by + [score]], on=by, suffixes=("_before", "_after"))
    merged["delta"] = merged[f"{score}_after"] - merged[f"{score}_before"]
    keys = {tuple(str(s[k]) for k in by) for s in targeted}
    merged["targeted"] = [tuple(str(v) for v in row) in keys for row in merged[by].itertuples(index=False)]
    return merged.sort_values(f"{score}_before").reset_index(drop=True)

