"""Baselines that fix spurious correlations with group or error information, for comparison with
rectification by text: JTT (Liu et al., 2021) and GroupDRO (Sagawa et al., 2020)."""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .heads import Head, train_head
from .validate import check_embeddings, check_labels


def train_jtt(
    x, y, x_val, y_val, *, classes=None, kind: str = "linear", upweight: float = 20.0,
    identify_epochs: int = 5, epochs: int = 25, seed: int = 0,
) -> Head:
    """Just Train Twice: a short first run finds the training errors, the second run weights
    them ``upweight`` times (the JTT paper uses 20-100).

    The first run must be long enough to fit the majority: with too few optimiser steps its
    errors are just those of an untrained head and JTT upweights noise.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=(200, 4)).astype(np.float32); y = (x[:, 0] > 0).astype(int)
        >>> train_jtt(x[:150], y[:150], x[150:], y[150:], epochs=2).kind
        'linear'
    """
    import torch
    import torch.nn.functional as F

    x = check_embeddings(x, "training embeddings")
    y = check_labels(y, len(x))
    # The errors are those of the model after identify_epochs, as in JTT: selecting its epoch on
    # validation data could keep the untrained start, whose errors say nothing about groups.
    first = train_head(x, y, classes=classes, kind=kind, epochs=identify_epochs, seed=seed)
    errors = first.predict(x) != y
    weights = torch.from_numpy(np.where(errors, upweight, 1.0).astype(np.float32))

    def weighted(logits, targets, idx):
        w = weights[idx]
        return (F.cross_entropy(logits, targets, reduction="none") * w).sum() / w.sum()

    return train_head(x, y, x_val, y_val, classes=classes, kind=kind, epochs=epochs, seed=seed,
                      batch_loss=weighted)


def train_group_dro(
    x, y, groups, x_val, y_val, *, classes=None, kind: str = "linear", step: float = 0.01,
    epochs: int = 25, seed: int = 0,
) -> Head:
    """Group DRO: minimise the loss of the worst group, with exponentiated-gradient group weights
    (step size ``step``). ``groups`` holds one group id per training row (e.g. colour x shape).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=(200, 4)).astype(np.float32); y = (x[:, 0] > 0).astype(int)
        >>> g = (x[:, 1] > 0).astype(int) * 2 + y
        >>> train_group_dro(x[:150], y[:150], g[:150], x[150:], y[150:], epochs=2).kind
        'linear'
    """
    import torch
    import torch.nn.functional as F

    x = check_embeddings(x, "training embeddings")
    y = check_labels(y, len(x))
    _, group_ids = np.unique(np.asarray(groups), return_inverse=True)
    if len(group_ids) != len(x):
        raise InputError(f"groups has {len(group_ids)} entries for {len(x)} embeddings; pass one per row.")
    n_groups = int(group_ids.max()) + 1
    gt = torch.from_numpy(group_ids.astype(np.int64))
    q = torch.full((n_groups,), 1.0 / n_groups)

    def robust(logits, targets, idx):
        nonlocal q
        losses = F.cross_entropy(logits, targets, reduction="none")
        g = gt[idx]
        per_group = torch.zeros(n_groups).index_add(0, g, losses)
        counts = torch.zeros(n_groups).index_add(0, g, torch.ones_like(losses))
        per_group = per_group / counts.clamp(min=1)
        with torch.no_grad():
            present = counts > 0
            q = q * torch.exp(step * per_group.detach() * present)
            q = q / q.sum()
        return (q * per_group).sum()

    return train_head(x, y, x_val, y_val, classes=classes, kind=kind, epochs=epochs, seed=seed,
                      batch_loss=robust)
