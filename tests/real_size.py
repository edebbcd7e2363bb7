"""A real-size ViT-B-32 with random weights, where a download of ("ViT-B-32", "openai") would put it.

open_clip resolves the tag through its pretrained config (``hf_hub``: a Hugging Face repository,
safetensors first) and ``hf_hub_download``, which with ``HF_HUB_OFFLINE=1`` reads the local hub
cache: ``hub/models--<org>--<name>/refs/main`` names a revision, whose
``snapshots/<revision>/<file>`` links to ``blobs/<sha256>``. :func:`publish` writes exactly that,
so ``ClipEncoder("ViT-B-32", pretrained="openai")`` loads offline as after a real download.

The weights go to a hub cache of their own, not the tests' ``HF_HOME``: tests and notebooks that
check what happens *without* the weights must keep not finding them. The ``real_size_hub``
fixture (tests/conftest.py) points huggingface_hub at this cache for one test.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

ARCHITECTURE, TAG = "ViT-B-32", "openai"


def hub_file() -> tuple[str, str]:
    """The repository and file name open_clip fetches first for ("ViT-B-32", "openai")."""
    import open_clip

    from drml_widgets.embed.checkpoints import hub_weight_files

    repo_id, filenames = hub_weight_files(open_clip.get_pretrained_cfg(ARCHITECTURE, TAG)["hf_hub"])
    return repo_id, filenames[0]


@dataclass(frozen=True)
class Published:
    """One revision of the checkpoint in a hub cache: where it is and what it holds."""

    hub_cache: Path
    revision: str
    path: Path  # snapshots/<revision>/<file>, the path open_clip is given
    sha256: str


def publish(hub_cache: Path, seed: int) -> Published:
    """Write random ViT-B-32 weights (fp32 safetensors, 605 MB, as the real file) as the new
    ``main`` revision of the repository in ``hub_cache``, laid out as huggingface_hub does."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    repo_id, filename = hub_file()
    repo = hub_cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    # the -quickgelu twin has the same tensors; it only spares a log line about random weights
    model = open_clip.create_model(ARCHITECTURE + "-quickgelu")
    tmp = repo / "blobs" / f".incomplete.{seed}"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp))
    del model
    h = hashlib.sha256()
    with open(tmp, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    sha256 = h.hexdigest()
    os.replace(tmp, repo / "blobs" / sha256)  # an LFS file's blob is named by its SHA-256
    revision = hashlib.sha1(f"revision {seed}".encode()).hexdigest()  # a commit id: 40 hex digits
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True, exist_ok=True)
    (snapshot / filename).symlink_to(Path("..") / ".." / "blobs" / sha256)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    return Published(hub_cache, revision, snapshot / filename, sha256)


def point_main_at(published: Published) -> None:
    """Make ``published`` the repository's ``main`` revision again."""
    repo_id, _ = hub_file()
    (published.hub_cache / f"models--{repo_id.replace('/', '--')}" / "refs" / "main").write_text(published.revision)
