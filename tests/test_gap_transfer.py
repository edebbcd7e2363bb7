import numpy as np
import pytest

from drml_widgets.errors import EmbeddingError
from drml_widgets.diagnose.gap import GapAxes, GapCloser, gap_stats
from drml_widgets.diagnose.transfer import cross_modal_transfer
from drml_widgets.widgets.adapters import svd_2d


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def constant_gap_pairs(rng, n=300, d=16):
    """Images in the first d-1 coordinates, captions shifted along the last: a constant gap
    orthogonal to the span of each modality."""
    base = np.zeros((n, d))
    base[:, : d - 1] = unit(rng.normal(size=(n, d - 1))) * 0.8
    base -= base.mean(axis=0)  # zero mean orthogonally to the gap, exactly
    x = base.copy()
    x[:, -1] = 0.6
    y = base.copy()
    y[:, -1] = -0.6
    return x, y


def test_constant_orthogonal_gap_has_the_papers_signature(rng):
    x, y = constant_gap_pairs(rng)
    stats = gap_stats(x, y).summary.set_index(["statistic", "level"])
    assert stats.loc[("magnitude", "pair"), "mean"] == pytest.approx(1.2)
    assert stats.loc[("magnitude", "pair"), "std"] == pytest.approx(0.0, abs=1e-6)
    assert stats.loc[("direction", "pair"), "mean"] == pytest.approx(1.0)
    # The means of orthogonality and centre coordinates are ~0 for any data (mean-centred vectors
    # average to zero); Table 1's claim is in their spread and in the centre's length.
    assert stats.loc[("orthogonality", "image"), "std"] < 1e-6
    assert gap_stats(x, y).center_norm < 1e-6


def test_data_built_to_break_the_geometry_fails_it(rng):
    x, y = constant_gap_pairs(rng)
    # Images spread along the gap's direction: the gap is no longer orthogonal to their span.
    along = x.copy()
    along[:, -1] += np.resize([-1.0, 1.0], len(x))
    broken = gap_stats(along, y).summary.set_index(["statistic", "level"])
    assert abs(broken.loc[("orthogonality", "image"), "mean"]) < 0.05  # the old check still passed
    assert broken.loc[("orthogonality", "image"), "std"] > 0.5
    # Images off-centre orthogonally to the gap: their mean has length, its coordinates' mean does not.
    offset = np.r_[0.3, -0.3, np.zeros(x.shape[1] - 2)]  # both modalities move, the gap stays
    stats = gap_stats(x + offset, y + offset)
    assert abs(stats.summary.set_index(["statistic", "level"]).loc[("center", "image"), "mean"]) < 0.05
    assert stats.center_norm > 0.4


def test_class_level_rows_appear_with_labels(rng):
    x, y = constant_gap_pairs(rng)
    labels = rng.integers(0, 3, len(x))
    stats = gap_stats(x, y, labels, labels)
    assert ("magnitude", "class") in set(zip(stats.summary["statistic"], stats.summary["level"]))
    assert set(stats.distributions.columns) == {"statistic", "level", "value"}
    assert "magnitude" in repr(stats)


def test_closing_the_gap_centres_each_modality(rng):
    x = unit(rng.normal(size=(200, 8)) + 2.0)
    y = unit(rng.normal(size=(150, 8)) - 2.0)
    closer = GapCloser.fit(x, y)
    cx, cy = closer.transform(x, "image"), closer.transform(y, "text")
    assert np.allclose(np.linalg.norm(cx, axis=1), 1.0, atol=1e-5)
    assert np.linalg.norm(cx.mean(0) - cy.mean(0)) < np.linalg.norm(x.mean(0) - y.mean(0)) / 3
    with pytest.raises(ValueError, match="modality"):
        closer.transform(x, "audio")


def spread_with_a_small_gap(rng, n_img=800, n_txt=300, d=24):
    """Unit embeddings whose widest spread (first coordinates) is not the gap (the last one), as
    in the shapes world, where SVD's first axis misses the gap."""
    scale = np.r_[np.linspace(1.0, 0.3, d - 1), 0.05]
    x = unit(rng.normal(size=(n_img, d)) * scale + np.r_[np.zeros(d - 1), 0.6])
    y = unit(rng.normal(size=(n_txt, d)) * scale + np.r_[np.zeros(d - 1), -0.6])
    return x, y


def separation(xy_images, xy_texts):
    return xy_images.astype(np.float64).mean(axis=0) - xy_texts.astype(np.float64).mean(axis=0)


def test_the_gap_axes_show_the_gap_and_its_closing_where_svd_does_not(rng):
    x, y = spread_with_a_small_gap(rng)
    gap_norm = np.linalg.norm(x.mean(axis=0) - y.mean(axis=0))
    axes = GapAxes.fit(x, y)
    # Along x the modality means lie exactly the gap's length apart; along y not at all.
    dx, dy = separation(axes.project(x), axes.project(y))
    assert axes.gap_norm == pytest.approx(gap_norm, rel=1e-6) and dx == pytest.approx(gap_norm, rel=1e-5)
    assert abs(dy) < 1e-5 and abs(axes.axes[:, 0] @ axes.axes[:, 1]) < 1e-9
    # The same axes on the closed embeddings: the clouds meet.
    closer = GapCloser.fit(x, y)
    closed_x, closed_y = closer.transform(x, "image"), closer.transform(y, "text")
    assert abs(separation(axes.project(closed_x), axes.project(closed_y))[0]) < 0.02 * gap_norm
    # SVD's first axis (the old default view) hardly shows the gap, so closing it changes little there.
    xy, _ = svd_2d(x, y)
    assert abs(separation(xy[:len(x)], xy[len(x):])[0]) < 0.25 * gap_norm
    with pytest.raises(EmbeddingError, match="no gap direction"):
        GapAxes.fit(x, x)


def test_bad_embeddings_are_named(rng):
    x = unit(rng.normal(size=(10, 4)))
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(EmbeddingError, match="NaN or inf.*rows \\[3\\]"):
        gap_stats(bad, x)
    with pytest.raises(EmbeddingError, match="dimension 5 but the head expects 4"):
        gap_stats(x, unit(rng.normal(size=(10, 5))))
    with pytest.raises(EmbeddingError, match="one caption per image"):
        gap_stats(x, x[:5])


def test_transfer_from_images_to_text_works_on_separable_pairs(rng):
    n = 400
    labels = rng.integers(0, 2, n)
    centres = unit(rng.normal(size=(2, 16)))
    x = unit(centres[labels] + 0.1 * rng.normal(size=(n, 16)))
    t = unit(x + 0.5 * unit(rng.normal(size=16)))  # the same points, shifted by a constant gap
    report = cross_modal_transfer(x, t, labels)
    table = report.table.set_index(["train_on", "close_gap", "eval_on"])
    assert table.loc[("image", False, "image"), "accuracy"] > 0.9
    assert table.loc[("image", True, "text"), "accuracy"] > 0.9
    assert table["consistency"].between(0, 1).all()
