"""Encoders over open_clip, the on-disk embedding cache, devices and checkpoint files."""

from .cache import EmbeddingCache, default_cache_dir
from .checkpoints import SHAPES_MODEL_DIR, write_model_dir
from .devices import resolve_device
from .encoder import ClipEncoder
from .images import check_images
from .models import ModelSpec, resolve_model

__all__ = ["SHAPES_MODEL_DIR", "ClipEncoder", "EmbeddingCache", "ModelSpec", "check_images", "default_cache_dir",
           "resolve_device", "resolve_model", "write_model_dir"]
