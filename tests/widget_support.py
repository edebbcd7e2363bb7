"""Helpers shared by the widget tests: a comm that records messages, a session whose attribute
names and values are HTML, and how to launch Debian's Chromium."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import socket

import numpy as np

XSS_TYPE = "<img src=x onerror=alert(1)>"
XSS_VALUE = "<img src=y onerror=window.__xss=1>"
CHROMIUM_BASE_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                      "--disable-sync", "--no-first-run"]
# WebGL in software, so the point cloud draws with WebGL as it would on a desktop.
CHROMIUM_ARGS = CHROMIUM_BASE_ARGS + ["--enable-unsafe-swiftshader", "--use-angle=swiftshader"]
NO_WEBGL_ARGS = CHROMIUM_BASE_ARGS + ["--disable-webgl", "--disable-3d-apis"]


SYNTHETIC_DIM = 64


class HashEncoder:
    """Deterministic unit vectors per text, standing in for CLIP's text tower."""

    def encode_texts(self, texts):
        out = np.empty((len(texts), SYNTHETIC_DIM), np.float32)
        for i, text in enumerate(texts):
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
            out[i] = np.random.default_rng(seed).normal(size=SYNTHETIC_DIM) + 2.0  # texts sit apart: a gap
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def synthetic_session(points: int):
    """A session of exactly ``points`` points (images plus the shapes prompts) with random 64-d
    embeddings, each image pulled towards its colour's own direction, and a stand-in text
    encoder: for measuring and driving the views at any size without CLIP."""
    import pandas as pd

    from drml_widgets.data.shapes_presets import SHAPES_ATTRIBUTES, shapes_prompt_spec
    from drml_widgets.session import Session

    n_prompts = SHAPES_ATTRIBUTES.n_combinations * shapes_prompt_spec().n_per_combination
    n = points - n_prompts
    rng = np.random.default_rng(0)
    table = pd.DataFrame({t: rng.choice(v, n) for t, v in SHAPES_ATTRIBUTES.values.items()})
    table["label"] = (table["shape"] == "square").astype(int)
    table["split"] = rng.choice(["train", "val", "test"], n, p=[0.5, 0.1, 0.4])
    colours = sorted(SHAPES_ATTRIBUTES.values["color"])
    pull = rng.normal(size=(len(colours), SYNTHETIC_DIM)) * 0.3
    emb = (rng.normal(size=(n, SYNTHETIC_DIM)) + pull[table["color"].map(colours.index).to_numpy()]).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    session = Session(HashEncoder(), emb, table, ["triangle", "square"], SHAPES_ATTRIBUTES, shapes_prompt_spec(), "shape")
    assert len(session.prompts) == n_prompts, "every prompt is distinct, so points add up"
    return session


class RecordingComm:
    """Stands in for a kernel comm and keeps every message a widget sends, with its buffers."""

    def __init__(self, **kwargs):
        self.comm_id = kwargs.get("comm_id") or f"rec-{id(self)}"
        self.kernel = "recording"  # widgets only send when their comm has a kernel
        self.messages: list[tuple[dict, list]] = [("open", kwargs.get("data"), kwargs.get("buffers") or [])]

    def send(self, data=None, metadata=None, buffers=None):
        self.messages.append(("send", data, list(buffers or [])))

    def on_msg(self, callback):
        self.handler = callback

    def close(self, *args, **kwargs):
        pass

    def sizes(self, without=("_esm", "_css")) -> list[tuple[int, int]]:
        """(JSON bytes, binary bytes) of every message; the module code and stylesheet (``_esm``,
        ``_css``: sent once per widget and the same for every plot) are left out unless ``without=()``."""
        def data(d):
            if d and isinstance(d.get("state"), dict):
                d = {**d, "state": {k: v for k, v in d["state"].items() if k not in without}}
            return d
        return [(len(json.dumps(data(d), default=str)), sum(len(memoryview(b).cast("B")) for b in bufs))
                for _, d, bufs in self.messages]

    def custom(self) -> list[tuple[dict, list]]:
        """Custom messages (replies to the front end), with their buffers."""
        return [(d["content"], bufs) for _, d, bufs in self.messages if d and d.get("method") == "custom"]

    def updates(self, name: str) -> list:
        """Every value a trait took in state updates, in order."""
        return [d["state"][name] for kind, d, _ in self.messages
                if kind == "send" and d and d.get("method") == "update" and name in d.get("state", {})]


def recording(monkeypatch):
    """Make new widgets talk to RecordingComms; returns a function giving a widget's comm."""
    import comm

    monkeypatch.setattr(comm, "create_comm", lambda **kwargs: RecordingComm(**kwargs))
    return lambda widget: widget.comm


def xss_session(n: int = 1200):
    """A shapes session whose size attribute is named, and one of its values written, as HTML."""
    from drml_widgets import ClipEncoder, load_shapes_world
    from drml_widgets.prompts.generate import AttributeSet, PromptSpec
    from drml_widgets.session import Session

    world = load_shapes_world(n=n, seed=0)
    table = world.table.rename(columns={"size": XSS_TYPE})
    table[XSS_TYPE] = table[XSS_TYPE].replace({"large": XSS_VALUE})
    sizes = [XSS_VALUE if v == "large" else v for v in ("small", "medium", "large")]
    attrs = AttributeSet({XSS_TYPE: sizes, "color": sorted(table["color"].unique()), "shape": ["triangle", "square"]})
    spec = PromptSpec(["{color} {shape}."])  # templates name plain identifiers only, so not the HTML type
    encoder = ClipEncoder("shapes")
    session = Session(encoder, encoder.encode_images(world.images), table, world.classes, attrs, spec, "shape",
                      images=world.images)
    session.train_head()
    return session


def free_port() -> int:
    """A localhost port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chromium_path() -> str:
    path = shutil.which("chromium")
    if not path:
        raise RuntimeError("Chromium is not installed. Fix: apt-get install -y chromium (never `playwright install`).")
    return path



def contrast(foreground: str, background: str) -> float:
    """WCAG contrast ratio of two computed CSS colours (``rgb(...)``/``rgba(...)``); a translucent
    foreground is first laid over the background.

    Example:
        >>> round(contrast("rgb(0, 0, 0)", "rgb(255, 255, 255)"), 1), contrast("rgba(0, 0, 0, 0)", "rgb(9, 9, 9)")
        (21.0, 1.0)
    """
    def parse(text):
        values = [float(v) for v in re.findall(r"[\d.]+", text)]
        return values[:3], (values[3] if len(values) > 3 else 1.0)

    (fg, alpha), (bg, _) = parse(foreground), parse(background)
    fg = [alpha * f + (1 - alpha) * b for f, b in zip(fg, bg)]

    def luminance(rgb):
        lin = [(c / 255 / 12.92) if c / 255 <= 0.03928 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted([luminance(fg), luminance(bg)], reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def overlap(a: dict | None, b: dict | None) -> bool:
    """Whether two bounding boxes (playwright's ``{x, y, width, height}``) overlap."""
    if not a or not b:
        return False
    return a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]
