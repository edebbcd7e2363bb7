"""The loss terms of spurious-aware fine-tuning (paper 004) and the masks that group their rows.

``L_CLIP`` (eq. 1) is :func:`clip_loss`; every other term (``L_vc``, ``L_lc``, ``L_vs``,
``L_ls``; eqs. 2-5) is the paper's cross-group similarity (:func:`cross_group_similarity`)
with its own grouping of images or prompts.
"""

from __future__ import annotations


def clip_loss(image, text, scale: float):
    """Eq. 1: symmetric cross-entropy of matched (image, text) rows against the rest of the batch.

    Example:
        >>> import torch
        >>> e = torch.eye(3)
        >>> round(float(clip_loss(e, e, 10.0)), 4)
        0.0001
    """
    import torch
    import torch.nn.functional as F

    logits = scale * image @ text.T
    target = torch.arange(len(image))
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def cross_group_similarity(anchors, others, same, different, scale: float):
    """The paper's CS: for each anchor i, ``-mean_p log(e^{<A_i,B_p>/tau} / (sum_p + sum_q))``
    over its own group ``p`` (``same[i]``) against the other group ``q`` (``different[i]``),
    averaged over anchors.

    An anchor is left out when its own group is empty (the term is undefined); a pair in
    neither mask takes no part.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
        >>> same, different = group_masks(torch.tensor([0, 0, 1, 1]))
        >>> float(cross_group_similarity(x, x, same, different, 10.0)) < 1e-3  # groups already apart
        True
        >>> float(cross_group_similarity(x, x, different, same, 10.0)) > 5  # the opposite grouping
        True
    """
    has = same.any(dim=1)
    if not has.any():
        return (anchors.sum() + others.sum()) * 0.0
    same, members = same[has], (same | different)[has]
    logits = scale * anchors[has] @ others.T
    log_norm = logits.masked_fill(~members, float("-inf")).logsumexp(dim=1, keepdim=True)
    log_prob = (logits - log_norm).masked_fill(~same, 0.0)
    return -(log_prob.sum(dim=1) / same.sum(dim=1)).mean()


def group_masks(groups):
    """``same[i, j]``: j is in i's group and is not i; ``different[i, j]``: j is in another group.

    Example:
        >>> import torch
        >>> same, different = group_masks(torch.tensor([0, 0, 1]))
        >>> same.int().tolist(), different.int().tolist()
        ([[0, 1, 0], [1, 0, 0], [0, 0, 0]], [[0, 0, 1], [0, 0, 1], [1, 1, 0]])
    """
    import torch

    equal = groups[:, None] == groups[None, :]
    return equal & ~torch.eye(len(groups), dtype=torch.bool), ~equal


def language_spurious_masks(n_classes: int, n_values: int, n_templates: int):
    """Masks of ``L_ls`` over the prompts ``[classes x templates; attribute values x templates]``.

    A class prompt's own group is its class in the other templates (the attribute is absent);
    its other group is every attribute prompt, so it is pushed away from the attribute. Class
    prompts of other classes take no part (setting classes apart is ``L_lc``'s job). An
    attribute prompt's own group is its value in the other templates; its other group is every
    prompt with another value or with none.

    Example:
        >>> same, different = language_spurious_masks(2, 1, 1)  # triangle, square, orange
        >>> same.int().tolist(), different.int().tolist()
        ([[0, 0, 0], [0, 0, 0], [0, 0, 0]], [[0, 0, 1], [0, 0, 1], [1, 1, 0]])
    """
    import torch

    group = torch.arange(n_classes + n_values).repeat_interleave(n_templates)
    is_class = group < n_classes
    same, different = group_masks(group)
    return same, different & ~(is_class[:, None] & is_class[None, :])
