"""Influential attributes (DrML, paper 000, section 3.4): how much each attribute value moves the
probability of a target class, measured with text.

Two measures:

- ``drml``: the with/without difference of the target-class probability, between prompts that
  state the value and the same prompts with that attribute type left out, averaged over the
  other attributes' values (what the paper's reference code calls Shapley);
- ``shapley``: the Shapley value with attribute *types* as players. For a full combination z the
  game is v(S) = P(target | prompts that state only z's values of the types in S); a value's
  influence is the mean Shapley value of its type over the combinations holding that value.
  Exact by subset enumeration up to ``exact_max_types`` types, by permutation sampling above
  (with a standard error).
"""

from __future__ import annotations

import itertools
import math
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError
from ..prompts.generate import AttributeSet, PromptSpec, combo_prompts, count_prompts, write_prompts

EmbedTexts = Callable[[list[str]], np.ndarray]
PredictProba = Callable[[np.ndarray], np.ndarray]
EMPTY_PROMPT = "a photo."


class CoalitionValues:
    """v(S): the mean target probability of the prompts stating only the types in S, per value
    combination of S. Each subset's prompts are written and embedded once, then memoised."""

    def __init__(self, attributes: AttributeSet, spec: PromptSpec, embed_texts: EmbedTexts,
                 predict_proba: PredictProba, target: int):
        self.attributes, self.spec = attributes, spec
        self.embed_texts, self.predict_proba, self.target = embed_texts, predict_proba, target
        self._memo: dict[tuple[str, ...], pd.Series] = {}

    def __call__(self, subset: Sequence[str]) -> pd.Series:
        key = tuple(t for t in self.attributes.types if t in subset)
        if key not in self._memo:
            prompts = write_prompts(self.attributes, self.spec, key)
            texts = [p if any(ch.isalnum() for ch in p) else EMPTY_PROMPT for p in prompts["prompt"]]
            prob = self.predict_proba(self.embed_texts(texts))[:, self.target]
            frame = prompts[list(key)].assign(prob=prob)
            self._memo[key] = frame.groupby(list(key))["prob"].mean() if key else pd.Series({(): prob.mean()})
        return self._memo[key]

    def at(self, points: list[dict[str, str]]) -> np.ndarray:
        """v at individual (subset, values) points, each given as ``{type: value}``; the
        distinct prompts of all points are embedded in one batch."""
        keys = [tuple(sorted(p.items())) for p in points]
        unique = list(dict.fromkeys(keys))
        texts, owner = [], []
        for u, key in enumerate(unique):
            for _, prompt in combo_prompts(self.attributes, self.spec, dict(key)):
                texts.append(prompt if any(ch.isalnum() for ch in prompt) else EMPTY_PROMPT)
                owner.append(u)
        prob = self.predict_proba(self.embed_texts(texts))[:, self.target]
        means = np.bincount(owner, weights=prob, minlength=len(unique)) / np.bincount(owner, minlength=len(unique))
        lookup = dict(zip(unique, means))
        return np.array([lookup[k] for k in keys])

    def on(self, combos: pd.DataFrame, subset: Sequence[str]) -> np.ndarray:
        """v(S) looked up for every row of ``combos`` (full combinations)."""
        values = self(subset)
        key = [t for t in self.attributes.types if t in subset]
        if not key:
            return np.full(len(combos), float(values.iloc[0]))
        index = pd.MultiIndex.from_frame(combos[key]) if len(key) > 1 else pd.Index(combos[key[0]])
        return values.reindex(index).to_numpy(dtype=float)


def _per_value(combos: pd.DataFrame, contributions: dict[str, np.ndarray], sampled: bool = False) -> pd.DataFrame:
    rows = []
    for attribute, phi in contributions.items():
        frame = pd.DataFrame({"value": combos[attribute].to_numpy(), "phi": phi})
        stats = frame.groupby("value", sort=False)["phi"].agg(["mean", "std", "size"])
        for value, row in stats.iterrows():
            se = float(row["std"] / math.sqrt(row["size"])) if sampled and row["size"] > 1 else 0.0
            rows.append({"attribute": attribute, "value": value, "influence": float(row["mean"]),
                         "std_error": se})
    return pd.DataFrame(rows)


def attribute_influence(
    attributes: AttributeSet,
    spec: PromptSpec,
    embed_texts: EmbedTexts,
    predict_proba: PredictProba,
    target: int,
    method: str = "drml",
    *,
    exact_max_types: int = 12,
    n_permutations: int = 2000,
    seed: int = 0,
    max_prompts: int = 200_000,
) -> pd.DataFrame:
    """Influence of every attribute value on the probability of class ``target``.

    ``embed_texts`` maps prompts to embeddings (e.g. ``encoder.encode_texts``) and
    ``predict_proba`` embeddings to class probabilities (e.g. a head on text). Returns one row
    per (attribute, value): ``influence``, ``std_error`` (0 where exact) and ``method``, sorted
    by attribute then influence, largest first.

    Example:
        >>> attrs = AttributeSet({"color": ["orange", "green"], "shape": ["triangle", "square"]})
        >>> embed = lambda texts: np.array([[t.count("orange"), t.count("triangle")] for t in texts], float)
        >>> proba = lambda e: np.stack([1 / (1 + np.exp(-(e[:, 0] - 0.5))), 1 - 1 / (1 + np.exp(-(e[:, 0] - 0.5)))], 1)
        >>> df = attribute_influence(attrs, PromptSpec(["{color} {shape}."]), embed, proba, target=0)
        >>> df.query("attribute == 'color'")["value"].tolist()
        ['orange', 'green']
    """
    if method not in ("drml", "shapley"):
        raise InputError(f"method must be 'drml' or 'shapley'; got {method!r}. Fix: pass method='drml' (with/without "
                         "differences, the paper's) or 'shapley' (Shapley values over attribute types).")
    types = attributes.types
    if method == "shapley" and len(types) <= exact_max_types:
        needed = math.prod(len(v) + 1 for v in attributes.values.values()) * spec.n_per_combination
    else:
        needed = count_prompts(attributes, spec) * 2
    if needed > max_prompts:
        raise InputError(
            f"Influence would embed about {needed:,} prompts, above max_prompts={max_prompts:,}. "
            "Fix: drop values or types, turn off the template ensemble, or raise max_prompts."
        )
    value = CoalitionValues(attributes, spec, embed_texts, predict_proba, target)
    combos = attributes.combinations()
    if method == "drml":
        full = value.on(combos, types)
        contributions = {a: full - value.on(combos, [t for t in types if t != a]) for a in types}
        out = _per_value(combos, contributions)
    elif len(types) <= exact_max_types:
        out = _per_value(combos, _exact_shapley(value, combos, types))
    else:
        out = _sampled_shapley(value, combos, types, n_permutations, seed)
    out["method"] = method if method == "drml" else (
        "shapley (exact)" if len(types) <= exact_max_types else f"shapley ({n_permutations} permutations)")
    order = {t: i for i, t in enumerate(types)}
    out = out.sort_values(["attribute", "influence"], key=lambda s: s.map(order) if s.name == "attribute" else -s)
    return out.reset_index(drop=True)


def _exact_shapley(value: CoalitionValues, combos: pd.DataFrame, types: list[str]) -> dict[str, np.ndarray]:
    k = len(types)
    v = {s: value.on(combos, s) for r in range(k + 1) for s in itertools.combinations(types, r)}
    phi = {a: np.zeros(len(combos)) for a in types}
    for a in types:
        others = [t for t in types if t != a]
        for r in range(k):
            weight = math.factorial(r) * math.factorial(k - r - 1) / math.factorial(k)
            for s in itertools.combinations(others, r):
                with_a = tuple(t for t in types if t in s or t == a)
                phi[a] += weight * (v[with_a] - v[s])
    return phi


def _sampled_shapley(value: CoalitionValues, combos: pd.DataFrame, types: list[str],
                     n_permutations: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sample = combos.iloc[rng.integers(0, len(combos), n_permutations)].reset_index(drop=True)
    orders = [list(rng.permutation(types)) for _ in range(n_permutations)]
    # Every (subset, values) point the permutations visit, evaluated in one batch.
    points = []
    for i, order in enumerate(orders):
        row = sample.iloc[i]
        points += [{t: row[t] for t in order[:j]} for j in range(len(types) + 1)]
    v = value.at(points).reshape(n_permutations, len(types) + 1)
    contributions = {a: np.zeros(n_permutations) for a in types}
    for i, order in enumerate(orders):
        for j, a in enumerate(order):
            contributions[a][i] = v[i, j + 1] - v[i, j]
    return _per_value(sample, contributions, sampled=True)
