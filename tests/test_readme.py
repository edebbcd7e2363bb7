"""The README is a front door: short, its two commands exactly what CI runs, its first example
working and near the top."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def bash_blocks() -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", README, re.S)]


def test_the_readme_is_short_and_links_into_the_docs():
    assert len(README.splitlines()) <= 200
    for link in re.findall(r"\]\((docs/[^)#]+)", README):
        assert (ROOT / link).exists(), link


def test_the_two_commands_are_the_ones_ci_runs():
    main, tests = bash_blocks()[:2]
    assert main == ("python3 -m venv .venv && .venv/bin/pip install -e . && "
                    ".venv/bin/python -m drml_widgets demo")
    assert tests == "bash .ci/run"
    ci = (ROOT / ".ci" / "run").read_text()
    # .ci/run is the test command: it installs Chromium, the front end's packages and the dev extra,
    # then runs pytest (which builds the docs) and fails when no test ran.
    for step in ("apt-get install", "npm ci", "npm test", 'pip install -q -e ".[dev]"', "-m pytest", '"$rc" -eq 5'):
        assert step in ci, step


def test_the_first_example_runs_and_comes_early():
    start = README.index("```python")
    assert README[:start].count("\n") < 60
    code = README[start + len("```python"):README.index("```", start + 3)]
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["session"].version == 0  # undone: the head is back at its first version
    assert len(namespace["failing"].table) and namespace["result"].image["targeted"].any()
