"""PromptBuilder: attribute types and values, templates, the ensemble and the label rule."""

from __future__ import annotations

import numpy as np
import traitlets as t

from ..prompts.generate import (DEFAULT_MAX_PROMPTS, AttributeSet, PromptError, PromptSpec, combo_prompts,
                                count_prompts, generate_prompts, prompt_problems)
from .base import SessionWidget

N_SAMPLES = 8


class PromptBuilder(SessionWidget):
    """Edit what the session probes the head with; every edit is validated in the kernel, which
    answers with the prompt count, errors (the prompt-count cap included) and sample prompts.
    **Use these prompts** (or :meth:`apply`) passes them to ``session.set_prompts``.

    The result is readable from Python: :attr:`attribute_set`, :attr:`prompt_spec`,
    :meth:`prompts`.

    Example:
        >>> from drml_widgets.session import Session
        >>> s = Session.from_shapes_world(n=1200, ensemble=False)
        >>> builder = PromptBuilder(s)
        >>> builder.count, builder.errors, builder.applied
        (72, [], True)
        >>> builder.attributes = [a for a in builder.attributes if a["type"] != "size"]
        >>> len(builder.errors), builder.applied
        (2, False)
        >>> print(builder.errors[0])
        Template '{size}, {color}, {shape}.' names ['size'], which are not attribute types ['color', 'shape']. Fix: use only those names in braces.
    """

    _bundle = "prompt_builder"
    attributes = t.List(t.Dict(), help="the attribute types and their values, as [{type, values}]; "
                                       "edit them to change the prompts").tag(sync=True)
    templates = t.List(t.Unicode(), help="the prompt templates, attribute types in braces; "
                                         "edit them to change the prompts").tag(sync=True)
    ensemble = t.Bool(False, help="whether each combination's prompts are averaged into one; "
                                  "set it to switch").tag(sync=True)
    ensemble_phrase = t.Unicode("", help="the phrase of an ensembled prompt ('' for the first template's)").tag(sync=True)
    label_rule = t.Unicode("", help="the attribute type whose value is the class; "
                                    "set it to another type to change it").tag(sync=True)
    max_prompts = t.Int(DEFAULT_MAX_PROMPTS, min=1, help="the most prompts the session may be given; "
                                                         "more is an error").tag(sync=True)
    count = t.Int(0, help="how many prompts the current edits make").tag(sync=True)
    errors = t.List(t.Unicode(), help="what is wrong with the current edits, "
                                      "one line each ([] when they can be used)").tag(sync=True)
    samples = t.List(t.Unicode(), help="a few of the prompts the current edits make").tag(sync=True)
    applied = t.Bool(False, help="whether the session uses the current edits").tag(sync=True)

    def __init__(self, session, **kwargs):
        super().__init__(session, **kwargs)
        self._handlers["apply"] = lambda content, buffers: self.apply()

    def refresh(self, event: str) -> None:
        if event in ("init", "prompts"):
            s = self.session
            self.attributes = [{"type": k, "values": list(v)} for k, v in s.attributes.values.items()]
            self.templates = list(s.spec.templates)
            self.ensemble = bool(s.spec.ensemble)
            self.ensemble_phrase = s.spec.ensemble_phrase or ""
            self.label_rule = s.label_rule if isinstance(s.label_rule, str) else s.attributes.types[0]
            self._validate()

    @t.observe("attributes", "templates", "ensemble", "ensemble_phrase", "label_rule", "max_prompts")
    def _edited(self, _change) -> None:
        if self._ready:
            with self.hold_sync():
                self._validate()

    # -- what the edits make -------------------------------------------------------------------
    @property
    def attribute_set(self) -> AttributeSet:
        """The attribute set being built (raises :class:`PromptError` while it is invalid)."""
        values = {}
        for entry in self.attributes:
            name = str(entry.get("type", "")).strip()
            if name in values:
                raise PromptError(f"Attribute type {name!r} appears twice. Fix: give each type once.")
            values[name] = list(entry.get("values", []))
        keep = {k: v for k, v in self.session.attributes.phrases.items()
                if k in values and set(v) <= set(values[k])}
        return AttributeSet(values, keep)

    @property
    def prompt_spec(self) -> PromptSpec:
        """The templates and ensemble being built."""
        return PromptSpec(list(self.templates), ensemble=self.ensemble, ensemble_phrase=self.ensemble_phrase or None)

    def prompts(self):
        """Every prompt the current edits would write (a DataFrame, as ``session.prompts``)."""
        return generate_prompts(self.attribute_set, self.prompt_spec, self.label_rule, self.session.classes,
                                max_prompts=self.max_prompts)

    def _validate(self) -> None:
        errors, samples, count = [], [], 0
        try:
            attrs, spec = self.attribute_set, self.prompt_spec
            count = count_prompts(attrs, spec)
            errors += prompt_problems(attrs, spec, self.label_rule, self.session.classes, self.max_prompts)
            if not errors:
                rng = np.random.default_rng(0)
                combos = attrs.combinations()
                for i in rng.choice(len(combos), min(3, len(combos)), replace=False):
                    samples += [p for _, p in combo_prompts(attrs, spec, combos.iloc[int(i)].to_dict())][:3]
        except PromptError as exc:
            errors.append(str(exc))
        self.count, self.errors, self.samples = count, errors, samples[:N_SAMPLES]
        self.applied = not errors and self._matches_session()

    def _matches_session(self) -> bool:
        s = self.session
        return (s.attributes.values == self.attribute_set.values and list(s.spec.templates) == list(self.templates)
                and bool(s.spec.ensemble) == self.ensemble and (s.spec.ensemble_phrase or "") == self.ensemble_phrase
                and s.label_rule == self.label_rule)

    def apply(self):
        """Make the session use these prompts (``session.set_prompts``); every bound widget refreshes."""
        if self.errors:
            raise PromptError("The prompts have errors: " + " ".join(self.errors))
        with self._long_work("embedding the new prompts"):
            self.session.set_prompts(self.attribute_set, self.prompt_spec, self.label_rule, max_prompts=self.max_prompts)
        self.applied = True
        self.status = f"the session now uses {len(self.session.prompts):,} prompts"
