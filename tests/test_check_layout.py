"""`newsletter check`'s layout rules: each points at the line that caused the problem, the
content line when content did (found through its Markdown text), else the template's."""

from __future__ import annotations

from pathlib import Path

from test_check import ARTICLE, append, of, replace_in, run

HEAD = "templates/email-head.css"
CSS = "templates/email.css"
BREAKING = "word-wrap: break-word; overflow-wrap: anywhere; word-break: break-word; "


def line_of(root: Path, rel: str, needle: str) -> int:
    lines = (root / rel).read_text(encoding="utf-8").split("\n")
    return next(i for i, line in enumerate(lines, start=1) if needle in line)


def test_example_issue_has_no_layout_findings(workspace: Path) -> None:
    """The example's words all fit a 320 px phone and the template covers every element."""
    rules = {"long-word", "wide-block", "dark-rule", "painted", "button-contrast"}
    assert [f for f in run(workspace) if f.rule in rules | {"anchor-link", "body-attribute"}] == []


def test_heading_without_a_dark_rule_is_reported_at_its_content_line(workspace: Path) -> None:
    """A heading content pushes to <h5> keeps its light colour on the dark card when the
    dark rules skip that level: an error at the heading's Markdown line."""
    line = append(workspace, ARTICLE, "\n#### A deep heading\n\nText under it.\n")
    replace_in(workspace, HEAD, ".card h5, .card h6, ", ".card h6, ")
    found = of(run(workspace), "dark-rule")
    assert [(f.severity, f.path, f.line) for f in found] == [("error", ARTICLE, line + 1)]
    assert found[0].message.startswith("<h5> keeps its light colour #26302c in dark mode")


def test_long_word_without_breaking_styles_is_an_error_at_its_line(workspace: Path) -> None:
    """Without the inline breaking styles a 150-character word widens the card on a phone."""
    line = append(workspace, ARTICLE, "\nA word: " + "x" * 150 + ".\n")
    lines = (workspace / CSS).read_text(encoding="utf-8").split("\n")
    for cls in (".masthead {", ".card {", ".footer {"):
        at = next(i for i, text in enumerate(lines) if text.startswith(cls))
        assert BREAKING in lines[at]
        lines[at] = lines[at].replace(BREAKING, "")
    (workspace / CSS).write_text("\n".join(lines), encoding="utf-8")
    found = of(run(workspace), "long-word")
    assert [(f.severity, f.path, f.line) for f in found] == [("error", ARTICLE, line + 1)]
    assert "widens the card" in found[0].message


def test_long_word_with_breaking_styles_is_a_warning(workspace: Path) -> None:
    line = append(workspace, ARTICLE, "\nSee https://news.example.org/" + "a" * 60 + "\n")
    found = of(run(workspace), "long-word")
    assert [(f.severity, f.path, f.line) for f in found] == [("warning", ARTICLE, line + 1)]


def test_wide_table_and_code_are_warnings_at_their_lines(workspace: Path) -> None:
    line = append(
        workspace,
        ARTICLE,
        "\n| a | b | c | d | e |\n|---|---|---|---|---|\n| 1 | 2 | 3 | 4 | 5 |\n\n"
        "```\nshort\n" + "y = " + "1 + " * 12 + "1\n```\n",
    )
    found = of(run(workspace), "wide-block")
    assert [(f.severity, f.path, f.line) for f in found] == [
        ("warning", ARTICLE, line + 1),
        ("warning", ARTICLE, line + 7),
    ]


def test_colour_without_background_is_reported_at_the_template(workspace: Path) -> None:
    """A webmail dark mode that paints the article's blockquote leaves its text unreadable
    when the blockquote has a colour and no background of its own."""
    append(workspace, ARTICLE, "\n> A quoted line.\n")
    needle = ".card blockquote { margin"
    painted = "border-left: 3px solid {{ brand.accent }}; background-color: {{ brand.surface }}; "
    replace_in(workspace, CSS, painted, "border-left: 3px solid {{ brand.accent }}; ")
    found = of(run(workspace), "painted")
    assert [(f.severity, f.path, f.line) for f in found] == [
        ("error", CSS, line_of(workspace, CSS, needle))
    ]


def test_dark_button_under_three_to_one_is_an_error(workspace: Path) -> None:
    """The light accent on the dark card is about 2:1; a button needs 3:1 (WCAG 1.4.11)."""
    replace_in(
        workspace,
        HEAD,
        ".button-cell, .card a.button { background-color: {{ brand.accent_dark }} !important; "
        "color: {{ brand.dark_surface }} !important; }",
        "",
    )
    found = of(run(workspace), "button-contrast")
    assert [f.severity for f in found] == ["error"]  # one finding for both buttons
    assert found[0].message.startswith("dark scheme: the booking button #2d5a4c on the card")


def test_anchor_links_and_a_body_class_are_errors(workspace: Path) -> None:
    replace_in(workspace, "templates/email.html", "\n<body>\n", '\n<body class="body">\n')
    replace_in(
        workspace,
        "templates/partials/footer.html",
        "<p>{{ config.disclaimer }}</p>",
        '<p>{{ config.disclaimer }} <a href="#top">Back to the top</a></p>',
    )
    findings = run(workspace)
    assert [(f.severity, f.path) for f in of(findings, "body-attribute")] == [
        ("error", "templates/email.html")
    ]
    assert [f.severity for f in of(findings, "anchor-link")] == ["error"]


def test_low_contrast_is_reported_at_the_content_line(workspace: Path) -> None:
    """Contrast findings point at the Markdown line of the first element that fails, so the
    practitioner sees which heading or paragraph is hard to read."""
    line = append(workspace, ARTICLE, "\n#### A pale heading\n\nText under it.\n")
    replace_in(
        workspace,
        CSS,
        "font-size: 17px; line-height: 24px; font-weight: bold; background-color: {{ brand.surface }}; color: {{ brand.text }}; }",
        "font-size: 17px; line-height: 24px; font-weight: bold; background-color: {{ brand.surface }}; color: #b0b0b0; }",
    )
    found = of(run(workspace), "contrast")
    assert [(f.path, f.line) for f in found] == [(ARTICLE, line + 1)]
    assert found[0].message.startswith("light scheme: text #b0b0b0 on #fffdf9")
