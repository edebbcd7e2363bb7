import pytest

from drml_widgets.prompts import AttributeSet, PromptError, PromptSpec, count_prompts, generate_prompts
from drml_widgets.prompts.generate import render

ATTRS = AttributeSet({"size": ["small", "large"], "color": ["orange", "green"], "shape": ["triangle", "square"]})


def test_product_of_values_with_labels_from_an_attribute():
    df = generate_prompts(ATTRS, PromptSpec(["{size} {color} {shape}."]), "shape", ["triangle", "square"])
    assert len(df) == 8
    assert "large orange square." in set(df["prompt"])
    assert (df["label"] == (df["shape"] == "square").astype(int)).all()


def test_count_is_known_before_generation_and_the_cap_explains_itself():
    spec = PromptSpec(["{size} {color} {shape}."], ensemble=True)
    assert count_prompts(ATTRS, spec) == 8 * 81
    with pytest.raises(PromptError, match=r"648 prompts would be generated .* cap of 100.*turn off the 80-template"):
        generate_prompts(ATTRS, spec, max_prompts=100)


def test_ensemble_uses_clips_80_templates_and_fixes_articles():
    df = generate_prompts(ATTRS, PromptSpec(["{color} {shape}."], ensemble=True, ensemble_phrase="{color} {shape}"))
    assert len(df[df["color"].eq("orange") & df["shape"].eq("square") & df["size"].eq("small")]) == 81
    assert "a bad photo of an orange square." in set(df["prompt"])


def test_duplicates_are_removed():
    df = generate_prompts(ATTRS, PromptSpec(["{color} {shape}.", "{color} {shape}."]))
    assert len(df) == 8  # sizes differ, texts per size stay distinct rows; the repeated template adds none
    assert not df.duplicated(subset=["size", "color", "shape", "prompt"]).any()


def test_phrases_replace_values_in_text():
    attrs = AttributeSet({"position": ["upper left"], "shape": ["square"]},
                         phrases={"position": {"upper left": "in the upper left"}})
    df = generate_prompts(attrs, PromptSpec(["a {shape} {position}."]))
    assert df["prompt"].tolist() == ["a square in the upper left."]
    assert df["position"].tolist() == ["upper left"]


def test_dropped_fields_leave_clean_text():
    assert render("{size}, {color}, {shape}.", {"shape": "square"}) == "square."
    assert render("{size}, {color}, {shape}.", {"size": "small", "shape": "square"}) == "small, square."
    assert render("a {size} {color} {shape}.", {"color": "orange", "shape": "square"}) == "an orange square."


@pytest.mark.parametrize("values, message", [
    ({}, "empty"),
    ({"color": []}, "no values"),
    ({"color": ["red", " "]}, "empty value"),
    ({"color": ["red", "red"]}, "repeats"),
])
def test_bad_attribute_sets_are_refused(values, message):
    with pytest.raises(PromptError, match=message):
        AttributeSet(values)


def test_bad_templates_and_rules_are_refused():
    with pytest.raises(PromptError, match="not attribute types"):
        generate_prompts(ATTRS, PromptSpec(["{colour} {shape}."]))
    with pytest.raises(PromptError, match="not one of"):
        generate_prompts(ATTRS, PromptSpec(["{color}."]), "texture")
    with pytest.raises(PromptError, match="not classes"):
        generate_prompts(ATTRS, PromptSpec(["{color}."]), "shape", ["triangle"])
    with pytest.raises(PromptError, match="at least one"):
        PromptSpec([])


def test_rendering_is_linear_in_whitespace():
    # Before the fix the comma patterns backtracked: 40,000 spaces took ~22 s and the time grew with
    # the square of the run, so this run of 400,000 would take over half an hour. A subprocess with a
    # limit far above any busy machine's start-up turns that hang into a failure; linear rendering
    # takes milliseconds.
    import subprocess
    import sys

    code = ("from drml_widgets.prompts.generate import render; "
            "print(render('{color} , {shape}.', {'color': ' ' * 400_000 + 'red', 'shape': 'square' + ' ' * 400_000}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.stdout.strip() == "red, square."


@pytest.mark.parametrize("template, message", [
    ("{color:>40000} {shape}.", r"\{color:>40000\}.*only plain attribute names"),
    ("{color!r} {shape}.", r"\{color!r\}"),
    ("{color.upper} {shape}.", r"\{color.upper\}"),
    ("{} {shape}.", "only plain attribute names"),
    ("x" * 300 + "{shape}", "307 characters"),
    ("{color {shape}.", "not a valid format string"),
])
def test_templates_are_plain_and_short(template, message):
    with pytest.raises(PromptError, match=message):
        generate_prompts(ATTRS, PromptSpec([template]), "shape", ["triangle", "square"])


def test_values_are_bounded():
    with pytest.raises(PromptError, match="101 characters.*shorten"):
        AttributeSet({"color": ["red", "r" * 101]})


def test_templates_that_leave_out_the_class_are_refused():
    # "a green thing." labelled both triangle and square would train a head on contradictions.
    with pytest.raises(PromptError, match=r"does not name \{shape\}, the attribute that is the class"):
        generate_prompts(ATTRS, PromptSpec(["{size} {shape}.", "a {color} thing."]), "shape", ["triangle", "square"])
    # With a function as the rule, texts it labels both ways are dropped, with a warning.
    rule = lambda combo: int(combo["shape"] == "square" and combo["size"] == "large")  # noqa: E731
    with pytest.warns(UserWarning, match="more than one class.*dropped"):
        df = generate_prompts(ATTRS, PromptSpec(["{size} {shape}.", "{color} {shape}."]), rule)
    assert df.groupby("prompt")["label"].nunique().max() == 1
    assert "large square." in set(df["prompt"]) and "orange square." not in set(df["prompt"])
    by_size = lambda combo: int(combo["size"] == "large")  # noqa: E731
    with pytest.raises(PromptError, match="Every prompt's text"):
        generate_prompts(ATTRS, PromptSpec(["{color} {shape}."]), by_size)
