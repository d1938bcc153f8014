"""`newsletter check` rules: each triggered by a deliberately broken workspace, silent on a clean one."""

from __future__ import annotations

import datetime as dt
import struct
from pathlib import Path

import pytest

from newsletter.build.pipeline import render_rendered
from newsletter.check import Finding, check_rendered, check_workspace
from newsletter.load.content import pick_issue
from newsletter.load.loader import Workspace, load_workspace
from newsletter.model import Rendered
from newsletter.workspace import Paths

ARTICLE = "content/articles/restless-legs-massage.md"
ISSUE = "content/issues/2026-12.md"
TESTIMONIAL = "content/testimonials/n-l-massage-craniosacral.md"
CONFIG = "content/newsletter.toml"


def render(root: Path) -> tuple[Workspace, Rendered]:
    """Load the workspace and render its newest issue in memory."""
    workspace = load_workspace(Paths(root))
    issue = pick_issue(workspace.library, None)
    return workspace, render_rendered(issue, config=workspace.config, paths=workspace.paths)


def run(root: Path, *, edit=None) -> list[Finding]:  # type: ignore[no-untyped-def]
    """Render in memory and check; `edit(config, rendered)` may replace either first."""
    workspace, rendered = render(root)
    if edit is not None:
        config, rendered = edit(workspace.config, rendered)
        workspace = workspace._replace(config=config)
    return check_rendered(workspace, rendered)


def of(findings: list[Finding], rule: str) -> list[Finding]:
    return [f for f in findings if f.rule == rule]


def replace_in(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def append(root: Path, rel: str, text: str) -> int:
    """Append Markdown to a file; returns the line number of the first appended line."""
    path = root / rel
    before = path.read_text(encoding="utf-8").rstrip("\n")
    path.write_text(before + "\n\n" + text + "\n", encoding="utf-8")
    return before.count("\n") + 3


def png(width: int, height: int, size: int = 100) -> bytes:
    head = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDR" + struct.pack(">II", width, height)
    head += b"\x08\x02\x00\x00\x00"
    return head + b"\x00" * max(0, size - len(head))


def with_issue(rendered, **changes):  # type: ignore[no-untyped-def]
    return rendered._replace(issue=rendered.issue._replace(**changes))


# --- the example ----------------------------------------------------------------------------


def test_example_issue_has_no_errors_and_only_the_sample_sender_warning(workspace: Path) -> None:
    """The shipped example passes; its only warning is the reserved example.com sender."""
    findings = run(workspace)
    assert [f.severity for f in findings] == ["warning"]
    assert [(f.rule, f.path, f.line) for f in findings] == [("sender-domain", CONFIG, 17)]


def test_check_workspace_writes_nothing_and_tags_findings_with_the_issue(workspace: Path) -> None:
    """check_workspace renders in memory: dist/ is never made, and each finding names the issue."""
    findings = check_workspace(Paths(workspace))
    assert not (workspace / "dist").exists()
    assert {f.issue for f in findings} == {"2026-12"}


def test_check_leaves_a_built_dist_exactly_as_it_was(workspace: Path) -> None:
    """A check after a build changes no file under dist/, even when the content changed since."""
    from newsletter.build.pipeline import build

    build(Paths(workspace))
    before = {p: p.read_bytes() for p in (workspace / "dist").rglob("*") if p.is_file()}
    append(workspace, ARTICLE, "TODO: one more paragraph.")
    assert of(check_workspace(Paths(workspace)), "draft-marker")
    after = {p: p.read_bytes() for p in (workspace / "dist").rglob("*") if p.is_file()}
    assert after == before


def test_findings_name_lines_from_the_loaded_records_not_the_files(workspace: Path) -> None:
    """Lines come from what was loaded: a file changed after loading does not move them."""
    line = append(workspace, ARTICLE, "TODO: the last paragraph.")
    loaded, rendered = render(workspace)
    (workspace / ARTICLE).write_text("---\n---\n", encoding="utf-8")
    (workspace / CONFIG).write_text("", encoding="utf-8")
    found = check_rendered(loaded, rendered)
    assert [(f.path, f.line) for f in of(found, "draft-marker")] == [(ARTICLE, line)]
    assert [(f.path, f.line) for f in of(found, "sender-domain")] == [(CONFIG, 17)]


def test_content_errors_are_reported_as_findings_with_their_line(workspace: Path) -> None:
    """A front-matter mistake is an error finding at its path:line, not a crash."""
    replace_in(workspace, ARTICLE, "date: 2026-11-20", "date: 20/11/2026")
    findings = check_workspace(Paths(workspace))
    assert [(f.rule, f.severity, f.path, f.line) for f in findings] == [
        ("content", "error", ARTICLE, 4)
    ]


# --- size -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("kilobytes", "severity"), [(70, "warning"), (95, "error")])
def test_gmail_clipping(workspace: Path, kilobytes: int, severity: str) -> None:
    """Over 80 KB of HTML warns, over 102 KB is an error (Gmail hides the rest)."""
    paragraph = "Gentle pressure along the calf eases the urge to move. " * 10
    count = kilobytes * 1024 // (len(paragraph) + 80)
    append(workspace, ARTICLE, "\n\n".join([paragraph] * count))
    found = of(run(workspace), "gmail-clipping")
    assert [f.severity for f in found] == [severity]
    assert found[0].path == "dist/issues/2026-12/email.html"


# --- images ---------------------------------------------------------------------------------


def test_markdown_image_without_alt_is_an_error_at_its_line(workspace: Path) -> None:
    """![](file) gives empty alt text: an error pointing at the Markdown line."""
    (workspace / "content/images").mkdir(exist_ok=True)
    (workspace / "content/images/legs.png").write_bytes(png(400, 300))
    line = append(workspace, ARTICLE, "![](legs.png)")
    found = of(run(workspace), "img-alt")
    assert [(f.severity, f.path, f.line) for f in found] == [("error", ARTICLE, line)]


@pytest.mark.parametrize(
    "markdown", ['<img src="legs.png" alt="">', "![Hands easing a calf muscle](legs.png)"]
)
def test_explicit_decorative_or_described_image_passes(workspace: Path, markdown: str) -> None:
    """alt="" written out marks a decorative image; a described image is fine too."""
    (workspace / "content/images").mkdir(exist_ok=True)
    (workspace / "content/images/legs.png").write_bytes(png(400, 300))
    append(workspace, ARTICLE, markdown)
    findings = run(workspace)
    assert of(findings, "img-alt") == []
    assert of(findings, "img-width") == []


def test_remote_image_without_width_and_over_http(workspace: Path) -> None:
    """A remote image has no width attribute (warning) and http: is an error."""
    line = append(workspace, ARTICLE, "![A calf stretch](http://images.example.org/calf.jpg)")
    findings = run(workspace)
    assert [(f.severity, f.line) for f in of(findings, "img-width")] == [("warning", line)]
    assert [(f.severity, f.line) for f in of(findings, "img-https")] == [("error", line)]


def test_https_image_with_width_passes(workspace: Path) -> None:
    append(
        workspace,
        ARTICLE,
        '<img src="https://images.example.org/calf.jpg" alt="A calf stretch" width="552">',
    )
    findings = run(workspace)
    assert of(findings, "img-width") == of(findings, "img-https") == []


def test_heavy_and_too_wide_image_files(workspace: Path) -> None:
    """Over 200 KB and over 1200 px wide each earn a warning."""
    (workspace / "content/images").mkdir(exist_ok=True)
    (workspace / "content/images/big.png").write_bytes(png(2400, 1600, 300 * 1024))
    line = append(workspace, ARTICLE, "![The treatment room](big.png)")
    findings = run(workspace)
    assert [(f.severity, f.line) for f in of(findings, "img-heavy")] == [("warning", line)]
    assert [(f.severity, f.line) for f in of(findings, "img-too-wide")] == [("warning", line)]


def test_small_image_file_passes(workspace: Path) -> None:
    (workspace / "content/images").mkdir(exist_ok=True)
    (workspace / "content/images/small.png").write_bytes(png(1000, 600, 50 * 1024))
    append(workspace, ARTICLE, "![The treatment room](small.png)")
    findings = run(workspace)
    assert of(findings, "img-heavy") == of(findings, "img-too-wide") == []


def test_image_file_removed_after_render_is_missing(workspace: Path) -> None:
    """An image the email references must exist when the check runs."""
    (workspace / "content/images").mkdir(exist_ok=True)
    (workspace / "content/images/legs.png").write_bytes(png(400, 300))
    line = append(workspace, ARTICLE, "![Hands easing a calf](legs.png)")
    loaded, rendered = render(workspace)
    (workspace / "content/images/legs.png").unlink()
    found = of(check_rendered(loaded, rendered), "img-missing")
    assert [(f.severity, f.path, f.line) for f in found] == [("error", ARTICLE, line)]


# --- links ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("markdown", "rule", "severity"),
    [
        ("[Our studio](https://-bad-.example/)", "link-malformed", "error"),
        ("[Our blog](http://news.example.org/blog)", "link-http-own", "error"),
        ("[](https://www.ninds.nih.gov/rls)", "link-empty-text", "error"),
        ("Read the study [here](https://www.ninds.nih.gov/rls).", "link-text", "warning"),
        ("[click here](https://www.ninds.nih.gov/rls)", "link-text", "warning"),
        ("[Sign up for the class](https://bit.ly/3abc)", "link-shortener", "warning"),
    ],
)
def test_bad_links_in_content(workspace: Path, markdown: str, rule: str, severity: str) -> None:
    """Each bad link is reported at its Markdown line."""
    line = append(workspace, ARTICLE, markdown)
    found = of(run(workspace), rule)
    assert [(f.severity, f.path, f.line) for f in found] == [(severity, ARTICLE, line)]


def test_good_link_passes(workspace: Path) -> None:
    append(
        workspace,
        ARTICLE,
        "Read [the NIH overview of restless legs](https://www.ninds.nih.gov/rls) or "
        "[write to me](mailto:dustin@example.com).",
    )
    findings = run(workspace)
    assert [f for f in findings if f.rule.startswith("link")] == []


@pytest.mark.parametrize(
    ("anchor", "rule"),
    [
        ('<a href="about.html">About the practice</a>', "link-relative"),
        ('<a href="javascript:void(0)">About the practice</a>', "link-javascript"),
        ('<a href="mailto:">Write to the practice</a>', "link-mailto"),
    ],
)
def test_bad_links_in_templates(workspace: Path, anchor: str, rule: str) -> None:
    """Template links are reported at the output file line."""
    replace_in(
        workspace,
        "templates/partials/footer.html",
        "<p>{{ config.reason }}</p>",
        f"<p>{{{{ config.reason }}}} {anchor}</p>",
    )
    found = of(run(workspace), rule)
    assert len(found) == 1 and found[0].severity == "error"
    assert found[0].path == "dist/issues/2026-12/email.html" and found[0].line > 0


def test_booking_url_must_be_https(workspace: Path) -> None:
    replace_in(
        workspace, CONFIG, 'url = "https://booking.example.com', 'url = "http://booking.example.com'
    )
    found = of(run(workspace), "booking-url")
    assert [(f.severity, f.path, f.line) for f in found] == [("error", CONFIG, 22)]


def test_missing_booking_button_is_an_error(workspace: Path) -> None:
    button = '{% with lead="" %}{% include "partials/button.html" %}{% endwith %}'
    replace_in(workspace, "templates/email.html", button + "\n", "")
    replace_in(workspace, "templates/email.html", button, "")
    replace_in(
        workspace, ARTICLE, "cta: Book a therapeutic massage session at my Mt. Shasta office\n", ""
    )
    assert [f.severity for f in of(run(workspace), "booking-url")] == ["error"]


# --- text -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "rules"),
    [
        ("Hi", {"subject-length"}),
        (
            "Restless legs at night, better sleep in winter, and December openings",
            {"subject-length"},
        ),
        ("BIG DECEMBER NEWS for you", {"subject-caps"}),
        ("Act now: a free massage for restless legs!!!", {"spam-words"}),
    ],
)
def test_subject_rules(workspace: Path, subject: str, rules: set[str]) -> None:
    """Subject problems are warnings at the subject: line of the issue."""
    replace_in(
        workspace,
        ISSUE,
        'subject: "Restless legs at night? How massage can help"',
        f'subject: "{subject}"',
    )
    found = [f for f in run(workspace) if f.rule.startswith(("subject", "spam"))]
    assert {f.rule for f in found} == rules
    assert {(f.severity, f.path, f.line) for f in found} == {("warning", ISSUE, 2)}


def test_empty_subject_is_an_error(workspace: Path) -> None:
    found = of(run(workspace, edit=lambda c, r: (c, with_issue(r, subject=""))), "subject-missing")
    assert [f.severity for f in found] == ["error"]


def test_preheader_missing_short_and_repeating(workspace: Path) -> None:
    assert of(
        run(workspace, edit=lambda c, r: (c, with_issue(r, preheader=""))), "preheader-missing"
    )
    short = run(workspace, edit=lambda c, r: (c, with_issue(r, preheader="Better sleep")))
    assert [f.line for f in of(short, "preheader-short")] == [3]
    repeat = run(
        workspace,
        edit=lambda c, r: (c, with_issue(r, preheader=r.issue.subject + " this December")),
    )
    assert [f.severity for f in of(repeat, "preheader-repeat")] == ["warning"]


@pytest.mark.parametrize(
    ("markdown", "rule"),
    [
        ("Hello {{ first_name }}, welcome back.", "template-syntax"),
        ("Dear %%first_name, welcome back.", "placeholder"),
        ("TK: add the study's link here.", "draft-marker"),
        ("Lorem ipsum dolor sit amet.", "draft-marker"),
    ],
)
def test_leftover_syntax_and_draft_markers(workspace: Path, markdown: str, rule: str) -> None:
    line = append(workspace, ARTICLE, markdown)
    found = of(run(workspace), rule)
    assert [(f.severity, f.path, f.line) for f in found] == [("error", ARTICLE, line)]


def test_ordinary_capitals_and_percentages_are_not_markers(workspace: Path) -> None:
    append(workspace, ARTICLE, "About 10% of adults in the USA have RLS; TKO is not a marker.")
    findings = run(workspace)
    assert [f for f in findings if f.severity == "error"] == []


# --- compliance -----------------------------------------------------------------------------


def test_missing_postal_address_and_unsubscribe_link(workspace: Path) -> None:
    (workspace / "templates/partials/footer.html").write_text(
        "<p>{{ config.sender_name }}</p>\n<p>{{ config.disclaimer }}</p>\n", encoding="utf-8"
    )
    findings = run(workspace)
    assert [f.severity for f in of(findings, "postal-address")] == ["error"]
    assert [f.severity for f in of(findings, "unsubscribe-link")] == ["error"]


def test_mailto_only_unsubscribe_lacks_one_click(workspace: Path) -> None:
    replace_in(workspace, CONFIG, 'url = "https://news.example.org/unsubscribe"\n', "")
    found = of(run(workspace), "list-unsubscribe")
    assert [(f.severity, f.path) for f in found] == [("warning", CONFIG)]


@pytest.mark.parametrize(
    ("address", "severity"),
    [
        ("dustin@gmail.com", "warning"),
        ("dustin@bad_domain.c0m", "error"),
        ("a@practice.test", "warning"),
    ],
)
def test_sender_domain(workspace: Path, address: str, severity: str) -> None:
    found = of(
        run(workspace, edit=lambda c, r: (c._replace(sender_email=address), r)),
        "sender-domain",
    )
    assert [f.severity for f in found] == [severity]


def test_own_sender_domain_passes(workspace: Path) -> None:
    replace_in(
        workspace, CONFIG, 'email = "dustin@example.com"', 'email = "dustin@samplebodywork.com"'
    )
    assert of(run(workspace), "sender-domain") == []


def test_consent_recorded_after_the_issue_is_an_error(workspace: Path) -> None:
    replace_in(workspace, TESTIMONIAL, "  date: 2023-01-01", "  date: 2027-01-01")
    found = of(run(workspace), "testimonial-consent")
    assert [(f.severity, f.path, f.line) for f in found] == [("error", TESTIMONIAL, 6)]


def test_testimonial_consent_missing_in_a_hand_made_render(workspace: Path) -> None:
    def edit(config, rendered):  # type: ignore[no-untyped-def]
        t = rendered.issue.testimonials[0]._replace(consent=None)
        return config, with_issue(rendered, testimonials=(t,))

    assert [f.severity for f in of(run(workspace, edit=edit), "testimonial-consent")] == ["error"]


def test_health_outcome_testimonial_needs_the_disclaimer(workspace: Path) -> None:
    replace_in(workspace, "templates/partials/footer.html", "<p>{{ config.disclaimer }}</p>", "")
    found = of(run(workspace), "testimonial-disclaimer")
    assert [(f.severity, f.path, f.line) for f in found] == [("error", TESTIMONIAL, 10)]


def test_health_claim_points_at_the_sentence(workspace: Path) -> None:
    line = append(workspace, ARTICLE, "Weekly massage cures insomnia for good.")
    found = of(run(workspace), "health-claim")
    assert [(f.severity, f.path, f.line) for f in found] == [("warning", ARTICLE, line)]
    assert "Weekly massage cures insomnia for good." in found[0].message


def test_negated_claims_are_not_flagged(workspace: Path) -> None:
    """The example's 'not a cure' wording is the careful kind, not a claim."""
    append(
        workspace,
        ARTICLE,
        "Massage does not cure RLS, and no therapist can guarantee results. "
        "Treat yourself to an hour of rest.",
    )
    assert of(run(workspace), "health-claim") == []


# --- client support -------------------------------------------------------------------------


def test_unsupported_css_in_the_template_is_reported_once_with_clients(workspace: Path) -> None:
    replace_in(
        workspace,
        "templates/email.css",
        ".article { padding: 0 0 8px 0; }",
        ".article { padding: 0 0 8px 0; display: flex; }\n.card p { position: relative; }",
    )
    found = of(run(workspace), "client-support")
    titles = [f.message.split(" does not work")[0] for f in found]
    assert titles == ["display:flex", "position"]
    flex = found[0]
    assert flex.path == "templates/email.css" and flex.severity == "warning"
    assert "Outlook (Windows)" in flex.message and "from the template" in flex.message


def test_unsupported_image_format_from_content_names_the_content_line(workspace: Path) -> None:
    (workspace / "content/images").mkdir(exist_ok=True)
    webp = b"RIFF" + b"\x00" * 4 + b"WEBPVP8X" + b"\x00" * 8 + (99).to_bytes(3, "little") * 2
    (workspace / "content/images/room.webp").write_bytes(webp + b"\x00" * 20)
    line = append(workspace, ARTICLE, "![The treatment room](room.webp)")
    found = [f for f in of(run(workspace), "client-support") if "webP" in f.message]
    assert [(f.path, f.line) for f in found] == [(ARTICLE, line)]
    assert "from the content" in found[0].message


def test_style_block_limits(workspace: Path) -> None:
    """Over 8 KB, nested at-rules and multi-condition media queries each warn."""
    head = workspace / "templates/email-head.css"
    text = head.read_text(encoding="utf-8")
    text += (
        "\n@media (max-width: 620px) and (min-width: 300px) { .card { padding: 0 !important; } }"
    )
    text += "\n@media (max-width: 620px) { @media (prefers-color-scheme: dark) { .card { color: #fff !important; } } }"
    text += "\n.filler-rule-for-size { color: #26302c; }" * 220
    head.write_text(text, encoding="utf-8")
    findings = run(workspace)
    assert len(of(findings, "style-size")) == 1
    assert len(of(findings, "nested-at-rule")) == 1
    assert len(of(findings, "media-query")) == 1


# --- accessibility --------------------------------------------------------------------------


def test_missing_lang_and_dir(workspace: Path) -> None:
    replace_in(
        workspace,
        "templates/email.html",
        '<html lang="{{ config.language }}" dir="{{ config.direction }}"',
        "<html",
    )
    findings = run(workspace)
    for rule in ("lang", "dir"):
        assert [(f.severity, f.path) for f in of(findings, rule)] == [
            ("error", "templates/email.html")
        ]


def test_heading_jump_in_an_article(workspace: Path) -> None:
    line = append(workspace, ARTICLE, "## Stretches\n\nText.\n\n#### Calf stretch\n\nMore text.")
    found = of(run(workspace), "heading-order")
    assert [(f.severity, f.path, f.line) for f in found] == [("error", ARTICLE, line + 4)]


def test_layout_table_without_role(workspace: Path) -> None:
    replace_in(
        workspace,
        "templates/partials/footer.html",
        "<p>{{ config.reason }}</p>",
        "<table><tr><td>{{ config.reason }}</td></tr></table>",
    )
    assert [f.severity for f in of(run(workspace), "layout-table")] == ["error"]


def test_markdown_data_table_is_not_a_layout_table(workspace: Path) -> None:
    append(workspace, ARTICLE, "| Stretch | Hold |\n|---|---|\n| Calf | 30 s |")
    assert of(run(workspace), "layout-table") == []


def test_low_contrast_in_light_scheme(workspace: Path) -> None:
    replace_in(
        workspace,
        "templates/email.css",
        ".footer p { margin: 0 0 12px 0; font-size: 14px; line-height: 21px; background-color: {{ brand.background }}; color: {{ brand.muted }}; }",
        ".footer p { margin: 0 0 12px 0; font-size: 14px; line-height: 21px; background-color: {{ brand.background }}; color: #b0b0b0; }",
    )
    found = of(run(workspace), "contrast")
    assert found and all(f.severity == "error" for f in found)
    assert any(f.message.startswith("light scheme: text #b0b0b0") for f in found)


def test_low_contrast_in_dark_scheme(workspace: Path) -> None:
    replace_in(
        workspace,
        "templates/email-head.css",
        ".card a { color: {{ brand.accent_dark }} !important; }",
        ".card a { color: #2d5a4c !important; }",
    )
    append(
        workspace,
        ARTICLE,
        "See [the NIH overview of restless legs](https://www.ninds.nih.gov/rls).",
    )
    found = of(run(workspace), "contrast")
    assert [f.message.split(":")[0] for f in found] == ["dark scheme"]
    assert "#2d5a4c on #202624" in found[0].message


def test_pure_black_text_fails_and_inverts_badly(workspace: Path) -> None:
    replace_in(
        workspace,
        "templates/email.css",
        ".card .cta-note {",
        ".footer p { color: #000000 !important; background-color: #7a7a7a !important; }\n.card .cta-note {",
    )
    findings = run(workspace)
    assert [f.severity for f in of(findings, "pure-black")] == ["error"]
    assert any(f.message.startswith("inverted colours") for f in of(findings, "contrast"))


def test_small_body_text(workspace: Path) -> None:
    replace_in(
        workspace,
        "templates/email.css",
        ".card .cta-note {",
        ".footer p { font-size: 12px !important; }\n.card .cta-note {",
    )
    found = of(run(workspace), "font-size")
    assert [f.severity for f in found] == ["error"]
    assert "12 px" in found[0].message


# --- a hand-made issue date keeps tests independent of the clock ----------------------------


def test_consent_on_the_issue_date_passes(workspace: Path) -> None:
    def edit(config, rendered):  # type: ignore[no-untyped-def]
        return config, with_issue(rendered, date=dt.date(2023, 1, 1))

    assert of(run(workspace, edit=edit), "testimonial-consent") == []


def test_a_rule_registered_in_its_family_runs_with_the_others(workspace: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Adding a rule is one decorated function in its family's module; check_rendered runs it."""
    from newsletter.check import rules
    from newsletter.check.base import WARNING, Email

    rules.rules()  # import every family first, so their rules are in the copy
    monkeypatch.setattr(rules, "_OFFLINE", {k: list(v) for k, v in rules._OFFLINE.items()})

    def extra(email: Email) -> list[Finding]:
        return [email.finding("extra", WARNING, (ISSUE, 1), "an extra rule ran", "none")]

    extra.__module__ = "newsletter.check.rules.text"
    rules.rule(extra)
    assert [f.rule for f in of(run(workspace), "extra")] == ["extra"]
    assert set(rules.FAMILIES) == {
        p.stem for p in Path(rules.__file__).parent.glob("*.py") if p.stem != "__init__"
    }
