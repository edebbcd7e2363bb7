"""Resolving what the user asked for into an open_clip model spec and a stable identity.

The identity (architecture, weights, preprocessing) keys the embedding cache, so it is computed
without loading the model: from open_clip's config registry, the pretrained tag's metadata, or a
hash of the checkpoint file.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ..errors import UnknownModelError, WeightsUnavailableError
from .checkpoints import SHAPES_MODEL_DIR, SHAPES_MODEL_NAME, checkpoint_error, nonfinite_error

LOCAL_DIR = "local-dir:"
HF_HUB = "hf-hub:"


@dataclass(frozen=True)
class ModelSpec:
    """What to load: ``open_clip_name`` and ``pretrained`` go straight to open_clip."""

    label: str
    open_clip_name: str
    pretrained: str | None
    identity: dict = field(hash=False, compare=False)
    fetches_weights: bool = False
    # The local weights file, when there is one: named in errors about a bad checkpoint.
    checkpoint: str | None = None


@lru_cache(maxsize=32)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, memoised on (path, size, mtime) so repeated encoders stay cheap.

    Example:
        >>> len(file_sha256(SHAPES_MODEL_DIR / "open_clip_config.json"))
        64
    """
    st = os.stat(path)
    return _file_sha256(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


def _preprocess_identity(pretrained_cfg: dict | None, image_size) -> dict:
    from open_clip.transform import PreprocessCfg, merge_preprocess_dict

    cfg = merge_preprocess_dict(PreprocessCfg(), pretrained_cfg or {})
    return {
        "size": image_size,
        "mean": list(cfg["mean"]),
        "std": list(cfg["std"]),
        "interpolation": cfg["interpolation"],
        "resize_mode": cfg["resize_mode"],
    }


def _local_dir_spec(label: str, directory: Path) -> ModelSpec:
    config_file = directory / "open_clip_config.json"
    if not config_file.is_file():
        raise WeightsUnavailableError(
            f"{str(directory)!r} is a folder without open_clip_config.json. Fix: point at an open_clip "
            "model folder (open_clip_config.json plus weights), or pass an architecture name with "
            "pretrained='path/to/checkpoint'."
        )
    config = json.loads(config_file.read_text())
    from open_clip.factory import _find_checkpoint_in_dir

    weights = _find_checkpoint_in_dir(directory)
    if weights is None:
        raise WeightsUnavailableError(
            f"The model folder {str(directory)!r} has a config but no weights file "
            "(*.safetensors, *.bin or *.pth). Fix: copy the weights into it."
        )
    identity = {
        "architecture": config["model_cfg"],
        "weights_sha256": file_sha256(weights),
        "preprocess": config.get("preprocess_cfg", {}),
    }
    return ModelSpec(label, LOCAL_DIR + str(directory), None, identity, checkpoint=str(weights))


def _suggest(name: str, choices: list[str]) -> str:
    lower = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(name.lower(), list(lower), n=5, cutoff=0.5)
    return ", ".join(repr(lower[c]) for c in close)


def resolve_model(model: str | os.PathLike, pretrained: str | os.PathLike | None = None) -> ModelSpec:
    """Turn ``model`` (+ ``pretrained``) into a :class:`ModelSpec`, or explain what is wrong.

    Accepted: ``"shapes"`` (the bundled shapes CLIP); an open_clip name with a pretrained tag
    (``"ViT-B-32", "openai"``) or a local checkpoint file; an open_clip model folder
    (``open_clip_config.json`` + weights, optionally as ``"local-dir:PATH"``); ``"hf-hub:org/repo"``.

    Example:
        >>> resolve_model("shapes").label
        'shapes'
        >>> resolve_model("ViT-B-32", "openai").identity["weights"]
        'openai'
    """
    import open_clip

    name = os.fspath(model)
    pretrained = os.fspath(pretrained) if pretrained is not None else None
    if name == SHAPES_MODEL_NAME:
        return _local_dir_spec(SHAPES_MODEL_NAME, SHAPES_MODEL_DIR)
    if name.startswith(LOCAL_DIR):
        return _local_dir_spec(name, Path(name[len(LOCAL_DIR):]).expanduser())
    if name.startswith(HF_HUB):
        identity = {"hf_hub": name[len(HF_HUB):]}
        return ModelSpec(name, name, None, identity, fetches_weights=True)
    if Path(name).expanduser().is_dir():
        return _local_dir_spec(name, Path(name).expanduser())
    if Path(name).suffix in (".pt", ".pth", ".bin", ".safetensors") or Path(name).is_file():
        raise UnknownModelError(
            f"{name!r} looks like a checkpoint file, which needs its architecture. "
            f"Fix: ClipEncoder('ViT-B-32', pretrained={name!r}) with the architecture it was trained with."
        )

    available = open_clip.list_models()
    canonical = {m.lower(): m for m in available}.get(name.replace("/", "-").lower())
    if canonical is None:
        if os.sep in name or name.startswith((".", "~")):
            raise UnknownModelError(
                f"No model folder at {name!r}. Fix: check the path; a model folder holds "
                "open_clip_config.json and the weights, and a bare checkpoint file goes in pretrained= "
                "with its architecture, e.g. ClipEncoder('ViT-B-32', pretrained='/path/to/file.bin')."
            )
        hint = _suggest(name, available)
        raise UnknownModelError(
            f"Unknown model {name!r}." + (f" Did you mean {hint}?" if hint else "")
            + " Fix: use a name from open_clip.list_models(), 'shapes' for the bundled offline model, "
            "or a folder with open_clip_config.json."
        )
    model_cfg = open_clip.get_model_config(canonical)
    image_size = model_cfg["vision_cfg"].get("image_size")
    tags = open_clip.list_pretrained_tags_by_model(canonical)
    if pretrained is None:
        raise UnknownModelError(
            f"{canonical!r} needs weights. Fix: pass pretrained= one of {tags} "
            "or the path of a local checkpoint file."
        )
    tag_cfg = open_clip.get_pretrained_cfg(canonical, pretrained)
    if tag_cfg:
        identity = {
            "architecture": canonical,
            "weights": pretrained,
            "preprocess": _preprocess_identity(tag_cfg, image_size),
        }
        return ModelSpec(f"{canonical}/{pretrained}", canonical, pretrained, identity, fetches_weights=True)
    path = Path(pretrained).expanduser()
    if path.is_file():
        identity = {
            "architecture": canonical,
            "weights_sha256": file_sha256(path),
            "preprocess": _preprocess_identity(None, image_size),
        }
        return ModelSpec(f"{canonical}/{path.name}", canonical, str(path), identity, checkpoint=str(path))
    hint = _suggest(pretrained, tags)
    raise UnknownModelError(
        f"{pretrained!r} is neither a pretrained tag of {canonical!r} nor an existing file."
        + (f" Did you mean {hint}?" if hint else "")
        + f" Known tags: {tags}."
    )


def load_open_clip(spec: ModelSpec, device: str):
    """Load ``(model, preprocess, tokenizer)`` for a spec, turning failures into advice.

    A local checkpoint that cannot be loaded raises :class:`CheckpointError` (truncated, corrupt,
    another architecture); weights that cannot be fetched raise :class:`WeightsUnavailableError`.

    Example:
        >>> model, preprocess, tokenizer = load_open_clip(resolve_model("shapes"), "cpu")
        >>> tokenizer(["a red square."]).shape
        torch.Size([1, 24])
    """
    import open_clip

    try:
        model, _, preprocess = open_clip.create_model_and_transforms(
            spec.open_clip_name, pretrained=spec.pretrained, device=device
        )
        tokenizer = open_clip.get_tokenizer(spec.open_clip_name)
    except Exception as exc:  # open_clip reports bad and missing weights as assorted exception types
        if spec.checkpoint is not None:
            error = checkpoint_error(spec.open_clip_name, spec.pretrained, spec.checkpoint)
            if error is not None:
                raise error from exc
        if not spec.fetches_weights:
            raise
        offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0")
        raise WeightsUnavailableError(
            f"Could not fetch the weights of {spec.label}"
            + (" (HF_HUB_OFFLINE is set)" if offline else " (no network, or the download failed)")
            + f": {str(exc).rstrip('.')}. Fix: download the checkpoint on a machine with internet and pass the file, "
            "e.g. ClipEncoder('ViT-B-32', pretrained='/path/to/open_clip_pytorch_model.bin'), "
            "or use ClipEncoder('shapes') for the bundled offline model."
        ) from exc
    if spec.checkpoint is not None:
        error = nonfinite_error(model, spec.checkpoint)
        if error is not None:
            raise error
    model.eval()
    return model, preprocess, tokenizer
