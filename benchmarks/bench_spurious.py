"""Spurious-aware fine-tuning step time: projections only against full fine-tuning, side by side.

One training step of the language variant (L_CLIP + L_vc + L_lc + L_ls, batch 128, the 80
templates for 2 classes and 2 attribute values = 320 prompts) on the shapes CLIP, three ways:

1. projections only, on tower outputs cached once (what ``fine_tune_projections`` does);
2. projections only, running the frozen towers (no grad) on every step;
3. full fine-tuning: both towers, the projections and everything else trained (AdamW).

All three use the package's loss functions. Printed: median milliseconds per step, trainable
parameters, and each time as a ratio of full fine-tuning's. The one-off cost of caching the tower
outputs is printed beside them.

Run: OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/bench_spurious.py
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from drml_widgets import ClipEncoder, load_shapes_world
from drml_widgets.methods.spurious import (cache_features, clip_loss, cross_group_similarity, projections_off,
                                           fine_tune_projections, group_masks, language_spurious_masks)
from drml_widgets.prompts.text import fix_articles, imagenet_templates
from record import load, table, write_results

SPURIOUS = ["orange", "green"]
BATCH = 128


def language_loss(x, t, y, template, n_classes, n_templates, scale, masks):
    """The language variant's loss on unit image rows ``x`` and unit prompt rows ``t``."""
    lc, ls = masks
    n_class_prompts = n_classes * n_templates
    return (clip_loss(x, t[y * n_templates + template], scale)
            + cross_group_similarity(x, x, *group_masks(y), scale)
            + cross_group_similarity(t[:n_class_prompts], t[:n_class_prompts], *lc, scale)
            + cross_group_similarity(t, t, *ls, scale))


def tower_steps(model, preprocess, tokenizer, images, labels, classes, steps: int, full: bool) -> list[float]:
    """Seconds per step, running the towers on every step (``full``: training them too)."""
    model = copy.deepcopy(model)
    templates = imagenet_templates()
    texts = [fix_articles(t.format(c)) for c in classes for t in templates]
    texts += [fix_articles(t.format(f"{v} object")) for v in SPURIOUS for t in templates]
    tokens = tokenizer(texts)
    pixels = torch.stack([preprocess(img) for img in images])
    scale = float(model.logit_scale.detach().exp())
    masks = (group_masks(torch.arange(len(classes)).repeat_interleave(len(templates))),
             language_spurious_masks(len(classes), len(SPURIOUS), len(templates)))
    for p in model.parameters():
        p.requires_grad_(full)
    visual, text = model.visual.proj, model.text_projection
    visual.requires_grad_(True)
    text.requires_grad_(True)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-5, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(0)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        idx = torch.randint(len(pixels), (BATCH,), generator=gen)
        template = torch.randint(len(templates), (BATCH,), generator=gen)
        if full:
            x, t = model.encode_image(pixels[idx]), model.encode_text(tokens)
        else:
            with torch.no_grad(), projections_off(model):
                feats, text_feats = model.encode_image(pixels[idx]), model.encode_text(tokens)
            x, t = feats @ visual, text_feats @ text
        loss = language_loss(F.normalize(x, dim=-1), F.normalize(t, dim=-1), labels[idx], template,
                             len(classes), len(templates), scale, masks)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - start)
    return times[2:]  # the first steps pay for allocation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    args = parser.parse_args()
    at_start = load()
    world = load_shapes_world(n=1024, seed=0)
    encoder = ClipEncoder("shapes")
    model, preprocess, tokenizer = encoder.load()
    labels = torch.tensor(world.labels)
    images = [Image.fromarray(img) for img in world.images]

    start = time.perf_counter()
    data = cache_features(encoder, world.images, world.classes, spurious_values=SPURIOUS, progress=False)
    caching = time.perf_counter() - start
    epochs = 5
    tuned = fine_tune_projections(data, world.labels, variant="language", epochs=epochs,
                                  attribute=world.table["color"].to_numpy(), batch_size=BATCH)
    cached = tuned.seconds / (epochs * int(np.ceil(len(world.images) / BATCH)))
    uncached = statistics.median(tower_steps(model, preprocess, tokenizer, images, labels, world.classes,
                                             args.steps, full=False))
    full = statistics.median(tower_steps(model, preprocess, tokenizer, images, labels, world.classes,
                                         args.steps, full=True))
    n_proj = data.visual_proj.size + data.text_proj.size
    n_all = sum(p.numel() for p in model.parameters())
    rows = [[name, f"{1000 * seconds:.1f}", f"{n:,}", f"{seconds / full:.3f}x"]
            for name, seconds, n in (("projections only, cached tower outputs", cached, n_proj),
                                     ("projections only, towers every step", uncached, n_proj),
                                     ("full fine-tuning", full, n_all))]
    write_results("bench_spurious", [
        f"Language-variant step, batch {BATCH}, {len(data.templates)} templates, shapes CLIP "
        f"({torch.get_num_threads()} thread(s)); median over {args.steps - 2} steps (5 epochs for the cached one):",
        "", *table(["step", "ms/step", "trainable parameters", "time / full"], rows), "",
        f"Full fine-tuning takes {full / cached:.0f}x as long as a projections-only step on cached outputs, "
        f"{full / uncached:.1f}x one that runs the towers. Caching the towers' outputs for {len(world.images):,} "
        f"images took {caching:.1f} s, as long as {caching / uncached:.0f} steps that run the towers."],
        load_at_start=at_start)


if __name__ == "__main__":
    main()
