"""The black box whose loss LLM2Loss (paper 002) learns to predict, and its per-image losses.

Any model can be the black box: a callable that maps a batch of images to class probabilities,
or losses computed elsewhere. The example black box is deliberately not built on CLIP: a small
CNN trained on the pixels of the shapes world's biased split, so it leans on colour the way the
split invites, and its loss differs from slice to slice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._common import true_label_loss
from ..data.shapes import ShapesWorld
from ..diagnose.heads import fit_module
from ..errors import ImageLoadError, LossError


def check_losses(losses, n: int | None = None, name: str = "losses") -> np.ndarray:
    """Return per-image losses as a 1-D float32 array, or raise naming the bad rows.

    Example:
        >>> check_losses([0.5, 2.0]).tolist()
        [0.5, 2.0]
        >>> check_losses([0.5, float("nan")])
        Traceback (most recent call last):
        ...
        drml_widgets.errors.LossError: losses contain NaN or inf at 1 position(s), first [1]. Fix: drop those images or recompute their loss.
    """
    values = np.asarray(losses, dtype=np.float64)
    if values.ndim != 1 or len(values) == 0:
        raise LossError(f"{name} must be a non-empty 1-D array, one loss per image; got shape {values.shape}.")
    if n is not None and len(values) != n:
        raise LossError(f"{name} has {len(values)} values for {n} images. Fix: pass one loss per image, in order.")
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        raise LossError(f"{name} contain NaN or inf at {len(bad)} position(s), first {bad[:5].tolist()}. "
                        "Fix: drop those images or recompute their loss.")
    if (values < 0).any():
        raise LossError(f"{name} has negative values (min {values.min():.3g}); a loss is at least 0. "
                        "Fix: pass losses, not scores or log-probabilities.")
    return values.astype(np.float32)


def per_image_loss(black_box, images=None, labels=None, batch_size: int = 512) -> np.ndarray:
    """Cross-entropy loss of a black box on each image, or precomputed losses checked.

    ``black_box`` is a callable mapping a batch of images to ``(n, n_classes)`` class
    probabilities (each row sums to 1), used with ``images`` and integer ``labels``; or an
    array of losses computed elsewhere (``images`` and ``labels`` are then not needed).

    Example:
        >>> always_sure = lambda imgs: np.tile([0.9, 0.1], (len(imgs), 1))
        >>> [round(float(v), 3) for v in per_image_loss(always_sure, np.zeros((2, 8, 8, 3)), np.array([0, 1]))]
        [0.105, 2.303]
        >>> per_image_loss([0.5, 1.5]).tolist()
        [0.5, 1.5]
    """
    if not callable(black_box):
        return check_losses(black_box)
    if images is None or labels is None:
        raise LossError("A callable black box needs images and labels to compute losses. "
                        "Fix: pass both, or pass precomputed losses instead of the callable.")
    labels = np.asarray(labels)
    if len(labels) != len(images) or not np.issubdtype(labels.dtype, np.integer):
        raise LossError(f"labels must be {len(images)} integer class indices, one per image; "
                        f"got shape {labels.shape} and dtype {labels.dtype}.")
    losses = []
    for start in range(0, len(images), batch_size):
        proba = np.asarray(black_box(images[start: start + batch_size]), dtype=np.float64)
        y = labels[start: start + batch_size]
        if proba.ndim != 2 or len(proba) != len(y):
            raise LossError(f"The black box returned shape {proba.shape} for {len(y)} images; it must return "
                            "(n, n_classes) probabilities.")
        if not np.isfinite(proba).all():
            raise LossError("The black box returned NaN or inf probabilities. Fix: check the model's inputs.")
        if (proba < 0).any() or not np.allclose(proba.sum(axis=1), 1.0, atol=1e-3):
            raise LossError("The black box's rows are not probabilities (non-negative, summing to 1). "
                            "Fix: apply a softmax to its logits.")
        if y.min() < 0 or y.max() >= proba.shape[1]:
            raise LossError(f"labels must lie in [0, {proba.shape[1]}); got {sorted(set(y.tolist()))[:10]}.")
        losses.append(true_label_loss(proba, y))
    return check_losses(np.concatenate(losses))


def _pixels(images: np.ndarray) -> np.ndarray:
    """uint8 NxHxWx3 -> float32 Nx3xHxW in [0, 1]; the CNN needs no CLIP preprocessing."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ImageLoadError(f"The example black box reads a batch of RGB images, an (n, height, width, 3) uint8 "
                             f"array; got shape {images.shape}. Fix: stack the images, e.g. world.images[:8].")
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0


def _cnn(n_classes: int):
    import torch.nn as nn

    # Two strided convolutions and global pooling: enough to see shape, cheap enough for seconds.
    return nn.Sequential(
        nn.Conv2d(3, 16, 5, stride=2, padding=2), nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, n_classes),
    )


@dataclass(repr=False)
class BlackBox:
    """A classifier on raw pixels, callable on a batch of uint8 images -> class probabilities.

    Example:
        >>> from drml_widgets import load_shapes_world
        >>> box = train_example_black_box(load_shapes_world(n=600), epochs=1)
        >>> box(np.zeros((3, 64, 64, 3), np.uint8)).shape
        (3, 2)
    """

    module: object
    classes: list[str]
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    best_epoch: int = 0

    def __call__(self, images) -> np.ndarray:
        import torch

        with torch.no_grad():
            return torch.softmax(self.module(torch.from_numpy(_pixels(images))), dim=1).numpy()

    def predict(self, images, batch_size: int = 512) -> np.ndarray:
        """Predicted class indices."""
        return np.concatenate([self(images[i: i + batch_size]).argmax(axis=1)
                               for i in range(0, len(images), batch_size)])

    def __repr__(self) -> str:
        val = self.history["val_loss"].min() if "val_loss" in self.history else float("nan")
        return f"BlackBox(CNN on pixels, classes={self.classes}, best_epoch={self.best_epoch}, val_loss={val:.4f})"


def train_black_box(images: np.ndarray, labels: np.ndarray, val_images: np.ndarray, val_labels: np.ndarray,
                    classes: list[str], epochs: int = 6, lr: float = 3e-3, batch_size: int = 64,
                    seed: int = 0) -> BlackBox:
    """The example black box (a small CNN on pixels) trained on given images and labels, keeping
    the epoch with the lowest loss on the validation images.

    Example:
        >>> x = np.zeros((8, 16, 16, 3), np.uint8)
        >>> train_black_box(x, np.arange(8) % 2, x, np.arange(8) % 2, ["a", "b"], epochs=1)(x).shape
        (8, 2)
    """
    import torch

    torch.manual_seed(seed)
    module = _cnn(len(classes))
    history, best = fit_module(
        module, _pixels(images), np.asarray(labels, dtype=np.int64),
        [(_pixels(val_images), np.asarray(val_labels, dtype=np.int64))],
        epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, threads=None,  # convolutions use every core
    )
    return BlackBox(module, list(classes), history, best)


def train_example_black_box(world: ShapesWorld, epochs: int = 6, lr: float = 3e-3, batch_size: int = 64,
                            seed: int = 0) -> BlackBox:
    """Train the example black box on the pixels of the world's biased split (``train``),
    keeping the epoch with the lowest loss on ``val``. Seconds on a CPU.

    Example:
        >>> from drml_widgets import load_shapes_world
        >>> train_example_black_box(load_shapes_world(n=600), epochs=1).classes
        ['triangle', 'square']
    """
    split = world.table["split"].to_numpy()
    if not (split == "train").any() or not (split == "val").any():
        raise LossError("The world has no train or val images to train the black box on. "
                        "Fix: pass a world from load_shapes_world (with its biased split).")
    train, val = split == "train", split == "val"
    return train_black_box(world.images[train], world.labels[train], world.images[val], world.labels[val],
                           list(world.classes), epochs=epochs, lr=lr, batch_size=batch_size, seed=seed)
