"""The main job on the embedded default: DrML's loop on the shapes world, offline.

Train a linear head on the biased split's image embeddings, probe it with text of every
size x colour x shape combination, and compare the text-discovered error slices with image
accuracy on every combination.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .data.shapes import ATTRIBUTES, ShapesWorld, load_shapes_world
from .diagnose.heads import Head, train_head
from .diagnose.slices import SliceComparison, compare_slices, image_slice_scores, text_slice_scores
from .embed.encoder import ClipEncoder
from .prompts.generate import AttributeSet, PromptSpec, generate_prompts

# The paper's dSpritesV attributes and prompts (appendix B.2-B.3).
SHAPES_ATTRIBUTES = AttributeSet({k: list(ATTRIBUTES[k]) for k in ("size", "color", "shape")})
RAW_TEMPLATE = "{size}, {color}, {shape}."
ENGINEERED_TEMPLATE = "{size} {color} {shape}."
SLICE_BY = ["color", "shape"]


@dataclass(repr=False)
class DemoResult:
    """What the shapes-world DrML loop found."""

    world: ShapesWorld
    head: Head
    prompts: pd.DataFrame
    slices: SliceComparison
    image_accuracy: float
    seconds: dict = field(default_factory=dict)

    def summary(self) -> str:
        worst_text = self.slices.worst(4, "text_prob")
        worst_image = self.slices.worst(4, "image_acc")
        fmt = lambda df: ", ".join(f"{c} {s}" for c, s in zip(df["color"], df["shape"]))  # noqa: E731
        table = self.slices.table[SLICE_BY + ["text_prob", "text_acc", "image_acc", "n_images"]]
        return "\n".join([
            f"{self.world!r}",
            f"head: {self.head!r}; image accuracy on every combination: {self.image_accuracy:.3f}",
            f"{len(self.prompts)} prompts scored over {len(self.slices.table)} colour x shape slices:",
            table.to_string(index=False, float_format=lambda v: f"{v:.3f}"),
            f"Spearman (text prob vs image accuracy): {self.slices.spearman:.3f}; "
            f"Pearson: {self.slices.pearson:.3f}",
            f"worst by text:  {fmt(worst_text)}",
            f"worst by image: {fmt(worst_image)}",
            "timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in self.seconds.items()),
        ])

    def __repr__(self) -> str:
        return (f"DemoResult(spearman={self.slices.spearman:.3f}, pearson={self.slices.pearson:.3f}, "
                f"image_accuracy={self.image_accuracy:.3f})")


def run_demo(
    n: int = 10_000,
    seed: int = 0,
    encoder: ClipEncoder | None = None,
    ensemble: bool = True,
) -> DemoResult:
    """Run DrML's diagnosis on the shapes world and return what it found.

    Example:
        >>> result = run_demo(n=2000)  # doctest: +SKIP
        >>> print(result.summary())  # doctest: +SKIP
    """
    seconds = {}
    t = time.perf_counter()
    world = load_shapes_world(n=n, seed=seed)
    seconds["render"] = time.perf_counter() - t

    t = time.perf_counter()
    encoder = encoder or ClipEncoder("shapes")
    image_emb = encoder.encode_images(world.images)
    spec = PromptSpec([RAW_TEMPLATE, ENGINEERED_TEMPLATE], ensemble=ensemble,
                      ensemble_phrase="{size} {color} {shape}")
    prompts = generate_prompts(SHAPES_ATTRIBUTES, spec, label_rule="shape", classes=world.classes)
    text_emb = encoder.encode_texts(prompts["prompt"].tolist())
    seconds["encode"] = time.perf_counter() - t

    t = time.perf_counter()
    split = world.table["split"].to_numpy()
    labels = world.labels
    head = train_head(image_emb[split == "train"], labels[split == "train"],
                      image_emb[split == "val"], labels[split == "val"],
                      classes=world.classes, seed=seed)
    seconds["train head"] = time.perf_counter() - t

    t = time.perf_counter()
    test = split == "test"
    pred = head.predict(image_emb[test])
    text = text_slice_scores(head.predict_proba(text_emb), prompts, SLICE_BY)
    image = image_slice_scores(pred, labels[test], world.table[test], SLICE_BY)
    slices = compare_slices(text, image, SLICE_BY)
    seconds["score slices"] = time.perf_counter() - t
    return DemoResult(world, head, prompts, slices, float(np.mean(pred == labels[test])), seconds)
