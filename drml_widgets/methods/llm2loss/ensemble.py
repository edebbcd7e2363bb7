"""LLM2Loss's ensembles: :func:`fit_loss_predictor` fits the loss regressor, the pairwise ranker and the
in-distribution classifier to a black box's per-image loss; :class:`LLM2Loss` holds them and
answers questions asked in words."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from ..._common import deprecated_alias, random_units, row_chunks, text_encoder
from ...diagnose.gap import GapCloser
from ...diagnose.heads import Head, build_module, fit_module, train_head
from ...diagnose.validate import check_embeddings, check_number, check_training, check_whole
from ...errors import LLM2LossError
from ...results import Finding, Result
from ..blackbox import check_losses
from .results import LossEvaluation, SliceLoss, check_model, correlations

# Below this many images a held-out fifth is too small to select epochs on, or to rank pairs.
MIN_IMAGES = 50
# The ranker's validation loss uses every pair among at most this many held-out images
# (all pairs of thousands would cost more than the training itself).
MAX_RANK_VAL = 512
# Each member trains three heads; the ensemble's spread is steady long before this, only the time grows.
MAX_MEMBERS = 100
# Far wider than the CLIP features a head reads (512 to 1024); wider only makes the weights large.
MAX_HIDDEN = 4096


def _pairwise_bce(scores, target):
    """Eq. 2: mean BCE of ``sigmoid(h_i - h_j)`` against ``l_i > l_j`` over every pair in the
    batch whose losses differ."""
    import torch.nn.functional as F

    unequal = target[:, None] != target[None, :]
    if not unequal.any():
        return scores.sum() * 0.0
    diff = scores[:, None] - scores[None, :]
    harder = (target[:, None] > target[None, :]).float()
    return F.binary_cross_entropy_with_logits(diff[unequal], harder[unequal])


def _mse(scores, target):
    return ((scores - target) ** 2).mean()


OBJECTIVES: dict[str, Callable] = {"regressor": _mse, "ranker": _pairwise_bce}


def _fit_scorer(x, target, x_val, target_val, objective: Callable, *, kind: str, hidden: int, epochs: int,
                lr: float, batch_size: int, seed: int):
    """Train one one-output head with Adam, keeping the epoch with the lowest validation objective
    (cross-entropy, ``fit_module``'s default, means nothing for a regression or ranking target).
    The ranker's pairs are every pair within a batch."""
    import torch

    torch.manual_seed(seed)
    module = build_module(kind, x.shape[1], 1, hidden)
    history, best_epoch = fit_module(module, x, target, [(x_val, target_val)], epochs=epochs, lr=lr,
                                     batch_size=batch_size, seed=seed,
                                     criterion=lambda out, t: objective(out[:, 0], t))
    return module, history, best_epoch


@dataclass(repr=False)
class Ensemble:
    """One LLM2Loss model (``regressor`` or ``ranker``): one-output heads, one per seed.

    :meth:`scores` gives one row per member. The regressor's scores are in loss units; the
    ranker's are on its own scale, where only differences mean something:
    ``sigmoid(s_a - s_b)`` is the probability that a is harder than b. ``history`` has every
    member's per-epoch losses, ``best`` marking the epoch it kept.

    Example:
        >>> import torch.nn as nn
        >>> member = nn.Linear(2, 1)
        >>> _ = nn.init.ones_(member.weight), nn.init.zeros_(member.bias)
        >>> Ensemble("regressor", "linear", [member], pd.DataFrame()).scores(np.ones((3, 2), np.float32))
        array([[2., 2., 2.]], dtype=float32)
    """

    model: str
    kind: str
    modules: list
    history: pd.DataFrame
    target_mean: float = 0.0
    target_std: float = 1.0

    def scores(self, x: np.ndarray) -> np.ndarray:
        """``(members, n)`` scores of embeddings ``x`` (already gap-closed if the model is)."""
        import torch

        with torch.no_grad():
            raw = np.stack([np.concatenate([m(torch.from_numpy(x[part]))[:, 0].numpy() for part in row_chunks(len(x))])
                            for m in self.modules])
        return raw * self.target_std + self.target_mean

    def __repr__(self) -> str:
        return f"Ensemble({self.model}, kind={self.kind!r}, members={len(self.modules)})"


@dataclass(repr=False)
class LLM2Loss(Result):
    """The three LLM2Loss ensembles and the text encoder to query them with.

    Build it with :func:`fit_loss_predictor`. With ``gap`` set, image and text embeddings are each
    centred on their own mean before the heads read them (DrML's gap closing), so heads
    trained on images read sentences from the same place.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> emb = rng.normal(size=(200, 8)).astype(np.float32)
        >>> axis = np.eye(8, dtype=np.float32)[0]  # the loss grows along this axis
        >>> encode = lambda texts: np.stack([axis if t == "hard" else -axis for t in texts])
        >>> llm = fit_loss_predictor(emb, np.exp(emb[:, 0]), encode, members=2, epochs=5)
        >>> llm.estimate(["hard", "easy"])[["text", "loss_std"]].shape
        (2, 2)
        >>> llm.compare("hard", "easy")["p_a_harder"].item() > 0.5
        True
        >>> llm.bias("hard")[["a", "b", "worse_off"]].values.tolist()
        [['hard', 'not hard', 'hard']]
    """

    regressor: Ensemble
    ranker: Ensemble
    classifier: list[Head]
    encode: Callable[[list[str]], np.ndarray]
    gap: GapCloser | None = None
    info: dict = field(default_factory=dict)
    _reference_table: pd.DataFrame | None = field(default=None, init=False, repr=False)
    method = "loss_predictor"

    @property
    def table(self) -> pd.DataFrame:
        """:meth:`estimate` of its reference texts, highest estimated loss first (empty without)."""
        texts = list(self.info.get("reference_texts") or [])
        if not texts:
            return pd.DataFrame(columns=["text", "loss", "loss_std"])
        if self._reference_table is None:  # estimated once: a few ensemble passes
            self._reference_table = self.estimate(texts).sort_values("loss", ascending=False).reset_index(drop=True)
        return self._reference_table

    def findings(self) -> list[Finding]:
        """The reference texts, highest estimated loss first (text only: no image is a member)."""
        return [Finding(None, str(r["text"]), float(r["loss"]), "loss") for _, r in self.table.iterrows()]

    # -- reading embeddings -------------------------------------------------------------
    def _prepare(self, emb, modality: str) -> np.ndarray:
        x = check_embeddings(emb, f"{modality} embeddings", dim=self.info["dim"])
        return self.gap.transform(x, modality) if self.gap is not None else x

    def _per_member(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """``(members, n)`` per model; the classifier's is the logit of "seen" over "random"."""
        seen = np.stack([h.logits(x) for h in self.classifier])
        return {"regressor": self.regressor.scores(x), "ranker": self.ranker.scores(x),
                "classifier": seen[..., 1] - seen[..., 0]}

    def _frame(self, x: np.ndarray) -> pd.DataFrame:
        members, cols = self._per_member(x), {}
        for model, name in (("regressor", "loss"), ("ranker", "rank_score"), ("classifier", "in_distribution")):
            cols[name], cols[f"{name}_std"] = members[model].mean(axis=0), members[model].std(axis=0)
        return pd.DataFrame(cols)

    def _texts(self, texts: str | Sequence[str]) -> tuple[list[str], np.ndarray]:
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not texts:
            raise LLM2LossError("No sentences to score. Fix: pass at least one.")
        return texts, self._prepare(self.encode(texts), "text")

    def predict_images(self, image_emb) -> pd.DataFrame:
        """Per image: estimated loss, ranker score and in-distribution logit, each with its
        spread (std) across the ensemble."""
        return self._frame(self._prepare(image_emb, "image"))

    def member_scores(self, texts: str | Sequence[str], model: str = "ranker") -> np.ndarray:
        """``(members, n)``: each member's score of each sentence (loss units for the regressor)."""
        return self._per_member(self._texts(texts)[1])[check_model(model)]

    def member_image_scores(self, image_emb, model: str = "ranker") -> np.ndarray:
        """``(members, n)``: each member's score of each image embedding."""
        return self._per_member(self._prepare(image_emb, "image"))[check_model(model)]

    # -- text queries -------------------------------------------------------------------
    def estimate(self, texts: str | Sequence[str]) -> pd.DataFrame:
        """The black box's estimated loss for each sentence, with its spread across the ensemble.

        Columns: ``text``; ``loss`` and ``loss_std`` (regressor, in loss units); ``rank_score``
        and ``rank_score_std`` (ranker); ``in_distribution`` and its std (the classifier's
        logit: higher means more like the images the heads were trained on).
        """
        texts, x = self._texts(texts)
        return pd.concat([pd.DataFrame({"text": texts}), self._frame(x)], axis=1)

    def compare(self, a: str | Sequence[str], b: str | Sequence[str], model: str = "ranker") -> pd.DataFrame:
        """Is the black box worse on sentence ``a`` than on ``b``? One row per pair.

        Per member ``d = h(a) - h(b)``: ``diff`` and ``diff_std`` are its mean and spread,
        ``gap`` and ``gap_std`` those of ``|d|`` (the Rawlsian max-min gap of the pair),
        ``p_a_harder`` the ranker's own probability ``sigmoid(d)`` averaged over members (for
        the regressor: the share of members with ``d > 0``) and ``agreement`` the share of
        members that side with the majority.
        """
        model = check_model(model)
        a = [a] if isinstance(a, str) else list(a)
        b = [b] if isinstance(b, str) else list(b)
        if len(a) != len(b):
            raise LLM2LossError(f"compare got {len(a)} sentences a and {len(b)} b. Fix: pair them one to one.")
        _, x = self._texts(a + b)
        s = self._per_member(x)[model]
        d = s[:, : len(a)] - s[:, len(a):]
        harder = (d > 0).mean(axis=0)
        p = (1 / (1 + np.exp(-d))).mean(axis=0) if model == "ranker" else harder
        return pd.DataFrame({"a": a, "b": b, "diff": d.mean(axis=0), "diff_std": d.std(axis=0),
                             "gap": np.abs(d).mean(axis=0), "gap_std": np.abs(d).std(axis=0),
                             "p_a_harder": p, "agreement": np.maximum(harder, 1 - harder)})

    def bias(self, attributes: str | Sequence[str] | None = None, contrast: Sequence[tuple[str, str]] | None = None,
             negation: str = "not {}", model: str = "ranker") -> pd.DataFrame:
        """How unequal the black box is across an attribute: the Rawlsian max-min gap.

        Each attribute X is contrasted with ``negation.format(X)`` ("not X", as in the paper),
        or pass ``contrast`` as ``(a, b)`` sentence pairs. Per member the gap is
        ``max(h(a), h(b)) - min(h(a), h(b))``; the table gives its mean and std across the
        ensemble, the side that is worse off (the higher estimated loss) and ``p_a_harder``.
        Largest gap first.
        """
        if (attributes is None) == (contrast is None):
            raise LLM2LossError("Pass attributes (each contrasted with 'not X') or contrast pairs, not both.")
        if contrast is None:
            attributes = [attributes] if isinstance(attributes, str) else list(attributes)
            contrast = [(x, negation.format(x)) for x in attributes]
        pairs = [tuple(p) for p in contrast]
        if not pairs or any(len(p) != 2 for p in pairs):
            raise LLM2LossError("contrast must be a non-empty list of (a, b) sentence pairs.")
        cmp = self.compare([p[0] for p in pairs], [p[1] for p in pairs], model=model)
        out = cmp[["a", "b", "gap", "gap_std"]].assign(
            worse_off=np.where(cmp["diff"] > 0, cmp["a"], cmp["b"]), p_a_harder=cmp["p_a_harder"])
        return out.sort_values("gap", ascending=False).reset_index(drop=True)

    # -- evaluation ----------------------------------------------------------------------
    def evaluate(self, image_emb, losses, table: pd.DataFrame | None = None,
                 by: Sequence[str] | None = None) -> LossEvaluation:
        """Pearson, Spearman and Kendall between predicted and actual loss on (held-out) images,
        per model; with ``table`` and ``by``, also between per-slice means.

        The classifier predicts loss as its negated in-distribution logit (less familiar,
        presumably harder), as in the paper's table 2.
        """
        x = self._prepare(image_emb, "image")
        y = check_losses(losses, len(x))
        m = self._per_member(x)
        predicted = {"regressor": m["regressor"].mean(0), "ranker": m["ranker"].mean(0),
                     "classifier": -m["classifier"].mean(0)}
        images = pd.DataFrame([{"model": k, **correlations(v, y)} for k, v in predicted.items()])
        slices = None
        if by is not None:
            if table is None or len(table) != len(x):
                raise LLM2LossError("Per-slice evaluation needs the images' attribute table, one row per image.")
            missing = [c for c in by if c not in table.columns]
            if missing:
                raise LLM2LossError(f"Slice columns {missing} are not in the image table {list(table.columns)}. "
                                    "Fix: pass by= columns of the table.")
            frame = table[list(by)].reset_index(drop=True).assign(actual=y, **predicted)
            means = frame.groupby(list(by), observed=True).mean().reset_index()
            slices = pd.DataFrame([{"model": k, **correlations(means[k].to_numpy(), means["actual"].to_numpy())}
                                   for k in predicted])
        return LossEvaluation(images, slices, len(x))

    def text_slices(self, prompts: pd.DataFrame, table: pd.DataFrame, losses, by: Sequence[str],
                    model: str = "ranker") -> SliceLoss:
        """Order slices by the loss the heads predict from *text* and set that beside the
        actual mean image loss per slice.

        ``prompts`` has the ``by`` columns and ``prompt`` (e.g. from ``generate_prompts``); a
        slice's text score is the mean over its prompts and the ensemble, its spread
        (``text_std``) the std across members of the per-member means.
        """
        model = check_model(model)
        by = list(by)
        missing = [c for c in by + ["prompt"] if c not in prompts.columns] + [c for c in by if c not in table.columns]
        if missing:
            raise LLM2LossError(f"Columns {missing} are missing from the prompts or image table. "
                                "Fix: both need the slice columns; prompts also need 'prompt'.")
        y = check_losses(losses, len(table))
        _, x = self._texts(prompts["prompt"].tolist())
        frame = prompts[by].reset_index(drop=True).join(pd.DataFrame(self._per_member(x)[model].T))
        per_member = frame.groupby(by, observed=True).mean()  # slices x members
        text = pd.DataFrame({"text_score": per_member.mean(axis=1), "text_std": per_member.std(axis=1, ddof=0),
                             "n_prompts": frame.groupby(by, observed=True).size()})
        image = table[by].reset_index(drop=True).assign(loss=y).groupby(by, observed=True).agg(
            image_loss=("loss", "mean"), n_images=("loss", "size"))
        joined = text.join(image, how="inner").reset_index().sort_values("text_score", ascending=False)
        corr = correlations(joined["text_score"].to_numpy(), joined["image_loss"].to_numpy())
        return SliceLoss(joined.reset_index(drop=True), by, model, corr)

    def __repr__(self) -> str:
        return (f"LLM2Loss(members={len(self.ranker.modules)}, head={self.ranker.kind!r}, "
                f"trained on {self.info['n_train']} images, gap_closed={self.gap is not None})")


def fit_loss_predictor(
    image_emb,
    losses,
    encoder,
    *,
    head: str = "mlp",
    members: int = 5,
    hidden: int = 128,
    epochs: int = 20,
    lr: float = 1e-3,
    batch_size: int = 256,
    val_fraction: float = 0.2,
    reference_texts: Sequence[str] | None = None,
    seed: int = 0,
) -> LLM2Loss:
    """Train the three LLM2Loss ensembles on image embeddings and the black box's loss on them.

    ``encoder`` is a :class:`~drml_widgets.ClipEncoder` (or any callable list of texts ->
    rows in the images' space) used to read sentences later; ``head`` is ``mlp`` or ``linear``.
    ``val_fraction`` of the images is held out to keep each member's best epoch. Member ``k`` uses seed ``seed + k`` for its
    initialisation, batch order and random negatives. With ``reference_texts`` (sentences of
    the domain, e.g. its prompts) the modality gap is closed before the heads read anything;
    pass them whenever sentences will be asked about: without, text lies where no training
    image did, and the in-distribution logit of a sentence means nothing (on the shapes world
    "a photo of a cat" then scores as more familiar than "a small red square"). Losses are
    standardised for training, so one learning rate suits losses of any scale. The heads train on
    one torch thread (``fit_module`` sees to it): their tensors are small.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> emb = rng.normal(size=(200, 8)).astype(np.float32)
        >>> llm = fit_loss_predictor(emb, np.exp(emb[:, 0]), lambda t: emb[: len(t)], members=2, epochs=20)
        >>> llm.evaluate(emb, np.exp(emb[:, 0])).spearman("ranker") > 0.9
        True
    """
    x = check_embeddings(image_emb, "image embeddings")
    y = check_losses(losses, len(x))
    if len(x) < MIN_IMAGES:
        raise LLM2LossError(f"LLM2Loss needs at least {MIN_IMAGES} images to train an ensemble; got {len(x)}. "
                            "Fix: pass the losses of more images (a few hundred or more give stable heads).")
    if np.ptp(y) == 0:
        raise LLM2LossError("Every image has the same loss, so there is nothing to rank or regress. "
                            "Fix: check the black box's losses.")
    # Bad settings fail here, before the gap is closed or any member trains (the head kind fails
    # in build_module, before the first member's first step).
    members = check_whole(members, "members (the heads trained per objective)", 1, MAX_MEMBERS, "use e.g. members=5; "
                          "each member trains three heads, and their spread is steady long before 100", LLM2LossError)
    hidden = check_whole(hidden, "hidden (units of the MLP heads' hidden layer)", 1, MAX_HIDDEN, "use e.g. hidden=128",
                         LLM2LossError)
    val_fraction = check_number(val_fraction, "val_fraction (the share of images that picks each member's epoch)",
                                0, 1, "use e.g. val_fraction=0.2", LLM2LossError, open_lo=True, open_hi=True)
    seed = check_whole(seed, "seed", 0, None, "use e.g. seed=0", LLM2LossError)
    epochs, lr, batch_size = check_training(epochs, lr, batch_size)
    encode = text_encoder(encoder, error=LLM2LossError)
    gap = GapCloser.fit(x, encode(list(reference_texts))) if reference_texts is not None else None
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = max(int(round(val_fraction * len(x))), 10)
    val, fit = order[:n_val], order[n_val:]
    # One float32 buffer each for the training and the held-out rows: their features, then, for
    # the in-distribution classifier, as many random unit vectors (redrawn per member); filled by
    # chunks, so a million images cost their rows twice, not four times.
    xs, xv = (np.empty((2 * len(rows), x.shape[1]), np.float32) for rows in (fit, val))
    for buffer, rows in ((xs, fit), (xv, val)):
        for part in row_chunks(len(rows)):
            buffer[part] = gap.transform(x, "image", rows[part]) if gap is not None else x[rows[part]]
    x_fit, x_val = xs[: len(fit)], xv[: len(val)]
    mean, std = float(y[fit].mean()), float(y[fit].std()) or 1.0
    z = (y - mean) / std

    ensembles = {}
    for model, objective in OBJECTIVES.items():
        modules, histories = [], []
        held = slice(0, MAX_RANK_VAL) if model == "ranker" else slice(None)
        for k in range(members):
            module, hist, best = _fit_scorer(x_fit, z[fit], x_val[held], z[val][held], objective, kind=head,
                                             hidden=hidden, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed + k)
            modules.append(module)
            histories.append(hist.assign(member=k, best=hist["epoch"] == best))
        scale = (mean, std) if model == "regressor" else (0.0, 1.0)
        ensembles[model] = Ensemble(model, head, modules, pd.concat(histories, ignore_index=True), *scale)

    classifier = []
    for k in range(members):
        noise = np.random.default_rng(seed + k)
        random_units(xs[len(fit):], noise)
        random_units(xv[len(val):], noise)
        classifier.append(train_head(xs, np.repeat([1, 0], len(fit)), xv, np.repeat([1, 0], len(val)),
                                     classes=["random", "seen"], kind=head, hidden=hidden, epochs=epochs, lr=lr,
                                     batch_size=batch_size, seed=seed + k))
    info = {"dim": x.shape[1], "n_train": len(fit), "n_val": len(val),
            "reference_texts": None if reference_texts is None else list(reference_texts)}
    return LLM2Loss(ensembles["regressor"], ensembles["ranker"], classifier, encode, gap, info)


fit_llm2loss = deprecated_alias(fit_loss_predictor, "fit_llm2loss")
