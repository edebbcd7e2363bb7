"""The main job on the embedded default: DrML's loop on the shapes world, offline.

Train a linear head on the biased split's image embeddings, probe it with text of every
size x colour x shape combination, and compare the text-discovered error slices with image
accuracy on every combination.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from typing import TYPE_CHECKING

import pandas as pd

from .data.shapes_presets import SLICE_BY
from .diagnose.rectify import RectifyResult
from .diagnose.slices import SliceComparison
from .embed.encoder import ClipEncoder

if TYPE_CHECKING:
    from .session import Session

@dataclass(repr=False)
class DemoResult:
    """What the shapes-world DrML loop found."""

    session: Session
    slices: SliceComparison
    accuracy_before: float
    influence: pd.DataFrame
    rectified: RectifyResult | None
    seconds: dict = field(default_factory=dict)

    def summary(self) -> str:
        """The lines the demo prints: the worst slices by text and by image, influence and the rectification."""
        s = self.session
        worst_text = self.slices.worst(4, "text_prob")
        worst_image = self.slices.worst(4, "image_acc")
        fmt = lambda df: ", ".join(f"{c} {sh}" for c, sh in zip(df["color"], df["shape"]))  # noqa: E731
        table = self.slices.table[SLICE_BY + ["text_prob", "text_acc", "image_acc", "n_images"]]
        return "\n".join([
            f"{s.table['split'].value_counts().to_dict()} images; head: {s.head!r}",
            f"image accuracy on every combination (test split): {self.accuracy_before:.3f}",
            f"{len(s.prompts)} prompts scored over {len(self.slices.table)} colour x shape slices:",
            table.to_string(index=False, float_format=lambda v: f"{v:.3f}"),
            f"Spearman (text prob vs image accuracy): {self.slices.spearman:.3f}; "
            f"Pearson: {self.slices.pearson:.3f}",
            f"worst by text:  {fmt(worst_text)}",
            f"worst by image: {fmt(worst_image)}",
            "influence of colour on 'triangle' (with/without): " + ", ".join(
                f"{v} {i:+.3f}" for v, i in self.influence.loc[self.influence["attribute"] == "color",
                                                              ["value", "influence"]].itertuples(index=False)),
            self._rectified_lines(),
            "timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in self.seconds.items()),
        ])

    def _rectified_lines(self) -> str:
        if self.rectified is None:
            return "no slice's calibrated accuracy is 30 points below the rest of its class: nothing to rectify"
        img = self.rectified.image
        hit = img[img["targeted"]]
        rest = img[~img["targeted"]]
        return (f"rectified {fmt_slices(self.rectified.slices)} ({self.rectified.mode}): image accuracy "
                f"{hit['image_acc_before'].mean():.3f} -> {hit['image_acc_after'].mean():.3f}; "
                f"largest change elsewhere {rest['delta'].min():+.3f}; overall now "
                f"{self.session.image_accuracy():.3f} (session.undo() restores the head)")

    def __repr__(self) -> str:
        return f"DemoResult(spearman={self.slices.spearman:.3f}, pearson={self.slices.pearson:.3f})"


def run_demo(
    n: int = 10_000,
    seed: int = 0,
    encoder: ClipEncoder | None = None,
    ensemble: bool = True,
) -> DemoResult:
    """Run DrML's diagnosis on the shapes world and return what it found.

    Example:
        >>> result = run_demo(n=1200, ensemble=False)
        >>> len(result.slices.table)
        12
        >>> print(result.summary())  # doctest: +ELLIPSIS
        {...} images; head: Head(kind='linear'...
    """
    from .session import Session

    seconds = {}
    t = time.perf_counter()
    session = Session.from_shapes_world(n=n, seed=seed, encoder=encoder, ensemble=ensemble, train=False)
    seconds["render + encode images and prompts"] = time.perf_counter() - t
    t = time.perf_counter()
    session.train_head()
    seconds["train head"] = time.perf_counter() - t
    t = time.perf_counter()
    slices = session.find_slices(by=SLICE_BY)
    accuracy = session.image_accuracy()
    seconds["score slices"] = time.perf_counter() - t
    t = time.perf_counter()
    influence = session.compute_influence(session.classes[0])
    seconds["influence"] = time.perf_counter() - t
    t = time.perf_counter()
    failing = session.find_failing_slices(SLICE_BY).table
    rectified = session.rectify(failing) if len(failing) else None
    seconds["rectify"] = time.perf_counter() - t
    return DemoResult(session, slices, accuracy, influence, rectified, seconds)


def fmt_slices(slices: list[dict]) -> str:
    """Readable slice names: ``green triangle, orange square``."""
    return ", ".join(" ".join(str(v) for v in s.values()) for s in slices)
