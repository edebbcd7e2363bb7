"""The job that made the shapes CLIPs: a small open_clip ``CLIP`` pretrained on captioned shapes of
every combination (``python -m drml_widgets pretrain-shapes [--captions noisy]``). One job, two
caption policies (:mod:`.captions`): ``exact`` made ``shapes``, ``noisy`` made ``shapes-noisy``.

Its weights ship with the package in open_clip's own ``local-dir`` format (a folder with
``open_clip_config.json`` and ``open_clip_model.safetensors``, at ``embed.checkpoints.SHAPES_MODEL_DIR``),
so the encoder loads it through the same code path as any real open_clip model and never imports
this module. :func:`pretrain_shapes_clip` is the seeded script that made the committed checkpoints.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.shapes import ATTRIBUTES, IMAGE_SIZE, render_table, sample_attributes
from ..embed.checkpoints import SHAPES_MODEL_DIR, SHAPES_NOISY_MODEL_DIR, write_model_dir
from ..errors import InputError
from ..threads import small_tensor_threads
from .captions import POLICIES, caption_matches

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

# Where each caption policy's CLIP ships (the default ``out_dir``).
MODEL_DIRS = {"exact": SHAPES_MODEL_DIR, "noisy": SHAPES_NOISY_MODEL_DIR}


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
    out_dir: str | Path | None = None,
    steps: int = 1000,
    batch_size: int = 128,
    n_images: int = 8000,
    seed: int = 0,
    lr: float = 1e-3,
    weight_decay: float = 0.1,
    progress: bool = True,
    captions: str = "exact",
) -> PretrainReport:
    """Pretrain a shapes CLIP contrastively on shapes of all combinations, captioned by the policy
    ``captions`` (``"exact"`` or ``"noisy"``, :data:`.captions.POLICIES`), into ``out_dir`` (by
    default the bundled folder of that policy's model, :data:`MODEL_DIRS`).

    Deterministic by ``seed`` for a given torch build: training runs on one thread whatever the
    core count, because a sum split over more threads rounds differently (runs on 1 and 2 threads
    ended with checkpoints differing in 132,500 bytes, though alike to three decimals in every
    figure measured). The defaults made the committed ``shapes`` checkpoint (782 s on one CPU
    core), and with ``captions="noisy"`` the ``shapes-noisy`` one.

    Example:
        >>> import tempfile
        >>> report = pretrain_shapes_clip(tempfile.mkdtemp(), steps=2, batch_size=16, n_images=64,
        ...                               progress=False)
        >>> report.steps, report.n_parameters
        (2, 7765377)
    """
    if captions not in POLICIES:
        raise InputError(f"Unknown caption policy {captions!r}. Fix: pass one of {sorted(POLICIES)}.")
    import open_clip
    import torch
    import torch.nn.functional as F
    from tqdm.auto import tqdm

    write = POLICIES[captions]
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
    bar = tqdm(range(steps), desc=f"pretraining shapes CLIP ({captions} captions)", disable=not progress)
    with small_tensor_threads(1):
        for _ in bar:
            idx = rng.choice(n_images, size=batch_size, replace=False)
            batch = [write(rows[i], rng) for i in idx]
            match = torch.from_numpy(caption_matches([rows[i] for i in idx], [c.stated for c in batch])).float()
            out = model(images[idx], tokenizer([c.text for c in batch]))
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
    out_path = write_model_dir(model, MODEL_DIRS[captions] if out_dir is None else out_dir, {"model_cfg": MODEL_CFG, "preprocess_cfg": PREPROCESS_CFG})
    return PretrainReport(
        out_dir=out_path,
        steps=steps,
        seconds=seconds,
        final_loss=loss_value,
        n_parameters=sum(p.numel() for p in model.parameters()),
        checkpoint_bytes=(out_path / "open_clip_model.safetensors").stat().st_size,
    )
