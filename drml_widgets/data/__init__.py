"""Image sources and the offline shapes world."""

from .shapes import ATTRIBUTES, ShapesWorld, load_shapes_world, render_shape

__all__ = ["ATTRIBUTES", "ShapesWorld", "load_shapes_world", "render_shape"]
