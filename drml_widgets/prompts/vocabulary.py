"""A vocabulary of generic visual attributes, shipped as data, for images without an attribute table.

Users often arrive with photos and labels but nothing to slice by. The built-in vocabulary
(``drml_widgets/data/vocabulary.json``) lists a few hundred attribute values grouped by type
(colour, scene, lighting, weather, viewpoint, style, image quality, ...). Each type says how its
values read in a caption: a phrase ``template`` with one ``{}`` ("in {} light"), optional
per-value ``phrases`` where the template does not fit ("candle" -> "in candlelight"), and a
``placement``: ``before`` the object noun (an adjective: "a red car") or ``after`` it
("a car in dim light"). A user's own vocabulary is a JSON file or dict of the same shape::

    {"types": {"color": {"template": "{}", "placement": "before", "values": ["red", "blue"]},
               "scene": {"template": "in a {}", "placement": "after", "values": ["forest"],
                         "phrases": {"forest": "among trees"}}}}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Mapping, Sequence

from ..errors import VocabularyError
from .generate import AttributeSet

PLACEMENTS = ("before", "after")
# Zero-shot tagging needs a noun for a value's phrase to describe; a neutral one keeps the object's
# class out of the text, so every image is scored with the same captions.
TAG_TEMPLATES = {
    "before": ("a photo of a {} object.", "a {} thing."),
    "after": ("a photo of an object {}.", "something {}."),
}


@dataclass(repr=False)
class AttributeType:
    """One attribute type of a vocabulary: its values and how they read in a caption.

    Example:
        >>> light = AttributeType("lighting", ["dim", "candle"], "in {} light", "after", {"candle": "in candlelight"})
        >>> light
        AttributeType('lighting', 2 values: dim, candle; after 'in {} light')
        >>> light.phrase("dim"), light.phrase("candle")
        ('in dim light', 'in candlelight')
    """

    name: str
    values: list[str]
    template: str = "{}"
    placement: str = "before"
    phrases: dict[str, str] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self):
        where = f"Attribute type {self.name!r}"
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise VocabularyError(f"Attribute type name {self.name!r} is not a plain identifier, so it cannot be a "
                                  "template field. Fix: use letters, digits and underscores, e.g. 'time_of_day'.")
        if isinstance(self.values, str) or not self.values:
            raise VocabularyError(f"{where} has no values. Fix: list at least one value under its \"values\", "
                                  "or remove the type.")
        self.values = [str(v).strip() for v in self.values]
        if any(not v for v in self.values):
            raise VocabularyError(f"{where} has an empty value. Fix: remove it or write the words.")
        repeated = sorted({v for v in self.values if self.values.count(v) > 1})
        if repeated:
            raise VocabularyError(f"{where} repeats values {repeated}. Fix: list each value once.")
        if not isinstance(self.template, str) or self.template.count("{}") != 1:
            raise VocabularyError(f"{where} has the template {self.template!r}, which needs exactly one '{{}}' where "
                                  "the value goes. Fix: e.g. 'in {} light'.")
        if self.placement not in PLACEMENTS:
            raise VocabularyError(f"{where} has placement {self.placement!r}. Fix: use 'before' (an adjective "
                                  "before the object: 'a red car') or 'after' ('a car in dim light').")
        unknown = sorted(set(self.phrases) - set(self.values))
        if unknown:
            raise VocabularyError(f"{where} gives phrases for {unknown}, which are not among its values. "
                                  "Fix: add them to \"values\" or remove the phrases.")

    def phrase(self, value: str) -> str:
        """How ``value`` reads in a caption."""
        return self.phrases.get(value) or self.template.replace("{}", value)

    def __repr__(self) -> str:
        shown = ", ".join(self.values[:4]) + (", ..." if len(self.values) > 4 else "")
        return f"AttributeType({self.name!r}, {len(self.values)} values: {shown}; {self.placement} {self.template!r})"


@dataclass(repr=False)
class Vocabulary:
    """Attribute types with their values and caption phrases; see :func:`load_vocabulary`.

    Example:
        >>> vocab = Vocabulary.from_dict({"types": {
        ...     "color": {"values": ["red", "orange"]},
        ...     "lighting": {"template": "in {} light", "placement": "after", "values": ["dim"]}}})
        >>> vocab
        Vocabulary(2 types, 3 values: color=2, lighting=1)
        >>> vocab.template(["color", "lighting"])
        'a photo of a {color} {class} {lighting}.'
    """

    types: dict[str, AttributeType]
    name: str = ""

    def __post_init__(self):
        if not self.types:
            raise VocabularyError("The vocabulary has no attribute types. Fix: give at least one under \"types\".")

    @classmethod
    def from_dict(cls, data: Mapping) -> "Vocabulary":
        """A vocabulary from a dict shaped like the bundled JSON (``{"types": {name: {...}}}``)."""
        if not isinstance(data, Mapping) or not isinstance(data.get("types"), Mapping):
            raise VocabularyError("A vocabulary must be a mapping with a \"types\" mapping (type name -> "
                                  "{\"values\": [...], \"template\": ..., \"placement\": ...}). "
                                  f"Got {type(data).__name__}{' without types' if isinstance(data, Mapping) else ''}.")
        types = {}
        for name, spec in data["types"].items():
            if not isinstance(spec, Mapping):
                raise VocabularyError(f"Attribute type {name!r} must be a mapping with \"values\"; got "
                                      f"{type(spec).__name__}. Fix: write {{\"values\": [...]}}.")
            extra = sorted(set(spec) - {"values", "template", "placement", "phrases", "description"})
            if extra:
                raise VocabularyError(f"Attribute type {name!r} has unknown keys {extra}. Fix: use values, template, "
                                      "placement, phrases and description only.")
            types[name] = AttributeType(name, spec.get("values"), spec.get("template", "{}"),
                                        spec.get("placement", "before"), dict(spec.get("phrases", {})),
                                        spec.get("description", ""))
        return cls(types, str(data.get("name", "")))

    @property
    def n_values(self) -> int:
        """How many values all types hold together."""
        return sum(len(t.values) for t in self.types.values())

    def _types(self, types: Sequence[str] | str | None) -> list[str]:
        names = list(self.types) if types is None else ([types] if isinstance(types, str) else list(types))
        unknown = [t for t in names if t not in self.types]
        if unknown or not names:
            raise VocabularyError(f"Unknown attribute types {unknown or names}; the vocabulary has {list(self.types)}. "
                                  "Fix: name some of those.")
        return names

    def attribute_set(self, types: Sequence[str] | str | None = None,
                      values: Mapping[str, Sequence[str]] | None = None) -> AttributeSet:
        """An :class:`AttributeSet` of ``types`` (default: all), with each value's caption phrase.

        ``values`` keeps only some values of some types (type -> values to keep).

        Example:
            >>> vocab = load_vocabulary()
            >>> attrs = vocab.attribute_set(["color", "weather"], values={"color": ["red", "green"]})
            >>> attrs.values["color"], attrs.phrase("weather", "foggy")
            (['red', 'green'], 'in foggy weather')
        """
        names = self._types(types)
        values = dict(values or {})
        stray = sorted(set(values) - set(names))
        if stray:
            raise VocabularyError(f"values= names types {stray} that are not among {names}. Fix: add them to types=.")
        chosen = {}
        for name in names:
            kind = self.types[name]
            keep = list(values.get(name, kind.values))
            unknown = [v for v in keep if v not in kind.values]
            if unknown:
                raise VocabularyError(f"Values {unknown} are not in type {name!r} ({', '.join(kind.values[:10])}"
                                      f"{', ...' if len(kind.values) > 10 else ''}). Fix: pick values of that type.")
            chosen[name] = keep
        phrases = {name: {v: self.types[name].phrase(v) for v in vals} for name, vals in chosen.items()}
        return AttributeSet(chosen, phrases)

    def template(self, types: Sequence[str] | str, object_field: str = "class", prefix: str = "a photo of") -> str:
        """A prompt template naming ``types`` around the object: adjectives before it, phrases after.

        Example:
            >>> load_vocabulary().template(["color", "scene", "texture"], object_field="shape")
            'a photo of a {color} {texture} {shape} {scene}.'
        """
        names = self._types(types)
        if not str(object_field).isidentifier() or object_field in names:
            raise VocabularyError(f"object_field {object_field!r} must be a plain name other than the attribute types "
                                  f"{names}. Fix: e.g. 'class'.")
        before = [f"{{{t}}}" for t in names if self.types[t].placement == "before"]
        after = [f"{{{t}}}" for t in names if self.types[t].placement == "after"]
        words = [prefix.strip(), "a", *before, f"{{{object_field}}}", *after]
        return " ".join(w for w in words if w) + "."

    def tag_templates(self, types: Sequence[str] | str | None = None) -> dict[str, list[str]]:
        """Captions per type for zero-shot tagging (``{}`` is a value's phrase), by placement.

        Example:
            >>> load_vocabulary().tag_templates("color")
            {'color': ['a photo of a {} object.', 'a {} thing.']}
        """
        return {t: list(TAG_TEMPLATES[self.types[t].placement]) for t in self._types(types)}

    def to_dict(self) -> dict:
        """The vocabulary as a dict of the JSON's shape (what :func:`load_vocabulary` reads)."""
        return {"name": self.name, "types": {
            n: {"description": t.description, "template": t.template, "placement": t.placement,
                "values": list(t.values), **({"phrases": dict(t.phrases)} if t.phrases else {})}
            for n, t in self.types.items()}}

    def __repr__(self) -> str:
        sizes = ", ".join(f"{n}={len(t.values)}" for n, t in self.types.items())
        return f"Vocabulary({len(self.types)} types, {self.n_values} values: {sizes})"


def load_vocabulary(path: str | Path | Mapping | None = None) -> Vocabulary:
    """The built-in attribute vocabulary, or a user's own (a JSON file path or a dict of its shape).

    Example:
        >>> vocab = load_vocabulary()
        >>> vocab.n_values >= 200, vocab.types["lighting"].phrase("dim")
        (True, 'in dim light')
    """
    if path is None:
        text = resources.files("drml_widgets.data").joinpath("vocabulary.json").read_text(encoding="utf-8")
        where = "the built-in vocabulary"
    elif isinstance(path, Mapping):
        return Vocabulary.from_dict(path)
    else:
        where = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise VocabularyError(f"Cannot read the vocabulary file {where}: {exc.strerror or exc}. "
                                  "Fix: pass the path of a readable JSON file, or a dict.") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise VocabularyError(f"{where} is not valid JSON ({exc.msg} at line {exc.lineno}). "
                              "Fix: correct the file; see the bundled vocabulary.json for the shape.") from exc
    try:
        return Vocabulary.from_dict(data)
    except VocabularyError as exc:
        raise VocabularyError(f"In {where}: {exc}") from None
