"""DrML's diagnosis kernels (paper 000): heads, text-based slices. They never import widgets."""

from .heads import Head, train_head
from .slices import SliceComparison, compare_slices, image_slice_scores, text_slice_scores
from .text_failure import TextFailure, top_text_failure

__all__ = ["Head", "SliceComparison", "TextFailure", "compare_slices", "image_slice_scores", "text_slice_scores",
           "top_text_failure", "train_head"]
