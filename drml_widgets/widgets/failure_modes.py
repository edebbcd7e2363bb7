"""FailureModes: PRIME's failure modes (paper 001) as a sortable table; a row click shows the
mode's tags and its images."""

from __future__ import annotations

import numpy as np
import pandas as pd
import traitlets as t

from ..errors import InputError
from ..methods.prime import PrimeResult
from ..session import Session
from .result_view import ImageRows, ResultView, checked_images, json_records

NUMBERS = ("n_tags", "n_images", "accuracy", "class_accuracy", "drop", "min_gain")
HELD_OUT = ("heldout_images", "heldout_accuracy", "heldout_drop", "holds")


class FailureModes(ResultView):
    """PRIME's failure modes: minimal tag sets of a class whose images the model gets wrong
    much more often than the rest of the class, with support, accuracy, drop and, where images
    were kept aside, whether each mode holds on them.

    From a Session, ``FailureModes(session, held_out=0.5, s=30, ...)`` runs
    :meth:`~drml_widgets.session.Session.find_failure_modes` (options go there) and runs it again
    when the head changes. From a :class:`~drml_widgets.methods.prime.PrimeResult`, pass the
    ``images`` it searched (same order) for thumbnails and ``heldout`` (a
    :func:`~drml_widgets.methods.prime.generalisation` table) for the held-out columns.
    Sorting and filtering happen in the browser; a click sets ``focus`` (a mode's key, its row
    label in :attr:`table` as text).

    Example:
        >>> from drml_widgets.session import Session
        >>> view = FailureModes(Session.from_shapes_world(n=1200, ensemble=False), s=10)
        >>> len(view.modes), view.modes[0]["tags"], view.modes[0]["holds"]
        (3, ['orange'], True)
        >>> view.table.columns[:4].tolist()
        ['class', 'tags', 'n_tags', 'n_images']
    """

    _bundle = "failure_modes"
    modes = t.List(t.Dict(), help="one row per failure mode: its class, tags, numbers, "
                                  "held-out check and embedded thumbnails").tag(sync=True)
    params = t.Dict(help="the PRIME settings the modes were searched with (s, a, l, search, ...)").tag(sync=True)
    summary = t.Unicode("", help="one line: how many modes, and how they were searched").tag(sync=True)
    heldout_note = t.Unicode("", help="one line on whether the modes hold on images kept aside").tag(sync=True)
    version = t.Int(0, help="the session's head version the modes were found on (0 for a result alone)").tag(sync=True)

    def __init__(self, source, *, images=None, heldout: pd.DataFrame | None = None, held_out: float = 0.5, **options):
        self._result: PrimeResult | None = None
        self._heldout = heldout
        if isinstance(source, PrimeResult):
            if options:
                raise InputError(f"Options {sorted(options)} apply when the view runs PRIME on a Session; this result "
                                 "is already computed. Fix: pass them to find_failure_modes, or pass the Session.")
            self._result = source
            self._given_images = checked_images(images, len(source.tags), "images PRIME searched (rows of its tags)")
            session = None
        elif isinstance(source, Session):
            if images is not None or heldout is not None:
                raise InputError("A Session brings its own images and held-out check (held_out=, a share). "
                                 "Fix: leave out images= and heldout=, or pass a PrimeResult.")
            self._options = {"held_out": held_out, **options}
            session = source
        else:
            raise InputError(f"FailureModes shows a Session's failure modes or a PrimeResult; got {type(source).__name__}. "
                             "Fix: FailureModes(session) or FailureModes(find_failure_modes(...), images=...).")
        super().__init__(session)

    def refresh(self, event: str) -> None:
        if event == "prompts":
            return  # PRIME reads tags and predictions, not the prompts
        s = self.session
        if s is not None:
            if s.head is None and s.model is None:
                self.modes, self.status = [], "No classifier yet: call session.train_head()."
                return
            with self._long_work("searching for failure modes"):
                self._result = s.find_failure_modes(**self._options)
            self._heldout = self._result.heldout
            self._images = None if s.images is None else ImageRows(s.images, self._result.rows)
            self.version = s.version
        else:
            self._images = None if self._given_images is None else ImageRows(self._given_images)
        self._show(self._result)

    def _show(self, result: PrimeResult) -> None:
        frame = self.table
        self._groups = {str(i): result.members(i) for i in frame.index}
        worst_first = [str(i) for i in frame.sort_values("drop", ascending=False, kind="stable").index]
        spans = self._embed(worst_first, "modes")
        rows = []
        for (i, row), record in zip(frame.iterrows(), json_records(frame)):
            tags = [str(x) for x in row["tags"]]
            record.update(key=str(i), tags=tags, values={"class": str(row["class"]), "tags": " + ".join(tags)},
                          thumbs=spans[str(i)])
            record.pop("class")
            rows.append(record)
        self.modes = rows
        p = result.params
        self.params = {k: (v if not isinstance(v, dict) else {str(a): b for a, b in v.items()}) for k, v in p.items()}
        self.summary = (f"{len(rows)} failure modes; {p['search']} search over {result.n_evaluated:,} tag sets of up to "
                        f"{p['l']} tags, groups of at least {p['s']} images, accuracy at least {p['a']} below the class's")
        self.heldout_note = self._heldout_note()
        if self.focus not in self._groups:
            self.focus = ""
        self.status = ""

    def _heldout_note(self) -> str:
        held = self._heldout
        if held is None:
            return "No images were kept aside, so the modes are not checked on held-out images."
        if not len(held):
            return "Held-out check: no modes to check."
        n_hold = int(held["holds"].sum())
        return (f"Held out: {n_hold} of {len(held)} modes still lose at least a={self._result.params['a']} "
                f"accuracy on images kept aside ({int(held['heldout_images'].sum()):,} images in their groups).")

    # -- Python side ---------------------------------------------------------------------------
    @property
    def result(self) -> PrimeResult:
        """The PRIME result shown."""
        return self._result

    @property
    def table(self) -> pd.DataFrame:
        """The modes shown, with the held-out columns where images were kept aside."""
        modes = self._result.modes
        held = self._heldout
        if held is None:
            return modes.copy()
        if len(held) != len(modes) or list(held["tags"]) != list(modes["tags"]):
            raise InputError("heldout does not list this result's modes in its order. Fix: pass "
                             "generalisation(result, held_tags, held_predictions, held_labels) of this result.")
        return modes.join(held[list(HELD_OUT)])

    @property
    def focus_rows(self) -> np.ndarray:
        """Positions (in the searched images) of the focused mode's images; empty without a focus."""
        return self._groups.get(self.focus, np.zeros(0, np.int64))
