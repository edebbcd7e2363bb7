"""Checkpoint files: finding them, the bundled shapes CLIP, writing model folders, explaining bad ones.

A checkpoint that open_clip cannot load fails with whatever torch or safetensors happened to
trip over (``invalid header length``, ``size mismatch for visual.proj``, even
``not implemented for 'Half'``). :func:`checkpoint_error` reads the file again and says what is
actually wrong with it: unreadable (truncated, corrupt) or built for another architecture.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from ..errors import CheckpointError

SHAPES_MODEL_NAME = "shapes"
SHAPES_MODEL_DIR = Path(__file__).parent.parent / "data" / "weights" / "shapes-clip"
# The same architecture pretrained on human-like captions (jobs.captions, policy "noisy"): a CLIP
# that reads some attributes poorly, as real ones do.
SHAPES_NOISY_MODEL_DIR = SHAPES_MODEL_DIR.with_name("shapes-noisy")
# The bundled models, by the name ClipEncoder takes.
BUNDLED_MODELS = {SHAPES_MODEL_NAME: SHAPES_MODEL_DIR, "shapes-noisy": SHAPES_NOISY_MODEL_DIR}
# How many mismatched tensor names an error message lists per kind of mismatch.
SHOW = 3
# The weights open_clip (3.x) takes from a model folder, best first; a folder's cache identity
# hashes the very file open_clip loads, so this order must be open_clip's.
FOLDER_WEIGHTS = (
    "open_clip_model.safetensors", "open_clip_pytorch_model.safetensors", "open_clip_pytorch_model.bin",
    "open_clip_pytorch_model.pth", "model.safetensors", "pytorch_model.bin", "pytorch_model.pth", "model.pth",
)
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pth")


def find_weights_in_dir(directory: str | os.PathLike) -> Path | None:
    """The weights file open_clip loads from a model folder, or ``None`` if it has none.

    A file with a known name wins (``open_clip_model.safetensors`` first); otherwise the first
    by name, safetensors before ``.bin`` and ``.pth``.

    Example:
        >>> find_weights_in_dir(SHAPES_MODEL_DIR).name
        'open_clip_model.safetensors'
    """
    directory = Path(directory)
    for name in FOLDER_WEIGHTS:
        if (directory / name).is_file():
            return directory / name
    others = sorted((p for p in directory.iterdir() if p.suffix in WEIGHT_SUFFIXES and p.is_file()),
                    key=lambda p: (WEIGHT_SUFFIXES.index(p.suffix), p.name))
    return others[0] if others else None


def hub_weight_files(hf_hub: str) -> tuple[str, list[str]]:
    """The repository and the file names open_clip tries for an ``hf_hub`` entry, in its order.

    ``hf_hub`` is ``org/repo/`` (open_clip's default file names) or ``org/repo/file.bin``; a
    safetensors twin of the file is tried first, as ``open_clip.pretrained`` does.

    Example:
        >>> hub_weight_files("timm/vit_base_patch32_clip_224.openai/")
        ('timm/vit_base_patch32_clip_224.openai', ['open_clip_model.safetensors', 'open_clip_pytorch_model.bin'])
    """
    from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME

    repo_id, filename = os.path.split(hf_hub)
    filename = filename or HF_WEIGHTS_NAME
    if filename == HF_WEIGHTS_NAME:
        twins = [HF_SAFE_WEIGHTS_NAME]
    elif filename.endswith((".bin", ".pth")):
        twins = [filename[:-4] + ".safetensors"]
    else:
        twins = []
    return repo_id, twins + [filename]


def cached_hub_weights(hf_hub: str) -> str | None:
    """The local file of an ``hf_hub`` entry if the Hugging Face cache holds it, else ``None``.

    Looks only on disk (``$HF_HOME/hub``), never on the network, so it is cheap and works offline.

    Example:
        >>> cached_hub_weights("nobody/no-such-model/") is None
        True
    """
    from huggingface_hub import try_to_load_from_cache

    repo_id, filenames = hub_weight_files(hf_hub)
    for filename in filenames:
        path = try_to_load_from_cache(repo_id, filename)
        if isinstance(path, str):  # not None, nor the marker of a file known to be absent
            return path
    return None


def write_model_dir(model, out_dir: str | os.PathLike, config: dict) -> Path:
    """Save a CLIP as an open_clip ``local-dir`` folder (fp16 safetensors), atomically.

    ``config`` is the folder's ``open_clip_config.json`` (``model_cfg`` and ``preprocess_cfg``).
    The folder is assembled next to ``out_dir`` and renamed into place, so a killed process
    never leaves a half-written model behind.

    Example:
        >>> from drml_widgets import ClipEncoder
        >>> config = json.loads((SHAPES_MODEL_DIR / "open_clip_config.json").read_text())
        >>> out = write_model_dir(ClipEncoder("shapes").model, Path(tempfile.mkdtemp()) / "copy", config)
        >>> sorted(p.name for p in out.iterdir())
        ['open_clip_config.json', 'open_clip_model.safetensors']
    """
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    state = {k: v.detach().to("cpu").half().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(tmp / "open_clip_model.safetensors"))
    (tmp / "open_clip_config.json").write_text(json.dumps(config, indent=2) + "\n")
    for f in tmp.iterdir():  # mkdtemp is private; installed weights must be readable by all
        f.chmod(0o644)
    tmp.chmod(0o755)
    if out_dir.exists():
        backup = out_dir.with_name(out_dir.name + ".old")
        os.replace(out_dir, backup)
        os.replace(tmp, out_dir)
        for f in backup.iterdir():
            f.unlink()
        backup.rmdir()
    else:
        os.replace(tmp, out_dir)
    return out_dir


def _first_line(exc: BaseException, limit: int = 200) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _listing(what: str, items: list[str]) -> str:
    shown = ", ".join(items[:SHOW]) + (", ..." if len(items) > SHOW else "")
    return f"{len(items)} {what} ({shown})"


def checkpoint_error(open_clip_name: str, pretrained: str | None,
                     checkpoint: str | os.PathLike) -> CheckpointError | None:
    """Why ``checkpoint`` failed to load into the model, or ``None`` when the file is not to blame.

    ``open_clip_name`` and ``pretrained`` are what was passed to open_clip (an architecture
    name, or ``local-dir:FOLDER``).

    Example:
        >>> bad = Path(tempfile.mkdtemp()) / "clip.safetensors"
        >>> _ = bad.write_bytes(b"not a checkpoint")
        >>> print(checkpoint_error("ViT-B-32", str(bad), bad))
        The checkpoint '...clip.safetensors' cannot be read: it is truncated or corrupt (...). Fix: ...
    """
    import open_clip
    from open_clip.factory import load_state_dict

    path = str(checkpoint)
    try:
        state = load_state_dict(path)
    except Exception as exc:  # safetensors, pickle and zip readers each fail their own way
        return CheckpointError(
            f"The checkpoint {path!r} cannot be read: it is truncated or corrupt ({_first_line(exc)}). "
            "Fix: copy or download it again and compare its size (and SHA-256, if published) with "
            "the original; if you wrote it yourself, save it again."
        )
    expected = open_clip.create_model(open_clip_name, pretrained=pretrained, load_weights=False).state_dict()
    if open_clip_name.startswith("local-dir:"):
        folder = open_clip_name[len("local-dir:"):]
        arch = f"the architecture in {str(Path(folder) / 'open_clip_config.json')!r}"
        fix = ("Fix: put the weights saved with this config in the folder, or the config they were "
               "saved with (write_model_dir writes both together).")
    else:
        arch = repr(open_clip_name)
        fix = (f"Fix: pass the architecture the checkpoint was trained with, e.g. "
               f"ClipEncoder('<architecture>', pretrained={path!r}), or a checkpoint of {open_clip_name!r}.")
    problems = [
        _listing("tensors missing", [k for k in expected if k not in state]),
        _listing("unexpected tensors", [k for k in state if k not in expected]),
        _listing("tensors of another shape", [
            f"{k} {list(state[k].shape)} where {list(v.shape)} is expected"
            for k, v in expected.items() if k in state and tuple(state[k].shape) != tuple(v.shape)
        ]),
    ]
    problems = [p for p in problems if not p.startswith("0 ")]
    if not problems:
        return None
    return CheckpointError(
        f"The checkpoint {path!r} was not made for {arch}: {'; '.join(problems)}. {fix}"
    )


def nonfinite_error(model, checkpoint: str | os.PathLike) -> CheckpointError | None:
    """A :class:`CheckpointError` if the loaded weights hold NaN or inf (a corrupt file), else ``None``.

    Example:
        >>> import torch
        >>> print(nonfinite_error(torch.nn.Linear(2, 2), "ok.safetensors"))
        None
    """
    import torch

    bad = [name for name, p in model.state_dict().items()
           if p.is_floating_point() and not bool(torch.isfinite(p).all())]
    if not bad:
        return None
    return CheckpointError(
        f"The checkpoint {str(checkpoint)!r} is corrupt: {_listing('tensors hold NaN or inf', bad)}. "
        "Fix: copy or download it again and compare its size (and SHA-256, if published) with the original."
    )
