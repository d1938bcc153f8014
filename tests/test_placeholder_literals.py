"""Text in content that looks like a placeholder is never read as one in email.html or email.txt."""

from __future__ import annotations

import html
import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from newsletter.build.placeholders import FIELDS, SYNTAX, WORD_JOINER, export, marker, new_nonce

ARTICLE = "content/articles/restless-legs-massage.md"
NONCE = new_nonce()
literal = st.text(alphabet="%_ab|*{}<> first_nameemail", max_size=12)
field = st.sampled_from(sorted(FIELDS))


def shown(document: str, kind: str) -> str:
    """What a reader sees: entities decoded in HTML, the invisible joiner gone in text."""
    return html.unescape(document) if kind == "html" else document.replace(WORD_JOINER, "")


@given(
    parts=st.lists(st.tuples(literal, field), max_size=6),
    tail=literal,
    kind=st.sampled_from(["html", "text"]),
)
def test_only_the_markers_become_placeholders(parts, tail: str, kind: str) -> None:
    """Whatever literal text stands between the markers, the written file holds exactly the
    markers' placeholders, in order, and reads the same as the literal text."""
    context = "html" if kind == "html" else "text"
    document = "".join(text + marker(name, context, NONCE) for text, name in parts) + tail
    written = export(document, NONCE, escape_literal=kind)  # type: ignore[arg-type]
    assert SYNTAX.findall(written) == [name for _, name in parts]
    sentinel = "\x00"
    expected = "".join(text + sentinel for text, _ in parts) + tail
    assert shown(SYNTAX.sub(sentinel, written), kind) == expected


def test_a_literal_placeholder_in_content_stays_literal_on_disk(cli, workspace: Path) -> None:
    """`%%first_name%%` written in an article is not a placeholder in email.txt or email.html:
    the files hold the same placeholders as without it, and show the text as written."""
    assert cli("build").exit_code == 0
    folder = workspace / "dist" / "issues" / "2026-12"
    before = {
        name: SYNTAX.findall((folder / name).read_text()) for name in ("email.txt", "email.html")
    }
    article = workspace / ARTICLE
    article.write_text(
        article.read_text() + "\nDear %%first_name%%, %%%email%%% and %%unsubscribe_url%%.\n"
    )
    assert cli("build").exit_code == 0
    for name, found in before.items():
        text = (folder / name).read_text()
        assert SYNTAX.findall(text) == found
        assert "Dear %%first_name%%, %%%email%%% and" in shown(
            re.sub(r"\s+", " ", text), "html" if name.endswith(".html") else "text"
        )
