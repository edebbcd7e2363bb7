"""Image sources and the offline shapes world."""

from .shapes import ATTRIBUTES, WATERBIRDS_LIKE, ShapesWorld, load_shapes_world, render_shape

__all__ = ["ATTRIBUTES", "WATERBIRDS_LIKE", "ShapesWorld", "load_shapes_world", "render_shape"]
