"""Fine-tuning only CLIP's two projections on cached tower outputs (paper 004).

The image projection (``model.visual.proj``) and the text projection (``model.text_projection``)
train, everything else frozen, on

- ``L_CLIP`` (eq. 1): each image against its class in a random template of CLIP's 80;
- ``L_vc`` and ``L_lc`` (eqs. 2-3): in-modal class contrast of the images in a batch, and of
  the class prompts across templates;
- one spurious term, ``L_ls`` (language, eq. 5: class prompts pushed away from the attribute's
  prompts) or ``L_vs`` (vision, eq. 4: images grouped by class and attribute value),

summed unweighted (eq. 6).
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import pandas as pd

from ...errors import SpuriousError
from ...threads import small_tensor_threads
from ..detection import group_accuracy
from .losses import clip_loss, cross_group_similarity, group_masks, language_spurious_masks
from .projections import ProjectionData, TunedProjections, class_indices

VARIANTS: dict[str, tuple[str, ...]] = {
    "plain": (),                        # the CLIP loss alone: ordinary contrastive fine-tuning
    "class": ("vc", "lc"),              # + in-modal class contrast (ablation: no spurious term)
    "language": ("vc", "lc", "ls"),     # paper 004, L_CLIP + L_vc + L_lc + L_ls
    "vision": ("vc", "lc", "vs"),       # paper 004, L_CLIP + L_vc + L_lc + L_vs
}


def _check_spurious(data: ProjectionData, attribute, rows: np.ndarray, variant: str) -> None:
    terms = VARIANTS[variant]
    if "ls" in terms and data.spurious_text is None:
        raise SpuriousError("The language variant needs prompts of the spurious attribute. "
                            "Fix: pass spurious_values=[...] (e.g. ['orange', 'green']) to cache_features.")
    if "vs" in terms and attribute is None:
        raise SpuriousError("The vision variant groups images by their spurious attribute. "
                            "Fix: pass attribute= one value per cached image (e.g. table['color']).")
    if attribute is None:
        return
    present = set(attribute[rows].astype(str))
    missing = [v for v in data.spurious_values if v not in present]
    if missing:
        raise SpuriousError(f"No training image has the spurious attribute value(s) {missing}; the training rows "
                            f"have {sorted(present)}. Fix: check the spelling, or pick a value the images have.")
    if "vs" in terms and len(present) < 2:
        raise SpuriousError(f"Every training image has the same attribute value {sorted(present)}, so the vision "
                            "variant has nothing to separate. Fix: use the language variant, or more images.")


def fine_tune_projections(
    data: ProjectionData,
    labels,
    rows=None,
    *,
    variant: str = "language",
    attribute=None,
    epochs: int = 50,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    batch_size: int = 128,
    seed: int = 0,
    val_rows=None,
    progress: Callable[[int, int], None] | None = None,
) -> TunedProjections:
    """Fine-tune only the two projections on cached tower outputs; the base is not changed.

    ``labels`` holds a class index for every cached image; ``rows`` picks the training images
    (default: all). ``variant`` is ``plain`` (the CLIP loss), ``class`` (+ in-modal class
    contrast), ``language`` or ``vision`` (+ the spurious term, paper 004). ``attribute`` gives
    each cached image its spurious attribute value: the vision variant needs it, and with it
    every spurious value of ``data`` must occur in the training rows. The temperature stays the
    base model's. AdamW with the paper's weight decay (1e-4) and Adam's usual learning rate
    rather than the paper's SGD at 1e-5, which suits a large CLIP, not a 64-d one. With
    ``val_rows`` each epoch records their average and worst class x attribute accuracy; the
    last epoch is kept. ``progress(epoch, epochs)`` runs after each epoch. The loop runs on one
    torch thread (:func:`~drml_widgets.threads.small_tensor_threads`): its tensors are small.

    Example:
        >>> from drml_widgets import ClipEncoder
        >>> from drml_widgets.methods.spurious import cache_features
        >>> imgs = np.zeros((4, 64, 64, 3), np.uint8); imgs[:2, 20:40, 20:40] = 200
        >>> data = cache_features(ClipEncoder("shapes"), imgs, ["square", "blank"], templates=["a {}."])
        >>> tuned = fine_tune_projections(data, [0, 0, 1, 1], variant="class", epochs=2)
        >>> tuned.predict(data).shape, len(tuned.history)
        ((4,), 3)
    """
    import torch
    import torch.nn.functional as F

    if variant not in VARIANTS:
        raise SpuriousError(f"Unknown variant {variant!r}; choose one of {list(VARIANTS)}.")
    terms = VARIANTS[variant]
    n = len(data.image)
    labels = class_indices(labels, n, len(data.classes))
    rows = np.arange(n) if rows is None else np.asarray(rows)
    attribute = None if attribute is None else np.asarray(attribute, dtype=object)
    if attribute is not None and len(attribute) != n:
        raise SpuriousError(f"attribute has {len(attribute)} values for {n} cached images; pass one per image.")
    _check_spurious(data, attribute, rows, variant)
    if len(rows) < 2 or len(np.unique(labels[rows])) < 2:
        raise SpuriousError("Fine-tuning needs training images of at least two classes. Fix: pass more rows.")

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    visual = torch.tensor(data.visual_proj, requires_grad=True)
    text = torch.tensor(data.text_proj, requires_grad=True)
    opt = torch.optim.AdamW([visual, text], lr=lr, weight_decay=weight_decay)
    feats, y = torch.from_numpy(data.image[rows]), torch.from_numpy(labels[rows])
    n_classes, n_templates, width = data.class_text.shape
    n_class_prompts = n_classes * n_templates
    prompts = [data.class_text.reshape(n_class_prompts, width)]
    if "ls" in terms:
        prompts.append(data.spurious_text.reshape(-1, width))
        ls_masks = language_spurious_masks(n_classes, len(data.spurious_values), n_templates)
    prompts = torch.from_numpy(np.concatenate(prompts))
    lc_masks = group_masks(torch.arange(n_classes).repeat_interleave(n_templates))
    if "vs" in terms:
        _, codes = np.unique(attribute[rows].astype(str), return_inverse=True)
        spurious_group = torch.from_numpy(labels[rows] * (codes.max() + 1) + codes)
    scale = data.logit_scale

    log = []
    start = time.perf_counter()
    with small_tensor_threads(1):
        for epoch in range(epochs + 1):
            totals: dict[str, float] = {}
            order = torch.randperm(len(rows), generator=gen) if epoch else torch.arange(0)  # epoch 0: the start
            for b in range(0, len(order), batch_size):
                idx = order[b: b + batch_size]
                if len(idx) < 2:
                    continue
                x = F.normalize(feats[idx] @ visual, dim=-1)
                t = F.normalize(prompts @ text, dim=-1)
                template = torch.randint(n_templates, (len(idx),), generator=gen)
                parts = {"clip": clip_loss(x, t[y[idx] * n_templates + template], scale)}
                if "vc" in terms:
                    parts["vc"] = cross_group_similarity(x, x, *group_masks(y[idx]), scale)
                if "lc" in terms:
                    parts["lc"] = cross_group_similarity(t[:n_class_prompts], t[:n_class_prompts], *lc_masks, scale)
                if "ls" in terms:
                    parts["ls"] = cross_group_similarity(t, t, *ls_masks, scale)
                if "vs" in terms:
                    parts["vs"] = cross_group_similarity(x, x, *group_masks(spurious_group[idx]), scale)
                loss = sum(parts.values())  # eq. 6: the terms are summed unweighted
                opt.zero_grad()
                loss.backward()
                opt.step()
                for k, v in parts.items():
                    totals[f"loss_{k}"] = totals.get(f"loss_{k}", 0.0) + float(v.detach()) * len(idx) / len(rows)
            record = {"epoch": epoch, **totals}
            if val_rows is not None:
                current = TunedProjections(variant, visual.detach().numpy(), text.detach().numpy())
                groups = pd.DataFrame({"class": labels[val_rows],
                                       "attribute": "" if attribute is None else attribute[val_rows].astype(str)})
                acc = group_accuracy(current.predict(data, val_rows), labels[val_rows], groups, ["class", "attribute"])
                record.update(val_average=acc.average, val_worst=acc.worst)
            log.append(record)
            if progress is not None and epoch:
                progress(epoch, epochs)
    return TunedProjections(variant, visual.detach().numpy().copy(), text.detach().numpy().copy(),
                            pd.DataFrame(log), time.perf_counter() - start)
