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
from record import load, table, write_results

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
    at_start = load()
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
    rows = [[f"encode_texts x {N_PROMPTS:,}, shapes CLIP", "uncached (encode + cache write)", f"{c:.3f}",
             "cached (look-up only)", f"{w:.4f}", f"{c / w:.0f}x"],
            [f"encode_texts x {N_PROMPTS:,}, no cache, batch {enc.batch_size}", "open_clip tokenizer + encode_text",
             f"{d:.3f}", "ClipEncoder.encode_texts", f"{wr:.3f}", f"{d / wr:.2f}x ({100 * (wr / d - 1):+.1f}% overhead)"]]
    write_results("bench_encoder", table(["what", "A", "A s (median)", "B", "B s (median)", "A / B"], rows) + [
        "", f"Median of {REPEATS} runs each, interleaved. A / B above 1: B is faster; the second row's B is the "
        "package's wrapper, so a ratio below 1 is its overhead."], load_at_start=at_start)


if __name__ == "__main__":
    main()
