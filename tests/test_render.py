"""The rendered email: safe for any content, accessible, and built for the clients that strip."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.build.links import add_utm
from newsletter.build.pipeline import render_workspace
from newsletter.build.placeholders import export, fill, recipient_values
from newsletter.build.render import markdown_to_html, sanitize
from newsletter.workspace import Paths

ARTICLE = "content/articles/restless-legs-massage.md"
TESTIMONIAL = "content/testimonials/n-l-massage-craniosacral.md"


def rendered_for(workspace: Path):
    return render_workspace(Paths(workspace))


@pytest.fixture
def example(workspace: Path):
    return rendered_for(workspace)


def append(workspace: Path, rel: str, text: str) -> None:
    path = workspace / rel
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


# --- safety -------------------------------------------------------------------------------


def test_sanitizer_removes_scripts_handlers_and_javascript_urls() -> None:
    html = sanitize(
        '<p onclick="x()">Hi<script>alert(1)</script><a href="javascript:alert(1)">a</a>'
        '<img src="x.png" onerror="y()" alt="x"><style>p{}</style><iframe src="https://e.com"></iframe></p>'
    )
    assert "script" not in html and "onclick" not in html and "onerror" not in html
    assert "javascript:" not in html and "<style" not in html and "<iframe" not in html
    assert '<img src="x.png" alt="x">' in html


def test_article_raw_html_passes_the_allow_list(workspace: Path) -> None:
    append(
        workspace,
        ARTICLE,
        '\n<p>Raw <strong onmouseover="steal()">bold</strong> <a href="javascript:void(0)">x</a></p>\n',
    )
    _, rendered = rendered_for(workspace)
    assert "<strong" in rendered.html and "onmouseover" not in rendered.html
    assert "javascript:" not in rendered.html


def test_testimonial_html_is_shown_as_text(workspace: Path) -> None:
    """Client words are pasted in: their markup is escaped, never interpreted."""
    append(workspace, TESTIMONIAL, "\n<b>Great</b> <img src=x onerror=alert(1)>\n")
    _, rendered = rendered_for(workspace)
    assert "&lt;b&gt;Great&lt;/b&gt;" in rendered.html
    assert "<img src=x" not in rendered.html and "onerror=alert" not in rendered.html.replace(
        "&lt;img src=x onerror=alert(1)&gt;", ""
    )


def test_template_and_placeholder_syntax_in_content_comes_out_literally(workspace: Path) -> None:
    append(
        workspace,
        ARTICLE,
        "\nLiteral {{ config.sender_email }} and {% raw %} and `%%first_name%% and %%unsubscribe_url%%`.\n",
    )
    _config, rendered = rendered_for(workspace)
    values = recipient_values(
        email="a@example.org",
        name="Ana Lee",
        unsubscribe_url="https://u.example/x",
        fallback="friend",
    )
    for document in (
        fill(rendered.html, values, rendered.nonce),
        fill(rendered.text, values, rendered.nonce),
    ):
        document = " ".join(document.split())
        assert "{{ config.sender_email }}" in document
        assert "{% raw %}" in document
        assert "%%first_name%% and %%unsubscribe_url%%" in document
    assert "Hello Ana," in fill(rendered.text, values, rendered.nonce)


def test_literal_placeholder_syntax_is_escaped_in_email_html_on_disk(workspace: Path) -> None:
    append(workspace, ARTICLE, "\nCost: 100%% off %%first_name%%\n")
    _, rendered = rendered_for(workspace)
    on_disk = export(rendered.html, rendered.nonce, escape_literal=True)
    assert "%&#37;first_name%&#37;" in on_disk
    assert on_disk.count("%%first_name%%") == 1  # only the greeting


def test_fill_escapes_per_context(example) -> None:
    _, rendered = example
    values = recipient_values(
        email="a@example.org",
        name='<b>"Ann"</b>',
        unsubscribe_url="https://u.example/?t=1&x=2",
        fallback="friend",
    )
    html = fill(rendered.html, values, rendered.nonce)
    assert "Hello &lt;b&gt;&#x27;" not in html
    assert "Hello &lt;b&gt;&quot;Ann&quot;&lt;/b&gt;," in html
    assert 'href="https://u.example/?t=1&amp;x=2"' in html


# --- structure and accessibility -------------------------------------------------------------


def test_document_language_direction_and_color_scheme(example) -> None:
    _, rendered = example
    assert '<html lang="en" dir="ltr"' in rendered.html
    assert '<meta name="color-scheme" content="light dark">' in rendered.html
    assert "@media (prefers-color-scheme:dark)" in rendered.html
    assert "<o:PixelsPerInch>96</o:PixelsPerInch>" in rendered.html


def test_layout_tables_are_presentation(example) -> None:
    _, rendered = example
    for table in re.findall(r"<table\b[^>]*>", rendered.html):
        assert 'role="presentation"' in table or 'class="md"' in table, table


def test_headings_are_in_order(example) -> None:
    _, rendered = example
    levels = [int(n) for n in re.findall(r"<h([1-6])\b", rendered.html)]
    assert levels[0] == 1
    assert all(b - a <= 1 for a, b in itertools.pairwise(levels))


def test_no_pure_black_text(example) -> None:
    _, rendered = example
    assert not re.search(r"color:\s*(#000\b|#000000|black)", rendered.html, re.IGNORECASE)


def test_style_block_is_small_with_simple_media_queries(example) -> None:
    _, rendered = example
    blocks = re.findall(r"<style[^>]*>(.*?)</style>", rendered.html, re.DOTALL)
    kept = [b for b in blocks if "@media" in b]
    assert len(kept) == 1
    assert len(kept[0].encode()) < 8 * 1024
    for query in re.findall(r"@media([^{]*)\{", kept[0]):
        assert " and " not in query and "," not in query
    assert "!important" in kept[0]


def test_preheader_hidden_padded_and_not_in_text(example) -> None:
    _, rendered = example
    match = re.search(
        r'<div class="preheader" style="([^"]*)">(.*?)</div>', rendered.html, re.DOTALL
    )
    assert match
    style, content = match.groups()
    assert "display:none" in style and "mso-hide:all" in style
    assert len(content) >= 200
    assert "\u034f\u200c" in content
    assert rendered.issue.preheader not in rendered.text


def test_fluid_container_with_outlook_ghost_table(example) -> None:
    _, rendered = example
    assert "max-width:600px" in rendered.html
    assert '<!--[if mso]><table role="presentation" align="center" width="600"' in rendered.html


def test_bulletproof_button(example) -> None:
    """A real link in a coloured cell with Outlook-only spacers, no VML."""
    _, rendered = example
    assert "v:roundrect" not in rendered.html
    buttons = re.findall(
        r'<td class="button-cell"[^>]*bgcolor="#2d5a4c"[^>]*>\s*<a class="button" href="([^"]+)"',
        rendered.html,
    )
    assert len(buttons) == 2  # after the intro letter and at the end
    assert all(
        b.startswith("https://booking.example.com/sample-bodywork?utm_source=newsletter")
        for b in buttons
    )
    assert "mso-font-width:150%" in rendered.html


def test_footer_has_everything_the_law_and_readers_need(example) -> None:
    config, rendered = example
    html = export(rendered.html, rendered.nonce)
    assert "Unsubscribe from Notes from the Table" in html and 'href="%%unsubscribe_url%%"' in html
    assert 'href="https://news.example.org/issues/2026-12/?utm_source=newsletter' in html
    assert "View this email in your browser" in html
    assert config.disclaimer in html
    assert "Mt. Shasta, CA 9\u200c6\u200c0\u200c6\u200c7" in html  # no auto-detected map link
    assert "a[x-apple-data-detectors]" in html


def test_article_heading_and_sections(example) -> None:
    _, rendered = example
    assert re.search(
        r"<h2[^>]*>Restless Leg Syndrome Relief: The Power of Massage Therapy</h2>", rendered.html
    )
    assert len(re.findall(r"<h3\b", rendered.html)) == 8
    assert "consult a healthcare" in rendered.html


def test_images_have_alt_size_and_absolute_url(workspace: Path, write) -> None:
    from test_content_errors import _png

    write({"content/images/calf.png": _png(1104, 736), "content/images/hands.png": _png(300, 200)})
    path = workspace / ARTICLE
    path.write_text(
        path.read_text().replace(
            "author: Dustin\n",
            "author: Dustin\nimage:\n  src: calf.png\n  alt: Hands easing a calf muscle\n",
        )
        + "\n![Warm hands](images/hands.png)\n",
        encoding="utf-8",
    )
    _, rendered = rendered_for(workspace)
    assert re.search(
        r'<img class="hero" src="https://news.example.org/issues/2026-12/images/calf.png" alt="Hands easing a calf muscle" width="552" height="368"',
        rendered.html,
    )
    [body_image] = re.findall(r"<img [^>]*hands.png[^>]*>", rendered.html)
    assert 'src="https://news.example.org/issues/2026-12/images/hands.png"' in body_image
    assert 'alt="Warm hands"' in body_image and 'width="300" height="200"' in body_image
    assert "max-width:100%" in body_image
    assert {p.name for p in rendered.images} == {"calf.png", "hands.png"}
    assert "[Image: Warm hands]" in rendered.text


# --- links -----------------------------------------------------------------------------------


def test_utm_only_on_own_sites_and_never_overwritten() -> None:
    hosts = {"news.example.org", "booking.example.com"}
    assert add_utm("https://news.example.org/a", campaign="2026-12", hosts=hosts) == (
        "https://news.example.org/a?utm_source=newsletter&utm_medium=email&utm_campaign=2026-12"
    )
    assert add_utm("https://booking.example.com/x?utm_source=fb", campaign="c", hosts=hosts) == (
        "https://booking.example.com/x?utm_source=fb&utm_medium=email&utm_campaign=c"
    )
    assert (
        add_utm("https://other.example.net/", campaign="c", hosts=hosts)
        == "https://other.example.net/"
    )
    assert (
        add_utm("mailto:a@news.example.org", campaign="c", hosts=hosts)
        == "mailto:a@news.example.org"
    )


def test_relative_links_become_absolute(workspace: Path) -> None:
    append(workspace, ARTICLE, "\nSee [my prices](/prices) and [the archive](issues/).\n")
    _, rendered = rendered_for(workspace)
    assert (
        'href="https://news.example.org/prices?utm_source=newsletter&amp;utm_medium=email&amp;utm_campaign=2026-12"'
        in rendered.html
    )
    assert "my prices [1]" in rendered.text
    assert "[1] https://news.example.org/prices?utm_source=newsletter" in rendered.text


# --- Markdown ----------------------------------------------------------------------------------


def test_markdown_extensions_a_writer_expects() -> None:
    """Smart quotes, tables (in a box of their own), footnotes (plain notes), fenced code."""
    html = markdown_to_html(
        '"Quotes" -- and a table:\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nNote[^1]\n\n[^1]: A footnote.\n\n```\ncode\n```\n',
        trusted=True,
    )
    assert "\u201cQuotes\u201d \u2013 and" in html
    assert '<div class="table-wrap"><table class="md">' in html and '<td class="md">1</td>' in html
    assert 'Note<sup class="note-ref">1</sup>' in html
    assert '<ol class="notes">' in html and "A footnote.</p>" in html
    assert '<div class="code"><code>code</code></div>' in html and "<pre" not in html


def test_headings_shift_below_the_article_title_and_never_collapse() -> None:
    """# to ###### under an <h2> title keep six distinct levels: below <h6> they become
    headings by role, with their own aria-level and class."""
    source = "\n\n".join(f"{'#' * n} Level {n}" for n in range(1, 7))
    html = markdown_to_html(source, trusted=True, heading_base=3)
    assert "<h3>Level 1</h3>" in html and "<h6>Level 4</h6>" in html
    assert '<p role="heading" aria-level="7" class="h7">Level 5</p>' in html
    assert '<p role="heading" aria-level="8" class="h8">Level 6</p>' in html
    assert markdown_to_html("### A", trusted=True, heading_base=3) == "<h3>A</h3>"
    assert markdown_to_html("## A\n\n##### B", trusted=True, heading_base=3) == (
        '<h3>A</h3>\n<p role="heading" aria-level="6">B</p>'.replace(
            '<p role="heading" aria-level="6">B</p>', "<h6>B</h6>"
        )
    )


def test_footnotes_are_plain_numbered_notes_without_anchors() -> None:
    """Gmail's apps, Gmail with other accounts and Samsung Email drop #anchor links: no link,
    back link or id survives, only the number and the note."""
    html = markdown_to_html(
        "Text.[^a] More.[^b] A [jump](#here).\n{: #here }\n\n[^a]: First.\n[^b]: Second.\n",
        trusted=True,
    )
    assert 'href="#' not in html and " id=" not in html and "\u21a9" not in html
    assert 'Text.<sup class="note-ref">1</sup> More.<sup class="note-ref">2</sup>' in html
    assert "A jump." in html
    assert "<li>\n<p>First.</p>\n</li>" in html


def test_code_blocks_wrap_without_white_space_pre_wrap() -> None:
    """Gmail with other accounts, Outlook and Samsung Email ignore pre-wrap: each line ends in
    <br>, indentation and runs of spaces are non-breaking, single spaces may wrap."""
    html = markdown_to_html("```\nif x:\n    y  =  1\n\nz\n```\n", trusted=True)
    assert html == (
        '<div class="code"><code>if x:<br>\xa0\xa0\xa0\xa0y\xa0 =\xa0 1<br>\xa0<br>z</code></div>'
    )


def test_images_never_wider_than_the_card() -> None:
    """A width from an attribute list is scaled to the 552 px column, keeping the ratio."""
    html = markdown_to_html(
        '![Wide](https://example.org/w.png){: width="1600" height="400" }', trusted=True
    )
    assert 'width="552" height="138"' in html and "max-width:100%" in html


# --- plain text ---------------------------------------------------------------------------------


def test_plain_text_is_wrapped_and_free_of_markup(example) -> None:
    config, rendered = example
    text = fill(
        rendered.text,
        recipient_values(
            email="a@example.org",
            name="",
            unsubscribe_url="https://news.example.org/unsubscribe?token=abc",
            fallback="friend",
        ),
        rendered.nonce,
    )
    for line in text.splitlines():
        assert (
            len(line) <= 78
            or line.startswith("http")
            or re.match(r"^\[\d+\] http|^Unsubscribe: |^View in your browser: ", line)
        ), line
    assert not re.search(r"&[a-z]+;|&#\d+;|<[a-z/]", text)
    assert "Hello friend," in text
    assert "Restless Leg Syndrome Relief: The Power of Massage Therapy\n=====" in text
    assert "\n> -- N. L., Massage and biodynamic craniosacral therapy" in text
    assert (
        "\nhttps://booking.example.com/sample-bodywork?utm_source=newsletter&utm_medium=email&utm_campaign=2026-12\n"
        in text
    )
    assert config.postal_address.split(",")[0] in text
    assert "Unsubscribe: https://news.example.org/unsubscribe?token=abc" in text


def test_html_size_budget(example) -> None:
    """The example stays at or under 25 KB, far below Gmail's clipping threshold."""
    _, rendered = example
    assert len(export(rendered.html, rendered.nonce, escape_literal=True).encode()) <= 25 * 1024


# --- every client: Roundcube, webmail dark modes, phones without <style> -------------------


def _tree(html: str):  # type: ignore[no-untyped-def]
    import lxml.html

    return lxml.html.document_fromstring(html)


def test_body_carries_no_class_or_id(example) -> None:
    """Roundcube turns <body> into a <div> with its own class, which ours would overwrite, and
    then ignores the whole <style> block; the .email wrapper carries the hooks instead."""
    _, rendered = example
    for html in (rendered.html, rendered.web_html):
        body = _tree(html).find("body")
        assert body.get("class") is None and body.get("id") is None
        assert body.find("div[@class='email']") is not None
    assert "u + div .email a" in rendered.html and "#body" not in rendered.html


def test_every_coloured_element_carries_its_own_background(example) -> None:
    """A webmail dark mode that paints an element (Roundcube paints <blockquote>) never leaves
    text in its light colour on a dark background: colour and background come together."""
    _, rendered = example
    inline = {"a", "span", "strong", "b", "em", "i", "u", "sup", "sub", "abbr"}
    checked = 0
    for element in _tree(rendered.html).find("body").iter():
        style = (element.get("style") or "").replace(" ", "")
        if element.tag in inline or "display:none" in style:
            continue
        has_colour = re.search(r"(^|;)color:", style) is not None
        assert has_colour == ("background-color:" in style), (element.tag, element.get("class"))
        checked += has_colour
    assert checked > 20
    quote = _tree(rendered.html).find(".//blockquote")
    assert "background-color:#fffdf9" in quote.get("style").replace(" ", "")


def test_breaking_styles_inline_in_the_order_clients_need(example) -> None:
    """Yahoo honours only word-wrap; in Chromium a later word-wrap would cancel
    overflow-wrap: anywhere; older WebKit reads word-break: break-word."""
    _, rendered = example
    for cls in ("masthead", "card", "footer"):
        [cell] = _tree(rendered.html).find_class(cls)
        style = cell.get("style").replace(" ", "")
        assert "word-wrap:break-word;overflow-wrap:anywhere;word-break:break-word" in style


def test_dark_rules_cover_every_heading_level_and_the_button(example) -> None:
    """Content can push headings down to <h6> and beyond; each level has a dark colour, and the
    button turns to accent_dark (8.8:1 on the dark card; the light accent is 2:1)."""
    _, rendered = example
    dark = rendered.html.split("@media (prefers-color-scheme:dark){", 1)[1].split("}}", 1)[0]
    for selector in (".card h2", ".card h3", ".card h4", ".card h5", ".card h6", ".card .h7"):
        assert selector + "," in dark or selector + "{" in dark, selector
    assert ".button-cell,.card a.button{background-color:#8fd1bb !important;color:#202624" in dark


def test_one_button_label_after_the_intro_and_at_the_end(workspace: Path) -> None:
    """A reader finds the booking button after the intro letter and at the end, always with
    the issue's label; an article's own label leads into its button, and the last article's
    button gives way to the closing one, so no two buttons stack with different labels."""
    second = (
        (workspace / ARTICLE)
        .read_text(encoding="utf-8")
        .replace("Restless Leg Syndrome Relief", "A second article")
    )
    (workspace / "content/articles/second.md").write_text(second, encoding="utf-8")
    issue = workspace / "content/issues/2026-12.md"
    issue.write_text(
        issue.read_text(encoding="utf-8").replace(
            "  - restless-legs-massage\n", "  - restless-legs-massage\n  - second\n"
        ),
        encoding="utf-8",
    )
    _, rendered = rendered_for(workspace)
    labels = re.findall(r'<span style="mso-text-raise:15px;">([^<]+)</span>', rendered.html)
    assert labels == ["Book your December session"] * 3
    html = rendered.html
    first_button = html.index('class="button-table"')
    assert html.index("Dustin</p>") < first_button < html.index("<h2")
    lead = '<p class="cta-lead"'
    assert html.count(lead) == 1
    assert html.index(lead) < html.index("A second article")
    assert html.count("Online booking at <a") == 3
    assert rendered.text.count("Book your December session:\nhttps://booking.example.com") == 3


def test_preheader_filler_prints_nothing_in_text_views(example) -> None:
    """Default-ignorable characters only: no space or no-break space for w3m or lynx to print."""
    _, rendered = example
    content = re.search(r'<div class="preheader"[^>]*>(.*?)</div>', rendered.html).group(1)
    filler = content.removeprefix(rendered.issue.preheader)
    assert filler and set(filler) == {"\u034f", "\u200c"}
    assert '<meta name="description" content="Gentle relief for restless legs' in rendered.html


def test_plain_text_shows_code_lines_and_numbered_notes(workspace: Path) -> None:
    """The text part reads code blocks line by line and notes as [1] with a numbered list."""
    append(
        workspace, ARTICLE, "\nA claim.[^1]\n\n```\nline one\n    line two\n```\n\n[^1]: Source.\n"
    )
    _, rendered = rendered_for(workspace)
    assert "A claim.[1]" in rendered.text
    assert "    line one\n        line two" in rendered.text
    assert "1. Source." in rendered.text


MARKDOWN_PIECES = st.lists(
    st.sampled_from(
        [
            "# A",
            "###### F",
            "Text[^1]",
            "[^1]: Note",
            "[jump](#x)",
            "{: #x }",
            '<a href="#y" id="y">raw</a>',
            "| a | b |\n|---|---|\n| 1 | 2 |",
            "```\n  code  line\n```",
            "> quote",
            "- item",
            "![i](images/p.png){: width=900 }",
            "plain words",
        ]
    ),
    max_size=8,
)


@settings(max_examples=80, deadline=None)
@given(MARKDOWN_PIECES)
def test_no_anchor_id_or_pre_survives_any_markdown(pieces: list[str]) -> None:
    """Whatever the practitioner writes (raw HTML included): no #anchor link, no id, no <pre>,
    no heading deeper than <h6>, and no image wider than the card."""
    html = markdown_to_html("\n\n".join(pieces), trusted=True, heading_base=3)
    assert 'href="#' not in html and " id=" not in html and "<pre" not in html
    assert not re.search(r"<h[1-2]\b", html)
    assert all(int(w) <= 552 for w in re.findall(r'width="(\d+)"', html))
