"""The built-in attribute vocabulary: shipped as data, validated, turned into attribute sets and templates."""

import json
from importlib import resources

import pytest

from drml_widgets.errors import DrmlError
from drml_widgets.prompts.generate import render
from drml_widgets.prompts.vocabulary import Vocabulary, VocabularyError, load_vocabulary


def test_the_bundled_vocabulary_is_package_data_with_hundreds_of_values():
    assert resources.files("drml_widgets.data").joinpath("vocabulary.json").is_file()
    vocab = load_vocabulary()
    assert vocab.n_values >= 200
    for kind in ("color", "background", "scene", "lighting", "weather", "time_of_day", "viewpoint", "material",
                 "texture", "count", "style", "size_in_frame", "image_quality", "visibility"):
        assert kind in vocab.types
    assert {"red", "pink", "orange", "green", "cyan", "blue"} <= set(vocab.types["color"].values)
    assert repr(vocab).startswith(f"Vocabulary({len(vocab.types)} types, {vocab.n_values} values: color=")
    assert "'lighting'" in repr(vocab.types["lighting"])


def test_every_value_reads_as_a_phrase_that_contains_or_rephrases_it():
    vocab = load_vocabulary()
    for kind in vocab.types.values():
        for value in kind.values:
            phrase = kind.phrase(value)
            assert phrase.strip() and "{" not in phrase
            assert value in phrase or value in kind.phrases


def test_attribute_set_carries_phrases_and_can_keep_some_values():
    vocab = load_vocabulary()
    attrs = vocab.attribute_set(["color", "lighting", "weather"], values={"color": ["orange", "green"]})
    assert attrs.values["color"] == ["orange", "green"]
    assert attrs.phrase("lighting", "dim") == "in dim light"
    assert attrs.phrase("lighting", "candle") == "in candlelight"
    assert attrs.phrase("weather", "rainy") == "in rainy weather"
    assert len(vocab.attribute_set().types) == len(vocab.types)


def test_template_puts_adjectives_before_the_object_and_phrases_after():
    vocab = load_vocabulary()
    template = vocab.template(["background", "color", "lighting"])
    assert template == "a photo of a {color} {class} {background} {lighting}."
    attrs = vocab.attribute_set(["color", "lighting"])
    text = render(vocab.template(["color", "lighting"], object_field="shape"),
                  {"color": attrs.phrase("color", "orange"), "shape": "square",
                   "lighting": attrs.phrase("lighting", "dim")})
    assert text == "a photo of an orange square in dim light."
    assert render(vocab.template(["color"], prefix=""), {"color": "green", "class": "bird"}) == "a green bird."


def test_a_users_vocabulary_from_a_file_or_a_dict(tmp_path):
    data = {"types": {"fur": {"values": ["long", "short"], "template": "{}-haired"},
                      "place": {"values": ["sofa"], "template": "on a {}", "placement": "after"}}}
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(data))
    vocab = load_vocabulary(path)
    assert vocab.template(["place", "fur"]) == "a photo of a {fur} {class} {place}."
    assert vocab.attribute_set().phrase("fur", "long") == "long-haired"
    assert load_vocabulary(vocab.to_dict()).to_dict() == vocab.to_dict()
    assert load_vocabulary(load_vocabulary().to_dict()).n_values == load_vocabulary().n_values


@pytest.mark.parametrize("types, match", [
    ({"weather": {"values": []}}, r"'weather' has no values\. Fix: list at least one value"),
    ({"color": {"values": ["red", "red"]}}, r"'color' repeats values \['red'\]\. Fix: list each value once"),
    ({"light": {"values": ["dim"], "template": "in light"}}, r"'light' has the template 'in light'.*Fix: e\.g\."),
    ({"light": {"values": ["dim"], "placement": "middle"}}, r"placement 'middle'\. Fix: use 'before'"),
    ({"time of day": {"values": ["noon"]}}, r"not a plain identifier.*Fix: .*time_of_day"),
    ({"color": {"values": ["red"], "phrases": {"blue": "bluish"}}}, r"phrases for \['blue'\].*Fix"),
    ({"color": {"values": ["red"], "colour": 1}}, r"unknown keys \['colour'\]"),
    ({}, r"no attribute types"),
])
def test_bad_vocabularies_name_the_problem_and_the_fix(types, match):
    with pytest.raises(VocabularyError, match=match) as info:
        load_vocabulary({"types": types})
    assert isinstance(info.value, DrmlError) and isinstance(info.value, ValueError)


def test_bad_files_and_requests_are_explained(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(VocabularyError, match=r"broken\.json is not valid JSON.*Fix"):
        load_vocabulary(broken)
    with pytest.raises(VocabularyError, match=r"Cannot read the vocabulary file .*missing\.json.*Fix"):
        load_vocabulary(tmp_path / "missing.json")
    empty_type = tmp_path / "empty.json"
    empty_type.write_text(json.dumps({"types": {"scene": {"values": []}}}))
    with pytest.raises(VocabularyError, match=r"In .*empty\.json: Attribute type 'scene' has no values"):
        load_vocabulary(empty_type)
    with pytest.raises(VocabularyError, match=r"\"types\" mapping"):
        load_vocabulary({"colors": ["red"]})
    vocab = load_vocabulary()
    with pytest.raises(VocabularyError, match=r"Unknown attribute types \['mood'\]"):
        vocab.attribute_set(["mood"])
    with pytest.raises(VocabularyError, match=r"Values \['plaid'\] are not in type 'color'"):
        vocab.attribute_set(["color"], values={"color": ["plaid"]})
    with pytest.raises(VocabularyError, match=r"object_field 'color'"):
        vocab.template(["color"], object_field="color")
    assert isinstance(Vocabulary.from_dict({"types": {"a": {"values": ["x"]}}}), Vocabulary)
