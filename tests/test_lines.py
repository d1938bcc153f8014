"""The lines the loader keeps for `check`: front-matter keys, Markdown blocks, links and images."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from newsletter.load.content import load_library
from newsletter.load.frontmatter import parse_document
from newsletter.load.lines import heading_text, key_lines, markdown_blocks, refs_in
from newsletter.load.loader import load_workspace
from newsletter.model import Ref
from newsletter.workspace import Paths


def test_key_lines_name_nested_keys_with_dots() -> None:
    """Each key's line comes from the YAML parser, nested keys as "consent.date"."""
    text = "---\nauthor: N. L.\nconsent:\n  date: 2023-01-01\n  method: signed\n---\nWords.\n"
    lines = key_lines(parse_document(text, path="t.md").fields)
    assert lines.pairs == (
        ("author", 2),
        ("consent", 3),
        ("consent.date", 4),
        ("consent.method", 5),
    )
    assert lines.get("consent.method") == 5 and lines.get("missing", 1) == 1


def test_blocks_start_where_markdown_starts_them() -> None:
    """Blank lines end a block, a heading is its own block, a fence runs to its close."""
    body = (
        "Intro line\nstill intro\n## Stretches\nText.\n\n```\n\n# not a heading\n```\nTitle\n===\n"
    )
    blocks = markdown_blocks(body, 10)
    assert [(b.kind, b.line, b.level) for b in blocks] == [
        ("paragraph", 10, 0),
        ("heading", 12, 2),
        ("paragraph", 13, 0),
        ("code", 15, 0),
        ("heading", 19, 1),
    ]
    assert heading_text(blocks[1]) == "Stretches"
    assert heading_text(blocks[4]) == "Title"


def test_links_and_images_are_kept_with_their_line_and_how_they_were_written() -> None:
    """Markdown, autolinks, reference definitions and HTML tags, in the order written."""
    text = (
        'See [the guide](https://a.org/g "title") and <https://b.org>.\n'
        '![Calf](legs.png) <img src="x.png" alt=""> <img src=y.png>\n'
        "[id]: https://c.org/d\n"
        '<a href="mailto:me@example.org">Write <b>me</b></a>'
    )
    assert refs_in(text, 5) == (
        Ref("link", 5, "https://a.org/g", "the guide"),
        Ref("link", 5, "https://b.org", "https://b.org"),
        Ref("image", 6, "legs.png", "Calf"),
        Ref("image", 6, "x.png", "", "html", alt=True),
        Ref("image", 6, "y.png", "", "html", alt=False),
        Ref("link", 7, "https://c.org/d", "id"),
        Ref("link", 8, "mailto:me@example.org", "Write me", "html"),
    )


def test_code_blocks_hold_no_links() -> None:
    """A link shown as code is not a link of the email."""
    assert markdown_blocks("```\n[x](https://a.org)\n```", 1)[0].refs == ()


@given(st.lists(st.sampled_from(["", "text", "## Head", "```", "- item", "> quote", "==="])))
def test_every_written_line_is_in_exactly_one_block_at_its_own_line(lines: list[str]) -> None:
    """The blocks reproduce the body: each non-blank line once, numbered as in the file."""
    body = "\n".join(lines)
    seen = [pair for block in markdown_blocks(body, 7) for pair in block.numbered()]
    written = [(7 + n, line) for n, line in enumerate(lines)]
    assert [pair for pair in seen if pair[1].strip()] == [p for p in written if p[1].strip()]


def test_the_loaded_example_keeps_its_lines(workspace: Path) -> None:
    """Records carry their key lines and blocks; the config its keys' lines; the workspace
    the email's templates, the page first and the kept stylesheet last."""
    loaded = load_workspace(Paths(workspace))
    issue = loaded.library.issues["2026-12"]
    assert issue.lines.get("subject") == 2 and issue.blocks[0].line == issue.intro_line
    article = load_library(Paths(workspace)).articles["restless-legs-massage"]
    assert article.lines.get("date") == 4
    assert loaded.config.lines.get("sender.email") == 17
    assert loaded.config.lines.get("sender") == 15
    names = [t.path for t in loaded.templates]
    assert names[0] == "templates/email.html" and names[-1] == "templates/email-head.css"
    assert "templates/email.txt" not in names
