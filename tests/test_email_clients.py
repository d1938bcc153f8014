"""The email holds for any content in every client: the kitchen-sink issue (every Markdown
construct the README allows, at its widest) in headless Chromium at phone widths, with and
without the <style> block and with the subsets Gmail and Yahoo keep, in light and dark; its
contrast as rendered; its text-mode view in w3m; and what `newsletter check` says about it."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from browser import artifacts_fixture, chrome_fixture, rgb, set_viewport  # noqa: F401
from conftest import REPO

from newsletter import colors
from newsletter.build.pipeline import render_workspace
from newsletter.build.placeholders import export
from newsletter.check import check_rendered
from newsletter.workspace import Paths

KITCHEN_SINK = Path(__file__).parent / "fixtures" / "kitchen-sink"
ARTICLE = "content/articles/kitchen-sink.md"
ISSUE = "content/issues/2027-01.md"
STYLE = re.compile(r"<style[^>]*>.*?</style>", re.DOTALL)


def without_style(html: str) -> str:
    """What Gmail with non-Google accounts keeps: the inline styles only."""
    return STYLE.sub("", html)


VARIANTS = {
    "with <style>": lambda html: html,
    "without <style>": without_style,
    # Gmail drops overflow-wrap (caniemail) as well as the <style> block for these accounts.
    "gmail subset": lambda html: re.sub(r"overflow-wrap:[^;\"']*;?", "", without_style(html)),
    # Yahoo honours word-wrap but neither overflow-wrap nor word-break.
    "yahoo subset": lambda html: re.sub(r"(overflow-wrap|word-break):[^;\"']*;?", "", html),
}


@pytest.fixture(scope="module")
def kitchen_sink(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The kitchen-sink content with the repository's templates."""
    root = tmp_path_factory.mktemp("kitchen-sink")
    shutil.copytree(KITCHEN_SINK / "content", root / "content")
    shutil.copytree(REPO / "templates", root / "templates")
    return root


@pytest.fixture(scope="module")
def sink_html(kitchen_sink: Path) -> str:
    """The finished email as written to dist/, images pointed at the fixture's own files."""
    _, rendered = render_workspace(Paths(kitchen_sink))
    html = export(rendered.html, rendered.nonce, escape_literal=True)
    local = (kitchen_sink / "content" / "images").as_uri() + "/"
    return html.replace("https://news.example.org/issues/2027-01/images/", local)


def load(driver: Any, folder: Path, name: str, html: str, *, width: int, dark: bool) -> None:
    page = folder / name
    page.write_text(html, encoding="utf-8")
    scheme = "dark" if dark else "light"
    driver.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
    )
    set_viewport(driver, width, 800)
    driver.get(page.as_uri())


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS)
def test_kitchen_sink_never_scrolls_sideways_on_a_phone(
    chrome: Any, sink_html: str, tmp_path: Path, artifacts: Path, variant: str
) -> None:
    """A 313-character URL as link text, a 150-character word, a 6-column table, 149-character
    code lines and a 1600 px image leave the page exactly as wide as the phone."""
    html = VARIANTS[variant](sink_html)
    for width in (320, 375):
        for dark in (False, True):
            load(chrome, tmp_path, "email.html", html, width=width, dark=dark)
            scroll = chrome.execute_script("return document.documentElement.scrollWidth")
            where = f"{variant}, {width} px, {'dark' if dark else 'light'}"
            if scroll > width:
                name = re.sub(r"\W+", "-", where)
                chrome.save_screenshot(str(artifacts / f"kitchen-sink-{name}.png"))
            assert scroll == width, f"{where}: the page is {scroll} px wide"


COLOURS_JS = """
function bg(e) {
  for (; e; e = e.parentElement) {
    const c = getComputedStyle(e).backgroundColor;
    if (c && !c.startsWith('rgba(0, 0, 0, 0)') && c !== 'transparent') return c;
  }
  return 'rgb(255, 255, 255)';
}
const out = [];
for (const e of document.querySelectorAll('body *')) {
  if (!e.getClientRects().length) continue;
  const own = [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.replace(/[\\s\\u034f\\u200c]/g, ''));
  if (!own) continue;
  const s = getComputedStyle(e);
  if (s.display === 'none' || s.visibility === 'hidden' || s.opacity === '0') continue;
  out.push([e.tagName + '.' + e.className, s.color, bg(e), parseFloat(s.fontSize),
            parseInt(s.fontWeight), e.textContent.trim().slice(0, 30)]);
}
const buttons = [...document.querySelectorAll('a.button')].map(a => {
  const around = a.closest('table').parentElement;
  return [bg(a), bg(around)];
});
return [out, buttons];
"""


def _hex(css: str) -> str:
    r, g, b = rgb(css)
    return f"#{r:02x}{g:02x}{b:02x}"


def _inverted(colour: str) -> str:
    r, g, b = colors.invert(colors.parse_hex(colour))
    return f"#{r:02x}{g:02x}{b:02x}"


def _failures(texts: list[Any], buttons: list[Any], *, invert: bool = False) -> list[str]:
    def tone(css: str) -> str:
        return _inverted(_hex(css)) if invert else _hex(css)

    failures = []
    for label, fg, back, size, weight, sample in texts:
        large = size >= 24 or (size >= 18.66 and weight >= 700)
        need = colors.AA_LARGE if large else colors.AA_NORMAL
        ratio = colors.contrast(tone(fg), tone(back))
        if ratio < need:
            failures.append(f"{label} '{sample}': {ratio:.2f}:1")
    for fill, around in buttons:
        ratio = colors.contrast(tone(fill), tone(around))
        if ratio < 3:
            failures.append(f"button {fill} on {around}: {ratio:.2f}:1")
    return failures


@pytest.mark.slow
def test_kitchen_sink_text_and_buttons_meet_wcag_as_rendered(
    chrome: Any, sink_html: str, tmp_path: Path
) -> None:
    """Every text element AA (4.5:1, 3:1 when large) and every button 3:1 against the card,
    measured on Chromium's computed colours in light, dark and forced inversion."""
    seen: dict[str, list[str]] = {}
    for dark in (False, True):
        load(chrome, tmp_path, "email.html", sink_html, width=375, dark=dark)
        texts, buttons = chrome.execute_script(COLOURS_JS)
        assert len(texts) > 60 and len(buttons) == 2
        seen["dark" if dark else "light"] = _failures(texts, buttons)
        if not dark:
            seen["inverted"] = _failures(texts, buttons, invert=True)
    assert seen == {"light": [], "dark": [], "inverted": []}


@pytest.mark.slow
def test_dark_button_stands_out_from_the_dark_card(
    chrome: Any, sink_html: str, tmp_path: Path
) -> None:
    """The light accent (#2d5a4c) is about 2:1 on the dark card; dark mode paints the button
    in accent_dark with dark text."""
    load(chrome, tmp_path, "email.html", sink_html, width=375, dark=True)
    fill, text = chrome.execute_script(
        "const a = document.querySelector('a.button'); const s = getComputedStyle(a);"
        "return [s.backgroundColor, s.color];"
    )
    assert (_hex(fill), _hex(text)) == ("#8fd1bb", "#202624")


W3M = shutil.which("w3m")


@pytest.mark.skipif(W3M is None, reason="needs w3m (apt-get install w3m; .ci/run installs it)")
def test_text_mode_view_reads_in_order_and_names_where_buttons_go(
    sink_html: str, tmp_path: Path
) -> None:
    """With CSS ignored (w3m, lynx, Thunderbird's simple HTML) the preview sentence is one
    line, the masthead follows at once, and every button is followed by where it goes."""
    page = tmp_path / "email.html"
    page.write_text(sink_html, encoding="utf-8")
    out = subprocess.run(
        [str(W3M), "-dump", "-cols", "80", "-T", "text/html", "-O", "UTF-8", str(page)],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    # The filler's characters are default-ignorable: a terminal shows nothing for them.
    visible = out.replace("\u034f", "").replace("\u200c", "")
    lines = [line.strip() for line in visible.splitlines() if line.strip()]
    preheader = "A kitchen-sink issue that proves the layout holds for any content, in every"
    assert lines[0] == preheader
    assert lines[1] == "client."  # the preview sentence wraps; no filler follows it
    assert lines[2] == "Notes from the Table"
    buttons = [i for i, line in enumerate(lines) if line == "Book your January session"]
    assert len(buttons) == 2
    for i in buttons:
        assert lines[i + 1] == "Online booking at booking.example.com"
    assert lines.index("Hello %%first_name%%,") < buttons[0] < lines.index("What clients say")


def _located(findings: list[Any], rule: str) -> list[tuple[str, str, int]]:
    return [(f.severity, f.path, f.line) for f in findings if f.rule == rule]


def test_check_reports_the_kitchen_sink_at_its_content_lines(kitchen_sink: Path) -> None:
    """Long words, wide blocks: warnings at the Markdown line that holds them; nothing about
    contrast, dark rules, painting, buttons or anchors, which the template handles."""
    from newsletter.load.loader import load_workspace

    _, rendered = render_workspace(Paths(kitchen_sink))
    findings = check_rendered(load_workspace(Paths(kitchen_sink)), rendered)
    assert _located(findings, "long-word") == [
        ("warning", ARTICLE, 20),  # the 150-character word
        ("warning", ISSUE, 12),  # the 313-character URL as link text, first in the intro
    ]
    assert _located(findings, "wide-block") == [
        ("warning", ARTICLE, 34),  # the 6-column table's header row
        ("warning", ARTICLE, 43),  # the first 149-character code line
    ]
    quiet = {"contrast", "dark-rule", "painted", "button-contrast", "anchor-link"}
    assert [f for f in findings if f.rule in quiet | {"body-attribute"}] == []
