"""DrML's measurements of the shared space on a session's evaluated images (paper 000, section
2): the modality gap between each image and a caption of its own attributes, and cross-modal
transfer on those pairs."""

from __future__ import annotations

import numpy as np

from ..diagnose.gap import GapCloser, GapStats, gap_stats
from ..diagnose.transfer import TransferReport, cross_modal_transfer
from ..prompts.generate import captions
from .protocol import SessionView


def caption_embeddings(view: SessionView, mask: np.ndarray) -> np.ndarray:
    """Embeddings of one caption per selected image: its attributes in the last template, each
    distinct caption embedded once (10,000 images have a few dozen distinct captions)."""
    texts = captions(view.table[mask], view.attributes, view.spec.templates[-1])
    unique, inverse = np.unique(np.array(texts, dtype=object), return_inverse=True)
    return view.encoder.encode_texts(list(unique))[inverse]


def measure_gap(view: SessionView, closed: bool = False) -> GapStats:
    """Gap statistics between each evaluated image and a caption of its own attributes, with
    the class-level gap. ``closed``: first centre each modality on its own mean over these pairs
    and renormalise (what closing the gap does to the picture; the head's ``close_gap`` uses the
    means of its training data instead).

    Example:
        >>> from drml_widgets import Session
        >>> s = Session.from_shapes_world(n=1200, ensemble=False, train=False)
        >>> def direction(g): return g.summary.query("statistic == 'direction' and level == 'pair'")["mean"].item()
        >>> direction(s.measure_gap(closed=True)) < direction(s.measure_gap()) / 4
        True
    """
    mask = view.split("test")
    images, texts = view.image_emb[mask], caption_embeddings(view, mask)
    if closed:
        closer = GapCloser.fit(images, texts)
        images, texts = closer.transform(images, "image"), closer.transform(texts, "text")
    return gap_stats(images, texts, view.labels[mask], view.labels[mask])


def measure_transfer(view: SessionView, kind: str = "linear") -> TransferReport:
    """Cross-modal transfer on (image, caption) pairs of the evaluated images.

    Example:
        >>> from drml_widgets import Session
        >>> type(Session.from_shapes_world(n=1200, ensemble=False, train=False).measure_transfer()).__name__
        'TransferReport'
    """
    mask = view.split("test")
    return cross_modal_transfer(view.image_emb[mask], caption_embeddings(view, mask), view.labels[mask],
                                kind=kind, seed=view.seed)
