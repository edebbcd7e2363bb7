"""A user's images, one way in: a folder with one sub-folder per class, a table of paths
(DataFrame, CSV or Parquet), a Hugging Face ``datasets.Dataset``, or in-memory arrays.

Whatever the source, the result is an :class:`ImageDataset`: the images (paths, or arrays), class
indices with their names, the metadata columns, a train/val/test split (the user's own, or a
seeded stratified one) and the files that could not be read, skipped with a warning. Files are
only opened far enough to read their header here; the encoder decodes them, once.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from PIL import Image

from ..errors import DatasetError, EmptyInputError, InputError
from .dataset import SPLITS, ImageDataset

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
PATH_COLUMNS = ("path", "file", "filepath", "file_path", "image_path", "filename")
LABEL_COLUMNS = ("label", "class", "target", "y")
SPLIT_ALIASES = {"validation": "val", "valid": "val", "dev": "val", "training": "train", "eval": "test"}
DEFAULT_SPLIT = {"train": 0.6, "val": 0.1, "test": 0.3}
# A class needs an image to learn from and one to be judged on.
MIN_PER_CLASS = 2


def load_images(
    source,
    *,
    labels=None,
    classes: Sequence[str] | None = None,
    metadata: pd.DataFrame | str | os.PathLike | None = None,
    root: str | os.PathLike | None = None,
    path_column: str | None = None,
    label_column: str | None = None,
    image_column: str | None = None,
    split_column: str = "split",
    split: Mapping[str, float] = DEFAULT_SPLIT,
    seed: int = 0,
    fill_missing: str | None = None,
) -> ImageDataset:
    """Load images with their labels from any of the supported sources.

    - a folder: one sub-folder per class, images anywhere below it; ``metadata`` (a DataFrame
      or CSV) adds columns, joined on the image's path relative to the folder (a ``path`` or
      ``file`` column);
    - a DataFrame, or a CSV or Parquet file: a path column (``path``, ``file``, ... or
      ``path_column``), a label column (``label``, ``class``, ... or ``label_column``; names or
      indices), any other columns as metadata; relative paths are taken from ``root`` (default:
      the table file's folder, or the working directory);
    - a Hugging Face ``datasets.Dataset`` with an image column (install ``drml-widgets[hf]``);
    - an ``(N, H, W, C)`` uint8 array or a list of arrays or PIL images, with ``labels``.

    A ``split`` column (``train``/``val``/``test``) is used as given; otherwise a seeded split
    stratified by class (``split`` gives the shares). Files whose header cannot be read are
    skipped with a warning and listed in ``dataset.skipped``. Missing metadata values are an
    error unless ``fill_missing`` names a value for them.

    Example:
        >>> ds = load_images(np.zeros((10, 8, 8, 3), np.uint8), labels=["cat", "dog"] * 5, seed=1)
        >>> ds.classes, sorted(set(ds.split))
        (['cat', 'dog'], ['test', 'train'])
    """
    options = dict(classes=classes, split_column=split_column, split=split, seed=seed, fill_missing=fill_missing)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source).expanduser()
        if path.is_dir():
            frame, label_column = _folder_frame(path, metadata), "class"
            return _from_frame(frame, root=path, path_column="path", label_column=label_column,
                               source=f"folder {path}", **options)
        if path.suffix.lower() in (".csv", ".parquet", ".pq"):
            if not path.is_file():
                raise DatasetError(f"No table at {path}. Fix: check the path.")
            frame = _read_table(path)
            return _from_frame(frame, root=root if root is not None else path.parent, path_column=path_column,
                               label_column=label_column, source=f"table {path.name}", **options)
        raise DatasetError(f"{path} is neither a folder of class sub-folders nor a CSV or Parquet table. "
                           "Fix: pass a folder (cat/*.jpg, dog/*.jpg), a table of paths, or arrays with labels.")
    if isinstance(source, pd.DataFrame):
        return _from_frame(source, root=root, path_column=path_column, label_column=label_column,
                           source="a DataFrame", **options)
    if hasattr(source, "features") and hasattr(source, "column_names"):
        return _from_hf(source, image_column, label_column, **options)
    if isinstance(source, np.ndarray) or isinstance(source, (list, tuple)):
        return _from_arrays(source, labels, metadata, **options)
    raise DatasetError(f"Cannot load images from a {type(source).__name__}. Fix: pass a folder, a DataFrame, a CSV "
                       "or Parquet path, a Hugging Face Dataset, or an array of images with labels.")


def _read_table(path: Path) -> pd.DataFrame:
    if path.suffix.lower() == ".csv":
        return pd.read_csv(path)
    try:
        return pd.read_parquet(path)
    except ImportError as exc:
        raise DatasetError(f"Reading {path.name} needs a Parquet engine: {exc}. Fix: pip install pyarrow, "
                           "or save the table as CSV.") from exc


# -- sources ---------------------------------------------------------------------------------
def _folder_frame(folder: Path, metadata) -> pd.DataFrame:
    class_dirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    rows = [{"path": str(f.relative_to(folder)), "class": d.name}
            for d in class_dirs for f in sorted(d.rglob("*"))
            if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith(".")]
    if not rows:
        loose = sum(1 for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        found = f"{loose} images lie directly in it" if loose else "it holds no images"
        raise DatasetError(f"The folder {folder} has no class sub-folders with images ({found}). Fix: put each "
                           "class's images in a sub-folder named after it (cat/*.jpg, dog/*.jpg), or pass a table "
                           "of paths and labels.")
    frame = pd.DataFrame(rows)
    if metadata is None:
        return frame
    meta = pd.read_csv(metadata) if isinstance(metadata, (str, os.PathLike)) else pd.DataFrame(metadata)
    key = _find_column(meta, PATH_COLUMNS, None, "metadata table", "a 'path' column (relative to the folder)")
    meta = meta.rename(columns={key: "path"}).drop(columns=[c for c in ("class", "label") if c in meta.columns])
    meta["path"] = meta["path"].map(lambda p: Path(str(p)).as_posix())
    frame["path"] = frame["path"].map(lambda p: Path(p).as_posix())
    unmatched = ~frame["path"].isin(set(meta["path"]))
    if unmatched.all():
        raise DatasetError(f"No image of {folder} is named in the metadata's path column (e.g. "
                           f"{meta['path'].iloc[0]!r} vs {frame['path'].iloc[0]!r}). Fix: give paths relative to "
                           "the folder, as class/file.jpg.")
    if unmatched.any():
        raise DatasetError(f"{int(unmatched.sum())} images of {folder} have no row in the metadata, e.g. "
                           f"{frame.loc[unmatched, 'path'].head(5).tolist()}. Fix: add rows for them, or move them "
                           "out of the folder.")
    return frame.merge(meta, on="path", how="left")


def _from_frame(frame: pd.DataFrame, *, root, path_column, label_column, source: str, classes, split_column,
                split, seed, fill_missing) -> ImageDataset:
    if not len(frame):
        raise EmptyInputError(f"{source} has no rows. Fix: pass a table with one row per image.")
    path_column = _find_column(frame, PATH_COLUMNS, path_column, "table", "a column of image paths (path_column=)")
    label_column = _find_column(frame, LABEL_COLUMNS, label_column, "table", "a column of labels (label_column=)")
    base = Path(root).expanduser() if root is not None else Path.cwd()
    paths = [str(p if p.is_absolute() else base / p) for p in (Path(str(v)).expanduser() for v in frame[path_column])]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise DatasetError(f"{len(missing):,} of {len(paths):,} image paths do not exist, e.g. {missing[:5]}. "
                           f"Fix: check the paths, or pass root= the folder they are relative to (now {base}).")
    rest = frame.drop(columns=[path_column, label_column]).reset_index(drop=True)
    dataset = _assemble(paths, frame[label_column].to_numpy(), classes, rest, source, split_column, split, seed,
                        fill_missing)
    return _skip_unreadable(dataset)


def _from_hf(ds, image_column, label_column, *, classes, split_column, split, seed, fill_missing) -> ImageDataset:
    features = ds.features
    if image_column is None:
        typed = [c for c, f in features.items() if type(f).__name__ == "Image"]
        named = [c for c in ("image", "img", "picture") if c in ds.column_names]
        image_column = (typed or named or [None])[0]
    if image_column not in ds.column_names:
        raise DatasetError(f"The Hugging Face dataset has no image column (columns: {ds.column_names}). "
                           "Fix: pass image_column= the column holding the images.")
    label_column = label_column or next((c for c in LABEL_COLUMNS if c in ds.column_names), None)
    if label_column is None:
        raise DatasetError(f"The Hugging Face dataset has no label column (columns: {ds.column_names}). "
                           "Fix: pass label_column=.")
    names = getattr(features[label_column], "names", None)
    if classes is None and names:
        classes = list(names)
    images = _hf_images(ds, image_column)
    rest = ds.remove_columns([image_column, label_column]).to_pandas()
    return _assemble(images, np.asarray(ds[label_column]), classes, rest, "a Hugging Face dataset", split_column,
                     split, seed, fill_missing)


def _hf_images(ds, column: str) -> list:
    """The dataset's image files when it holds paths on this disk (decoded later, in batches);
    otherwise its decoded images, which must then all fit in memory."""
    if type(ds.features[column]).__name__ == "Image":
        from datasets import Image as HFImage

        raw = ds.cast_column(column, HFImage(decode=False))[column]
        paths = [r.get("path") if isinstance(r, dict) else None for r in raw]
        if all(p and os.path.isfile(p) for p in paths):
            return paths
    return list(ds[column])


def _from_arrays(images, labels, metadata, *, classes, split_column, split, seed, fill_missing) -> ImageDataset:
    items = list(images) if not (isinstance(images, np.ndarray) and images.ndim == 3) else [images]
    if not items:
        raise EmptyInputError("No images given. Fix: pass an (N, H, W, C) uint8 array or a list of images.")
    if labels is None:
        raise DatasetError("In-memory images need labels= (one class name or index per image).")
    rest = pd.DataFrame(index=range(len(items))) if metadata is None else pd.DataFrame(metadata).reset_index(drop=True)
    kind = "arrays" if isinstance(items[0], np.ndarray) else "images"
    return _assemble(items, np.asarray(labels), classes, rest, f"{len(items)} {kind}", split_column, split, seed,
                     fill_missing)


# -- checks and the split --------------------------------------------------------------------
def _find_column(frame: pd.DataFrame, usual: Sequence[str], given: str | None, what: str, need: str) -> str:
    if given is not None:
        if given not in frame.columns:
            raise DatasetError(f"The {what} has no column {given!r}; its columns are {list(frame.columns)}.")
        return given
    lower = {str(c).lower(): c for c in frame.columns}
    found = next((lower[u] for u in usual if u in lower), None)
    if found is None:
        raise DatasetError(f"The {what} needs {need}; none of {list(usual)} is among its columns "
                           f"{list(frame.columns)}. Fix: rename one, or name it with the argument.")
    return found


def _class_indices(labels: np.ndarray, classes: Sequence[str] | None) -> tuple[np.ndarray, list[str]]:
    if len(labels) and pd.isna(pd.Series(labels)).any():
        raise DatasetError(f"{int(pd.isna(pd.Series(labels)).sum())} images have no label. Fix: label them or drop them.")
    if np.issubdtype(labels.dtype, np.integer):
        names = list(classes) if classes is not None else [str(i) for i in range(int(labels.max()) + 1)]
        bad = sorted({int(v) for v in labels if not 0 <= v < len(names)})
        if bad:
            raise DatasetError(f"Labels {bad[:10]} are not indices of the {len(names)} classes {names}. "
                               "Fix: pass classes= naming every class, in index order.")
        return labels.astype(np.int64), [str(c) for c in names]
    text = np.array([str(v) for v in labels], dtype=object)
    names = [str(c) for c in classes] if classes is not None else sorted(set(text))
    index = {c: i for i, c in enumerate(names)}
    unknown = sorted(set(text) - set(index))
    if unknown:
        raise DatasetError(f"Labels {unknown[:10]} are not among the classes {names}. "
                           "Fix: add them to classes=, or correct the labels.")
    return np.array([index[t] for t in text], dtype=np.int64), names


def _assemble(images: list, raw_labels: np.ndarray, classes, metadata: pd.DataFrame, source: str,
              split_column: str, split: Mapping[str, float], seed: int, fill_missing: str | None) -> ImageDataset:
    if len(raw_labels) != len(images):
        raise DatasetError(f"{len(raw_labels)} labels for {len(images)} images. Fix: one label per image.")
    labels, names = _class_indices(raw_labels, classes)
    check_class_sizes(labels, names)
    metadata = metadata.reset_index(drop=True)
    if split_column in metadata.columns:
        assigned, split_from = _user_split(metadata.pop(split_column), split_column), f"column {split_column!r}"
    else:
        assigned = stratified_split(labels, split, seed)
        shares = "/".join(f"{round(100 * split.get(s, 0))}" for s in SPLITS)
        split_from = f"seeded stratified {shares}, seed {seed}"
    metadata = _checked_metadata(metadata, fill_missing)
    return ImageDataset(list(images), labels, names, metadata, assigned, source, split_from)


def _user_split(column: pd.Series, name: str) -> np.ndarray:
    values = column.astype(str).str.strip().str.lower().map(lambda v: SPLIT_ALIASES.get(v, v))
    bad = sorted(set(values) - set(SPLITS))
    if bad:
        raise DatasetError(f"The {name!r} column holds {bad[:5]}; splits are {list(SPLITS)}. "
                           "Fix: rename them, or pass split_column= another column.")
    return values.to_numpy(dtype=object)


def stratified_split(labels: np.ndarray, shares: Mapping[str, float] = DEFAULT_SPLIT, seed: int = 0) -> np.ndarray:
    """``train``/``val``/``test`` per image: each class shuffled (seeded) and cut by ``shares``,
    with at least one training and one test image in every class of two or more.

    Example:
        >>> stratified_split(np.array([0] * 10 + [1] * 10)).tolist().count("train")
        12
    """
    if set(shares) - set(SPLITS) or any(v < 0 for v in shares.values()) or not sum(shares.values()) > 0:
        raise InputError(f"split shares must be non-negative numbers for {list(SPLITS)}; got {dict(shares)}.")
    total = sum(shares.values())
    rng = np.random.default_rng(seed)
    out = np.empty(len(labels), dtype=object)
    for c in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == c))
        n = len(rows)
        n_train = int(round(n * shares.get("train", 0) / total))
        n_val = int(round(n * shares.get("val", 0) / total))
        if n >= 2:
            n_train = min(max(n_train, 1), n - 1)
            n_val = min(n_val, n - 1 - n_train)
        out[rows[:n_train]] = "train"
        out[rows[n_train:n_train + n_val]] = "val"
        out[rows[n_train + n_val:]] = "test"
    return out


def _checked_metadata(metadata: pd.DataFrame, fill_missing: str | None) -> pd.DataFrame:
    gaps = {c: int(n) for c, n in metadata.isna().sum().items() if n}
    if gaps and fill_missing is None:
        raise DatasetError(f"Metadata columns have missing values: {gaps}. Fix: fill them in, drop those columns, "
                           "or pass fill_missing='unknown' to give them a value of their own.")
    return metadata.fillna(fill_missing) if gaps else metadata


def _skip_unreadable(dataset: ImageDataset) -> ImageDataset:
    """Leave out files whose header PIL cannot read (the encoder catches damage further in)."""
    bad, errors = [], []
    for i, path in enumerate(dataset.images):
        try:
            with Image.open(path) as img:
                img.size  # noqa: B018  (the header is parsed on open; size proves it was)
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            bad.append(i)
            errors.append(f"{type(exc).__name__}: {exc}")
    if bad:
        warnings.warn(f"Skipped {len(bad)} of {len(dataset)} files that are not readable images, e.g. "
                      f"{dataset.images[bad[0]]!r} (see dataset.skipped).", stacklevel=3)
        dataset = dataset.without(bad, errors)
    check_class_sizes(dataset.labels, dataset.classes)
    return dataset


def check_class_sizes(labels: np.ndarray, classes: Sequence[str]) -> None:
    """Raise when a class has one image: it cannot be both learnt and judged. (A class with
    none is allowed: a subset of a larger dataset may lack some.)

    Example:
        >>> check_class_sizes(np.array([0, 0, 1]), ["cat", "dog"])
        Traceback (most recent call last):
        ...
        drml_widgets.errors.DatasetError: Classes with fewer than 2 images: {'dog': 1}. A class needs images to learn from and to be judged on. Fix: add images to them, or leave them out.
    """
    counts = np.bincount(labels, minlength=len(classes))
    thin = {classes[i]: int(counts[i]) for i in np.flatnonzero((counts > 0) & (counts < MIN_PER_CLASS))}
    if thin:
        raise DatasetError(f"Classes with fewer than {MIN_PER_CLASS} images: {thin}. A class needs images to learn "
                           "from and to be judged on. Fix: add images to them, or leave them out.")
