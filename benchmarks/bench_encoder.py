"""Encoder benchmarks, measured side by side in one run (ratios, not absolute times).

1. encode_texts on 10,000 prompts: cold cache (encode + write) against warm cache (look-up only).
2. ClipEncoder.encode_texts (no cache) against open_clip's tokenizer + encode_text called
   directly on the same batches, normalised and copied to numpy the same way.

Run: .venv/bin/python benchmarks/bench_encoder.py
"""

from __future__ import annotations

import itertools
import statistics
import tempfile
import time
import warnings

import numpy as np
import torch

from drml_widgets import ClipEncoder
from drml_widgets.data.shapes import ATTRIBUTES
from drml_widgets.prompts.text import fix_articles, imagenet_templates

N_PROMPTS = 10_000
REPEATS = 3


def prompts(n: int) -> list[str]:
    combos = itertools.product(*(ATTRIBUTES[k] for k in ("size", "color", "shape", "position")))
    phrases = [f"{s} {c} {sh} in the {p}" for s, c, sh, p in combos]
    texts = [fix_articles(t.format(p)) for p in phrases for t in imagenet_templates() + ["{}."]]
    return texts[:n]


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    torch.set_num_threads(max(1, torch.get_num_threads()))
    warnings.filterwarnings("ignore", message="Encoding .* not yet cached")  # timing it is the point here
    texts = prompts(N_PROMPTS)
    assert len(set(texts)) == N_PROMPTS

    cold, warm = [], []
    for _ in range(REPEATS):
        with tempfile.TemporaryDirectory() as tmp:
            enc = ClipEncoder("shapes", cache_dir=tmp, progress=False)
            enc.load()
            cold.append(timed(lambda: enc.encode_texts(texts)))
            again = ClipEncoder("shapes", cache_dir=tmp, progress=False)
            warm.append(timed(lambda: again.encode_texts(texts)))
            assert not again.is_loaded
    c, w = statistics.median(cold), statistics.median(warm)
    print(f"encode_texts x {N_PROMPTS}: uncached {c:.3f} s, cached {w:.4f} s -> cached is {c / w:.0f}x faster")

    enc = ClipEncoder("shapes", cache_dir=None, batch_size=256, progress=False)
    model, _, tokenizer = enc.load()

    def direct() -> np.ndarray:
        out = []
        for i in range(0, len(texts), enc.batch_size):
            with torch.inference_mode():
                f = model.encode_text(tokenizer(texts[i: i + enc.batch_size]))
                out.append(torch.nn.functional.normalize(f.float(), dim=-1).numpy())
        return np.concatenate(out)

    wrapper_t, direct_t = [], []
    for _ in range(REPEATS):  # interleaved so drift hits both alike
        direct_t.append(timed(direct))
        wrapper_t.append(timed(lambda: enc.encode_texts(texts)))
    d, wr = statistics.median(direct_t), statistics.median(wrapper_t)
    assert np.allclose(direct(), enc.encode_texts(texts), atol=1e-6)
    print(f"open_clip direct {d:.3f} s, ClipEncoder {wr:.3f} s -> wrapper overhead {100 * (wr / d - 1):+.1f}%")


if __name__ == "__main__":
    main()
