"""The scorecard command checks every argument before the run: one line on stderr, exit code 2,
no traceback, and the run never starts."""

import pandas as pd
import pytest

from drml_widgets import cli


@pytest.fixture
def no_run(monkeypatch):
    """Fail the test if the scorecard would run."""
    from drml_widgets.scorecard import run

    def refuse(*_, **__):
        raise AssertionError("the scorecard ran before its arguments were checked")

    monkeypatch.setattr(run, "run_scorecard", refuse)


def good_csv(path):
    pd.DataFrame({"model": ["head"], "method": ["drml_text"], "kind": ["rare"], "precision_at_10": [1.0],
                  "exact_name": [True], "setting": [0]}).to_csv(path, index=False)
    return str(path)


def refused(capsys, argv):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["scorecard", *argv])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    return err


@pytest.mark.parametrize("argv, message", [
    (["--settings", "0"], "--settings: n_settings must be at least 1"),
    (["--settings", "-1"], "--settings: n_settings must be at least 1"),
    (["--settings", "1000000000"], r"--settings 1,000,000,000 is over the cap of"),
    (["--settings", "many"], "invalid int value"),
    (["--cnn-share", "nan"], "--cnn-share must lie in"),
    (["--cnn-share", "1.5"], "--cnn-share must lie in"),
    (["--seed", "-3"], "--seed must be 0 or more"),
    (["--out", "/nonexistent/dir/x.csv"], "--out .*folder .* does not exist"),
    (["--compare", "missing.csv"], "--compare.*No scorecard CSV"),
])
def test_bad_arguments_are_one_line_before_the_run(no_run, capsys, argv, message):
    import re

    assert re.search(message, refused(capsys, argv))


def test_an_output_that_is_a_folder_is_refused(no_run, capsys, tmp_path):
    assert "--out" in refused(capsys, ["--out", str(tmp_path)])


def test_a_compare_csv_with_other_columns_is_refused(no_run, capsys, tmp_path):
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    assert "lacks the columns" in refused(capsys, ["--compare", str(tmp_path / "other.csv")])


def test_a_binary_compare_file_is_refused(no_run, capsys, tmp_path):
    (tmp_path / "bin.csv").write_bytes(bytes(range(256)) * 40)
    assert "--compare" in refused(capsys, ["--compare", str(tmp_path / "bin.csv")])


def test_good_arguments_reach_the_run(monkeypatch, tmp_path):
    from drml_widgets.scorecard import run

    seen = {}

    def stop(n, seed, **kwargs):
        seen.update(n=n, seed=seed, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(run, "run_scorecard", stop)
    with pytest.raises(KeyboardInterrupt):
        cli.main(["scorecard", "--settings", "3", "--out", str(tmp_path / "x.csv"),
                  "--compare", good_csv(tmp_path / "prev.csv")])
    assert (seen["n"], seen["seed"], seen["cnn_share"]) == (3, 0, 0.05)
