"""Prompts from attribute sets: the Cartesian product of attribute values, through templates.

DrML (paper 000) probes a head with text of every attribute combination, written raw
("{size}, {color}, {shape}."), engineered ("{size} {color} {shape}.") or through CLIP's 80
ImageNet templates. The number of prompts is known before anything is generated, so an
explosion is caught early.
"""

from __future__ import annotations

import itertools
import math
import re
import string
import warnings
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import pandas as pd

from ..errors import PromptError
from .text import fix_articles, imagenet_templates

DEFAULT_MAX_PROMPTS = 100_000
# Prompts are short captions; CLIP reads 77 tokens at most. The bounds keep a pasted essay (or a
# padding format spec) from costing seconds on every edit of the prompt builder.
MAX_TEMPLATE_CHARS = 300
MAX_VALUE_CHARS = 100


# The attribute type whose values are the class names, where a session adds the class to its attributes.
CLASS = "class"


@dataclass
class AttributeSet:
    """Attribute types mapped to their values, with optional phrases per value.

    ``phrases`` maps a value to the words used in prompts (default: the value itself), e.g.
    ``{"upper left": "in the upper left"}``.

    Example:
        >>> attrs = AttributeSet({"color": ["red", "green"], "shape": ["triangle", "square"]})
        >>> attrs.n_combinations
        4
    """

    values: dict[str, list[str]]
    phrases: dict[str, dict[str, str]] = field(default_factory=dict)

    def __post_init__(self):
        if not self.values:
            raise PromptError("The attribute set is empty. Fix: give at least one attribute type with values.")
        cleaned = {}
        for name, vals in self.values.items():
            if not str(name).strip():
                raise PromptError("An attribute type has an empty name. Fix: name every attribute type.")
            vals = [str(v) for v in (vals if not isinstance(vals, str) else [vals])]
            if not vals or any(not v.strip() for v in vals):
                raise PromptError(
                    f"Attribute {name!r} has no values or an empty value ({vals}). "
                    "Fix: give it at least one non-empty value, or remove it."
                )
            long = [v for v in vals if len(v) > MAX_VALUE_CHARS]
            if long:
                raise PromptError(f"Attribute {name!r} has a value of {len(long[0]):,} characters, above the "
                                  f"{MAX_VALUE_CHARS} a prompt can use. Fix: shorten it to a few words.")
            dupes = sorted({v for v in vals if vals.count(v) > 1})
            if dupes:
                raise PromptError(f"Attribute {name!r} repeats values {dupes}. Fix: list each value once.")
            cleaned[str(name)] = vals
        self.values = cleaned
        for name, mapping in self.phrases.items():
            unknown = set(mapping) - set(self.values.get(name, []))
            if name not in self.values or unknown:
                raise PromptError(f"Phrases given for unknown attribute values {name!r}: {sorted(unknown)}.")
            long = [p for p in mapping.values() if len(str(p)) > MAX_VALUE_CHARS]
            if long:
                raise PromptError(f"A phrase of {name!r} has {len(long[0]):,} characters, above the "
                                  f"{MAX_VALUE_CHARS} a prompt can use. Fix: shorten it to a few words.")

    @property
    def types(self) -> list[str]:
        """The attribute types, in the order given."""
        return list(self.values)

    @property
    def n_combinations(self) -> int:
        """How many combinations of one value per type there are."""
        return math.prod(len(v) for v in self.values.values())

    def phrase(self, attribute: str, value: str) -> str:
        """How ``value`` of ``attribute`` is written in a prompt (the value itself unless a phrase is set)."""
        return self.phrases.get(attribute, {}).get(value, value)

    def combinations(self) -> pd.DataFrame:
        """Every combination of values, one row each.

        Example:
            >>> AttributeSet({"a": ["x", "y"], "b": ["z"]}).combinations()["a"].tolist()
            ['x', 'y']
        """
        rows = list(itertools.product(*self.values.values()))
        return pd.DataFrame(rows, columns=self.types)

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={len(v)}" for k, v in self.values.items())
        return f"AttributeSet({body}; {self.n_combinations} combinations)"


def template_fields(template: str) -> list[str]:
    """The named fields of a template, which may only be plain ``{name}`` fields.

    Format specs (``{color:>40}``), conversions (``{color!r}``), attribute or index access
    (``{color.upper}``) and positional fields (``{}``) are refused: a prompt is plain text.

    Example:
        >>> template_fields("{size} {color} {shape}.")
        ['size', 'color', 'shape']
    """
    if not isinstance(template, str):
        raise PromptError(f"A template must be a string; got {type(template).__name__}. Fix: e.g. '{{color}} {{shape}}.'.")
    if len(template) > MAX_TEMPLATE_CHARS:
        raise PromptError(f"A template has {len(template):,} characters, above the {MAX_TEMPLATE_CHARS} a prompt "
                          "can use. Fix: keep templates to one short sentence.")
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise PromptError(f"Template {template!r} is not a valid format string: {exc}. "
                          "Fix: write fields as {name} and double literal braces ({{ }}).") from exc
    fields = []
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise PromptError(f"Template {template!r} has the field {shown}; only plain attribute names in "
                              "braces are allowed. Fix: write e.g. {color}.")
        fields.append(name)
    return fields


@dataclass
class PromptSpec:
    """How to write prompts: the templates and, optionally, the 80-template CLIP ensemble.

    ``templates`` are format strings over the attribute types ("{size} {color} {shape}.").
    With ``ensemble=True`` each combination is also written through every ImageNet template,
    with ``ensemble_phrase`` (default: the first template without its final full stop) as the
    object.

    Example:
        >>> PromptSpec(["{color} {shape}."], ensemble=True).n_per_combination
        81
    """

    templates: list[str]
    ensemble: bool = False
    ensemble_phrase: str | None = None

    def __post_init__(self):
        if isinstance(self.templates, str):
            self.templates = [self.templates]
        if not self.templates:
            raise PromptError("No templates. Fix: give at least one, e.g. '{color} {shape}.'.")

    @property
    def n_per_combination(self) -> int:
        """Prompts made for each combination: one per template, plus 80 with the ensemble."""
        return len(self.templates) + (80 if self.ensemble else 0)

    def phrase_template(self) -> str:
        """The phrase the ensemble's 80 templates wrap (the first template's, without its full stop)."""
        return self.ensemble_phrase or self.templates[0].rstrip(". ")


def count_prompts(attributes: AttributeSet, spec: PromptSpec) -> int:
    """How many prompts :func:`generate_prompts` would write (before removing duplicates).

    Example:
        >>> count_prompts(AttributeSet({"color": ["red", "blue"]}), PromptSpec(["a {color} shape."], ensemble=True))
        162
    """
    return attributes.n_combinations * spec.n_per_combination


def generate_prompts(
    attributes: AttributeSet,
    spec: PromptSpec,
    label_rule: Callable[[Mapping[str, str]], int] | str | None = None,
    classes: Sequence[str] | None = None,
    max_prompts: int = DEFAULT_MAX_PROMPTS,
) -> pd.DataFrame:
    """Write the prompts of every attribute combination, one row each, duplicates removed.

    ``label_rule`` gives each combination its true class: the name of an attribute whose
    value is the class name (e.g. ``"shape"``, with ``classes``), or a function of the row.
    Columns: one per attribute type, ``template``, ``prompt`` and, with a rule, ``label``.

    Example:
        >>> attrs = AttributeSet({"color": ["red", "orange"], "shape": ["triangle", "square"]})
        >>> df = generate_prompts(attrs, PromptSpec(["a {color} {shape}."]), "shape", ["triangle", "square"])
        >>> df["prompt"].tolist()[:2], df["label"].tolist()[:2]
        (['a red triangle.', 'a red square.'], [0, 1])
    """
    problems = prompt_problems(attributes, spec, label_rule, classes, max_prompts)
    if problems:
        raise PromptError(" ".join(problems))
    rule = _label_rule(label_rule, attributes, classes)
    df = write_prompts(attributes, spec)
    if rule is not None:
        df["label"] = [rule(combo) for combo in df[attributes.types].to_dict("records")]
        df = _drop_ambiguous(df)
    return df


def prompt_problems(
    attributes: AttributeSet,
    spec: PromptSpec,
    label_rule: Callable | str | None = None,
    classes: Sequence[str] | None = None,
    max_prompts: int = DEFAULT_MAX_PROMPTS,
) -> list[str]:
    """Everything that stops these prompts from being generated, one sentence (with its fix) each.

    The prompt builder shows the list as the user types; :func:`generate_prompts` raises it.

    Example:
        >>> attrs = AttributeSet({"color": ["red"], "shape": ["triangle", "square"]})
        >>> prompt_problems(attrs, PromptSpec(["a {color} thing."]), "shape")  # doctest: +ELLIPSIS
        ["Template 'a {color} thing.' does not name {shape}, ..."]
    """
    problems = []
    total = count_prompts(attributes, spec)
    if total > max_prompts:
        sizes = ", ".join(f"{k}: {len(v)}" for k, v in attributes.values.items())
        problems.append(
            f"{total:,} prompts would be generated ({attributes.n_combinations:,} combinations x "
            f"{spec.n_per_combination} templates), above the cap of {max_prompts:,}. Fix: drop values "
            f"or attribute types ({sizes}), turn off the 80-template ensemble, or raise max_prompts."
        )
    for template in list(spec.templates) + ([spec.phrase_template()] if spec.ensemble else []):
        try:
            fields = template_fields(template)
        except PromptError as exc:
            problems.append(str(exc))
            continue
        unknown = sorted(set(fields) - set(attributes.types))
        if unknown:
            problems.append(f"Template {template!r} names {unknown}, which are not attribute types "
                            f"{attributes.types}. Fix: use only those names in braces.")
        elif isinstance(label_rule, str) and label_rule in attributes.types and label_rule not in fields:
            problems.append(f"Template {template!r} does not name {{{label_rule}}}, the attribute that is the "
                            "class, so one text would be labelled with every class. "
                            f"Fix: add {{{label_rule}}} to it, or remove it.")
    if label_rule is not None:
        try:
            _label_rule(label_rule, attributes, classes)
        except PromptError as exc:
            problems.append(str(exc))
    return problems


def _drop_ambiguous(df: pd.DataFrame) -> pd.DataFrame:
    """Drop texts a label rule gives more than one class (a function of attributes the text leaves out)."""
    n_labels = df.groupby("prompt")["label"].transform("nunique")
    ambiguous = n_labels > 1
    if ambiguous.all():
        raise PromptError("Every prompt's text is labelled with more than one class: the templates leave out "
                          "what decides the class. Fix: name those attributes in the templates.")
    if ambiguous.any():
        texts = df.loc[ambiguous, "prompt"].unique()
        warnings.warn(f"{len(texts):,} prompt texts (e.g. {texts[0]!r}) would be labelled with more than one class, "
                      "because their template leaves out what decides the class; they were dropped. "
                      "Fix: name those attributes in every template.", stacklevel=3)
    return df[~ambiguous].reset_index(drop=True)


class _Blank(dict):
    def __missing__(self, key):
        return ""


def render(template: str, words: Mapping[str, str]) -> str:
    """Fill a template; attribute types missing from ``words`` are dropped cleanly.

    Example:
        >>> render("{size}, {color}, {shape}.", {"color": "orange", "shape": "square"})
        'orange, square.'
        >>> render("a {size} {color} {shape}.", {"color": "orange"})
        'an orange.'
    """
    # Whitespace is collapsed first, so no pattern below can scan a run of spaces more than once
    # (on raw text the comma patterns backtrack and take time quadratic in the run's length).
    text = " ".join(template.format_map(_Blank(words)).split())
    text = _DANGLING_COMMA.sub("", text)  # commas left dangling by a dropped field
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text.removeprefix(",").lstrip())
    return fix_articles(" ".join(text.split()))


_DANGLING_COMMA = re.compile(r" ?, ?(?=[,.]|$)")
_SPACE_BEFORE_PUNCT = re.compile(r" ([.,])")


def captions(table: pd.DataFrame, attributes: AttributeSet, template: str) -> list[str]:
    """One caption per row of an image table: its attribute values (those the table has) in ``template``.

    Example:
        >>> attrs = AttributeSet({"color": ["red"], "shape": ["square"], "size": ["big"]})
        >>> captions(pd.DataFrame({"color": ["red"], "shape": ["square"]}), attrs, "a {size} {color} {shape}.")
        ['a red square.']
    """
    types = [t for t in attributes.types if t in table.columns]
    if not types:
        return [render(template, {})] * len(table)
    # One rendering per distinct combination (a million images have a few thousand), then looked up.
    codes, combos = pd.MultiIndex.from_frame(table[types]).factorize()
    texts = [render(template, {t: attributes.phrase(t, v) for t, v in zip(types, combo)}) for combo in combos]
    return [texts[c] for c in codes]


def combo_prompts(attributes: AttributeSet, spec: PromptSpec, combo: Mapping[str, str]) -> list[tuple[str, str]]:
    """``(template, prompt)`` pairs for one combination of values (types not in it are left out).

    Example:
        >>> attrs = AttributeSet({"color": ["red"], "shape": ["square"]})
        >>> combo_prompts(attrs, PromptSpec(["a {color} {shape}."]), {"shape": "square"})
        [('a {color} {shape}.', 'a square.')]
    """
    words = {k: attributes.phrase(k, v) for k, v in combo.items()}
    texts = [(t, render(t, words)) for t in spec.templates]
    if spec.ensemble:
        obj = render(spec.phrase_template(), words).rstrip(".")
        texts += [(t, fix_articles(t.format(obj))) for t in imagenet_templates()]
    return texts


def write_prompts(attributes: AttributeSet, spec: PromptSpec, types: Sequence[str] | None = None) -> pd.DataFrame:
    """Prompts for every combination of the attribute types in ``types`` (default: all); the
    other types are left out of the text. Unused type columns hold ``None``.

    Example:
        >>> attrs = AttributeSet({"color": ["red"], "shape": ["triangle", "square"]})
        >>> write_prompts(attrs, PromptSpec(["{color} {shape}."]), ["color"])["prompt"].tolist()
        ['red.']
    """
    types = list(attributes.types if types is None else types)
    unknown = [t for t in types if t not in attributes.values]
    if unknown:
        raise PromptError(f"Unknown attribute types {unknown}; the set has {attributes.types}.")
    rows = []
    for values in itertools.product(*(attributes.values[t] for t in types)):
        combo = dict(zip(types, values))
        full = {t: combo.get(t) for t in attributes.types}
        rows += [dict(full, template=t, prompt=p) for t, p in combo_prompts(attributes, spec, combo)]
    df = pd.DataFrame(rows, columns=attributes.types + ["template", "prompt"])
    # Different templates can write the same sentence; keep the first so each text counts once.
    return df.drop_duplicates(subset=["prompt"] + attributes.types).reset_index(drop=True)


def _label_rule(rule, attributes: AttributeSet, classes):
    if rule is None:
        return None
    if callable(rule):
        return rule
    if isinstance(rule, str):
        if rule not in attributes.values:
            raise PromptError(f"Label rule names attribute {rule!r}, which is not one of {attributes.types}.")
        names = list(classes) if classes is not None else list(attributes.values[rule])
        missing = set(attributes.values[rule]) - set(names)
        if missing:
            raise PromptError(
                f"Values {sorted(missing)} of {rule!r} are not classes {names}. "
                "Fix: pass classes= listing every value, or a function as label_rule."
            )
        index = {c: i for i, c in enumerate(names)}
        return lambda combo: index[combo[rule]]
    raise PromptError(f"label_rule must be an attribute name or a function; got {type(rule).__name__}.")
