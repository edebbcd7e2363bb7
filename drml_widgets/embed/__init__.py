"""Encoders over open_clip and the on-disk embedding cache."""

from .cache import EmbeddingCache, default_cache_dir
from .encoder import ClipEncoder
from .images import check_images
from .models import ModelSpec, resolve_model

__all__ = ["ClipEncoder", "EmbeddingCache", "ModelSpec", "check_images", "default_cache_dir", "resolve_model"]
