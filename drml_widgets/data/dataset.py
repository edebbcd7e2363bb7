"""What a loaded image source is: :class:`ImageDataset`, images with labels, metadata and a split."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import DatasetError

SPLITS = ("train", "val", "test")
SKIPPED_COLUMNS = ["source", "error"]


@dataclass(repr=False)
class ImageDataset:
    """Images with labels, metadata and a split, ready for :meth:`Session.from_dataset`.

    ``images`` holds file paths (str) or in-memory images (arrays or PIL), one per row of
    ``metadata``; ``labels`` index ``classes``; ``split`` is ``train``, ``val`` or ``test`` per
    image; ``skipped`` lists the inputs left out (``source``, ``error``).

    Example:
        >>> from drml_widgets.data.sources import load_images
        >>> ds = load_images(np.zeros((6, 8, 8, 3), np.uint8), labels=["a", "b"] * 3)
        >>> ds
        ImageDataset(6 images from 6 arrays, classes=['a', 'b'], split train=3 val=1 test=2 (seeded stratified 60/10/30, seed 0), metadata=[])
    """

    images: list
    labels: np.ndarray
    classes: list[str]
    metadata: pd.DataFrame
    split: np.ndarray
    source: str
    split_from: str
    skipped: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=SKIPPED_COLUMNS))

    @property
    def table(self) -> pd.DataFrame:
        """One row per image: the metadata columns, ``label`` (index), ``class`` (name), ``split``.

        Example:
            >>> from drml_widgets.data.sources import load_images
            >>> load_images(np.zeros((4, 8, 8, 3), np.uint8), labels=[0, 1, 0, 1]).table.columns.tolist()
            ['label', 'class', 'split']
        """
        table = self.metadata.reset_index(drop=True).copy()
        table["label"] = self.labels
        table["class"] = [self.classes[i] for i in self.labels]
        table["split"] = self.split
        return table

    @property
    def paths(self) -> list[str] | None:
        """The image files, when the images are files; else ``None``."""
        return list(self.images) if self.images and isinstance(self.images[0], str) else None

    def without(self, positions: Sequence[int], errors: Sequence[str]) -> "ImageDataset":
        """A copy without the images at ``positions``, which join ``skipped`` with their errors
        (the encoder reports the files it could not decode this way).

        Example:
            >>> from drml_widgets.data.sources import load_images
            >>> ds = load_images(np.zeros((6, 8, 8, 3), np.uint8), labels=[0, 1] * 3)
            >>> len(ds.without([0], ["unreadable"])), len(ds.without([0], ["unreadable"]).skipped)
            (5, 1)
        """
        drop = np.zeros(len(self), dtype=bool)
        drop[list(positions)] = True
        gone = pd.DataFrame({"source": [describe_image(self.images[i]) for i in positions], "error": list(errors)})
        return replace(
            self,
            images=[im for im, d in zip(self.images, drop) if not d],
            labels=self.labels[~drop],
            metadata=self.metadata[~drop].reset_index(drop=True),
            split=self.split[~drop],
            skipped=pd.concat([self.skipped, gone], ignore_index=True) if len(self.skipped) else gone,
        )

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        counts = " ".join(f"{s}={int((self.split == s).sum())}" for s in SPLITS)
        skipped = f", skipped={len(self.skipped)}" if len(self.skipped) else ""
        return (f"ImageDataset({len(self)} images from {self.source}, classes={self.classes}, "
                f"split {counts} ({self.split_from}){skipped}, metadata={list(self.metadata.columns)})")


def describe_image(item) -> str:
    """A path as it is, anything else by its type: how an image is named in an error."""
    return item if isinstance(item, str) else f"<{type(item).__name__}>"
