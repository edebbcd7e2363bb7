"""A user's images, one way in: a folder with one sub-folder per class, a table of paths
(DataFrame, CSV or Parquet), a Hugging Face ``datasets.Dataset``, or in-memory arrays.

Whatever the source, the result is an :class:`ImageDataset`: the images (paths, or arrays), class
indices with their names, the metadata columns, a train/val/test split (the user's own, or a
seeded stratified one) and the files that could not be read, skipped with a warning. Files are
only opened far enough to read their header here; the encoder decodes them, once.

A folder is walked by :func:`~drml_widgets.data.folders.image_files`' rule (linked folders
followed, hidden entries skipped with a warning), the rule ``embed_dataset`` uses too.
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
from .folders import IMAGE_SUFFIXES, decode_image, escaped_name, image_files, is_text_name
from .tables import class_indices, find_column, read_table

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
    stratified by class (``split`` gives the shares; see :func:`stratified_split`). Files whose
    header cannot be read are skipped with a warning and listed in ``dataset.skipped``. Missing
    metadata values are an error unless ``fill_missing`` names a value for them.

    Labels are class names or whole-number indices, never both (``0.0``/``1.0`` read as 0/1).
    A file listed twice: identical rows are dropped with a warning that counts them; rows that
    differ (another label, split or metadata value) are refused, as the same image in train and
    test would leak. In a folder, hidden files and folders are skipped with a warning, linked
    folders are followed, and files whose name is not valid UTF-8 are skipped with a warning
    showing the name escaped (tables hold names as text). Image bytes in a Hugging Face column
    (``Image(decode=False)``, raw PNG/JPEG bytes) are decoded; ones that are not images are
    skipped with a warning.

    Example:
        >>> ds = load_images(np.zeros((10, 8, 8, 3), np.uint8), labels=["cat", "dog"] * 5, seed=1)
        >>> ds.classes, sorted(set(ds.split))
        (['cat', 'dog'], ['test', 'train', 'val'])
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
            frame = read_table(path)
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


# -- sources ---------------------------------------------------------------------------------
def _folder_frame(folder: Path, metadata) -> pd.DataFrame:
    files = image_files(folder, stacklevel=4)
    odd = [f for f in files if not is_text_name(f)]
    if odd:
        warnings.warn(f"Skipped {len(odd)} files whose name is not valid UTF-8, e.g. {escaped_name(odd[0])!r}. "
                      "Fix: rename them (e.g. convmv -f latin1 -t utf8) to load them.", stacklevel=3)
    # Images directly in the folder have no class; every other one is in its class's sub-folder.
    rows = [{"path": f.relative_to(folder).as_posix(), "class": f.relative_to(folder).parts[0]}
            for f in files if is_text_name(f) and len(f.relative_to(folder).parts) > 1]
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
    key = find_column(meta, PATH_COLUMNS, None, "metadata table", "a 'path' column (relative to the folder)")
    meta = meta.rename(columns={key: "path"}).drop(columns=[c for c in ("class", "label") if c in meta.columns])
    meta["path"] = meta["path"].map(lambda p: Path(str(p)).as_posix())
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
    doubled = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
    if doubled:
        raise DatasetError(f"{source} has more than one column named {doubled}. Fix: rename or drop the copies.")
    path_column = find_column(frame, PATH_COLUMNS, path_column, "table", "a column of image paths (path_column=)")
    label_column = find_column(frame, LABEL_COLUMNS, label_column, "table", "a column of labels (label_column=)")
    no_path = int(frame[path_column].isna().sum())
    if no_path:
        raise DatasetError(f"{no_path} rows of {source} have no path in column {path_column!r}. Fix: fill them in "
                           "or drop those rows.")
    base = Path(root).expanduser() if root is not None else Path.cwd()
    paths = [str(p if p.is_absolute() else base / p) for p in (Path(str(v)).expanduser() for v in frame[path_column])]
    frame, paths = _without_duplicates(frame.reset_index(drop=True), paths, source)
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise DatasetError(f"{len(missing):,} of {len(paths):,} image paths do not exist, e.g. {missing[:5]}. "
                           f"Fix: check the paths, or pass root= the folder they are relative to (now {base}).")
    rest = frame.drop(columns=[path_column, label_column]).reset_index(drop=True)
    dataset = _assemble(paths, frame[label_column].to_numpy(), classes, rest, source, split_column, split, seed,
                        fill_missing)
    return _skip_unreadable(dataset)


def _without_duplicates(frame: pd.DataFrame, paths: list[str], source: str) -> tuple[pd.DataFrame, list[str]]:
    """Drop rows that repeat a file with the same values; refuse a file whose rows differ."""
    real = pd.Series([os.path.realpath(p) for p in paths])
    repeated = real.duplicated(keep=False)
    if not repeated.any():
        return frame, paths
    distinct = frame.astype(str).assign(_file=real)[repeated.to_numpy()].drop_duplicates()
    conflicting = distinct.loc[distinct["_file"].duplicated(), "_file"].unique()
    if len(conflicting):
        example = distinct[distinct["_file"] == conflicting[0]].drop(columns="_file").head(2)
        raise DatasetError(f"{len(conflicting)} files of {source} are listed more than once with different labels, "
                           f"splits or metadata, e.g. rows {example.to_dict('records')}. An image in two splits "
                           "leaks the test set into training. Fix: keep one row per file "
                           "(e.g. frame.drop_duplicates('path')).")
    keep = ~real.duplicated().to_numpy()
    warnings.warn(f"Dropped {int((~keep).sum())} rows of {source} that repeat a file listed before with the same "
                  "values. Fix: drop the duplicate rows to silence this.", stacklevel=5)
    return frame[keep].reset_index(drop=True), [p for p, k in zip(paths, keep) if k]


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
    images, bad = _hf_images(ds, image_column)
    rest = ds.remove_columns([image_column, label_column]).to_pandas()
    if not len(rest.columns):  # to_pandas() of no columns has no rows either
        rest = pd.DataFrame(index=range(len(ds)))
    dataset = _assemble(images, np.asarray(ds[label_column], dtype=object), classes, rest, "a Hugging Face dataset",
                        split_column, split, seed, fill_missing)
    if bad:
        warnings.warn(f"Skipped {len(bad)} of {len(dataset)} images of the {image_column!r} column that are not "
                      f"images ({next(iter(bad.values()))}; see dataset.skipped).", stacklevel=3)
        dataset = dataset.without(list(bad), list(bad.values()))
        check_class_sizes(dataset.labels, dataset.classes)
    return dataset


def _hf_images(ds, column: str) -> tuple[list, dict[int, str]]:
    """The dataset's image files when it holds paths on this disk (decoded later, in batches);
    otherwise its images, decoded from bytes where it holds bytes (all must fit in memory), and
    ``{position: error}`` for the items that are not images."""
    if type(ds.features[column]).__name__ == "Image":
        from datasets import Image as HFImage

        raw = ds.cast_column(column, HFImage(decode=False))[column]
        paths = [r.get("path") if isinstance(r, dict) else None for r in raw]
        if all(p and os.path.isfile(p) for p in paths):
            return paths, {}
        items = list(raw)
    else:
        items = list(ds[column])
    images, bad = [], {}
    for i, item in enumerate(items):
        data = item.get("bytes") if isinstance(item, dict) else item
        if isinstance(item, dict) and data is None and item.get("path"):
            data = Path(item["path"]).read_bytes() if os.path.isfile(item["path"]) else b""
        if not isinstance(data, (bytes, bytearray)):
            images.append(data)  # decoded already (PIL) or an array: the encoder checks it
            continue
        try:
            images.append(decode_image(bytes(data)))
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            images.append(None)
            bad[i] = f"{type(exc).__name__}: {exc}"
    return images, bad


def _from_arrays(images, labels, metadata, *, classes, split_column, split, seed, fill_missing) -> ImageDataset:
    items = list(images) if not (isinstance(images, np.ndarray) and images.ndim == 3) else [images]
    if not items:
        raise EmptyInputError("No images given. Fix: pass an (N, H, W, C) uint8 array or a list of images.")
    if labels is None:
        raise DatasetError("In-memory images need labels= (one class name or index per image).")
    rest = pd.DataFrame(index=range(len(items))) if metadata is None else pd.DataFrame(metadata).reset_index(drop=True)
    kind = "arrays" if isinstance(items[0], np.ndarray) else "images"
    labels = labels if isinstance(labels, np.ndarray) else pd.Series(list(labels), dtype=object).to_numpy()
    return _assemble(items, labels, classes, rest, f"{len(items)} {kind}", split_column, split, seed,
                     fill_missing)


# -- checks and the split --------------------------------------------------------------------
def _assemble(images: list, raw_labels: np.ndarray, classes, metadata: pd.DataFrame, source: str,
              split_column: str, split: Mapping[str, float], seed: int, fill_missing: str | None) -> ImageDataset:
    if len(raw_labels) != len(images):
        raise DatasetError(f"{len(raw_labels)} labels for {len(images)} images. Fix: one label per image.")
    labels, names = class_indices(raw_labels, classes)
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
    with at least one training and one test image in every class of two or more. Then every
    split with a positive share that is still empty (many small classes round their ``val`` to
    nothing) takes one image from the largest split where its class has one to spare, else from
    a class's only test image, never a class's only training image; when no image can move,
    :class:`DatasetError` says what to change.

    Example:
        >>> stratified_split(np.array([0] * 10 + [1] * 10)).tolist().count("train")
        12
        >>> sorted(set(stratified_split(np.repeat(np.arange(500), 2))))  # 500 classes of two
        ['test', 'train', 'val']
    """
    if set(shares) - set(SPLITS) or any(not v >= 0 for v in shares.values()) or not sum(shares.values()) > 0:
        raise InputError(f"split shares must be non-negative numbers for {list(SPLITS)}, not all 0; got "
                         f"{dict(shares)}. Fix: e.g. split={DEFAULT_SPLIT}.")
    labels = np.asarray(labels)
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
    for split in (s for s in SPLITS if shares.get(s, 0) > 0 and not (out == s).any()):
        out[_spare_image(labels, out, rng, split, shares)] = split
    return out


def _spare_image(labels: np.ndarray, out: np.ndarray, rng, split: str, shares: Mapping[str, float]) -> int:
    """An image another split can give up: its split keeps an image, its class keeps a training image."""
    counts = pd.crosstab(labels, out)
    donors = sorted((s for s in SPLITS if s != split and s in counts), key=lambda s: -counts[s].sum())
    for need_in_class in (2, 1):  # first keep every class in the donor split, then just the split itself
        for donor in donors:
            if counts[donor].sum() < 2 or (donor == "train" and need_in_class == 1):
                continue
            classes = counts.index[counts[donor] >= need_in_class]
            rows = np.flatnonzero((out == donor) & np.isin(labels, classes))
            if len(rows):
                return int(rng.choice(rows))
    wanted = [s for s in SPLITS if shares.get(s, 0) > 0]
    raise DatasetError(f"{len(labels)} images cannot fill the splits {wanted}: {split} would get none. Fix: add "
                       f"images, or leave {split} out, e.g. split={{'train': 0.7, 'test': 0.3}}.")


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
