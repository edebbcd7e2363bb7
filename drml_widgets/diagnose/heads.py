"""Classifier heads on CLIP embeddings: linear or MLP, trained as in DrML (Adam 1e-3, batch 32,
25 epochs, the epoch with the lowest validation loss kept)."""

from __future__ import annotations

import contextlib
import copy
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .._common import row_chunks
from ..errors import InputError
from ..threads import small_tensor_threads
from .head_cache import HEADS, head_key, load_trained, store_trained
from .validate import check_embeddings, check_labels, check_training


def build_module(kind: str, dim: int, n_outputs: int, hidden: int = 512):
    """A fresh ``linear`` or ``mlp`` (one hidden ReLU layer) torch module from ``dim`` to ``n_outputs``.

    Example:
        >>> build_module("mlp", 8, 2, hidden=4)
        Sequential(
          (0): Linear(in_features=8, out_features=4, bias=True)
          (1): ReLU()
          (2): Linear(in_features=4, out_features=2, bias=True)
        )
    """
    import torch.nn as nn

    if kind == "linear":
        return nn.Linear(dim, n_outputs)
    if kind == "mlp":
        return nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, n_outputs))
    raise InputError(f"Unknown head kind {kind!r}; choose 'linear' or 'mlp'. "
                     "Fix: pass 'linear' (a logistic regression) or 'mlp' (one hidden ReLU layer).")


class Head:
    """A trained classifier head over embeddings of dimension ``dim``.

    ``history`` holds per-epoch train and validation loss; ``best_epoch`` is the one kept. A head
    is a torch ``module``, or its ``weights`` as numpy arrays (a head kept by :func:`train_head`'s
    ``cache_dir``): it then predicts in numpy, and builds the module, importing torch, only when
    something asks for it (rectification, fine-tuning).

    Example:
        >>> x = np.random.default_rng(0).normal(size=(64, 8)).astype(np.float32)
        >>> head = train_head(x, (x[:, 0] > 0).astype(int), epochs=3)
        >>> head.predict_proba(x).shape
        (64, 2)
        >>> kept = Head(None, "linear", 8, head.classes, weights=head.state_numpy())
        >>> kept.built, np.allclose(kept.logits(x), head.logits(x), atol=1e-6), kept.built
        (False, True, False)
    """

    def __init__(self, module, kind: str, dim: int, classes: list[str], history: pd.DataFrame | None = None,
                 best_epoch: int = 0, *, weights: dict[str, np.ndarray] | None = None):
        if (module is None) == (weights is None):
            raise InputError("A head is a torch module or its weights, not both or neither. "
                             "Fix: pass the module, or module=None with weights=.")
        self._module, self._weights = module, weights
        self.kind, self.dim, self.classes = kind, dim, classes
        self.history = pd.DataFrame() if history is None else history
        self.best_epoch = best_epoch

    @property
    def n_classes(self) -> int:
        """How many classes the head tells apart."""
        return len(self.classes)

    @property
    def built(self) -> bool:
        """Whether the torch module exists (a head loaded from the cache has only numpy weights until asked)."""
        return self._module is not None

    @property
    def module(self):
        """The torch module; built from the numpy weights on first use."""
        if self._module is None:
            import torch

            hidden = self._weights["0.weight"].shape[0] if self.kind == "mlp" else 0
            with torch.random.fork_rng(devices=[]):  # its throwaway initial weights leave torch's RNG as it was
                module = build_module(self.kind, self.dim, self.n_classes, hidden)
            module.load_state_dict({name: torch.from_numpy(w.copy()) for name, w in self._weights.items()})
            self._module, self._weights = module.eval(), None
        return self._module

    def logits(self, x) -> np.ndarray:
        """Raw class scores, ``(n, n_classes)``, for embeddings ``x`` (checked first)."""
        x = check_embeddings(x, dim=self.dim)
        parts = row_chunks(len(x))  # by chunks: an MLP's hidden layer over a million rows would be 2 GiB
        if self._module is None:
            return np.concatenate([_numpy_logits(self._weights, self.kind, x[part]) for part in parts])
        import torch

        with torch.no_grad():
            return np.concatenate([self._module(torch.from_numpy(x[part])).numpy() for part in parts])

    def predict_proba(self, x) -> np.ndarray:
        """Softmax probabilities, ``(n, n_classes)``."""
        z = self.logits(x)
        z = z - z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, x) -> np.ndarray:
        """Predicted class indices."""
        return self.logits(x).argmax(axis=1)

    def state(self) -> dict:
        """A deep copy of the weights, for exact restore: torch tensors once built, else numpy arrays."""
        if self._module is None:
            return self.state_numpy()
        return copy.deepcopy(self._module.state_dict())

    def state_numpy(self) -> dict[str, np.ndarray]:
        """A copy of the weights as numpy arrays, by the module's parameter names."""
        if self._module is None:
            return {name: w.copy() for name, w in self._weights.items()}
        return {name: w.detach().cpu().numpy().copy() for name, w in self._module.state_dict().items()}

    def load_state(self, state: dict) -> None:
        """Set the weights from :meth:`state` (tensors or numpy arrays; copied, so the caller's stay untouched)."""
        if self._module is None and _same_layout(state, self._weights):
            self._weights = {name: np.array(w, np.float32) for name, w in state.items()}
            return
        import torch

        self.module.load_state_dict({name: torch.as_tensor(w).clone() for name, w in state.items()})

    def copy(self) -> "Head":
        """An independent copy: weights, classes and training history."""
        module = None if self._module is None else copy.deepcopy(self._module)
        return Head(module, self.kind, self.dim, list(self.classes), self.history.copy(), self.best_epoch,
                    weights=None if module is not None else self.state_numpy())

    def __repr__(self) -> str:
        val = ""
        if "val_loss" in self.history and len(self.history):
            val = f", best_epoch={self.best_epoch}, val_loss={self.history['val_loss'].min():.4f}"
        return f"Head(kind={self.kind!r}, dim={self.dim}, classes={self.classes}{val})"


def _numpy_logits(weights: dict[str, np.ndarray], kind: str, x: np.ndarray) -> np.ndarray:
    """What :func:`build_module`'s module computes, from its weights."""
    if kind == "linear":
        return x @ weights["weight"].T + weights["bias"]
    hidden = np.maximum(x @ weights["0.weight"].T + weights["0.bias"], 0)
    return hidden @ weights["2.weight"].T + weights["2.bias"]


def _same_layout(state: dict, weights: dict[str, np.ndarray] | None) -> bool:
    return weights is not None and state.keys() == weights.keys() and all(
        isinstance(w, np.ndarray) and w.shape == weights[name].shape for name, w in state.items())


def fit_module(
    module,
    x: np.ndarray,
    y: np.ndarray,
    val: list[tuple[np.ndarray, np.ndarray]],
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    batch_loss: Callable | None = None,
    criterion: Callable | None = None,
    progress: Callable[[int, int], None] | None = None,
    threads: int | None = 1,
) -> tuple[pd.DataFrame, int]:
    """Train ``module`` in place with Adam; keep the weights of the best validation epoch.

    ``criterion(outputs, targets)`` is the loss of a batch and of a validation set (default:
    mean cross-entropy; a regression or ranking objective for one-output heads). The validation
    score is the mean, over the ``val`` sets, of each set's criterion, so a small set counts as
    much as a large one. Without ``val`` the training loss selects. Returns the per-epoch history
    and the best epoch (0: the starting weights won). ``batch_loss(logits, targets, idx)``
    replaces the training loss of a batch (``idx`` are the rows' positions in ``x``; baselines
    such as JTT and GroupDRO use it); ``progress`` is called with ``(epoch, epochs)`` after every
    epoch. ``threads``: torch threads while training; 1 suits heads on embeddings (batches too
    small to share, see :mod:`drml_widgets.threads`), ``None`` keeps torch's setting (convolutions).
    """
    import torch
    import torch.nn.functional as F

    epochs, lr, batch_size = check_training(epochs, lr, batch_size)
    criterion = criterion or F.cross_entropy
    gen = torch.Generator().manual_seed(seed)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    val_t = [(torch.from_numpy(a), torch.from_numpy(b)) for a, b in val] or [(xt, yt)]
    opt = torch.optim.Adam(module.parameters(), lr=lr)

    def val_loss() -> float:
        module.eval()
        with torch.no_grad():
            return float(np.mean([float(criterion(module(a), b)) for a, b in val_t]))

    with small_tensor_threads(threads) if threads else contextlib.nullcontext():
        best_loss, best_epoch, best_state = val_loss(), 0, copy.deepcopy(module.state_dict())
        rows = [{"epoch": 0, "train_loss": float("nan"), "val_loss": best_loss}]
        for epoch in range(1, epochs + 1):
            module.train()
            order = torch.randperm(len(xt), generator=gen)
            total = 0.0
            for start in range(0, len(order), batch_size):
                idx = order[start: start + batch_size]
                logits = module(xt[idx])
                loss = batch_loss(logits, yt[idx], idx) if batch_loss else criterion(logits, yt[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
            current = val_loss()
            rows.append({"epoch": epoch, "train_loss": total / len(order), "val_loss": current})
            if current < best_loss:
                best_loss, best_epoch, best_state = current, epoch, copy.deepcopy(module.state_dict())
            if progress is not None:
                progress(epoch, epochs)
    module.load_state_dict(best_state)
    module.eval()
    return pd.DataFrame(rows), best_epoch


def train_head(
    x,
    y,
    x_val=None,
    y_val=None,
    *,
    classes: list[str] | None = None,
    kind: str = "linear",
    hidden: int = 512,
    epochs: int = 25,
    lr: float = 1e-3,
    batch_size: int = 32,
    seed: int = 0,
    batch_loss: Callable | None = None,
    cache_dir: str | Path | None = None,
) -> Head:
    """Train a linear or MLP head on embeddings, keeping the epoch with the lowest validation loss.

    Without validation data the training loss selects (not recommended: pass held-out rows).
    ``batch_loss`` swaps the training objective (see :func:`fit_module`). With ``cache_dir`` the
    trained weights are kept there, keyed by the inputs and every setting
    (:mod:`~drml_widgets.diagnose.head_cache`): the same call again returns them as a numpy head,
    without torch (a ``batch_loss``, which cannot be keyed, always trains).

    Example:
        >>> x = np.random.default_rng(0).normal(size=(500, 8)).astype(np.float32)
        >>> y = (x[:, 0] > 0).astype(int)
        >>> head = train_head(x[:400], y[:400], x[400:], y[400:], classes=["neg", "pos"])
        >>> float((head.predict(x[400:]) == y[400:]).mean()) > 0.8
        True
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> first, again = (train_head(x[:400], y[:400], x[400:], y[400:], cache_dir=folder) for _ in "ab")
        >>> first.built, again.built, np.array_equal(first.predict(x), again.predict(x))
        (True, False, True)
    """
    x = check_embeddings(x, "training embeddings")
    n_classes = len(classes) if classes is not None else int(np.max(y)) + 1
    y = check_labels(y, len(x), n_classes, "training labels")
    if (x_val is None) != (y_val is None):
        raise InputError("Pass both x_val and y_val, or neither.")
    if x_val is not None:
        x_val = check_embeddings(x_val, "validation embeddings", dim=x.shape[1])
        y_val = check_labels(y_val, len(x_val), n_classes, "validation labels")
    epochs, lr, batch_size = check_training(epochs, lr, batch_size)
    names = list(classes) if classes is not None else [str(i) for i in range(n_classes)]
    _warn_thin_classes(y, names)
    key = None
    if cache_dir is not None and batch_loss is None:
        settings = {"classes": names, "kind": kind, "hidden": hidden, "epochs": epochs, "lr": lr,
                    "batch_size": batch_size, "seed": seed}
        key = head_key([x, y, x_val, y_val], settings)
        kept = load_trained(Path(cache_dir), key)
        if kept is not None:
            return Head(None, kind, x.shape[1], names, kept["history"], kept["best_epoch"], weights=kept["weights"])
    import torch

    torch.manual_seed(seed)
    module = build_module(kind, x.shape[1], n_classes, hidden)
    val = [(x_val, y_val)] if x_val is not None else []
    history, best = fit_module(module, x, y, val, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                               batch_loss=batch_loss)
    head = Head(module, kind, x.shape[1], names, history, best)
    if key is not None:
        store_trained(Path(cache_dir), key, head.state_numpy(), history, best)
    return head


def heads_folder(encoder) -> Path | None:
    """Where heads trained on ``encoder``'s embeddings are kept: ``heads/`` in its cache root,
    for :func:`train_head`'s ``cache_dir``.

    ``None`` without an embedding cache (``cache_dir=None``, or a stand-in encoder of texts alone:
    nothing is kept), or while hub weights are not downloaded (asking for their cache would download them).

    Example:
        >>> from drml_widgets import ClipEncoder
        >>> heads_folder(ClipEncoder("shapes", cache_dir=None)) is None
        True
    """
    spec = getattr(encoder, "spec", None)
    if spec is None or spec.needs_download or encoder.cache is None:
        return None
    return encoder.cache.dir.parent / HEADS


# Below this a class's accuracy on new images says more about which images were drawn than about
# the head; DrML's slices and rectification then chase noise.
MIN_TRAIN_PER_CLASS = 5


def _warn_thin_classes(y: np.ndarray, classes: list[str]) -> None:
    counts = np.bincount(y, minlength=len(classes))
    thin = {classes[i]: int(counts[i]) for i in np.flatnonzero(counts < MIN_TRAIN_PER_CLASS)}
    if thin:
        warnings.warn(f"Classes with fewer than {MIN_TRAIN_PER_CLASS} training images: {thin}. The head cannot "
                      "learn them reliably. Fix: add images of those classes to the training split, or drop them.",
                      stacklevel=3)
