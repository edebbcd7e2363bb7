"""DrML's diagnosis kernels (paper 000): heads, text-based slices. They never import widgets."""

from .heads import Head, train_head
from .slices import SliceComparison, compare_slices, image_slice_scores, text_slice_scores

__all__ = ["Head", "SliceComparison", "compare_slices", "image_slice_scores", "text_slice_scores", "train_head"]
