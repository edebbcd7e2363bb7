"""Acceptance figures of the DrML engine on the shapes world (biased linear head)."""

import numpy as np

BY = ["color", "shape"]


def names(frame):
    return {f"{c} {s}" for c, s in zip(frame["color"], frame["shape"])}


def test_text_slices_rank_like_image_slices(drml_session):
    cmp = drml_session.slices(by=BY)
    print(cmp, "\n", cmp.table.to_string())
    # Measured 0.753 (the bar is 0.7). 9 of the 12 slices tie at image accuracy 1.0, which
    # caps Spearman at 0.762 even for a perfect text order; the text order here is perfect but for the
    # two failing slices (image accuracy 0.001 and 0.002) swapped.
    assert cmp.spearman >= 0.7
    assert cmp.pearson >= 0.85  # measured 0.931
    worst_text, worst_image = names(cmp.worst(3, "text_prob")), names(cmp.worst(3, "image_acc"))
    assert worst_text == worst_image
    assert {"green triangle", "orange square"} == names(cmp.worst(2, "text_prob"))


def test_orange_pulls_towards_triangle_and_green_away(drml_session):
    df = drml_session.influence("triangle")
    colours = df[df["attribute"] == "color"].set_index("value")["influence"]
    print(colours)
    # Measured: orange +0.322, pink +0.036, green -0.250. On the CLIP bundled before November 2026
    # pink came within 0.002 of orange (pink triangles looked orange to it), and on another draw of
    # the same world it came first, so the test asks for orange among the top two, not first.
    assert "orange" in colours.nlargest(2).index
    assert "green" in colours.nsmallest(2).index
    shapley = drml_session.influence("triangle", method="shapley")
    print(shapley)
    assert set(shapley["method"]) == {"shapley (exact)"}
    by_type = shapley.groupby("attribute")["influence"]
    spread = by_type.max() - by_type.min()
    # Colour is the shortcut: its values move "triangle" far more than sizes do (measured 0.71 vs 0.20).
    assert spread["color"] > 3 * spread["size"]
    colours = shapley[shapley["attribute"] == "color"].set_index("value")["influence"]
    assert "orange" in colours.nlargest(2).index and colours.idxmin() == "green"


def test_rectifying_text_discovered_slices_fixes_them_and_spares_the_rest(drml_session):
    s = drml_session
    failing = s.failing_slices(BY)
    assert len(failing)
    targets = failing[BY].to_dict("records")
    start_version = s.version
    before = s.head.predict(s.image_emb)
    results = {}
    for mode in ("text", "replay"):
        results[mode] = s.rectify(targets, mode=mode)
        results[mode].overall = s.image_accuracy()
        s.undo()
    for mode, r in results.items():
        print(mode, r, "overall", round(r.overall, 3))
        print(r.image.to_string())
    default = results["replay"].image
    hit = default[default["targeted"]]
    assert hit["image_acc_before"].mean() < 0.2
    assert hit["image_acc_after"].mean() >= 0.9
    assert results["replay"].overall >= 0.9
    assert (default.loc[~default["targeted"], "delta"] >= -0.03).all()
    # Undo gives bit-identical predictions.
    assert s.version == start_version
    assert np.array_equal(s.head.predict(s.image_emb), before)


def test_gap_geometry_matches_the_papers_findings(drml_session):
    stats = drml_session.gap()
    print(stats)
    summary = stats.summary.set_index(["statistic", "level"])
    assert summary.loc[("magnitude", "pair"), "mean"] > 0.1  # a real gap
    assert summary.loc[("direction", "class"), "mean"] > 0.8  # nearly constant at the class level
    # Table 1 reads the spread: real CLIPs give orthogonality 0.00 ± 0.06-0.13 and centre coordinates
    # 0.00 ± 0.02-0.03. Measured here: ± 0.110 (images), ± 0.089 (texts), ± 0.012, centre length 0.092.
    assert summary.loc[("orthogonality", "image"), "std"] < 0.15
    assert summary.loc[("orthogonality", "text"), "std"] < 0.15
    assert summary.loc[("center", "image"), "std"] < 0.03
    assert stats.center_norm < 0.15


def test_classifiers_transfer_across_modalities(drml_session):
    table = drml_session.transfer().table
    print(table)
    cross = table[table["train_on"] != table["eval_on"]]
    assert (cross["accuracy"] >= 0.9).all()
    assert (table["consistency"] >= 0.9).all()


def test_closing_the_gap_keeps_text_slices_faithful(drml_session):
    from drml_widgets.session import Session

    s = drml_session
    closed = Session(s.encoder, s.image_emb, s.table, s.classes, s.attributes, s.spec, "shape", close_gap=True)
    closed.train_head()
    cmp = closed.slices(by=BY)
    print(cmp, "\n", cmp.table.to_string())
    assert closed.closer is not None
    # Measured: Pearson 0.920, the same three worst slices as by image accuracy (the two failing ones,
    # at image accuracy 0.000 and 0.004, swapped);
    # Spearman 0.682 because the nine slices near image accuracy 1.0 differ only by single errors
    # (blue triangle 0.9988), which no text order can be expected to follow.
    assert cmp.pearson >= 0.85 and cmp.spearman >= 0.6
    assert names(cmp.worst(3, "text_prob")) == names(cmp.worst(3, "image_acc"))
