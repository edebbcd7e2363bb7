"""drml-widgets: diagnose and rectify vision classifiers with language, in CLIP's shared space.

Example:
    >>> from drml_widgets import ClipEncoder, Session, load_shapes_world
    >>> world = load_shapes_world(n=1200)
    >>> ClipEncoder("shapes").encode_images(world.images[:4]).shape
    (4, 64)
"""

from .data.shapes import WATERBIRDS_LIKE, ShapesWorld, load_shapes_world
from .embed.encoder import ClipEncoder
from .session import Session, SessionError
from .errors import (CacheNotWritableError, DrmlError, EmbeddingError, EmptyInputError, ImageLoadError,
                     StopNotebook, UnknownModelError, WeightsUnavailableError)

__version__ = "0.1.0"
__all__ = [
    "CacheNotWritableError", "ClipEncoder", "DrmlError", "EmbeddingError", "EmptyInputError",
    "ImageLoadError", "ShapesWorld", "StopNotebook", "UnknownModelError", "WATERBIRDS_LIKE", "WeightsUnavailableError",
    "Session", "SessionError", "load_shapes_world",
]
