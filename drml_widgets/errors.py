"""Errors that say what went wrong and how to fix it.

Each class also derives from the built-in exception a caller would expect (``ValueError``,
``RuntimeError``, ``OSError``), so ``except ValueError`` keeps working.
"""

from __future__ import annotations


class DrmlError(Exception):
    """Base class of every drml-widgets error."""


class UnknownModelError(DrmlError, ValueError):
    """A model name or pretrained tag that open_clip does not know."""


class WeightsUnavailableError(DrmlError, RuntimeError):
    """Weights that cannot be loaded (offline, missing file, broken download)."""


class ImageLoadError(DrmlError, ValueError):
    """An input that cannot be read or understood as an image."""


class EmptyInputError(DrmlError, ValueError):
    """An empty list where at least one item is needed."""


class CacheNotWritableError(DrmlError, OSError):
    """An embedding cache directory that cannot be created or written."""


class EmbeddingError(DrmlError, ValueError):
    """Embeddings of the wrong shape or with NaN or inf values."""


class CheckpointError(DrmlError, ValueError):
    """A checkpoint file that is truncated, corrupt or built for another architecture."""


class DeviceError(DrmlError, RuntimeError):
    """A device that is not available here (``cuda`` without a GPU, an unknown name)."""


class CacheCorruptError(DrmlError, OSError):
    """A cache shard whose bytes do not match its checksum (it is quarantined, not served)."""


class InputError(DrmlError, ValueError):
    """An argument of the wrong type or value (a table without ``label``, ``epochs=0``, ...)."""


class WidgetError(DrmlError, ValueError):
    """A request from the browser that cannot be served (bad rows, a malformed selection)."""


class SessionError(DrmlError, ValueError):
    """A request the session cannot serve (unknown class, attribute or slice; a method that does not apply)."""


class StopNotebook(Exception):
    """Raise in a notebook cell to stop "Run All" with a plain message instead of a traceback.

    Example:
        >>> err = StopNotebook("No image folder at ~/my-images: set IMAGE_DIR above.")
        >>> err._render_traceback_()
        ['Stopped: No image folder at ~/my-images: set IMAGE_DIR above.']
    """

    def _render_traceback_(self) -> list[str]:
        # IPython shows these lines in place of the traceback; the cell still fails, so Run All stops.
        return [f"Stopped: {self}"]


class ReportNotWritableError(DrmlError, OSError):
    """A report path that cannot be written (a missing folder, a folder, no permission)."""
