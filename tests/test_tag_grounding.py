"""True values, where known, decide which tags CLIP reads: a tag read well is never dropped because another copies it."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from drml_widgets.diagnose.tag_reliability import tag_reliability

N = 3000


def _copying_world(seed: int = 0):
    """Issue 25's CLIP: shape read perfectly; size tags copy the shape (squares "large", triangles
    "small"), confidently, whatever the true size; colour read well and independent of both."""
    rng = np.random.default_rng(seed)
    shape = rng.choice(["triangle", "square"], N)
    size = rng.choice(["small", "medium", "large"], N)
    color = rng.choice(["red", "green", "blue"], N)
    copied = np.where(shape == "square", "large", "small")
    size_tag = np.where(rng.random(N) < 0.99, copied, rng.choice(["small", "medium", "large"], N))
    values = pd.DataFrame({"shape": shape, "size": size_tag, "color": color})
    confidence = pd.DataFrame({"shape": np.full(N, 0.99), "size": np.full(N, 0.79), "color": np.full(N, 0.97)})
    truth = pd.DataFrame({"shape": shape, "size": size, "color": color})
    return values, confidence, {"shape": 2, "size": 3, "color": 3}, truth


def test_with_the_class_labels_known_the_copying_size_is_dropped_and_the_shape_kept():
    values, confidence, k, truth = _copying_world()
    checked = tag_reliability(values, confidence, k, known=truth[["shape"]])
    print(checked)
    assert checked.unreliable == ["size"]
    row = checked.table.set_index("type")
    assert "stands in for shape" in row.loc["size", "why"] and "ground truth shows" in row.loc["size", "why"]
    assert row.loc["shape", "grounded"] and row.loc["shape", "accuracy"] == 1.0 and row.loc["shape", "n_known"] == N
    assert not row.loc["size", "grounded"] and np.isnan(row.loc["size", "accuracy"])


def test_without_known_values_the_check_says_ground_truth_could_not_decide():
    values, confidence, k, _ = _copying_world()
    checked = tag_reliability(values, confidence, k)
    flagged = checked.table.set_index("type").loc[checked.unreliable, "why"]
    assert len(flagged) == 1 and flagged.index[0] in ("size", "shape")
    assert "ground truth could not decide" in flagged.iloc[0] and "Fix: pass known=" in flagged.iloc[0]
    assert not checked.table["grounded"].any() and (checked.table["n_known"] == 0).all()


def test_a_type_known_on_a_small_sample_is_judged_by_its_accuracy_whatever_its_confidence():
    values, confidence, k, truth = _copying_world()
    sample = truth[["size"]].where(pd.Series(np.arange(N) < 200), axis=0)  # a labelled sample of 200 images, NaN elsewhere
    row = tag_reliability(values, confidence, k, known=sample).table.set_index("type").loc["size"]
    assert row["n_known"] == 200 and row["accuracy"] < 0.5 and row["margin"] > 0.5  # confident, yet wrong
    assert not row["reliable"] and "accuracy" in row["why"] and "close to chance" in row["why"]


def test_a_mild_clip_reading_size_at_0_72_with_a_passing_margin_is_flagged_once_size_is_known():
    rng = np.random.default_rng(1)
    size = rng.choice(["small", "large"], N)
    tag = np.where(rng.random(N) < 0.72, size, np.where(size == "small", "large", "small"))
    values, confidence = pd.DataFrame({"size": tag}), pd.DataFrame({"size": np.full(N, 0.79)})
    assert tag_reliability(values, confidence, {"size": 2}).unreliable == []  # margin 0.58 passes alone
    row = tag_reliability(values, confidence, {"size": 2}, known=pd.DataFrame({"size": size})).table.iloc[0]
    assert row["accuracy"] == pytest.approx(0.72, abs=0.02) and row["accuracy_over_chance"] < 0.5
    assert not row["reliable"]


def test_known_values_must_name_tagged_types_and_match_the_rows():
    values, confidence, k, truth = _copying_world()
    with pytest.raises(Exception, match="not tag types"):
        tag_reliability(values, confidence, k, known=truth.rename(columns={"shape": "form"}))
    with pytest.raises(Exception, match="one row per tagged image"):
        tag_reliability(values, confidence, k, known=truth.iloc[:10])


def test_the_grounded_type_named_by_the_verdict_and_ruled_out_only_with_evidence():
    values, confidence, k, truth = _copying_world()
    grounded = tag_reliability(values, confidence, k, known=truth[["shape"]])
    assert grounded.table.set_index("type").loc["size", "grounded_by"] == "shape" and grounded.ruled_out == ["size"]
    assert tag_reliability(values, confidence, k).ruled_out == []  # undecided: no evidence to rule either out


def _toy_encoder(texts):
    """Captions of "large" land on squares' direction, "small" on triangles': this CLIP's size tags copy the shape."""
    words = [("square", 0), ("large", 0), ("triangle", 1), ("small", 1), ("red", 2), ("blue", 3)]
    return np.stack([np.eye(4)[next((i for w, i in words if w in t), 0)] for t in texts])


def test_proposals_leave_out_a_type_whose_tags_copy_the_class():
    from drml_widgets.diagnose.proposals import propose_attributes
    from drml_widgets.prompts.vocabulary import Vocabulary

    vocab = Vocabulary.from_dict({"types": {"color": {"values": ["red", "blue"]},
                                            "size": {"values": ["small", "large"]}}})
    rng = np.random.default_rng(0)
    labels, red = rng.integers(0, 2, 400), rng.random(400) < 0.5
    x = np.eye(4)[np.where(labels == 1, 0, 1)] + np.eye(4)[np.where(red, 2, 3)]
    correct = ~(red & (rng.random(400) < 0.8))  # red images fail
    with pytest.warns(UserWarning, match=r"\['size'\] are left out of the proposals"):
        props = propose_attributes(x, correct, _toy_encoder, labels=labels, vocabulary=vocab,
                                   classes=["triangle", "square"])
    assert props.types["type"].tolist() == ["color"] and props.reliability.ruled_out == ["size"]
    assert props.values["value"].iloc[0] == "red"


@pytest.fixture(scope="module")
def noisy_session():
    from drml_widgets import ClipEncoder, Session
    from drml_widgets.data.shapes_presets import ATTRIBUTES
    from drml_widgets.prompts.generate import AttributeSet, PromptSpec

    session = Session.from_shapes_world(n=600, ensemble=False, encoder=ClipEncoder("shapes-noisy"))
    session.set_prompts(AttributeSet({t: list(ATTRIBUTES[t]) for t in ("size", "color", "shape", "position")}),
                        PromptSpec(["a {size} {color} {shape} in the {position}."]))
    return session


def test_the_text_probe_on_the_noisy_clip_warns_about_size_and_position_not_colour(noisy_session):
    with pytest.warns(UserWarning, match="name attributes CLIP reads poorly") as caught:
        result = noisy_session.find_slices(["size", "color", "position"])
    said = " ".join(str(w.message) for w in caught) + result.describe()
    assert "reads size poorly" in said and "reads position poorly" in said and "reads color" not in said
    assert len(result.caveats) == 2 and all(c in result.describe() for c in result.caveats)
    assert noisy_session.find_slices(["color", "shape"]).caveats == ()
    assert noisy_session.find_text_failure(["color", "shape"]).caveats == ()


def test_the_readability_check_is_grounded_by_the_table_and_computed_once(noisy_session):
    from drml_widgets.methods.clip_reads import clip_reads

    checked = clip_reads(noisy_session.view)
    assert clip_reads(noisy_session.view) is checked  # cached: a second view of the same session
    # other embeddings of the same session (equal here, but another array) are checked again
    assert clip_reads(dataclasses.replace(noisy_session.view, image_emb=noisy_session.view.image_emb.copy())) is not checked
    rows = checked.table.set_index("type")
    assert rows["grounded"].all() and (rows["n_known"] == 600).all()
    assert checked.unreliable == ["size", "position"] and rows.loc["color", "accuracy"] > 0.95


def test_a_value_misread_within_a_type_read_well_is_named_with_what_it_is_read_as():
    """Three sizes read at 0.72 overall (over chance 0.58: the type passes), but "medium" only at
    0.16: its images are mostly tagged "small". With few known images, the same recall flags nothing."""
    rng = np.random.default_rng(2)
    size = rng.choice(["small", "medium", "large"], N)
    right = rng.random(N) < np.where(size == "medium", 0.16, 0.99)
    tag = np.where(right, size, np.where(size == "medium", "small", "medium"))
    values, confidence = pd.DataFrame({"size": tag}), pd.DataFrame({"size": np.full(N, 0.9)})
    checked = tag_reliability(values, confidence, {"size": 3}, known=pd.DataFrame({"size": size}))
    row = checked.table.iloc[0]
    assert row["reliable"] and row["accuracy"] == pytest.approx(0.72, abs=0.03)
    assert list(checked.misread()) == ["size"] and list(checked.misread()["size"]) == ["medium"]
    assert "most are tagged small" in checked.misread()["size"]["medium"] and "size=medium: misread" in repr(checked)
    medium = checked.values.set_index("value").loc["medium"]
    assert medium["recall"] == pytest.approx(0.16, abs=0.03) and medium["read_as"] == "small"
    with pytest.warns(UserWarning, match="CLIP misreads some values"):
        checked.warn()
    few = pd.DataFrame({"size": np.where(np.arange(N) < 12, size, None)})  # 12 known images
    assert tag_reliability(values, confidence, {"size": 3}, known=few).misread() == {}
    # A type that is unreliable as a whole is named as a type, not value by value.
    blind = tag_reliability(pd.DataFrame({"size": np.full(N, "small")}), confidence, {"size": 3},
                            known=pd.DataFrame({"size": size}))
    assert blind.unreliable == ["size"] and blind.misread() == {} and blind.values["recall"].notna().all()


def test_on_the_bundled_shapes_clip_nothing_is_flagged():
    from drml_widgets import Session
    from drml_widgets.methods.clip_reads import clip_reads

    session = Session.from_shapes_world(n=600, ensemble=False)
    checked = clip_reads(session.view)
    assert checked.unreliable == [] and checked.misread() == {} and len(checked.values) == 11  # 3 sizes, 6 colours, 2 shapes
    assert session.find_slices(["size", "color"]).caveats == ()


def test_loss_query_names_the_slicing_types_clip_reads_poorly(noisy_session):
    from drml_widgets.widgets.loss_query import LossQuery

    with pytest.warns(UserWarning, match="CLIP reads size poorly"):
        query = LossQuery(noisy_session, by=["size", "color"], members=1, epochs=1)
    assert len(query.caveats) == 1 and "size" in query.caveats[0]
    assert LossQuery(noisy_session, by=["color", "shape"], members=1, epochs=1).caveats == []


def test_the_slice_table_and_loss_query_carry_the_caveats_to_the_page(noisy_session):
    """The caveats are synced state (what the page draws and a saved report keeps), follow a
    re-slice, and are empty on the bundled CLIP."""
    from drml_widgets import Session
    from drml_widgets.widgets import LossQuery, SliceTable

    with pytest.warns(UserWarning, match="CLIP reads size poorly"):
        table = SliceTable(noisy_session, by=["size", "color"])
    assert len(table.caveats) == 1 and table.caveats[0].startswith("CLIP reads size poorly")
    assert table.get_state(["caveats"]) == {"caveats": table.caveats}
    table.by = ["color", "shape"]
    assert table.caveats == []
    with pytest.warns(UserWarning, match="CLIP reads size poorly"):
        query = LossQuery(noisy_session, by=["size", "color"], members=1, epochs=1)
    assert query.get_state(["caveats"])["caveats"] == query.caveats and "size" in query.caveats[0]
    bundled = Session.from_shapes_world(n=600, ensemble=False)
    assert SliceTable(bundled, by=["size", "color"]).caveats == []
    assert LossQuery(bundled, by=["size", "color"], members=1, epochs=1).caveats == []


def test_prime_leaves_out_a_clip_tagged_type_clip_reads_poorly():
    from drml_widgets import ClipEncoder, Session, load_shapes_world
    from drml_widgets.data.sources import load_images
    from drml_widgets.data.shapes_presets import ATTRIBUTES
    from drml_widgets.prompts.generate import AttributeSet

    world = load_shapes_world(n=600)
    data = load_images(world.images, labels=world.labels, classes=world.classes, metadata=world.table[["color", "split"]])
    attributes = AttributeSet({t: list(ATTRIBUTES[t]) for t in ("color", "size")})
    with pytest.warns(UserWarning, match=r"CLIP's tags of \['size'\] cannot be trusted"):
        session = Session.from_dataset(data, ClipEncoder("shapes-noisy"), attributes=attributes)
    assert session.view.image_types == ("color", "size")
    with pytest.warns(UserWarning, match=r"PRIME leaves out \['size'\]"):
        modes = session.find_failure_modes(s=5)
    assert set(modes.tag_types.values()) == {"color"}  # the types searched


def test_fine_tuning_against_an_attribute_clip_reads_poorly_says_so_for_the_language_variant(noisy_session):
    from drml_widgets.methods.spurious.method import compare_fine_tuning

    view = noisy_session.view
    with pytest.warns(UserWarning, match="reads size poorly.*language variant.*Fix: weigh the vision variant"):
        language = compare_fine_tuning(view, "size", ["small", "large"], variants=["language"], epochs=1)
    assert len(language.caveats) == 1 and language.caveats[0] in language.describe()
    vision = compare_fine_tuning(view, "size", ["small", "large"], variants=["vision"], epochs=1, data=language.data)
    colour = compare_fine_tuning(view, "color", ["green", "orange"], variants=["language"], epochs=1)
    assert vision.caveats == () and colour.caveats == ()


def test_the_spurious_panel_says_before_a_run_when_its_language_variant_rests_on_a_poorly_read_attribute(noisy_session):
    from drml_widgets.prompts.generate import AttributeSet, PromptSpec
    from drml_widgets.widgets.spurious_panel import SpuriousPanel

    panel = SpuriousPanel(noisy_session, "size", ["small", "large"], variants=["vision", "language"], epochs=1)
    assert len(panel.caveats) == 1 and "reads size poorly" in panel.caveats[0]
    panel.variants = ["vision"]
    assert panel.caveats == []
    assert SpuriousPanel(noisy_session, "color", ["green", "orange"], variants=["language"], epochs=1).caveats == []
    # prompts without size: the check no longer covers it, and the panel hears of it
    panel.variants = ["language"]
    attributes, spec = noisy_session.attributes, noisy_session.spec
    try:
        noisy_session.set_prompts(AttributeSet({t: attributes.values[t] for t in ("color", "shape")}),
                                  PromptSpec(["a {color} {shape}."]))
        assert panel.caveats == []
    finally:
        noisy_session.set_prompts(attributes, spec)
    assert len(panel.caveats) == 1


def test_a_misread_value_reaches_the_results_that_name_it(monkeypatch):
    """A CLIP that reads size well but "medium" poorly: slices over size carry a line on medium;
    the text probe's answer carries it only when it names medium."""
    from drml_widgets import Session
    from drml_widgets.methods import clip_reads as reads

    session = Session.from_shapes_world(n=600, ensemble=False)
    table = session.view.table.reset_index(drop=True)
    tags = table[["size", "color", "shape"]].copy()
    medium = (tags["size"] == "medium").to_numpy()
    tags.loc[medium & (np.arange(len(tags)) % 10 != 0), "size"] = "small"  # medium read as small 90% of the time
    checked = tag_reliability(tags, tags.assign(size=0.9, color=0.9, shape=0.9), {"size": 3, "color": 6, "shape": 2},
                              known=table[["size", "color", "shape"]])
    assert checked.unreliable == [] and list(checked.misread()) == ["size"]
    monkeypatch.setattr(reads, "clip_reads", lambda view: checked)
    with pytest.warns(UserWarning, match="CLIP misreads size medium"):
        caveats = session.find_slices(["size", "color"]).caveats
    assert len(caveats) == 1 and caveats[0].startswith("CLIP misreads size medium (recall 0.1")
    assert "most are tagged small" in caveats[0]
    assert reads.poorly_read(session.view, ["size"], "named failure", named={"size": ["large"]}) == []
    assert reads.poorly_read(session.view, ["color"], "slices") == []
