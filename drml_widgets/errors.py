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


class MissingExtraError(DrmlError, ImportError):
    """An optional feature whose extra is not installed (``fast``, ``ray``): embed.onnx_backend, embed.distributed."""


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


# Errors of one layer or method; each is raised by the module named last in its docstring.


class DatasetError(DrmlError, ValueError):
    """A source of images that cannot become a dataset (no classes, missing files, bad labels): data."""


class PromptError(DrmlError, ValueError):
    """An attribute set or template that cannot produce prompts: prompts.generate."""


class VocabularyError(DrmlError, ValueError):
    """An attribute vocabulary that cannot be read or used: prompts.vocabulary."""


class TagError(DrmlError, ValueError):
    """Tags that cannot be computed or used: a tag vocabulary or attribute set, templates, a scale,
    thresholds or a tag table (the one zero-shot tagger): diagnose.zero_shot, methods.tagging."""


# The zero-shot tagger's error was TaggingError before its two taggers became one: the same class,
# so `except TaggingError` in users' code keeps catching it.
TaggingError = TagError


class ProposalError(DrmlError, ValueError):
    """Inputs from which attribute proposals cannot be computed: diagnose.proposals."""


class VersionError(DrmlError, IndexError):
    """A head version that does not exist (nothing to undo or redo, an unknown number): diagnose.rectify."""


class UnknownTagError(TagError):
    """Tags that are not in the vocabulary (or not columns of the tag table): methods.tagging."""


class PrimeError(DrmlError, ValueError):
    """Inputs or parameters PRIME cannot work with: methods.prime."""


class LossError(DrmlError, ValueError):
    """Per-image losses or black-box outputs that are NaN, inf, negative or misshapen: methods.blackbox."""


class LLM2LossError(DrmlError, ValueError):
    """Inputs that cannot train or query an LLM2Loss ensemble: methods.llm2loss."""


class LBEEError(DrmlError, ValueError):
    """Inputs or parameters LBEE cannot work with: methods.lbee."""


class SpuriousError(DrmlError, ValueError):
    """A spurious attribute, label or variant that cannot be used for fine-tuning: methods.spurious."""


class ProjectionNotFoundError(DrmlError, RuntimeError):
    """A model without the two projection layers spurious-aware fine-tuning trains: methods.spurious."""


class ScorecardError(DrmlError, ValueError):
    """A scorecard request that cannot be served (too few images, unknown kinds, nothing kept): scorecard."""


class BundleMissingError(DrmlError, FileNotFoundError):
    """A front-end bundle that is not in ``drml_widgets/static``: widgets.assets."""


class ThumbnailError(DrmlError, ValueError):
    """A thumbnail request that cannot be served (no images, bad row numbers): widgets.thumbnails."""


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
