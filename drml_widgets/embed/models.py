"""Resolving what the user asked for into an open_clip model spec and a stable identity.

The identity (architecture, weights, preprocessing) keys the embedding cache, so it is computed
without loading the model: from open_clip's config registry, the pretrained tag's metadata and
the SHA-256 of the weights file. Hub weights are keyed by their content too, never by their tag
alone: a tag whose file changes upstream must not serve the old file's embeddings. Weights that
are not downloaded yet get their hash when :func:`fetch_weights` downloads them.
"""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import UnknownModelError, WeightsUnavailableError
from .checkpoints import (BUNDLED_MODELS, cached_hub_weights, checkpoint_error,
                          find_weights_in_dir, hub_weight_files, nonfinite_error)
from .identity import file_sha256

LOCAL_DIR = "local-dir:"
HF_HUB = "hf-hub:"
QUICKGELU = "-quickgelu"


@dataclass(frozen=True)
class ModelSpec:
    """What to load, and the identity that keys its embedding cache.

    ``open_clip_name`` is what open_clip builds (``ViT-B-32-quickgelu``, ``local-dir:PATH``,
    ``hf-hub:org/repo``); ``pretrained`` is the tag or file the user named. ``hub`` is the Hugging
    Face entry the weights come from, ``checkpoint`` the local weights file once known (a hub
    file still to download has none, and ``identity["weights_sha256"]`` is ``None`` until then).
    """

    label: str
    open_clip_name: str
    pretrained: str | None
    identity: dict = field(hash=False, compare=False)
    hub: str | None = None
    checkpoint: str | None = None
    # The side of the model's square input in pixels (None when only the hub knows it).
    image_size: int | None = None
    # Floats in one image's and one text's residual stream (tokens x width), where the config
    # says (a transformer tower built by open_clip itself): what sizes a CPU batch.
    image_stream: int | None = None
    text_stream: int | None = None

    @property
    def needs_download(self) -> bool:
        """Whether the weights still have to come from the hub.

        Example:
            >>> resolve_model("shapes").needs_download
            False
        """
        return self.hub is not None and self.checkpoint is None


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
    weights = find_weights_in_dir(directory)
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
    return ModelSpec(label, LOCAL_DIR + str(directory), None, identity, checkpoint=str(weights),
                     image_size=_side(config["model_cfg"].get("vision_cfg", {}).get("image_size")),
                     **stream_sizes(config["model_cfg"]))


def stream_sizes(model_cfg: dict) -> dict:
    """Floats in one item's residual stream per tower, ``tokens x width``, from an open_clip config.

    ``None`` for a tower the config does not describe as open_clip's own transformer (a ResNet,
    a timm or Hugging Face tower); open_clip's defaults fill the keys a config leaves out.

    Example:
        >>> import open_clip
        >>> stream_sizes(open_clip.get_model_config("ViT-B-32"))
        {'image_stream': 38400, 'text_stream': 39424}
    """
    vision, text = model_cfg.get("vision_cfg", {}), model_cfg.get("text_cfg", {})
    image = None
    if "timm_model_name" not in vision and not isinstance(vision.get("layers", 12), (list, tuple)):
        size, patch = vision.get("image_size", 224), vision.get("patch_size", 16)
        height, width = size if isinstance(size, (list, tuple)) else (size, size)
        image = ((height // patch) * (width // patch) + 1) * int(vision.get("width", 768)) if patch else None
    words = None if "hf_model_name" in text else int(text.get("context_length", 77)) * int(text.get("width", 512))
    return {"image_stream": image, "text_stream": words}


def _side(image_size) -> int | None:
    """One side of a model's input: its image_size is an int or a (height, width) pair."""
    if image_size is None:
        return None
    return max(image_size) if isinstance(image_size, (list, tuple)) else int(image_size)


def _suggest(name: str, choices: list[str]) -> str:
    lower = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(name.lower(), list(lower), n=5, cutoff=0.5)
    return ", ".join(repr(lower[c]) for c in close)


def resolve_model(model: str | os.PathLike, pretrained: str | os.PathLike | None = None) -> ModelSpec:
    """Turn ``model`` (+ ``pretrained``) into a :class:`ModelSpec`, or explain what is wrong.

    Accepted: ``"shapes"`` or ``"shapes-noisy"`` (the bundled shapes CLIPs); an open_clip name with a
    pretrained tag (``"ViT-B-32", "openai"``) or a local checkpoint file; an open_clip model folder
    (``open_clip_config.json`` + weights, optionally as ``"local-dir:PATH"``); ``"hf-hub:org/repo"``.

    A tag's weights trained with QuickGELU (OpenAI's, LAION-400M's) get open_clip's
    ``-quickgelu`` architecture, as they must. A checkpoint *file* says nothing about that: pass
    ``"ViT-B-32-quickgelu"`` with a file of OpenAI's weights. Weights are looked up in the
    Hugging Face cache on disk, never on the network; the identity then carries their SHA-256.

    Example:
        >>> resolve_model("shapes").label
        'shapes'
        >>> resolve_model("ViT-B-32", "openai").open_clip_name
        'ViT-B-32-quickgelu'
    """
    name = os.fspath(model)
    pretrained = os.fspath(pretrained) if pretrained is not None else None
    if name in BUNDLED_MODELS:
        return _local_dir_spec(name, BUNDLED_MODELS[name])
    if name.startswith(LOCAL_DIR):
        return _local_dir_spec(name, Path(name[len(LOCAL_DIR):]).expanduser())
    if name.startswith(HF_HUB):
        return _hub_spec(name, name, None, name[len(HF_HUB):] + "/", {"hf_hub": name[len(HF_HUB):]})
    if Path(name).expanduser().is_dir():
        return _local_dir_spec(name, Path(name).expanduser())
    if Path(name).suffix in (".pt", ".pth", ".bin", ".safetensors") or Path(name).is_file():
        raise UnknownModelError(
            f"{name!r} looks like a checkpoint file, which needs its architecture. "
            f"Fix: ClipEncoder('ViT-B-32', pretrained={name!r}) with the architecture it was trained with."
        )

    import open_clip  # only names need its registry: a folder's identity is its config and weights

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
    side = _side(image_size)
    tags = open_clip.list_pretrained_tags_by_model(canonical)
    if pretrained is None:
        raise UnknownModelError(
            f"{canonical!r} needs weights. Fix: pass pretrained= one of {tags} "
            "or the path of a local checkpoint file."
        )
    tag_cfg = open_clip.get_pretrained_cfg(canonical, pretrained)
    if tag_cfg:
        # open_clip's plain names build GELU; weights trained with QuickGELU need the -quickgelu
        # twin (every such tag has one), which also keys the cache and configs saved from it.
        arch = canonical + QUICKGELU if tag_cfg.get("quick_gelu") and not canonical.endswith(QUICKGELU) else canonical
        identity = {"architecture": arch, "preprocess": _preprocess_identity(tag_cfg, image_size)}
        return _hub_spec(f"{canonical}/{pretrained}", arch, pretrained, tag_cfg["hf_hub"], identity, side,
                         **stream_sizes(model_cfg))
    path = Path(pretrained).expanduser()
    if path.is_file():
        identity = {
            "architecture": canonical,
            "weights_sha256": file_sha256(path),
            "preprocess": _preprocess_identity(None, image_size),
        }
        return ModelSpec(f"{canonical}/{path.name}", canonical, str(path), identity, checkpoint=str(path),
                         image_size=side, **stream_sizes(model_cfg))
    hint = _suggest(pretrained, tags)
    raise UnknownModelError(
        f"{pretrained!r} is neither a pretrained tag of {canonical!r} nor an existing file."
        + (f" Did you mean {hint}?" if hint else "")
        + f" Known tags: {tags}."
    )


def _hub_spec(label: str, name: str, pretrained: str | None, hub: str, identity: dict,
              image_size: int | None = None, **streams) -> ModelSpec:
    """A spec for hub weights, keyed by the cached file's SHA-256 when the file is on disk."""
    local = cached_hub_weights(hub)
    identity = {**identity, "weights_sha256": file_sha256(local) if local else None}
    return ModelSpec(label, name, pretrained, identity, hub=hub, checkpoint=local, image_size=image_size, **streams)


def fetch_weights(spec: ModelSpec) -> ModelSpec:
    """``spec`` with its weights on disk: hub weights not yet cached are downloaded and hashed.

    Raises :class:`WeightsUnavailableError` (offline, no such file) with how to pass a local file.

    Example:
        >>> spec = resolve_model("shapes")
        >>> fetch_weights(spec) is spec
        True
    """
    if not spec.needs_download:
        return spec
    from open_clip.pretrained import download_pretrained_from_hf

    repo_id, filenames = hub_weight_files(spec.hub)
    try:
        # open_clip's own download (safetensors first), into the same Hugging Face cache it reads
        path = download_pretrained_from_hf(repo_id, filename=filenames[-1])
    except Exception as exc:  # hub errors come as assorted types (offline, 404, gated, HTTP)
        offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0")
        if spec.open_clip_name.startswith(HF_HUB):
            fix = (f"download the repository {repo_id!r} as a folder on a machine with internet and pass it, "
                   "e.g. ClipEncoder('/path/to/folder')")
        else:
            fix = (f"download {filenames[0]!r} from https://huggingface.co/{repo_id} on a machine with internet "
                   f"and pass the file, e.g. ClipEncoder({spec.open_clip_name!r}, pretrained='/path/to/{filenames[0]}')")
        raise WeightsUnavailableError(
            f"Could not fetch the weights of {spec.label}"
            + (" (HF_HUB_OFFLINE is set)" if offline else " (no network, or the download failed)")
            + f": {str(exc).rstrip('.')}. Fix: {fix}, or use ClipEncoder('shapes') for the bundled offline model."
        ) from exc
    return replace(spec, checkpoint=path, identity={**spec.identity, "weights_sha256": file_sha256(path)})


def config_embed_dim(spec: ModelSpec) -> int | None:
    """The width of the model's embeddings from its config, without loading it (``None`` if unknown).

    Example:
        >>> config_embed_dim(resolve_model("shapes"))
        64
    """
    import open_clip

    arch = spec.identity.get("architecture")
    config = arch if isinstance(arch, dict) else (open_clip.get_model_config(arch) or {}) if isinstance(arch, str) else {}
    dim = config.get("embed_dim")
    return int(dim) if isinstance(dim, int) and dim > 0 else None


def load_open_clip(spec: ModelSpec, device: str):
    """Load ``(model, preprocess, tokenizer)`` for a spec, turning failures into advice.

    Hub weights are fetched first (:func:`fetch_weights`). An architecture name is built from
    the very file the identity hashed, with its tag's preprocessing, so the hub is not asked
    again. A local checkpoint that cannot be loaded raises :class:`CheckpointError` (truncated,
    corrupt, another architecture).

    Example:
        >>> model, preprocess, tokenizer = load_open_clip(resolve_model("shapes"), "cpu")
        >>> tokenizer(["a red square."]).shape
        torch.Size([1, 24])
    """
    import open_clip

    spec = fetch_weights(spec)
    named = not spec.open_clip_name.startswith((LOCAL_DIR, HF_HUB))  # folders and hub repos bring their own
    pretrained = spec.checkpoint if named else None
    preprocess_cfg = spec.identity.get("preprocess", {}) if named else {}
    overrides = {f"image_{k}": preprocess_cfg[k] for k in ("mean", "std", "interpolation", "resize_mode")
                 if k in preprocess_cfg}
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(
            spec.open_clip_name, pretrained=pretrained, device=device, **overrides
        )
        tokenizer = open_clip.get_tokenizer(spec.open_clip_name)
    except Exception as exc:  # open_clip reports bad and missing weights as assorted exception types
        if spec.checkpoint is not None:
            error = checkpoint_error(spec.open_clip_name, pretrained, spec.checkpoint)
            if error is not None:
                raise error from exc
        if spec.hub is None:
            raise
        raise WeightsUnavailableError(
            f"Could not load {spec.label} from the Hugging Face hub: {str(exc).rstrip('.')}. Fix: check the "
            "name and the network, or download the model as a folder and pass it, e.g. ClipEncoder('/path/to/folder')."
        ) from exc
    if spec.checkpoint is not None:
        error = nonfinite_error(model, spec.checkpoint)
        if error is not None:
            raise error
    model.eval()
    return model, preprocess, tokenizer
