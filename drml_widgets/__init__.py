"""drml-widgets: diagnose and rectify vision classifiers with language, in CLIP's shared space.

Example:
    >>> from drml_widgets import ClipEncoder, Session, load_shapes_world
    >>> world = load_shapes_world(n=1200)
    >>> ClipEncoder("shapes").encode_images(world.images[:4]).shape
    (4, 64)
"""

from .data.shapes import WATERBIRDS_LIKE, ShapesWorld, load_shapes_world
from .embed.encoder import ClipEncoder
from .errors import (CacheCorruptError, CacheNotWritableError, CheckpointError, DeviceError, DrmlError, EmbeddingError,
                     EmptyInputError, ImageLoadError, InputError, ReportNotWritableError, SessionError, StopNotebook,
                     UnknownModelError, WeightsUnavailableError, WidgetError)
from .session import Session

__version__ = "0.1.0"
__all__ = [
    "CacheCorruptError", "CacheNotWritableError", "CheckpointError", "ClipEncoder", "DeviceError", "DrmlError",
    "EmbeddingError", "EmptyInputError", "ImageLoadError", "InputError", "ReportNotWritableError", "Session", "SessionError", "ShapesWorld",
    "StopNotebook", "UnknownModelError", "WATERBIRDS_LIKE", "WeightsUnavailableError", "WidgetError",
    "load_shapes_world",
]
