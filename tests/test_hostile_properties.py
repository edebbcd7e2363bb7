"""Property tests over generated user input: tables given to load_images and the scorecard
command's arguments. One property everywhere: a right result, or a DrmlError (a one-line exit for
the command) that names the problem and the fix; never a raw library error, never a silent change."""

import contextlib
import io
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from drml_widgets import cli
from drml_widgets.data.sources import load_images
from drml_widgets.errors import DrmlError

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
N_FILES = 8


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    paths = []
    for i in range(N_FILES):
        paths.append(str(folder / f"{i}.png"))
        Image.fromarray(np.full((8, 8, 3), 20 * i, np.uint8)).save(paths[-1])
    return paths


LABELS = {
    "names": st.sampled_from(["square", "triangle", "circle"]),
    "indices": st.integers(0, 2),
    "whole floats": st.sampled_from([0.0, 1.0, 2.0]),
    "fractions": st.sampled_from([0.5, 1.0]),
    "mixed": st.one_of(st.integers(0, 1), st.sampled_from(["square", "triangle"])),
    "gaps": st.one_of(st.integers(0, 1), st.none(), st.just(float("nan"))),
}
EXTRA = {
    "text": st.sampled_from(["sun", "rain"]),
    "ints": st.integers(-2, 2),
    "floats with gaps": st.one_of(st.floats(0, 1), st.just(float("nan"))),
    "lists": st.lists(st.integers(0, 3), max_size=2),
    "none": st.none(),
}
SPLIT_VALUES = st.sampled_from(["train", "val", "test", "validation", " Test ", "holdout"])


@st.composite
def tables(draw):
    n = draw(st.integers(1, 12))
    rows = {"path": [draw(st.integers(0, N_FILES - 1)) for _ in range(n)]}
    kind = draw(st.sampled_from(sorted(LABELS)))
    rows["label"] = [draw(LABELS[kind]) for _ in range(n)]
    if draw(st.booleans()):
        rows["split"] = [draw(SPLIT_VALUES) for _ in range(n)]
    extra = draw(st.sampled_from(sorted(EXTRA)))
    rows["extra"] = [draw(EXTRA[extra]) for _ in range(n)]
    classes = draw(st.sampled_from([None, ["square", "triangle", "circle"]]))
    return rows, classes


def expected_name(label, classes):
    if isinstance(label, str):
        return label
    return classes[int(label)] if classes is not None else str(int(label))


@pytest.mark.filterwarnings("ignore:Dropped .* rows:UserWarning", "ignore:Skipped:UserWarning")
@FAST
@given(tables())
def test_load_images_gives_the_right_dataset_or_names_the_fix(files, drawn):
    rows, classes = drawn
    frame = pd.DataFrame({**rows, "path": [files[i] for i in rows["path"]]})
    try:
        ds = load_images(frame, classes=classes)
    except DrmlError as exc:
        assert "Fix:" in str(exc), str(exc)
        return
    label_of = {}
    for path, label in zip(frame["path"], frame["label"]):
        label_of.setdefault(path, set()).add(expected_name(label, classes))
    assert len(ds.paths) == len(set(ds.paths)) <= len(frame)  # duplicates dropped, never doubled
    for path, label, split in zip(ds.paths, ds.labels, ds.split):
        assert label_of[path] == {ds.classes[label]}  # every image keeps its own label
        assert split in ("train", "val", "test")
    if "split" in rows:
        given_split = dict(zip(frame["path"], frame["split"].str.strip().str.lower().replace("validation", "val")))
        assert all(given_split[p] == s for p, s in zip(ds.paths, ds.split))
    extra = ds.metadata["extra"].tolist() if "extra" in ds.metadata else []
    assert not any(isinstance(v, float) and math.isnan(v) for v in extra)  # gaps never pass silently


ARGS = {
    "--settings": st.one_of(st.integers(-5, 30), st.sampled_from(["1000000000", "many", "2.5", ""])),
    "--seed": st.one_of(st.integers(-3, 3), st.just("x")),
    "--pool-seed": st.integers(-2, 2),
    "--cnn-share": st.one_of(st.floats(-1, 2), st.sampled_from(["nan", "inf", "-0", "half"])),
    "--out": st.sampled_from(["GOOD", "/nonexistent/dir/x.csv", "FOLDER", ""]),
    "--compare": st.sampled_from(["GOOD_CSV", "missing.csv", "WRONG_COLUMNS", "BINARY"]),
}


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    pd.DataFrame({"model": ["head"], "method": ["m"], "kind": ["rare"], "precision_at_10": [1.0],
                  "exact_name": [True], "setting": [0]}).to_csv(folder / "good.csv", index=False)
    (folder / "wrong.csv").write_text("a,b\n1,2\n")
    (folder / "binary.csv").write_bytes(bytes(range(256)) * 20)
    return {"GOOD": str(folder / "out.csv"), "FOLDER": str(folder), "GOOD_CSV": str(folder / "good.csv"),
            "WRONG_COLUMNS": str(folder / "wrong.csv"), "BINARY": str(folder / "binary.csv")}


class WouldRun(Exception):
    pass


def would_run(n, seed, **kwargs):
    raise WouldRun(n, seed, kwargs)


@FAST
@given(st.dictionaries(st.sampled_from(sorted(ARGS)), st.none(), max_size=4).flatmap(
    lambda keys: st.fixed_dictionaries({k: ARGS[k] for k in keys})))
def test_scorecard_arguments_are_checked_before_any_run(cli_files, options):
    from drml_widgets.scorecard import run

    argv = ["scorecard"]
    for name, value in options.items():
        argv += [name, cli_files.get(value, str(value)) if isinstance(value, str) else str(value)]
    err = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stderr(err):
        mp.setattr(run, "run_scorecard", would_run)
        try:
            cli.main(argv)
        except SystemExit as exit_:
            assert exit_.code == 2
            lines = err.getvalue().strip().splitlines()
            assert len(lines) == 1 and "error:" in lines[0] and "Fix:" in lines[0], err.getvalue()
            return
        except WouldRun as reached:
            n, seed, kwargs = reached.args
            assert n in range(1, cli.MAX_SETTINGS + 1) and seed >= 0 and 0 <= kwargs["cnn_share"] <= 1
            assert kwargs["pool_seed"] >= 0
            assert options.get("--compare", "GOOD_CSV") == "GOOD_CSV"
            assert options.get("--out", "GOOD") == "GOOD"
            return
    pytest.fail(f"{argv} neither ran nor exited")
