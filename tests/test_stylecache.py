"""The parsed-stylesheet cache: same email with or without it, and never a stale stylesheet.

Each render runs in its own process, as a build does, so premailer's in-memory caches cannot
hide what the cache folder does; cssutils.parseString is counted to see whether CSS was parsed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from newsletter.build import stylecache

RENDER = """
import json, sys
import cssutils

parses = []
styles = []
parse_string, parse_style = cssutils.parseString, cssutils.parseStyle


def counting(*args, **kwargs):
    parses.append(1)
    return parse_string(*args, **kwargs)


def counting_styles(*args, **kwargs):
    styles.append(1)
    return parse_style(*args, **kwargs)


cssutils.parseString, cssutils.parseStyle = counting, counting_styles
from pathlib import Path
from newsletter.build.pipeline import render_workspace
from newsletter.workspace import Paths
from newsletter.build.placeholders import export

config, rendered = render_workspace(Paths(Path(sys.argv[1])))
html = export(rendered.html, rendered.nonce, escape_literal=True)
print(json.dumps({"html": html, "parses": len(parses), "styles": len(styles)}))
"""


def render(root: Path, cache: Path) -> tuple[str, int]:
    """The email (placeholders exported) and how many stylesheets cssutils parsed."""
    html, parses, _ = render_counted(root, cache)
    return html, parses


def render_counted(root: Path, cache: Path) -> tuple[str, int, int]:
    """Also how many declaration blocks (rules and style attributes) it parsed."""
    env = {**os.environ, "NEWSLETTER_CACHE_DIR": str(cache)}
    out = subprocess.run(
        [sys.executable, "-c", RENDER, str(root)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    result = json.loads(out)
    return result["html"], result["parses"], result["styles"]


def entries(cache: Path) -> list[Path]:
    return sorted((cache / "stylesheets").glob("sheet-*.json"))


def test_a_warm_cache_gives_the_same_email_without_parsing_css(workspace, tmp_path) -> None:
    cache = tmp_path / "cache"
    first, parses, cold_styles = render_counted(workspace, cache)
    assert parses == 1
    assert len(entries(cache)) == 1
    second, parses, warm_styles = render_counted(workspace, cache)
    assert parses == 0
    assert second == first
    # every declaration block (matched rules and style attributes) comes from the cache too
    assert cold_styles >= 20
    assert warm_styles == 0
    unusable = tmp_path / "a-file"
    unusable.write_text("not a folder")
    uncached, parses = render(workspace, unusable)
    assert parses == 1
    assert uncached == first


def test_a_changed_stylesheet_is_parsed_again(workspace, tmp_path) -> None:
    cache = tmp_path / "cache"
    before, _ = render(workspace, cache)
    css = workspace / "templates" / "email.css"
    css.write_text(
        css.read_text().replace(
            ".article { padding: 0 0 8px 0; }",
            ".article { padding: 0 0 8px 0; letter-spacing: 1px; }",
        )
    )
    after, parses = render(workspace, cache)
    assert parses == 1
    assert "letter-spacing:1px" in after and "letter-spacing:1px" not in before
    assert len(entries(cache)) == 2


def test_a_brand_colour_change_is_not_served_from_the_cache(workspace, tmp_path) -> None:
    cache = tmp_path / "cache"
    before, _ = render(workspace, cache)
    config = workspace / "content" / "newsletter.toml"
    text = config.read_text()
    assert 'text = "#26302c"' in text
    config.write_text(text.replace('text = "#26302c"', 'text = "#1f2925"'))
    after, parses = render(workspace, cache)
    assert parses == 1
    assert "#1f2925" in after and "#1f2925" not in before


@pytest.mark.parametrize("damage", ["", "{not json", '{"rules": [[1, 2, 3]]}', "[]"])
def test_a_damaged_entry_is_ignored_and_replaced(workspace, tmp_path, damage) -> None:
    cache = tmp_path / "cache"
    expected, _ = render(workspace, cache)
    (entry,) = entries(cache)
    entry.write_text(damage)
    html, parses = render(workspace, cache)
    assert parses == 1
    assert html == expected
    assert stylecache._read(entry) is not None


def test_media_rules_in_the_inlined_stylesheet_are_not_cached(workspace, tmp_path) -> None:
    """cssutils keeps @media rules as objects, not data: such a stylesheet is parsed each time."""
    cache = tmp_path / "cache"
    css = workspace / "templates" / "email.css"
    css.write_text(css.read_text() + "@media (max-width: 480px) { .card { padding: 12px; } }\n")
    first, parses = render(workspace, cache)
    assert parses == 1
    second, parses = render(workspace, cache)
    assert parses == 1
    assert second == first
    assert "@media (max-width:480px)" in first
    assert entries(cache) == []


def test_only_the_newest_stylesheets_are_kept(tmp_path) -> None:
    entry = {"rules": [], "leftover": []}
    stylecache._write(tmp_path / "declarations.json", {})
    for n in range(4):
        stylecache._write(tmp_path / f"sheet-{n}.json", entry, keep=2)
        os.utime(tmp_path / f"sheet-{n}.json", ns=(n * 10**9, n * 10**9))
    stylecache._write(tmp_path / "sheet-4.json", entry, keep=2)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["declarations.json", "sheet-3.json", "sheet-4.json"]


def test_a_warm_build_does_not_import_cssutils(workspace, tmp_path) -> None:
    """With the stylesheet and every declaration block cached, cssutils (35 ms) stays unloaded."""
    code = (
        "import sys\n"
        "from newsletter.__main__ import run\n"
        "try:\n"
        "    run()\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print(type(sys.modules.get('cssutils')).__name__)\n"
    )
    env = {**os.environ, "NEWSLETTER_CACHE_DIR": str(tmp_path / "cache")}
    args = [sys.executable, "-c", code, "--root", str(workspace), "build"]
    runs = [subprocess.run(args, capture_output=True, text=True, env=env) for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr + runs[1].stderr
    assert [r.stdout.splitlines()[-1] for r in runs] == ["module", "_Deferred"]


def test_declarations_stay_bounded(tmp_path, monkeypatch) -> None:
    """Past the limit, only the blocks the last render used are kept, in memory and on disk."""
    monkeypatch.setenv("NEWSLETTER_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(stylecache, "KEEP_DECLARATIONS", 3)
    stored = tmp_path / "stylesheets" / "declarations.json"

    def parse(text: str, validate: bool = True) -> list[tuple[str, str]]:
        return [("color", text)]

    parse._lock = None  # type: ignore[attr-defined]
    memo = stylecache._Declarations(parse)
    for n in range(5):
        memo(f"red{n}")
    memo.save()  # one render used all five: all kept
    assert len(json.loads(stored.read_bytes())["blocks"]) == 5
    memo("blue", validate=False)
    memo.save()
    assert json.loads(stored.read_bytes())["blocks"] == {"0blue": [["color", "blue"]]}
    assert sorted(memo.known) == ["0blue"]


def test_the_cache_folder_comes_from_the_environment(tmp_path, monkeypatch) -> None:
    from pathlib import Path

    from newsletter.build.cache import cache_folder

    monkeypatch.setenv("NEWSLETTER_CACHE_DIR", str(tmp_path / "own"))
    assert cache_folder("x") == tmp_path / "own" / "x"
    assert (tmp_path / "own" / "x").is_dir()
    monkeypatch.delenv("NEWSLETTER_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_folder("x") == tmp_path / "xdg" / "newsletter" / "x"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_folder("x") == tmp_path / "home" / ".cache" / "newsletter" / "x"
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: Path("~")))
    monkeypatch.chdir(tmp_path)
    assert cache_folder("x") is None
    assert not (tmp_path / "~").exists()


def test_a_build_with_an_empty_cache_is_quiet_and_fills_it(workspace, tmp_path) -> None:
    """The first build parses with cssutils, whose log noise stays off the terminal."""
    env = {**os.environ, "NEWSLETTER_CACHE_DIR": str(tmp_path / "cache")}
    result = subprocess.run(
        [sys.executable, "-m", "newsletter", "--root", str(workspace), "build"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0
    assert result.stderr == ""
    assert len(entries(tmp_path / "cache")) == 1
    assert (tmp_path / "cache" / "stylesheets" / "declarations.json").is_file()
    assert list((tmp_path / "cache" / "templates").glob("__jinja2_*.cache"))


def test_the_premailer_internals_relied_on_are_there() -> None:
    """Each premailer internal stylecache's docstring names is still there, as it was in 3.10:
    a premailer upgrade that moves one fails here, by name, not as a silently slower build."""
    import inspect

    import cssutils
    import premailer.merge_style
    import premailer.premailer
    from premailer import Premailer

    assert premailer.__version__.startswith("3.10."), premailer.__version__
    assert str(inspect.signature(Premailer._parse_style_rules)) == "(self, css_body, ruleset_index)"
    assert (
        str(inspect.signature(Premailer.transform))
        == "(self, html=None, pretty_print=True, **kwargs)"
    )
    original = stylecache.declarations.parse
    assert original.__module__ == "premailer.merge_style"
    assert str(inspect.signature(original)) == "(csstext, validate=True)"
    assert hasattr(original, "_lock")
    # Both callers look the function up as a module global, which stylecache replaced.
    assert "csstext_to_pairs" in Premailer.transform.__code__.co_names
    assert "csstext_to_pairs" in premailer.merge_style.merge_styles.__code__.co_names
    assert premailer.premailer.csstext_to_pairs is stylecache.declarations
    assert premailer.merge_style.csstext_to_pairs is stylecache.declarations
    options = ("exclude_pseudoclasses", "include_star_selectors", "strip_important")
    instance = Premailer("<p>x</p>", disable_validation=True)
    assert all(hasattr(instance, name) for name in (*options, "disable_validation"))
    rules, leftover = Premailer._parse_style_rules(instance, "p.a{color:red}", 0)
    assert rules == [((0, 0, 1, 1, 0, 0), "p.a", "color:red")] and leftover == []
    assert callable(cssutils.profile.removeProfile)
    assert callable(cssutils.log.setLevel) and callable(cssutils.ser.prefs.useMinified)


def test_a_build_never_imports_what_premailer_only_needs_for_the_network(
    workspace, tmp_path
) -> None:
    """requests, urllib.request and importlib.metadata stay unimported through a whole render."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from newsletter.build.pipeline import render_workspace\n"
        "from newsletter.build.stylecache import _Deferred\n"
        "from newsletter.workspace import Paths\n"
        "render_workspace(Paths(Path(sys.argv[1])))\n"
        "names = ('requests', 'urllib.request', 'importlib.metadata')\n"
        "print([n for n in names if not isinstance(sys.modules.get(n), _Deferred)])\n"
    )
    env = {**os.environ, "NEWSLETTER_CACHE_DIR": str(tmp_path / "cache")}
    out = subprocess.run(
        [sys.executable, "-c", script, str(workspace)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    assert out.strip() == "[]"
