"""The job that made the shapes CLIP: a small open_clip ``CLIP`` pretrained on captioned shapes of
every combination (``python -m drml_widgets pretrain-shapes``).

Its weights ship with the package in open_clip's own ``local-dir`` format (a folder with
``open_clip_config.json`` and ``open_clip_model.safetensors``, at ``embed.checkpoints.SHAPES_MODEL_DIR``),
so the encoder loads it through the same code path as any real open_clip model and never imports
this module. :func:`pretrain_shapes_clip` is the seeded script that made the committed checkpoint.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.shapes import ATTRIBUTES, IMAGE_SIZE, render_table, sample_attributes
from ..embed.checkpoints import SHAPES_MODEL_DIR, write_model_dir
from ..prompts.generate import template_fields
from ..prompts.text import fix_articles, imagenet_templates
from ..threads import small_tensor_threads

MODEL_CFG = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": IMAGE_SIZE, "layers": 4, "width": 128, "patch_size": 8, "head_width": 32,
                   # A fixed 2-D sine-cosine position code: the learnable one starts 10x weaker than a
                   # patch's content, and contrastive training never grew it (position stayed at chance).
                   "pos_embed_type": "sin_cos_2d"},
    "text_cfg": {"context_length": 24, "vocab_size": 49408, "width": 128, "heads": 4, "layers": 3},
}
# open_clip's defaults, written out so the checkpoint's identity does not depend on them.
PREPROCESS_CFG = {
    "size": IMAGE_SIZE,
    "mode": "RGB",
    "mean": [0.48145466, 0.4578275, 0.40821073],
    "std": [0.26862954, 0.26130258, 0.27577711],
    "interpolation": "bicubic",
    "resize_mode": "shortest",
}

CAPTION_TEMPLATES = (
    "{size} {color} {shape}.",
    "{size}, {color}, {shape}.",
    "a {color} {shape}.",
    "a photo of a {color} {shape}.",
    "a {size} {color} {shape} in the {position}.",
    "{size} {color} {shape} in the {position}.",
    "a {color} {shape} in the {position}.",
    "a {size} {shape} in the {position}.",
    "a {shape} in the {position}.",
    # Captions, like people, name colour more often than shape. These make colour the more
    # salient feature of the embedding, as it is for real CLIPs on dSpritesV (paper 000, table 4).
    "something {color}.",
    "a {color} object.",
    "a {size} {color} thing in the {position}.",
    "something in the {position}.",
)
# Share of captions drawn from CLIP's 80 ImageNet templates, so prompt ensembles stay meaningful.
ENSEMBLE_SHARE = 0.3
# The phrases those templates wrap; one states position, so ensembles of it see position too.
ENSEMBLE_PHRASES = ("{size} {color} {shape}", "{color} {shape}", "{color} {shape} in the {position}")


def caption(row: dict, rng: np.random.Generator) -> str:
    """One random caption for an attribute row, from the core templates or the 80 ImageNet ones.

    Example:
        >>> row = {"color": "orange", "shape": "square", "size": "small", "position": "upper left"}
        >>> "orange" in caption(row, np.random.default_rng(0))
        True
    """
    return _caption_and_fields(row, rng)[0]


def _caption_and_fields(row: dict, rng: np.random.Generator) -> tuple[str, list[str]]:
    if rng.random() < ENSEMBLE_SHARE:
        templates = imagenet_templates()
        phrase = ENSEMBLE_PHRASES[rng.integers(len(ENSEMBLE_PHRASES))]
        text = templates[rng.integers(len(templates))].format(phrase.format(**row))
    else:
        phrase = CAPTION_TEMPLATES[rng.integers(len(CAPTION_TEMPLATES))]
        text = phrase.format(**row)
    return fix_articles(text), template_fields(phrase)


def caption_matches(rows: list[dict], fields: list[list[str]]) -> np.ndarray:
    """Which images each caption describes: ``[i, j]`` is true when image ``j`` has every
    attribute value that caption ``i`` (written for image ``i`` and stating ``fields[i]``) states.

    Captions are written from attributes, so "a red square." describes every red square in the
    batch, not only the one it was drawn for. Contrastive targets that count the others as wrong
    ask the model to tell apart what the caption cannot, and that noise drowns the attributes it
    has yet to learn (position, which fewer captions state).

    Example:
        >>> rows = [{"color": "red", "shape": "square"}, {"color": "red", "shape": "triangle"}]
        >>> caption_matches(rows, [["color"], ["color", "shape"]]).tolist()
        [[True, True], [False, True]]
    """
    return np.array([[all(other[f] == row[f] for f in names) for other in rows]
                     for row, names in zip(rows, fields)], dtype=bool)


@dataclass
class PretrainReport:
    """What :func:`pretrain_shapes_clip` did."""

    out_dir: Path
    steps: int
    seconds: float
    final_loss: float
    n_parameters: int
    checkpoint_bytes: int


def _to_tensor(images: np.ndarray):
    import torch

    mean = torch.tensor(PREPROCESS_CFG["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(PREPROCESS_CFG["std"]).view(1, 3, 1, 1)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    return (x - mean) / std


def pretrain_shapes_clip(
    out_dir: str | Path = SHAPES_MODEL_DIR,
    steps: int = 1000,
    batch_size: int = 128,
    n_images: int = 8000,
    seed: int = 0,
    lr: float = 1e-3,
    weight_decay: float = 0.1,
    progress: bool = True,
) -> PretrainReport:
    """Pretrain the shapes CLIP contrastively on captioned shapes of all combinations.

    Deterministic by ``seed`` for a given torch build: training runs on one thread whatever the
    core count, because a sum split over more threads rounds differently (runs on 1 and 2 threads
    ended with checkpoints differing in 132,500 bytes, though alike to three decimals in every
    figure measured). The defaults made the committed checkpoint (782 s on one CPU core).

    Example:
        >>> import tempfile
        >>> report = pretrain_shapes_clip(tempfile.mkdtemp(), steps=2, batch_size=16, n_images=64,
        ...                               progress=False)
        >>> report.steps, report.n_parameters
        (2, 7765377)
    """
    import open_clip
    import torch
    import torch.nn.functional as F
    from tqdm.auto import tqdm

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    table = sample_attributes(n_images, seed=seed + 1)
    images = _to_tensor(render_table(table, seed=seed + 1))
    rows = table[list(ATTRIBUTES)].to_dict("records")

    model = open_clip.CLIP(**MODEL_CFG, output_dict=True)
    tokenizer = open_clip.SimpleTokenizer(context_length=MODEL_CFG["text_cfg"]["context_length"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + np.cos(np.pi * min(1.0, s / steps))),
    )
    model.train()
    start = time.perf_counter()
    loss_value = float("nan")
    bar = tqdm(range(steps), desc="pretraining shapes CLIP", disable=not progress)
    with small_tensor_threads(1):
        for _ in bar:
            idx = rng.choice(n_images, size=batch_size, replace=False)
            texts, fields = zip(*(_caption_and_fields(rows[i], rng) for i in idx))
            match = torch.from_numpy(caption_matches([rows[i] for i in idx], fields)).float()
            out = model(images[idx], tokenizer(list(texts)))
            logits = out["logit_scale"] * out["text_features"] @ out["image_features"].T
            # Each caption against every image it describes, each image against every caption that
            # describes it (each row holds at least the pair it was drawn as).
            loss = 0.5 * (F.cross_entropy(logits, match / match.sum(1, keepdim=True))
                          + F.cross_entropy(logits.T, match.T / match.T.sum(1, keepdim=True)))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            loss_value = float(loss.detach())
            bar.set_postfix(loss=f"{loss_value:.3f}")
    seconds = time.perf_counter() - start
    model.eval()
    out_path = write_model_dir(model, out_dir, {"model_cfg": MODEL_CFG, "preprocess_cfg": PREPROCESS_CFG})
    return PretrainReport(
        out_dir=out_path,
        steps=steps,
        seconds=seconds,
        final_loss=loss_value,
        n_parameters=sum(p.numel() for p in model.parameters()),
        checkpoint_bytes=(out_path / "open_clip_model.safetensors").stat().st_size,
    )
