"""RectifyPanel: rectify the head on chosen slices, with progress, before/after, undo and redo."""

from __future__ import annotations

import pandas as pd
import traitlets as t

from ..diagnose.rectify import MODES
from ..diagnose.validate import MAX_EPOCHS, check_number, check_whole
from ..errors import InputError
from .base import OneOf, SessionWidget


class RectifyPanel(SessionWidget):
    """Train the head on the text of the chosen slices (``session.rectify``), in the kernel's main
    thread, with progress in the ``progress`` trait; then before/after per slice, Undo and Redo.

    Slices come from a linked :class:`SliceTable` (its ticked rows) or are set from Python.

    Example:
        >>> from drml_widgets.session import Session
        >>> s = Session.from_shapes_world(n=1200, ensemble=False)
        >>> panel = RectifyPanel(s, slices=[{"color": "green", "shape": "triangle"}], epochs=3)
        >>> panel.run().version, panel.version, panel.can_undo
        (1, 1, True)
        >>> panel.undo(), panel.version, panel.can_redo
        (0, 0, True)
    """

    _bundle = "rectify_panel"
    _plots = True
    slices = t.List(t.Dict(), help="the slices to rectify, as {type: value} dicts; "
                                   "set them (or tick rows of a linked table) to choose").tag(sync=True)
    mode = OneOf(MODES, "replay", help="how the head is trained: 'replay', 'balanced' or 'text'; "
                                       "set it before rectifying").tag(sync=True)
    epochs = t.Int(50, help="how many epochs rectification trains for; set it before rectifying").tag(sync=True)
    lr = t.Float(1e-3, help="the learning rate of rectification; set it before rectifying").tag(sync=True)
    version = t.Int(0, help="the session's current head version").tag(sync=True)
    can_undo = t.Bool(False, help="whether there is an earlier head version to go back to").tag(sync=True)
    unavailable = t.Unicode("", help="why rectification does not apply to this session ('' when it does)").tag(
        sync=True)
    can_redo = t.Bool(False, help="whether there is a later head version to go forward to").tag(sync=True)
    history = t.List(t.Dict(), help="every head version: its number, what made it and whether it is current").tag(sync=True)
    result = t.Dict(help="the last rectification: the slices it targeted, its epochs, the head versions before and "
                         "after, before and after per slice, and a summary").tag(sync=True)

    def __init__(self, session, table=None, slices=(), **kwargs):
        super().__init__(session, slices=list(slices), **kwargs)
        self._handlers.update(rectify=lambda c, b: self.run(), undo=lambda c, b: self.undo(), redo=lambda c, b: self.redo())
        self._table = table
        if table is not None:
            table.observe(self._follow_table, "selected")
            self.slices = table.selected_slices

    # Checked when set, as session.rectify checks them, so a bad value typed in the page is refused
    # there and then (shown in the status, the last good one kept), not at the next run.
    @t.validate("epochs")
    def _check_epochs(self, proposal) -> int:
        return check_whole(proposal["value"], "epochs", 1, MAX_EPOCHS, "a few dozen epochs is plenty for a head",
                           t.TraitError)

    @t.validate("lr")
    def _check_lr(self, proposal) -> float:
        return check_number(proposal["value"], "lr", 0, 1, "use e.g. 1e-3", t.TraitError, open_lo=True)

    def _follow_table(self, _change) -> None:
        self.slices = self._table.selected_slices

    def refresh(self, event: str) -> None:
        s = self.session
        name = s.view.model_name
        self.unavailable = "" if name is None else f"{name} is known by its outputs; retraining its surrogate would not change it"
        if s.versions is None:
            self.status = "No head yet: call session.train_head()."
            return
        self.version = s.version
        self.can_undo, self.can_redo = s.versions.can_undo, s.versions.can_redo
        self.history = s.versions.table().to_dict("records")
        if event == "init" and s.last_rectify is not None:  # a panel made after a rectification shows it
            self.result = _result_record(s.last_rectify, s.attributes.types)
        if event == "prompts":
            self.result = {}

    # -- actions (also called by the front end's buttons) --------------------------------------
    def run(self):
        """Rectify the chosen slices now; returns the session's ``RectifyResult``."""
        if not self.slices:
            raise InputError("No slices to rectify. Fix: tick rows in the slice table, or set panel.slices.")
        with self._long_work(f"rectifying {len(self.slices)} slice(s)"):
            self.progress = 0.0
            result = self.session.rectify(self.slices, mode=self.mode, epochs=self.epochs, lr=self.lr,
                                          progress=self._progress)
        with self.hold_sync():
            self.result = _result_record(result, self.session.attributes.types)
            self.progress = 1.0
            self.status = f"done: head version {result.version} (best epoch {result.best_epoch})"
        return result

    def _progress(self, epoch: int, epochs: int) -> None:
        # Each assignment goes out on the comm at once: the front end's bar moves while we train.
        self.progress = epoch / max(1, epochs)
        self.status = f"rectifying {len(self.slices)} slice(s): epoch {epoch}/{epochs}"

    def undo(self) -> int:
        """Go back one head version; every widget bound to the session refreshes."""
        version = self.session.undo()
        self.status = f"undone: head version {version}"
        return version

    def redo(self) -> int:
        """Go forward one head version."""
        version = self.session.redo()
        self.status = f"redone: head version {version}"
        return version


def _result_record(result, types) -> dict:
    """Before/after of every slice as JSON-ready rows, targeted slices first, with the result's
    advice (the untargeted slices it costs over their bound, why images did not follow their text, and what to try)."""
    by = [k for k in types if k in result.text.columns]
    frame = result.text[by + ["text_prob_before", "text_prob_after", "targeted"]]
    if result.image is not None:
        frame = frame.merge(result.image[by + ["image_acc_before", "image_acc_after"]], on=by, how="left")
    frame = frame.sort_values(["targeted", "text_prob_before"], ascending=[False, True])
    rows = []
    for r in frame.to_dict("records"):
        row = {"name": " ".join(str(r[k]) for k in by), "targeted": bool(r["targeted"])}
        for key in ("text_prob_before", "text_prob_after", "image_acc_before", "image_acc_after"):
            v = r.get(key)
            row[key] = None if v is None or pd.isna(v) else float(v)
        rows.append(row)
    hit = [r for r in rows if r["targeted"] and r["image_acc_before"] is not None]
    targets = [" ".join(str(v) for v in s.values()) for s in result.slices]
    summary = ""
    if hit:
        before = sum(r["image_acc_before"] for r in hit) / len(hit)
        after = sum(r["image_acc_after"] for r in hit) / len(hit)
        others = [r["image_acc_after"] - r["image_acc_before"] for r in rows if not r["targeted"] and r["image_acc_before"] is not None]
        summary = (f"Targeted slices ({', '.join(targets)}): image accuracy {before:.3f} \u2192 {after:.3f}. "
                   f"Largest drop elsewhere: {max([0.0] + [-d for d in others]):.3f}. "
                   f"Mode {result.mode}, best epoch {result.best_epoch}.")
    # A new version follows the one it was made from (HeadVersions.commit drops any redo branch).
    epochs = int(result.history["epoch"].max()) if len(result.history) else 0
    done = (f"Rectified {', '.join(targets)} (mode {result.mode}, {epochs} epochs, best epoch {result.best_epoch}): "
            f"head version {result.version - 1} \u2192 {result.version}.")
    return {"version": result.version, "from_version": result.version - 1, "mode": result.mode, "targets": targets,
            "epochs": epochs, "done": done, "rows": rows, "summary": summary, "advice": result.costs() + result.advice()}
