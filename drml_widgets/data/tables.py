"""Reading a user's tables: the file, its path and label columns, its labels and its attribute columns.

Labels are class names or whole-number class indices, never a mix; an index column that came
back as floats (``0.0``, ``1.0``: pandas does this to an integer column with a gap) is read as
the integers it holds. Attribute columns are the categorical columns of scalars: a column of
lists or arrays (a Parquet list column, embeddings) is never turned into text categories.
"""

from __future__ import annotations

import numbers
import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import DatasetError

# Columns that say what an image is, not what it shows: never attributes.
RESERVED_COLUMNS = ("label", "class", "split", "path")
# Unnamed class indices beyond this are a wrong column (ids, timestamps), not classes.
MAX_UNNAMED_CLASSES = 100_000


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """A CSV or Parquet file as a DataFrame, or :class:`DatasetError` saying why it cannot be read.

    Example:
        >>> import tempfile
        >>> csv = Path(tempfile.mkdtemp()) / "t.csv"
        >>> _ = csv.write_text("path,label\\na.png,cat\\n")
        >>> read_table(csv).columns.tolist()
        ['path', 'label']
    """
    path = Path(path)
    try:
        if path.suffix.lower() == ".csv":
            return pd.read_csv(path)
        return pd.read_parquet(path)
    except ImportError as exc:
        raise DatasetError(f"Reading {path.name} needs a Parquet engine: {exc}. Fix: pip install pyarrow, "
                           "or save the table as CSV.") from exc
    except (ValueError, OSError, UnicodeDecodeError) as exc:  # pandas' ParserError is a ValueError
        kind = "CSV" if path.suffix.lower() == ".csv" else "Parquet"
        raise DatasetError(f"{path} cannot be read as a {kind} table ({type(exc).__name__}: {str(exc)[:200]}). "
                           f"Fix: pass a {kind} file of one row per image, e.g. written by DataFrame.to_{kind.lower()}."
                           ) from exc


def find_column(frame: pd.DataFrame, usual: Sequence[str], given: str | None, what: str, need: str) -> str:
    """The column ``given``, else the first of the ``usual`` names present (any case), else
    :class:`DatasetError` naming ``need``.

    Example:
        >>> find_column(pd.DataFrame({"File": ["a.png"]}), ("path", "file"), None, "table", "a path column")
        'File'
    """
    if given is not None:
        if given not in frame.columns:
            raise DatasetError(f"The {what} has no column {given!r}; its columns are {list(frame.columns)}. "
                               "Fix: name one of them.")
        return given
    lower = {str(c).lower(): c for c in frame.columns}
    found = next((lower[u] for u in usual if u in lower), None)
    if found is None:
        raise DatasetError(f"The {what} needs {need}; none of {list(usual)} is among its columns "
                           f"{list(frame.columns)}. Fix: rename one, or name it with the argument.")
    return found


def _is_scalar(value) -> bool:
    return pd.api.types.is_scalar(value) and not isinstance(value, (bytes, bytearray))


def attribute_columns(table: pd.DataFrame) -> list[str]:
    """The columns that may become attributes: categorical columns of scalars (not floats, not
    :data:`RESERVED_COLUMNS`). Columns of lists, arrays, dicts or bytes are left out with a
    warning that names them; how many distinct values make an attribute is the caller's rule.

    Example:
        >>> t = pd.DataFrame({"weather": ["sun", "rain"], "boxes": [[1, 2], [3]], "score": [0.1, 0.2]})
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     attribute_columns(t), str(caught[0].message)[:45]
        (['weather'], "Columns ['boxes'] hold lists, arrays or bytes")
    """
    keep, nested = [], []
    for column in table.columns:
        values = table[column]
        if str(column).lower() in RESERVED_COLUMNS or pd.api.types.is_float_dtype(values):
            continue
        if values.dtype == object and not all(_is_scalar(v) for v in values):
            nested.append(column)
            continue
        keep.append(column)
    if nested:
        warnings.warn(f"Columns {nested} hold lists, arrays or bytes, not categories; they are not used as "
                      "attributes. Fix: turn each into a column of names (e.g. its first item) to slice by it.",
                      stacklevel=2)
    return keep


def class_indices(labels, classes: Sequence[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """Class indices and class names from labels that are all names or all whole-number indices
    (``classes`` names the indices; unset, they are named ``'0'``, ``'1'``, ...).

    Example:
        >>> class_indices(np.array([1.0, 0.0, 1.0]))
        (array([1, 0, 1]), ['0', '1'])
        >>> class_indices(["dog", "cat"])[1]
        ['cat', 'dog']
    """
    values = list(labels.tolist() if isinstance(labels, (np.ndarray, pd.Series)) else labels)
    missing = sum(1 for v in values if _is_scalar(v) and pd.isna(v))
    if missing:
        raise DatasetError(f"{missing} images have no label. Fix: label them or drop them.")
    odd = [v for v in values if not isinstance(v, (str, bool, numbers.Real))]
    if odd:
        raise DatasetError(f"Labels must be class names or indices; {len(odd)} are {type(odd[0]).__name__}, e.g. "
                           f"{odd[0]!r:.60}. Fix: give one name or index per image.")
    numeric = [isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values]
    if any(numeric) and not all(numeric):
        names = sorted({str(v) for v, n in zip(values, numeric) if not n})[:3]
        numbers_seen = sorted({v for v, n in zip(values, numeric) if n})[:3]
        raise DatasetError(f"The labels mix numbers {numbers_seen} with names {names}. Fix: use one kind: class "
                           "names for every image, or indices for every image with classes= naming them.")
    if values and all(numeric):
        return _indices(values, classes)
    text = [str(v) for v in values]
    names = [str(c) for c in classes] if classes is not None else sorted(set(text))
    index = {c: i for i, c in enumerate(names)}
    unknown = sorted(set(text) - set(index))
    if unknown:
        raise DatasetError(f"Labels {unknown[:10]} are not among the classes {names}. "
                           "Fix: add them to classes=, or correct the labels.")
    return np.array([index[t] for t in text], dtype=np.int64), names


def _indices(values: list, classes: Sequence[str] | None) -> tuple[np.ndarray, list[str]]:
    fractional = sorted({v for v in values if not float(v).is_integer()})
    if fractional:
        raise DatasetError(f"Labels {fractional[:5]} are not whole numbers, so they are not class indices. "
                           "Fix: give class indices 0, 1, ... (with classes= naming them) or class names.")
    ints = [int(v) for v in values]
    if classes is None and max(ints) >= MAX_UNNAMED_CLASSES:
        raise DatasetError(f"Label {max(ints)} would make {max(ints) + 1:,} classes; this looks like a column of ids, "
                           "not class indices. Fix: pass label_column= the class column, or classes= naming them.")
    names = [str(c) for c in classes] if classes is not None else [str(i) for i in range(max(ints) + 1)]
    bad = sorted({v for v in ints if not 0 <= v < len(names)})
    if bad:
        raise DatasetError(f"Labels {bad[:10]} are not indices of the {len(names)} classes {names[:20]}. "
                           "Fix: pass classes= naming every class, in index order.")
    return np.array(ints, dtype=np.int64), names
