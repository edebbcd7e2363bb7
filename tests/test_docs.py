"""The user's guide builds offline in strict mode (a broken link, a missing reference or a marker that
names no view fails it), documents every public module, and puts what a new user looks for first
within two clicks of the home page."""

import html
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import drml_widgets

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
                         cwd=ROOT, capture_output=True, text=True, env=env, timeout=900)
    assert run.returncode == 0, f"mkdocs build --strict failed:\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}"
    return out


def page(site: Path, name: str) -> str:
    return (site / name / "index.html").read_text() if name else (site / "index.html").read_text()


def links(text: str) -> set[str]:
    return {html.unescape(h) for h in re.findall(r'href="([^"]+)"', text)}


def visible(text: str) -> str:
    body = text[text.index('<article'):text.index('</article>')]
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


def public_modules() -> list[str]:
    found = [m.name for m in pkgutil.walk_packages(drml_widgets.__path__, "drml_widgets.")]
    return sorted(n for n in found if not any(p.startswith("_") for p in n.split(".")))


def test_every_public_module_has_a_reference_entry(site):
    pages = " ".join(p.read_text() for p in (site / "reference").rglob("index.html"))
    missing = [name for name in public_modules() if f'id="{name}"' not in pages]
    assert not missing, f"modules without an API reference entry: {missing}"


def test_what_a_new_user_looks_for_is_two_clicks_from_home(site):
    home = links(page(site, ""))
    # one click: the home page links each of these pages
    assert {"how-to/your-data/", "methods/", "concepts/#the-slice-table-column-by-column"} <= home
    # second click lands on the answer itself
    assert "from_folder" in visible(page(site, "how-to/your-data"))
    assert "Why does my model fail on these images?" in visible(page(site, "methods"))
    columns = visible(page(site, "concepts"))
    for column in ("text_prob", "text_acc", "n_prompts", "image_acc", "n_images", "Spearman"):
        assert column in columns


def test_the_method_table_lists_every_registered_method(site):
    from drml_widgets.methods.protocol import registered

    text = visible(page(site, "methods"))
    assert all(m.question in text for m in registered())


def test_every_view_has_its_traits_documented(site):
    from drml_widgets import widgets

    text = visible(page(site, "widgets"))
    views = [n for n in widgets.__all__ if isinstance(getattr(widgets, n), type)]
    for name in views:
        cls = getattr(widgets, name)
        ours = {t for base in cls.__mro__ if base.__module__.startswith("drml_widgets.") for t in vars(base)}
        traits = [t for t, trait in cls.class_traits(sync=True).items() if t in ours and not t.startswith("_")]
        section = text[text.index(f" {name} ¶"):]
        assert traits and all(f" {t} " in section[:20_000] for t in traits), name
