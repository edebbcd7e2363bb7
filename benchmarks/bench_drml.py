"""DrML engine benchmarks, measured side by side in one run.

1. Scoring every slice over 64,000 prompt embeddings: vectorised (groupby per attribute subset)
   against a per-slice Python loop over boolean masks.
2. Exact Shapley over 8 attribute types: each subset's prompts embedded once (memoised
   coalitions) against re-evaluating every prefix of every permutation, both on a warm cache.
3. Rectification on 10,000 text embeddings for 50 epochs: text-only against text + replay.

Run: .venv/bin/python benchmarks/bench_drml.py
"""

from __future__ import annotations

import itertools
import math
import tempfile
import time

import numpy as np
import pandas as pd
import torch

from drml_widgets import ClipEncoder
from drml_widgets.diagnose.heads import Head
from drml_widgets.diagnose.influence import attribute_influence
from drml_widgets.diagnose.rectify import fit_rectified
from drml_widgets.diagnose.slices import all_slices
from drml_widgets.prompts import AttributeSet, PromptSpec
from drml_widgets.prompts.generate import combo_prompts
from record import load, table, write_results


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def bench_slices(rng) -> list:
    types = {"a": 10, "b": 8, "c": 5, "d": 4, "e": 4}  # 6,400 combinations x 10 templates = 64,000
    combos = list(itertools.product(*(range(n) for n in types.values())))
    prompts = pd.DataFrame(np.repeat(np.array(combos), 10, axis=0), columns=list(types)).astype(str)
    prompts["label"] = rng.integers(0, 2, len(prompts))
    logits = rng.normal(size=(len(prompts), 2))
    proba = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)

    def loop():
        rows = []
        p_true = proba[np.arange(len(prompts)), prompts["label"].to_numpy()]
        ok = proba.argmax(1) == prompts["label"].to_numpy()
        cols = {t: prompts[t].to_numpy() for t in types}
        for order in range(1, len(types) + 1):
            for subset in itertools.combinations(types, order):
                for values in itertools.product(*(np.unique(cols[t]) for t in subset)):
                    mask = np.ones(len(prompts), bool)
                    for t, v in zip(subset, values):
                        mask &= cols[t] == v
                    rows.append((subset, values, p_true[mask].mean(), ok[mask].mean(), mask.sum()))
        return rows

    t_vec, scored = timed(lambda: all_slices(proba, prompts, list(types)))
    t_loop, rows = timed(loop)
    assert len(rows) == len(scored)
    return [f"slice scoring, {len(prompts):,} prompts, {len(scored):,} slices", "per-slice loop", f"{t_loop:.2f}",
            "vectorised (all_slices)", f"{t_vec:.2f}", f"{t_loop / t_vec:.0f}x"]


def bench_shapley() -> list:
    values = {"size": ["small"], "color": ["green"], "shape": ["triangle"], "position": ["upper left"],
              "texture": ["striped"], "outline": ["dotted"], "light": ["dark"], "style": ["sketched"]}
    attrs = AttributeSet(values)
    spec = PromptSpec(["a {light} {style} {texture} {outline} {size} {color} {shape} {position}."])
    with tempfile.TemporaryDirectory() as tmp:
        enc = ClipEncoder("shapes", cache_dir=tmp)
        head = Head(torch.nn.Linear(64, 2), "linear", 64, ["triangle", "square"])
        predict = head.predict_proba
        # Untimed first: it loads the model and fills the cache, which the per-permutation run would
        # otherwise read for free; timed after it, both differ only in how many coalitions they evaluate.
        attribute_influence(attrs, spec, enc.encode_texts, predict, 0, "shapley")
        t_memo, memo = timed(lambda: attribute_influence(attrs, spec, enc.encode_texts, predict, 0, "shapley"))

        types = attrs.types

        def v(prefix) -> float:
            texts = [p for _, p in combo_prompts(attrs, spec, {t: values[t][0] for t in prefix})]
            texts = [t if any(c.isalnum() for c in t) else "a photo." for t in texts]
            return float(predict(enc.encode_texts(texts))[:, 0].mean())

        def per_permutation():
            phi = dict.fromkeys(types, 0.0)
            perms = list(itertools.permutations(types))
            for order in perms:
                before = v(())
                for j, a in enumerate(order):
                    after = v(order[: j + 1])
                    phi[a] += (after - before) / len(perms)
                    before = after
            return phi

        t_naive, phi = timed(per_permutation)
    exact = memo.set_index("attribute")["influence"]
    assert all(math.isclose(exact[a], phi[a], abs_tol=1e-5) for a in types)
    return [f"exact Shapley, 8 types ({math.factorial(8):,} permutations)", "recomputed per permutation",
            f"{t_naive:.1f}", "memoised coalitions", f"{t_memo:.2f}", f"{t_naive / t_memo:.1f}x"]


def bench_rectify(rng) -> list:
    x = rng.normal(size=(10_000, 64)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = (x[:, 0] > 0).astype(int)
    replay = (x[:1000], y[:1000])
    head = Head(torch.nn.Linear(64, 2), "linear", 64, ["a", "b"])
    t_text, _ = timed(lambda: fit_rectified(head, (x, y), (x[:500], y[:500]), mode="text", epochs=50))
    t_replay, _ = timed(lambda: fit_rectified(head, (x, y), (x[:500], y[:500]), mode="replay",
                                              replay=replay, keep_val=replay, epochs=50))
    return ["rectify, 10,000 text embeddings x 50 epochs", "with 1,000 replayed images", f"{t_replay:.1f}",
            "text-only", f"{t_text:.1f}", f"{t_replay / t_text:.2f}x"]


if __name__ == "__main__":
    at_start, rng = load(), np.random.default_rng(0)
    rows = [bench_slices(rng), bench_shapley(), bench_rectify(rng)]
    write_results("bench_drml", table(["what", "A", "A s", "B", "B s", "A / B"], rows) + [
        "", "One run each, side by side. A / B is how many times longer A takes than B: the package's way (B) "
        "against a reference loop in the first two rows, and what replaying images costs in the third."],
        load_at_start=at_start)
