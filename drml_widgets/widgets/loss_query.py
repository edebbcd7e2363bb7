"""LossQuery: ask LLM2Loss in words how the classifier would do, on the loss scale of held-out images."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import traitlets as t

from ..errors import InputError
from ..methods.clip_reads import poorly_read
from ..methods.llm2loss import HeldOutScale
from .base import SessionWidget
from .result_view import json_records

MAX_SENTENCE = 500      # characters; a longer "sentence" is refused before it reaches the encoder
MAX_ANSWERS = 20        # answers kept on screen, newest first
HELD_OUT = 0.2          # share of the evaluated images held out when the view fits the predictor itself
# A sentence less familiar to the in-distribution classifier than all but this share of the
# domain's own sentences (the reference texts the predictor closed the gap with) is outside it.
FAMILIAR_SHARE = 0.01
OUTSIDE = "outside what the model was trained to judge"


class LossQuery(SessionWidget):
    """Type a sentence; get the classifier's estimated loss on such images, by LLM2Loss.

    Both of LLM2Loss's estimates (the regressor's, in loss units, and the ranker's, on a scale of
    its own) are put on one scale, the loss of images the predictor never trained on
    (:class:`~drml_widgets.methods.llm2loss.HeldOutScale`); the one whose order holds up
    better on those images leads, and the view says which and why. Beside each answer stands the
    actual mean loss of the held-out images whose attributes the sentence names. A chart sets the
    estimate from each slice's prompts beside its actual held-out loss.

    Each answer also says whether the sentence is one the predictor can judge: LLM2Loss's
    in-distribution classifier scores it (``in_distribution``, a logit), and a sentence scoring
    below ``familiar_cutoff`` (the score all but 1% of the domain's own sentences reach) is
    ``outside`` what the model was trained to judge. An estimate whose range reaches the end of
    the held-out scale is ``beyond`` it (``"above"`` or ``"below"``): the scale can say no more
    than that.

    Types of ``by`` that the session's CLIP reads poorly are named in ``caveats`` (a caution line
    in the page) and a warning: the slices' estimates come from text CLIP does not ground in images.

    Without ``llm``, the view fits one (``session.loss_predictor``) on 80% of the evaluated images
    and holds out the rest; with ``llm``, pass ``held_out``: rows of images it never trained on.

    Example:
        >>> from drml_widgets.session import Session
        >>> q = LossQuery(Session.from_shapes_world(n=1200, ensemble=False), by=["color", "shape"],
        ...               members=2, epochs=5)
        >>> answer = q.ask("a small green triangle.")
        >>> answer["lead"] == q.lead, answer["loss_low"] <= answer["loss"] <= answer["loss_high"]
        (True, True)
        >>> len(q.slices), q.answers[0]["matching"]["n_images"] > 0, answer["outside"]
        (12, True, False)
    """

    _bundle = "loss_query"
    _plots = True
    sentence = t.Unicode("", help="the last sentence asked; set it (here or in the page) to ask").tag(sync=True)
    examples = t.List(t.Unicode(), help="sentences offered as examples to ask about").tag(sync=True)
    answers = t.List(t.Dict(), help="the answers, newest first: each sentence's estimated loss, "
                                    "its range and the matching images' loss").tag(sync=True)
    pair = t.Dict(help="the two newest sentences compared by the leading model").tag(sync=True)
    lead = t.Unicode("", help="the model whose estimates lead: "
                              "the one whose order holds up better on held-out images").tag(sync=True)
    lead_reason = t.Unicode("", help="one line on why the lead leads").tag(sync=True)
    check = t.List(t.Dict(), help="per model, how well its estimates order the held-out images' actual loss").tag(sync=True)
    by = t.List(t.Unicode(), help="the attribute types the slices are made of").tag(sync=True)
    slices = t.List(t.Dict(), help="the estimated loss of each slice's prompts, "
                                   "beside its held-out images' actual loss").tag(sync=True)
    familiar_cutoff = t.Float(None, allow_none=True, help="the in-distribution score below which a sentence is "
                                                          "outside what the model was trained to judge").tag(sync=True)
    familiar_from = t.Unicode("", help="one line on how familiar_cutoff was calibrated").tag(sync=True)
    n_held_out = t.Int(0, help="how many held-out images the answers are scaled and checked on").tag(sync=True)
    stale = t.Unicode("", help="why the answers may no longer describe the classifier ('' when they do)").tag(sync=True)
    caveats = t.List(t.Unicode(), help="one line per slicing type the session's CLIP reads poorly "
                                       "(or value it misreads): estimates from text naming it are not grounded "
                                       "in images ([] when it reads them all)").tag(sync=True)

    def __init__(self, session, llm=None, held_out=None, by=None, examples=(), **fit_options):
        self._llm, self._held_arg, self._fit_options = llm, held_out, fit_options
        if llm is not None and held_out is None:
            raise InputError("LossQuery got a fitted predictor but no held_out rows. Fix: pass held_out= the rows "
                             "of the session's images it never trained on (their loss is the scale of the answers).")
        types = [c for c in session.attributes.types if c in session.table.columns]
        by = list(by) if by is not None else types
        unknown = [c for c in by if c not in types]
        if unknown:
            raise InputError(f"LossQuery cannot slice by {unknown}: the session's image attributes are {types}. "
                             "Fix: pass by= some of those.")
        caveats = poorly_read(session.view, by, "slices")
        super().__init__(session, by=by, examples=[str(e) for e in examples], caveats=caveats)
        self._handlers["ask"] = self._ask_message

    # -- fitting and the held-out scale ----------------------------------------------------------
    def refresh(self, event: str) -> None:
        if event == "init":
            self._fit()
        elif event == "head" and self.session.model is None:  # the losses are the head's: they changed
            self.stale = ("The head changed since these estimates were made: they describe the loss of the head "
                          "they were fitted on. Call refit() for the current head.")
        elif event == "prompts":
            self._slices()

    def refit(self) -> None:
        """Fit the predictor again on the current classifier's losses (after a head change)."""
        self._llm = None
        with self.hold_sync():
            self._fit()
            self.answers, self.pair, self.stale = [], {}, ""

    def _fit(self) -> None:
        s = self.session
        losses = s.image_losses()
        if self._llm is None:
            evaluated = s.view.rows_of("test")
            order = np.random.default_rng(s.seed).permutation(evaluated)
            n_held = max(10, int(round(HELD_OUT * len(order))))
            held, fit = np.sort(order[:n_held]), np.sort(order[n_held:])
            with self._long_work(f"fitting LLM2Loss on {len(fit)} images"):
                self._llm = s.fit_loss_predictor(rows=fit, **self._fit_options)
        else:
            held = np.asarray(self._held_arg)
            if held.dtype == bool:
                held = np.flatnonzero(held)
            if held.ndim != 1 or len(held) == 0 or held.min() < 0 or held.max() >= len(s.table):
                raise InputError(f"held_out must be row numbers (or a mask) of the session's {len(s.table)} images.")
        self._held, self._losses = held, losses
        self._calibrate()
        self._slices()
        self.n_held_out, self.status = len(held), ""

    def _calibrate(self) -> None:
        """The familiarity cut-off from the classifier's scores of the domain's own sentences: the
        reference texts the predictor closed the gap with (else the session's prompts). The
        classifier never trained on them, so they show what an in-domain sentence scores."""
        texts = self._llm.info.get("reference_texts") or self.session.prompts["prompt"].tolist()
        scores = self._llm.estimate(texts)["in_distribution"].to_numpy()
        self.familiar_cutoff = float(np.quantile(scores, FAMILIAR_SHARE))
        self.familiar_from = (f"A sentence whose in-distribution score is below {self.familiar_cutoff:.3f} (the score "
                              f"{1 - FAMILIAR_SHARE:.0%} of the domain's {len(texts):,} own sentences reach) is {OUTSIDE}.")

    def _slices(self) -> None:
        s, held = self.session, self._held
        prompts = s.prompts if all(c in s.prompts.columns for c in self.by) else None
        table = s.table.iloc[held]
        self._scale = HeldOutScale.fit(self._llm, s.image_emb[held], self._losses[held], prompts=prompts,
                                       table=table, by=self.by)
        self.lead, self.lead_reason = self._scale.lead, self._scale.lead_reason()
        self.check = json_records(self._scale.check)
        if prompts is None:
            self.slices = []
            return
        frame = self._scale.slices(self._llm, prompts, table, self._losses[held], self.by)
        frame.insert(0, "name", frame[self.by].astype(str).agg(" ".join, axis=1))
        self.slices = json_records(frame.drop(columns=self.by))

    # -- asking ----------------------------------------------------------------------------------
    @t.validate("sentence")
    def _valid_sentence(self, proposal) -> str:
        text = " ".join(str(proposal["value"]).split())
        if len(text) > MAX_SENTENCE:
            raise t.TraitError(f"That sentence has {len(text):,} characters; LossQuery reads at most {MAX_SENTENCE}. "
                               "Fix: describe the images in a short sentence.")
        return text

    @t.observe("sentence")
    def _asked(self, change) -> None:
        if self._ready and change["new"]:
            self._answer(change["new"])

    def _ask_message(self, content, _buffers):
        text = content.get("sentence")
        if not isinstance(text, str) or not text.strip():
            raise InputError("Type a sentence to ask about, e.g. 'a small green triangle.'")
        self.set_state({"sentence": text})  # validated; a refused sentence is undone and explained
        return None

    def ask(self, sentence: str) -> dict:
        """Ask about one sentence; returns its answer (also first in ``answers``)."""
        self.sentence = ""  # asking the same sentence again answers again
        self.sentence = sentence
        return self.answers[0]

    def _answer(self, text: str) -> None:
        row = json_records(self._scale.answer(self._llm, [text]))[0]
        row["in_distribution"] = float(self._llm.estimate(text)["in_distribution"].iloc[0])
        row["outside"] = row["in_distribution"] < self.familiar_cutoff
        held = self._losses[self._held]  # the range ends where the quantile map is clipped: the scale's ends
        row["beyond"] = "above" if row["loss_high"] >= held.max() else "below" if row["loss_low"] <= held.min() else ""
        row["matching"] = self._matching(text)
        kept = [a for a in self.answers if a["text"] != text]
        with self.hold_sync():
            self.answers = [row, *kept][:MAX_ANSWERS]
            if len(self.answers) >= 2:
                a, b = self.answers[1]["text"], self.answers[0]["text"]
                cmp = self._llm.compare(a, b, model=self.lead).iloc[0]
                self.pair = {"a": a, "b": b, "p_a_harder": float(cmp["p_a_harder"]),
                             "agreement": float(cmp["agreement"]), "model": self.lead}
            self.status = ""

    def _matching(self, text: str) -> dict:
        """The held-out images whose attributes the sentence names (whole words), and their mean
        actual loss; several values of one type match any of them."""
        s, lower = self.session, text.lower()
        named = {}
        for kind in self.by:
            values = [v for v in s.attributes.values[kind] if any(
                re.search(rf"(?<!\w){re.escape(w.lower())}(?!\w)", lower) for w in {v, s.attributes.phrase(kind, v)})]
            if values:
                named[kind] = values
        if not named:
            return {"named": {}, "n_images": 0, "actual_loss": None}
        table = s.table.iloc[self._held]
        mask = np.logical_and.reduce([table[k].astype(str).isin(v).to_numpy() for k, v in named.items()])
        losses = self._losses[self._held][mask]
        return {"named": named, "n_images": int(mask.sum()),
                "actual_loss": float(losses.mean()) if len(losses) else None}

    # -- Python side -----------------------------------------------------------------------------
    @property
    def table(self) -> pd.DataFrame:
        """The answers as a DataFrame, newest first."""
        rows = [{**{k: v for k, v in a.items() if k != "matching"}, "matching_images": a["matching"]["n_images"],
                 "actual_loss": a["matching"]["actual_loss"]} for a in self.answers]
        return pd.DataFrame(rows)

    @property
    def predictor(self):
        """The LLM2Loss ensembles the view asks (fitted here unless given)."""
        return self._llm

    @property
    def held_out(self) -> np.ndarray:
        """Rows of the session's images the predictor never trained on (the answers' scale)."""
        return self._held.copy()

    @property
    def scale(self) -> HeldOutScale:
        """The held-out scale the answers are on."""
        return self._scale

