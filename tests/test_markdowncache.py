"""What is remembered between processes (parsed front matter and newsletter.toml, converted
Markdown, the email's fragments and their text) gives the same answer as computing it, and a
build with a warm cache imports none of PyYAML, tomllib, python-markdown, nh3 and lxml.html."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.build import markdown, markdowncache
from newsletter.errors import NewsletterError
from newsletter.load import memo, parsed
from newsletter.load.frontmatter import parse_document

MARKDOWN_PIECES = st.sampled_from(
    ["# Head", "*em*", "**strong**", "[a](https://x.example/)", "![p](p.jpg)", "- item",
     "1. one", "> quote", "`code`", "```\nx = 1\n```", "| a | b |\n|---|---|\n| 1 | 2 |",
     "Term\n: def", "note[^1]\n\n[^1]: foot", "<b>raw</b>", "<script>x()</script>",
     "\"quotes\" -- dashes...", "*[HTML]: Hyper", "{: #id }", "\x00\x07", "é ✓ 😀", "\n\n"]
)  # fmt: skip
MARKDOWN = st.lists(st.one_of(MARKDOWN_PIECES, st.text(max_size=20)), max_size=8).map("\n".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=MARKDOWN, trusted=st.booleans())
def test_cached_markdown_is_what_conversion_gives(source: str, trusted: bool) -> None:
    expected = markdown.to_html(source, trusted=trusted)
    first = markdowncache.MarkdownCache()
    assert first.to_html(source, trusted=trusted) == expected  # computed, then remembered
    first.save()
    again = markdowncache.MarkdownCache()  # as a new process: read from the file
    assert again.to_html(source, trusted=trusted) == expected
    assert again.to_html(source, trusted=not trusted) == markdown.to_html(
        source, trusted=not trusted
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    source=MARKDOWN,
    trusted=st.booleans(),
    heading_base=st.integers(2, 4),
    sizes=st.dictionaries(
        st.sampled_from(["p.jpg", "a.png"]), st.tuples(st.integers(1, 2000), st.integers(1, 2000))
    ),
    utm=st.booleans(),
    before=st.lists(st.sampled_from(["p.jpg", "x.png"]), max_size=2, unique=True),
)
def test_a_remembered_fragment_and_its_text_are_what_the_render_makes(
    source: str,
    trusted: bool,
    heading_base: int,
    sizes: dict[str, tuple[int, int]],
    utm: bool,
    before: list[str],
) -> None:
    from newsletter.build import textify
    from newsletter.build.fragment import rewrite
    from newsletter.build.links import LinkFinisher

    def finisher() -> LinkFinisher:
        hosts = frozenset({"news.example.org", "x.example"})
        return LinkFinisher("https://news.example.org", "2026-12", hosts, utm, images=list(before))

    plain = finisher()
    expected = rewrite(
        markdown.to_html(source, trusted=trusted),
        heading_base=heading_base,
        sizes=sizes,
        links=plain,
    )
    for _ in range(2):  # computed and remembered, then read back as a new process would
        cache = markdowncache.MarkdownCache()
        cached = finisher()
        got = cache.finished(
            source, trusted=trusted, heading_base=heading_base, sizes=sizes, links=cached
        )
        assert got == expected
        assert cached.images == plain.images
        for width in (textify.WIDTH, textify.WIDTH - 2):
            assert cache.text(got, width=width) == textify.html_to_text(expected, width=width)
        cache.save()


FRONT_VALUES = st.one_of(
    st.sampled_from(["2026-12-01", "2026-02-30", "12:30", "yes", "~", "1e3", "0x1f", "'q'",
                     "[a, b]", "{k: v}", "!!binary aGk=", "2026-12-01 10:00:00+02:00", "|\n  x"]),
    # read_text makes every line end "\n" before parsing
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\x85\u2028\u2029"),
        max_size=15,
    ),
)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.lists(FRONT_VALUES, max_size=5),
    body=st.text(alphabet=st.characters(blacklist_characters="\r"), max_size=40),
    path=st.text(max_size=8),
)
def test_remembered_front_matter_is_what_parsing_gives(
    values: list[str], body: str, path: str
) -> None:
    text = "---\n" + "".join(f"k{i}: {v}\n" for i, v in enumerate(values)) + "---\n" + body
    try:
        expected = parse_document(text, path=path)
    except NewsletterError as exc:
        for _ in range(2):  # a mistake is reported each time, never remembered
            with pytest.raises(NewsletterError) as again:
                parsed.parse(text, path=path, memo=_saved(parsed.memo()))
            assert again.value.problems == exc.problems
        return
    first = parsed.memo()
    assert parsed.parse(text, path=path, memo=first) == expected
    _saved(first)
    assert parsed.parse(text, path=path, memo=parsed.memo()) == expected
    assert parsed.parse(text, path="other.md", memo=parsed.memo()) == expected._replace(
        path="other.md"
    )


def _saved(memo_: memo.Memo) -> memo.Memo:
    memo_.save()
    return memo_


def test_an_entry_of_other_code_or_a_broken_file_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_CACHE_DIR", str(tmp_path))
    old = memo.Memo("k", "m.pickle", [1, "old"], keep=4)
    old.put("text", "stale")
    old.save()
    assert memo.Memo("k", "m.pickle", [1, "old"], keep=4).get("text") == "stale"
    assert memo.Memo("k", "m.pickle", [1, "new"], keep=4).get("text") is None
    (tmp_path / "k" / "m.pickle").write_bytes(pickle.dumps({"stamp": [1, "old"]})[:-3])
    assert memo.Memo("k", "m.pickle", [1, "old"], keep=4).get("text") is None


def test_beyond_keep_only_what_was_used_stays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_CACHE_DIR", str(tmp_path))
    first = memo.Memo("k", "m.pickle", [1], keep=2)
    for key in "abc":
        first.put(key, key)
    first.save()
    second = memo.Memo("k", "m.pickle", [1], keep=2)
    assert second.get("a") == "a"
    second.put("d", "d")
    second.save()
    third = memo.Memo("k", "m.pickle", [1], keep=2)
    assert [third.get(key) for key in "abcd"] == ["a", None, None, "d"]


def test_a_memo_that_cannot_be_written_costs_nothing_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_CACHE_DIR", str(tmp_path))
    (tmp_path / "k" / "m.pickle").mkdir(parents=True)  # a folder where the file would go
    blocked = memo.Memo("k", "m.pickle", [1], keep=2)
    blocked.put("a", "a")
    blocked.save()
    assert os.listdir(tmp_path / "k") == ["m.pickle"]
    assert memo.Memo("k", "m.pickle", [1], keep=2).get("a") is None


def test_a_stamp_changes_with_the_files_it_names(tmp_path: Path) -> None:
    code = tmp_path / "code.py"
    code.write_text("x = 1\n")
    before = memo.files_stamp(str(code), None)
    code.write_text("x = 22\n")
    assert memo.files_stamp(str(code), None) != before
    assert memo.package_file("yaml") and memo.package_file("no_such_package_here") is None


BUILD = """
import json, sys
from pathlib import Path
from newsletter.build.pipeline import build
from newsletter.workspace import Paths

root = Path(sys.argv[1])
build(Paths(root), out=Path(sys.argv[2]))
files = ["email.html", "email.txt", "index.html"]
folder = Path(sys.argv[2]) / "issues" / "2026-12"
print(json.dumps({
    "files": {name: (folder / name).read_text(encoding="utf-8") for name in files},
    "imported": sorted(
        m for m in ("yaml", "markdown", "nh3", "tomllib", "lxml.html") if m in sys.modules
    ),
}))
"""


def test_a_warm_build_parses_and_converts_nothing_and_writes_the_same(
    workspace: Path, tmp_path: Path
) -> None:
    env = {**os.environ, "NEWSLETTER_CACHE_DIR": str(tmp_path / "cache")}

    def run(out: str) -> dict[str, object]:
        done = subprocess.run(
            [sys.executable, "-c", BUILD, str(workspace), str(tmp_path / out)],
            capture_output=True, text=True, check=True, env=env,
        )  # fmt: skip
        return json.loads(done.stdout)  # type: ignore[no-any-return]

    cold, warm = run("cold"), run("warm")
    assert cold["imported"] == ["lxml.html", "markdown", "nh3", "tomllib", "yaml"]
    assert warm["imported"] == []
    assert warm["files"] == cold["files"]


TOML_VALUES = st.sampled_from(
    ['"text"', "'lit'", '"""multi\nline"""', "42", "-0.0", "1e3", "inf", "true",
     "2026-12-01", "2026-12-01T10:00:00Z", "2026-12-01T10:00:00+02:00", "10:30:00",
     "[1, 2, [3]]", '{ a = 1, b = "x" }', "0x1f"]
)  # fmt: skip


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(TOML_VALUES, max_size=6), table=st.booleans())
def test_remembered_toml_is_what_tomllib_gives(values: list[str], table: bool) -> None:
    import tomllib

    from newsletter.load.config import _parse_toml

    text = ("[section]\n" if table else "") + "".join(f"k{i} = {v}\n" for i, v in enumerate(values))
    expected = tomllib.loads(text)
    assert _parse_toml(text, "n.toml") == expected  # parsed, then remembered
    assert _parse_toml(text, "n.toml") == expected  # read back
    with pytest.raises(NewsletterError):
        _parse_toml(text + "= broken\n", "n.toml")
