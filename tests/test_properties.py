"""Properties over arbitrary content: never a traceback, never a script, never a forged field."""

from __future__ import annotations

import re
import string
from html.parser import HTMLParser
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.build.pipeline import render_rendered
from newsletter.build.placeholders import export, fill, recipient_values
from newsletter.build.render import markdown_to_html
from newsletter.errors import NewsletterError
from newsletter.load.config import load_config
from newsletter.load.frontmatter import parse_document
from newsletter.model import Article, Consent, Issue, Testimonial
from newsletter.workspace import Paths

EXAMPLE = Path(__file__).resolve().parent / "fixtures" / "example"
PATHS = Paths(EXAMPLE)  # the tests' own content; templates/ links to the repository's
CONFIG = load_config(PATHS, env={})

NASTY = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "<a href='javascript:alert(1)'>x</a>",
    '<a href="JaVaScRiPt:alert(1)">x</a>',
    "<svg onload=alert(1)>",
    "{{ config.smtp }}",
    "{% raw %}",
    "{{ 7*7 }}",
    "%%first_name%%",
    "%%unsubscribe_url%%",
    "nlph.0000000000000000.html.email.",
    "&#x6a;avascript:alert(1)",
    "[x](javascript:alert(1))",
    "<iframe src=//e.com>",
    "<style>*{}</style>",
    '<p style="background:url(javascript:x)">',
    "<form action=x><input></form>",
    "\u202e",
    "&#0;",
    "<!--[if mso]><script>x</script><![endif]-->",
    "<math><mi xlink:href=javascript:x>",
    "](",
]
content_text = st.lists(
    st.one_of(
        st.sampled_from(NASTY), st.text(alphabet=string.printable + "äé’—\u00a0", max_size=40)
    ),
    max_size=8,
).map("".join)

VALUES = recipient_values(
    email="reader@example.org",
    name="Qzxjvk Wyvern",
    unsubscribe_url="https://u.example/t",
    fallback="friend",
)


class _Tags(HTMLParser):
    """Every start tag with its attributes, as a browser would see them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def assert_no_active_content(html: str) -> None:
    parser = _Tags()
    parser.feed(html)
    for tag, attrs in parser.tags:
        assert tag not in {
            "script",
            "iframe",
            "form",
            "input",
            "svg",
            "math",
            "object",
            "embed",
            "base",
        }, tag
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name)
            if name in {"href", "src"} and value:
                scheme = value.strip().lower().replace("\t", "").replace("\n", "")
                assert not scheme.startswith(("javascript:", "data:", "vbscript:")), (tag, value)


def _issue(body: str, title: str, quote: str) -> Issue:
    import datetime as dt

    article = Article(
        slug="a",
        path="content/articles/a.md",
        title=title or "T",
        summary="s",
        date=dt.date(2026, 1, 1),
        body=body,
        body_line=5,
    )
    testimonial = Testimonial(
        slug="t",
        path="content/testimonials/t.md",
        author="A. B.",
        service="Massage",
        consent=Consent(dt.date(2026, 1, 1), "form"),
        body=quote or "x",
        body_line=6,
    )
    return Issue(
        id="2026-01",
        path="content/issues/2026-01.md",
        subject="Subject line here",
        preheader="p",
        date=dt.date(2026, 1, 1),
        intro=body,
        intro_line=7,
        articles=(article,),
        testimonials=(testimonial,),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=content_text, title=content_text.map(lambda t: " ".join(t.split())), quote=content_text)
def test_no_content_can_inject_script_template_or_placeholder(
    body: str, title: str, quote: str
) -> None:
    rendered = render_rendered(_issue(body, title, quote), config=CONFIG, paths=PATHS)
    html = fill(rendered.html, VALUES, rendered.nonce)
    text = fill(rendered.text, VALUES, rendered.nonce)
    body_html = html.split("<body", 1)[1]
    assert_no_active_content(body_html)
    # the recipient's values appear only where the templates put them
    assert html.count("Qzxjvk") == 1 and text.count("Qzxjvk") == 1
    assert "reader@example.org" not in html and "https://u.example/t" in html
    # template syntax in content is never evaluated
    if "{{ 7*7 }}" in body:
        assert "49" not in re.sub(r"\d{3,}", "", text) or "49" in body
    assert "nlph." + rendered.nonce not in export(rendered.html, rendered.nonce)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_front_matter_loader_never_tracebacks(text: str) -> None:
    """Any text either parses or raises NewsletterError with a path:line."""
    for candidate in (text, "---\n" + text, "---\n" + text + "\n---\nbody"):
        try:
            parse_document(candidate, path="p.md")
        except NewsletterError as exc:
            assert exc.problems and all(p.path == "p.md" for p in exc.problems)


_YAML_PIECES = st.sampled_from(
    ["title", "k0", ":", ": ", "- ", "-x", "[", "]", "{", "}", "'", '"', "#", " ", "  ", "0",
     "a b", "\n", "\r", "\r\n", "\t", "\x85", "\u2028", "\u2029", "\ufeff", "---", "..."]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(_YAML_PIECES, max_size=40).map("".join))
def test_front_matter_errors_name_a_line_of_the_file(matter: str) -> None:
    """YAML-shaped front matter, with the line breaks only YAML knows (U+2028, U+2029,
    NEL) pasted in: it parses, or every problem names a line the file has, never a crash."""
    text = f"---\n{matter}\n---\nbody\n"
    lines = len(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    try:
        document = parse_document(text, path="p.md")
    except NewsletterError as exc:
        assert exc.problems
        assert all(1 <= p.line <= lines for p in exc.problems)
    else:
        assert all(1 <= f.line <= lines for f in document.fields.values())


@settings(max_examples=100, deadline=None)
@given(content_text)
def test_testimonial_markdown_never_emits_markup_from_input(source: str) -> None:
    """Client words: whatever tags they contain come out as text."""
    html = markdown_to_html(source, trusted=False)
    assert not re.search(r"<(script|img|iframe|style|svg|form|math)\b", html, re.I)
    assert_no_active_content(html)
