"""LLM2Loss's two estimates of a sentence's loss on one scale: the loss of held-out images.

The regressor answers in loss units, the ranker on a scale of its own where only differences mean
something. Read side by side they seem to contradict each other: on the shapes world's CNN, "a
large orange triangle." got the highest estimated loss of four sentences and the lowest ranker
score, while the black box's mean loss on orange triangles is about 0.1. Two things are at work.
The scales differ, so the numbers cannot be compared at all. And the models differ: the
regressor's squared error is dominated by the few images with very large losses, so it learns how
large the worst losses are but orders the rest less well, while the ranker learns the order only.

:class:`HeldOutScale` maps each member's score, by quantiles, onto the losses of images the heads
never trained on: a score above a share q of the held-out images' scores (by that member) means
the held-out loss at quantile q. The map keeps each model's order, so it changes no correlation.
Then both estimates are losses of the same images, and the model whose order holds up best on the
held-out images (per slice from text when prompts are given, else per image) leads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from ...errors import LLM2LossError
from ..blackbox import check_losses
from .ensemble import LLM2Loss
from .results import correlations

MODELS = ("regressor", "ranker")


def _percentiles(reference: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per member (rows), the share of its sorted ``reference`` scores below each score (ties halved)."""
    return np.stack([(np.searchsorted(r, s, "left") + np.searchsorted(r, s, "right")) / (2 * len(r))
                     for r, s in zip(reference, scores)])


@dataclass(repr=False)
class HeldOutScale:
    """Quantile maps from each model's scores to the loss of held-out images, and which model's
    order holds up best there (``lead``). Build it with :meth:`fit`.

    ``check`` has per model the Spearman correlation with the actual loss per image and, when
    slices were given, per slice from text (the order a sentence's answer relies on).

    Example:
        >>> from drml_widgets.methods.llm2loss import fit_loss_predictor
        >>> rng = np.random.default_rng(0)
        >>> emb = rng.normal(size=(300, 8)).astype(np.float32)
        >>> axis = np.eye(8, dtype=np.float32)[0]
        >>> encode = lambda texts: np.stack([axis if t == "hard" else -axis for t in texts])
        >>> llm = fit_loss_predictor(emb[:200], np.exp(emb[:200, 0]), encode, members=2, epochs=5)
        >>> scale = HeldOutScale.fit(llm, emb[200:], np.exp(emb[200:, 0]))
        >>> scale.lead in MODELS, scale.answer(llm, ["hard", "easy"])["loss"].is_monotonic_decreasing
        (True, True)
    """

    reference: dict[str, np.ndarray]  # model -> (members, n) sorted held-out scores per member
    losses: np.ndarray                # the held-out images' losses
    check: pd.DataFrame
    lead: str

    @classmethod
    def fit(cls, llm: LLM2Loss, image_emb, losses, *, prompts: pd.DataFrame | None = None,
            table: pd.DataFrame | None = None, by: Sequence[str] | None = None) -> "HeldOutScale":
        """Scores of held-out images (``image_emb``, their ``losses``) by every member; with
        ``prompts``, ``table`` (one row per held-out image) and ``by``, the per-slice check too."""
        y = check_losses(losses, len(image_emb))
        if len(y) < 10:
            raise LLM2LossError(f"Putting estimates on the held-out loss scale needs at least 10 held-out images; "
                                f"got {len(y)}. Fix: hold out more images (a fifth of a few hundred or more).")
        scores = {m: llm.member_image_scores(image_emb, m) for m in MODELS}
        rows = []
        for m in MODELS:
            row = {"model": m, "spearman_images": correlations(scores[m].mean(0), y)["spearman"]}
            if prompts is not None:
                row["spearman_slices_from_text"] = llm.text_slices(prompts, table, y, by, model=m).spearman
            rows.append(row)
        check = pd.DataFrame(rows)
        key = "spearman_slices_from_text" if prompts is not None else "spearman_images"
        ranked = check.assign(_key=check[key].fillna(-np.inf)).sort_values("_key", ascending=False, kind="stable")
        return cls({m: np.sort(s, axis=1) for m, s in scores.items()}, y, check, str(ranked["model"].iloc[0]))

    @property
    def criterion(self) -> str:
        """What decided the lead: per slice from text, or per image."""
        return "per slice from text" if "spearman_slices_from_text" in self.check else "per image"

    def lead_reason(self) -> str:
        """One sentence: which estimate leads and why (the held-out Spearman of both models)."""
        key = "spearman_slices_from_text" if "spearman_slices_from_text" in self.check else "spearman_images"
        rho = self.check.set_index("model")[key]
        other = next(m for m in MODELS if m != self.lead)
        how = "better than" if rho[self.lead] > rho[other] else "as well as"  # a tie keeps the regressor
        return (f"The {self.lead} leads: its order holds up {how} the {other}'s on held-out images ({self.criterion}: "
                f"Spearman {rho[self.lead]:.3f}, against {rho[other]:.3f}).")

    def to_loss(self, model: str, member_scores: np.ndarray) -> pd.DataFrame:
        """``(members, n)`` scores of one model as held-out losses: ``percentile`` (mean over
        members), ``loss`` (the held-out loss at that quantile) and ``loss_low``/``loss_high``
        (at the mean percentile minus/plus the members' standard deviation)."""
        if model not in self.reference:
            raise LLM2LossError(f"Unknown model {model!r}; choose one of {list(MODELS)}.")
        pct = _percentiles(self.reference[model], np.asarray(member_scores))
        q, sd = pct.mean(axis=0), pct.std(axis=0)
        at = lambda p: np.quantile(self.losses, np.clip(p, 0.0, 1.0))  # noqa: E731
        return pd.DataFrame({"percentile": q, "loss": at(q), "loss_low": at(q - sd), "loss_high": at(q + sd)})

    def answer(self, llm: LLM2Loss, texts: str | Sequence[str]) -> pd.DataFrame:
        """Each sentence's estimated loss by the leading model (``loss`` with ``loss_low``/
        ``loss_high`` from the members' spread, ``percentile`` among held-out images), the same
        for every model (``regressor_loss``, ``ranker_percentile``, ...), the ranker's raw score
        and whether the two models agree (their percentiles within a quarter of each other)."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        per = {m: self.to_loss(m, llm.member_scores(texts, m)) for m in MODELS}
        out = pd.DataFrame({"text": texts, "lead": self.lead}).join(per[self.lead])
        for m in MODELS:
            out[f"{m}_loss"], out[f"{m}_percentile"] = per[m]["loss"], per[m]["percentile"]
        out["rank_score"] = llm.member_scores(texts, "ranker").mean(axis=0)
        out["agree"] = (per["regressor"]["percentile"] - per["ranker"]["percentile"]).abs() <= 0.25
        return out

    def slices(self, llm: LLM2Loss, prompts: pd.DataFrame, table: pd.DataFrame, losses,
               by: Sequence[str]) -> pd.DataFrame:
        """Per slice (``by`` columns of ``prompts`` and ``table``): the leading model's loss
        estimated from the slice's prompts (mean member score over them, then mapped), beside
        the actual mean loss and number of the held-out images in it (``table``, ``losses``)."""
        by = list(by)
        missing = [c for c in by if c not in prompts.columns or c not in table.columns]
        if missing:
            raise LLM2LossError(f"Slice columns {missing} are missing from the prompts or image table. "
                                "Fix: pass by= columns both have.")
        y = check_losses(losses, len(table))
        scores = pd.DataFrame(llm.member_scores(prompts["prompt"].tolist(), self.lead).T)
        per_slice = prompts[by].reset_index(drop=True).join(scores).groupby(by, observed=True).mean()
        estimated = self.to_loss(self.lead, per_slice.to_numpy().T).set_index(per_slice.index)
        actual = table[by].reset_index(drop=True).assign(actual=y).groupby(by, observed=True)["actual"].agg(
            ["mean", "size"]).rename(columns={"mean": "actual_loss", "size": "n_images"})
        return estimated.join(actual, how="left").reset_index().sort_values("loss", ascending=False,
                                                                            ignore_index=True)

    def __repr__(self) -> str:
        return f"HeldOutScale({len(self.losses)} held-out images, lead={self.lead!r}, {self.criterion})"
