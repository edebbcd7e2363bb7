"""Arrays on the wire: a numpy trait that travels as ``{"dtype", "shape", "buffer"}``, the bytes
in one binary buffer. ``decode``/``encode`` in ``js/src/util.js`` are the other half.

Only the dtypes in :data:`DTYPES` travel; anything the browser sends is checked against its
dtype and shape before numpy sees it.
"""

from __future__ import annotations

import math

import numpy as np
import traitlets as t

from ..errors import WidgetError

DTYPES = ("uint8", "uint16", "uint32", "float32")  # those js/src/util.js decodes
QUANT_LEVELS = 65535  # coordinates travel as uint16 steps across their extent
_FIX = "Fix: run the cell that shows the view again (the page may hold an older version of the widget's code)."


def array_to_json(value: np.ndarray, _widget=None) -> dict:
    """An array as the front end reads it: dtype, shape and its bytes (sent as a binary buffer).

    Example:
        >>> wire = array_to_json(np.zeros((3, 2), np.float32))
        >>> wire["dtype"], wire["shape"], wire["buffer"].nbytes
        ('float32', [3, 2], 24)
    """
    value = np.ascontiguousarray(value)
    return {"dtype": value.dtype.name, "shape": list(value.shape), "buffer": memoryview(value).cast("B")}


def array_from_json(value, widget=None, name: str = "array") -> np.ndarray:
    """An array from the front end's ``{"dtype", "shape", "buffer"}``, checked: a known dtype, a
    shape of whole numbers, and exactly the bytes that shape needs. Zero-copy and read-only.

    Example:
        >>> array_from_json({"dtype": "uint32", "shape": [2], "buffer": memoryview(bytes(8))})
        array([0, 0], dtype=uint32)
        >>> array_from_json({"dtype": "uint32", "shape": [2], "buffer": memoryview(bytes(7))})
        Traceback (most recent call last):
        ...
        drml_widgets.errors.WidgetError: The browser sent 7 bytes for array: not a whole number of uint32 items (4 bytes each). Fix: run the cell that shows the view again (the page may hold an older version of the widget's code).
    """
    if not isinstance(value, dict) or set(value) != {"dtype", "shape", "buffer"}:
        raise WidgetError(f"The browser sent {type(value).__name__} for {name}, not "
                          f"{{dtype, shape, buffer}}. {_FIX}")
    dtype, shape = value["dtype"], value["shape"]
    if dtype not in DTYPES:
        raise WidgetError(f"The browser sent {name} as {dtype!r}; only {list(DTYPES)} travel. {_FIX}")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise WidgetError(f"The browser sent {name} with shape {shape!r}, not a list of sizes. {_FIX}")
    try:
        buffer = memoryview(value["buffer"]).cast("B")
    except TypeError:
        raise WidgetError(f"The browser sent {type(value['buffer']).__name__} as the bytes of {name}. {_FIX}") from None
    itemsize = np.dtype(dtype).itemsize
    if buffer.nbytes % itemsize:
        raise WidgetError(f"The browser sent {buffer.nbytes:,} bytes for {name}: not a whole number of {dtype} "
                          f"items ({itemsize} bytes each). {_FIX}")
    if buffer.nbytes != math.prod(shape) * itemsize:
        raise WidgetError(f"The browser sent {buffer.nbytes:,} bytes for {name} of shape {shape}, which needs "
                          f"{math.prod(shape) * itemsize:,}. {_FIX}")
    return np.frombuffer(buffer, dtype).reshape(shape)


def quantise(xy: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """2-D coordinates as uint16 steps across their extent (4 bytes a point instead of 8), with
    the extent ``[x0, x1, y0, y1]`` the front end needs to read them back. Each coordinate comes
    back within half a step: ``(x1 - x0) / 65535 / 2``.

    Example:
        >>> q, extent = quantise(np.array([[0.0, 1.0], [2.0, 3.0], [1.0, 2.0]]))
        >>> q.dtype.name, q.tolist(), extent
        ('uint16', [[0, 0], [65535, 65535], [32768, 32768]], [0.0, 2.0, 1.0, 3.0])
        >>> dequantise(q, extent)[2].tolist()
        [1.0000152587890625, 2.0000152587890625]
    """
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    if not np.isfinite(xy).all():
        raise WidgetError("Some coordinates are not finite (NaN or infinite), so they cannot be drawn. "
                          "Fix: check the embeddings for NaN rows.")
    if not len(xy):
        return np.empty((0, 2), np.uint16), [0.0, 1.0, 0.0, 1.0]
    low, high = xy.min(axis=0), xy.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    q = np.rint((xy - low) / span * QUANT_LEVELS).astype(np.uint16)
    return q, [float(low[0]), float(low[0] + span[0]), float(low[1]), float(low[1] + span[1])]


def dequantise(q: np.ndarray, extent) -> np.ndarray:
    """The coordinates a page draws for uint16 ``q`` over ``extent`` (float32, as the page holds them).

    Example:
        >>> dequantise(np.array([[0, 65535]], np.uint16), [0.0, 2.0, -1.0, 1.0]).tolist()
        [[0.0, 1.0]]
    """
    x0, x1, y0, y1 = extent
    steps = np.asarray(q, dtype=np.float64) / QUANT_LEVELS
    return np.stack([x0 + steps[:, 0] * (x1 - x0), y0 + steps[:, 1] * (y1 - y0)], axis=1).astype(np.float32)


class Array(t.TraitType):
    """A numpy array trait of one dtype that syncs as ``{"dtype", "shape", "buffer"}``.

    Values are converted to the dtype only when no value changes on the way (a list of row
    numbers becomes ``uint32``; ``float64`` coordinates do not silently become ``float32``).

    Example:
        >>> class Plot(t.HasTraits):
        ...     rows = Array("uint32")
        >>> Plot(rows=[2, 5]).rows
        array([2, 5], dtype=uint32)
        >>> Plot(rows=[-1])
        Traceback (most recent call last):
        ...
        traitlets.traitlets.TraitError: The 'rows' trait of a Plot instance needs uint32 values; the values [-1] do not fit.
    """

    info_text = "a numpy array"

    def __init__(self, dtype: str, **kwargs):
        if dtype not in DTYPES:
            raise ValueError(f"dtype {dtype!r} cannot travel; use one of {DTYPES}.")
        self.dtype = np.dtype(dtype)
        super().__init__(np.empty(0, self.dtype), **kwargs)
        self.metadata.update(to_json=array_to_json, from_json=lambda value, widget: array_from_json(value, widget, self.name))

    def validate(self, obj, value):
        """An ndarray of the trait's dtype, converted when the values fit it exactly."""
        array = np.asarray(value)
        if array.dtype == self.dtype:
            return array
        try:
            converted = array.astype(self.dtype)
            same = np.array_equal(converted, array)
        except (TypeError, ValueError):
            same = False
        if not same:
            shown = np.array2string(array.ravel()[:5], separator=", ") if array.size else str(array.dtype)
            raise t.TraitError(f"The {self.name!r} trait of a {type(obj).__name__} instance needs {self.dtype} values; "
                               f"the values {shown} do not fit.")
        return converted
