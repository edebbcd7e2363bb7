"""CLIP's two projection layers: finding them, caching what the frozen towers feed them, and a
tuned pair saved as a new open_clip folder.

With the towers frozen, their outputs before the projections are computed once
(:func:`cache_features`) and the projections train on them: seconds on a CPU. The base model is
never changed; going back is loading the base.
"""

from __future__ import annotations

import copy
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..._common import unit_rows
from ...embed.checkpoints import BUNDLED_MODELS, write_model_dir
from ...embed.encoder import PROGRESS_MIN_ITEMS
from ...embed.images import as_image_list, load_rgb
from ...embed.models import LOCAL_DIR
from ...errors import ProjectionNotFoundError, SpuriousError
from ...prompts.text import fix_articles, imagenet_templates


def find_projections(model) -> tuple[object, object]:
    """The image and text projections of an open_clip ``CLIP``, or a clear error.

    Example:
        >>> import torch.nn as nn
        >>> find_projections(nn.Linear(2, 2))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        drml_widgets.errors.ProjectionNotFoundError: The model has no image projection (model.visual.proj is missing). ... Fix: use an open_clip CLIP whose image tower ends in a projection matrix ...
    """
    import torch

    fix = ("Spurious-aware fine-tuning trains only the two projections into the shared space. Fix: use an "
           "open_clip CLIP whose image tower ends in a projection matrix (ViT towers, as in the shapes CLIP) "
           "and whose text tower has text_projection.")
    visual = getattr(getattr(model, "visual", None), "proj", None)
    if not isinstance(visual, torch.Tensor) or visual.ndim != 2:
        raise ProjectionNotFoundError(f"The model has no image projection (model.visual.proj is missing). {fix}")
    text = getattr(model, "text_projection", None)
    if isinstance(text, torch.nn.Linear) and text.bias is not None:
        raise ProjectionNotFoundError("The model's text projection has a bias; only matrix projections are tuned. "
                                      "Fix: use an open_clip CLIP whose text_projection is a matrix.")
    if not (isinstance(text, torch.nn.Linear) or (isinstance(text, torch.Tensor) and text.ndim == 2)):
        raise ProjectionNotFoundError(f"The model has no text projection (model.text_projection is missing). {fix}")
    return visual, text


def _as_matrix(projection) -> np.ndarray:
    """The projection as an ``(in, out)`` matrix (``x @ P``), whatever form the model keeps it in."""
    import torch

    weight = projection.weight.T if isinstance(projection, torch.nn.Linear) else projection
    return weight.detach().float().cpu().numpy().copy()


@contextmanager
def projections_off(model):
    """Run the towers without their projections (open_clip skips a projection set to None).

    Example:
        >>> from drml_widgets import ClipEncoder
        >>> model = ClipEncoder("shapes").model
        >>> with projections_off(model):
        ...     model.visual.proj is None
        True
        >>> model.visual.proj is None
        False
    """
    visual, text = model.visual.proj, model.text_projection
    model.visual.proj, model.text_projection = None, None
    try:
        yield model
    finally:
        model.visual.proj, model.text_projection = visual, text


def class_indices(labels, n: int, n_classes: int) -> np.ndarray:
    """``labels`` as ``n`` int64 class indices in ``[0, n_classes)``, one per cached image, or an error.

    Example:
        >>> class_indices([0, 1, 1], 3, 2).tolist()
        [0, 1, 1]
    """
    y = np.asarray(labels)
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= n_classes:
        raise SpuriousError(f"labels must be {n} class indices in [0, {n_classes}), one per cached image; "
                            f"got shape {y.shape}, dtype {y.dtype}.")
    return y.astype(np.int64)


# -- cached tower outputs -----------------------------------------------------------------
@dataclass(repr=False)
class ProjectionData:
    """What fine-tuning the projections needs, computed once with the towers frozen.

    ``image`` holds the image tower's output before projection (one row per image);
    ``class_text`` the text tower's output for each class through each template
    (``classes x templates x width``); ``spurious_text`` the same for the spurious attribute's
    values, or ``None``. ``visual_proj`` and ``text_proj`` are the base model's projections,
    ``logit_scale`` its ``1 / tau``; ``encoder`` is the base :class:`~drml_widgets.ClipEncoder`.
    Build it with :func:`cache_features`.

    Example:
        >>> from drml_widgets import ClipEncoder
        >>> cache_features(ClipEncoder("shapes"), np.zeros((2, 64, 64, 3), np.uint8), ["triangle", "square"],
        ...                spurious_values=["orange"], templates=["a {}."])
        ProjectionData(images=2, classes=['triangle', 'square'], templates=1, spurious=['orange'], projections (128, 64) and (128, 64))
    """

    image: np.ndarray
    class_text: np.ndarray
    spurious_text: np.ndarray | None
    classes: list[str]
    spurious_values: list[str]
    templates: list[str]
    visual_proj: np.ndarray
    text_proj: np.ndarray
    logit_scale: float
    encoder: object = None

    def base(self) -> "TunedProjections":
        """The base model's projections, for zero-shot results side by side with tuned ones."""
        return TunedProjections("zero-shot", self.visual_proj.copy(), self.text_proj.copy())

    def __repr__(self) -> str:
        return (f"ProjectionData(images={len(self.image)}, classes={self.classes}, "
                f"templates={len(self.templates)}, spurious={self.spurious_values}, "
                f"projections {self.visual_proj.shape} and {self.text_proj.shape})")


def _phrases(values: Sequence[str], templates: Sequence[str], phrase: str) -> list[str]:
    return [fix_articles(t.format(phrase.format(v))) for v in values for t in templates]


def cache_features(
    encoder,
    images,
    classes: Sequence[str],
    *,
    spurious_values: Sequence[str] = (),
    templates: Sequence[str] | None = None,
    spurious_phrase: str = "{} object",
    batch_size: int = 256,
    progress: bool | None = None,
) -> ProjectionData:
    """Run the frozen towers once: images, class prompts and the spurious attribute's prompts.

    ``encoder`` is a :class:`~drml_widgets.ClipEncoder`; its preprocessing is used, so the
    features match what it embeds. Prompts are ``templates`` (default: CLIP's 80 ImageNet
    templates, as in the paper) filled with each class name, and with
    ``spurious_phrase.format(value)`` for each spurious value ("an orange object").
    A progress bar shows for 512 images or more unless ``progress=False``.

    Example:
        >>> from drml_widgets import ClipEncoder
        >>> data = cache_features(ClipEncoder("shapes"), np.zeros((2, 64, 64, 3), np.uint8),
        ...                       ["triangle", "square"], spurious_values=["orange"], templates=["a {}."])
        >>> data.image.shape, data.class_text.shape, data.spurious_text.shape
        ((2, 128), (2, 1, 128), (1, 1, 128))
    """
    import torch

    model, preprocess, tokenizer = encoder.load()
    visual, text = find_projections(model)
    templates = list(templates) if templates is not None else imagenet_templates()
    classes, spurious_values = [str(c) for c in classes], [str(v) for v in spurious_values]
    if len(classes) < 2:
        raise SpuriousError(f"Zero-shot classification needs at least two classes; got {classes}.")
    items = as_image_list(images)
    device = next(model.parameters()).device
    batches = range(0, len(items), batch_size)
    if progress if progress is not None else len(items) >= PROGRESS_MIN_ITEMS:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc="image tower (frozen)", unit="batch")

    def run_texts(texts: list[str], n_values: int) -> np.ndarray:
        out = [model.encode_text(tokenizer(texts[i: i + batch_size]).to(device)).float().cpu()
               for i in range(0, len(texts), batch_size)]
        return torch.cat(out).numpy().reshape(n_values, len(templates), -1)

    with torch.inference_mode(), projections_off(model):
        feats = []
        for start in batches:
            pixels = torch.stack([preprocess(load_rgb(item, start + j))
                                  for j, item in enumerate(items[start: start + batch_size])])
            feats.append(model.encode_image(pixels.to(device)).float().cpu())
        class_text = run_texts(_phrases(classes, templates, "{}"), len(classes))
        spurious_text = (run_texts(_phrases(spurious_values, templates, spurious_phrase), len(spurious_values))
                         if spurious_values else None)
    return ProjectionData(torch.cat(feats).numpy(), class_text, spurious_text, classes, spurious_values, templates,
                          _as_matrix(visual), _as_matrix(text), float(model.logit_scale.detach().exp()), encoder)


# -- tuned projections ------------------------------------------------------------------
def model_folder_config(spec) -> dict:
    """The base model's open_clip folder config (``model_cfg``, ``preprocess_cfg``), from its spec,
    without a download.

    Example:
        >>> from drml_widgets.embed.models import resolve_model
        >>> model_folder_config(resolve_model("shapes"))["model_cfg"]["embed_dim"]
        64
    """
    architecture = spec.identity.get("architecture")
    if isinstance(architecture, dict):  # a model folder, such as the shapes CLIP
        return {"model_cfg": architecture, "preprocess_cfg": spec.identity.get("preprocess", {})}
    if isinstance(architecture, str):  # an open_clip name with a pretrained tag or file
        import open_clip

        return {"model_cfg": open_clip.get_model_config(architecture), "preprocess_cfg": spec.identity["preprocess"]}
    raise SpuriousError(f"Cannot write a model folder for {spec.label!r}: its architecture config is not known "
                        "offline. Fix: save the hub model as an open_clip folder and load it from there.")


@dataclass(repr=False)
class TunedProjections:
    """A pair of projections (``visual``: image width x d, ``text``: text width x d) and how they
    were trained. ``history`` has one row per epoch (loss terms; with validation rows, their
    average and worst-group accuracy); epoch 0 is the starting point.

    Example:
        >>> from drml_widgets import ClipEncoder
        >>> data = cache_features(ClipEncoder("shapes"), np.zeros((3, 64, 64, 3), np.uint8), ["a", "b"],
        ...                       templates=["{}."])
        >>> base = data.base()
        >>> base, base.predict(data).shape, base.image_embeddings(data).shape
        (TunedProjections('zero-shot', epochs=0), (3,), (3, 64))
    """

    variant: str
    visual: np.ndarray
    text: np.ndarray
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    seconds: float = 0.0

    def image_embeddings(self, data: ProjectionData, rows=None) -> np.ndarray:
        """Unit image embeddings of the cached images (``rows``: a subset)."""
        x = data.image if rows is None else data.image[rows]
        return unit_rows(x @ self.visual)

    def class_embeddings(self, data: ProjectionData) -> np.ndarray:
        """One unit embedding per class: the mean of its prompts over templates, as in CLIP."""
        return unit_rows(unit_rows(data.class_text @ self.text).mean(axis=1))

    def predict(self, data: ProjectionData, rows=None) -> np.ndarray:
        """Zero-shot class indices: the nearest class embedding."""
        return (self.image_embeddings(data, rows) @ self.class_embeddings(data).T).argmax(axis=1)

    def to_model(self, base_model):
        """A copy of ``base_model`` carrying these projections (the base is left untouched).

        Example:
            >>> from drml_widgets import ClipEncoder
            >>> enc = ClipEncoder("shapes")
            >>> data = cache_features(enc, np.zeros((1, 64, 64, 3), np.uint8), ["a", "b"], templates=["{}."])
            >>> model = data.base().to_model(enc.model)
            >>> bool((model.visual.proj == enc.model.visual.proj).all()), model is enc.model
            (True, False)
        """
        import torch

        model = copy.deepcopy(base_model)
        visual, text = find_projections(model)
        with torch.no_grad():
            visual.copy_(torch.from_numpy(self.visual).to(visual))
            if isinstance(text, torch.nn.Linear):
                text.weight.copy_(torch.from_numpy(self.text.T).to(text.weight))
            else:
                text.copy_(torch.from_numpy(self.text).to(text))
        return model

    def save(self, data: ProjectionData, out_dir: str | os.PathLike) -> Path:
        """Write the base model with these projections as a new open_clip folder and return it.

        Load it with ``ClipEncoder(path)``; its embeddings are cached apart from the base's (the
        cache is keyed by the weights). To revert, load the base again: its folder is refused
        as a target, so it is never overwritten. Weights are stored in fp16, as the base's.

        Example:
            >>> import tempfile
            >>> from drml_widgets import ClipEncoder
            >>> data = cache_features(ClipEncoder("shapes"), np.zeros((1, 64, 64, 3), np.uint8), ["a", "b"],
            ...                       templates=["{}."])
            >>> path = data.base().save(data, Path(tempfile.mkdtemp()) / "tuned")
            >>> ClipEncoder(path).encode_texts("a square.").shape
            (1, 64)
        """
        out = Path(out_dir).expanduser().resolve()
        spec = data.encoder.spec
        protected = {folder.resolve() for folder in BUNDLED_MODELS.values()}  # never a bundled model
        if spec.open_clip_name.startswith(LOCAL_DIR):
            protected.add(Path(spec.open_clip_name[len(LOCAL_DIR):]).expanduser().resolve())
        if out in protected:
            raise SpuriousError(f"Refusing to overwrite the weights at {str(out)!r} (the base model's, or a model "
                                "the package ships). "
                                "Fix: save the tuned model to a new folder; the base stays as it was.")
        return write_model_dir(self.to_model(data.encoder.model), out, config=model_folder_config(spec))

    def __repr__(self) -> str:
        extra = ""
        if "val_worst" in self.history and len(self.history):
            last = self.history.iloc[-1]
            extra = f", val_average={last['val_average']:.3f}, val_worst={last['val_worst']:.3f}"
        return f"TunedProjections({self.variant!r}, epochs={max(len(self.history) - 1, 0)}{extra})"
