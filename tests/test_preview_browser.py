"""`newsletter preview` in a real headless Chromium: views, phone width, dark contrast, live reload."""

from __future__ import annotations

import re
import struct
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import artifacts_fixture, chrome_fixture, clear_viewport, rgb, set_viewport  # noqa: F401
from conftest import copy_example, running_preview

from newsletter.colors import AA_LARGE, AA_NORMAL, contrast
from newsletter.preview.app import Preview
from newsletter.preview.snapshot import PHONE_WIDTHS
from newsletter.workspace import Paths

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
ISSUE = "content/issues/2026-12.md"
VIEWS = ("desktop", "phone", "dark", "inverted", "images-off", "text", "source", "headers")


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Preview]:
    """One preview of the untouched example workspace for the tests that only look."""
    with running_preview(copy_example(tmp_path_factory.mktemp("shared") / "ws")) as preview:
        yield preview


@pytest.fixture
def browser(chrome: Any) -> Iterator[Any]:
    """The session's Chromium at a 1280 x 1000 desktop viewport, reset after each test."""
    set_viewport(chrome, 1280, 1000)
    yield chrome
    chrome.switch_to.default_content()
    clear_viewport(chrome)
    chrome.get("about:blank")


def until(check: Callable[[], Any], timeout: float = 5.0, step: float = 0.05) -> Any:
    """The first truthy result of `check` (exceptions count as not yet), or fail at the timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as exc:  # stale elements while the page swaps itself
            last = exc
        else:
            if last:
                return last
        time.sleep(step)
    pytest.fail(f"timed out after {timeout} s; last result: {last!r}")


def email_frame_text(driver: Any) -> str:
    """The text of the email iframe's body once it has loaded ('' while it loads)."""
    driver.switch_to.default_content()
    frame = driver.find_element("id", "email")
    driver.switch_to.frame(frame)
    try:
        return driver.execute_script(
            "return document.readyState === 'complete' && document.body ? document.body.innerText : ''"
        )
    finally:
        driver.switch_to.default_content()


def open_view(driver: Any, app: Preview, view: str, width: str = "") -> None:
    driver.get(app.url + f"?view={view}" + (f"&width={width}" if width else ""))
    until(lambda: "live" in driver.find_element("id", "live").get_attribute("class"))
    if driver.find_elements("id", "email"):
        until(lambda: "Notes from the Table" in email_frame_text(driver))


def full_page_screenshot(driver: Any, path: Path, width: int) -> None:
    """The whole document at `width` CSS px, however tall it is."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    set_viewport(driver, width, min(int(height), 8000))
    driver.save_screenshot(str(path))


# --- the page and its views ----------------------------------------------------------------


@pytest.mark.parametrize("view", VIEWS)
def test_each_view_loads_and_is_saved(
    browser: Any, shared: Preview, artifacts: Path, view: str
) -> None:
    """Every view loads with the issue's subject in the inbox line; a screenshot is kept."""
    open_view(browser, shared, view)
    assert "Restless legs at night?" in browser.find_element("css selector", ".inbox").text
    assert browser.find_element("css selector", f'.views a[href="/?view={view}"]').get_attribute(
        "aria-current"
    )
    main = browser.find_element("id", "main").text
    if view == "text":
        assert "Hello Dustin," in browser.find_element("id", "text").text
    elif view == "source":
        assert "<!DOCTYPE html>" in browser.find_element("id", "source").text
    elif view == "headers":
        assert "List-Unsubscribe" in main
    else:
        assert "Hello Dustin," in email_frame_text(browser)
    browser.save_screenshot(str(artifacts / f"preview-{view}.png"))


def test_email_frames_run_no_script_and_page_has_csp(browser: Any, shared: Preview) -> None:
    """The email is sandboxed without scripts; the page's CSP forbids inline script."""
    open_view(browser, shared, "desktop")
    frame = browser.find_element("id", "email")
    sandbox = frame.get_attribute("sandbox")
    assert "allow-scripts" not in sandbox and "allow-same-origin" not in sandbox
    # An inline script injected into the page is refused by the page's CSP.
    browser.execute_script(
        "const s = document.createElement('script'); s.textContent = 'window.__ran = 1';"
        "document.head.appendChild(s);"
    )
    assert browser.execute_script("return window.__ran") is None


@pytest.mark.parametrize("width", PHONE_WIDTHS)
def test_phone_view_has_no_horizontal_scrolling(browser: Any, shared: Preview, width: int) -> None:
    """At every phone preset the email fits its frame: nothing scrolls sideways."""
    open_view(browser, shared, "phone", str(width))
    frame = browser.find_element("id", "email")
    assert frame.size["width"] == width
    browser.switch_to.frame(frame)
    scroll, client = browser.execute_script(
        "const e = document.documentElement; return [e.scrollWidth, e.clientWidth];"
    )
    browser.switch_to.default_content()
    assert client >= width - 20  # a vertical scrollbar at most
    assert scroll <= client, f"{width} px phone: content is {scroll} px wide in {client} px"


@pytest.mark.parametrize("mode", ["light", "dark"])
def test_built_email_fits_a_375_px_viewport(
    browser: Any, shared: Preview, artifacts: Path, mode: str
) -> None:
    """The email itself, opened in a 375 px wide window, has no horizontal scrolling."""
    set_viewport(browser, 375, 812)
    browser.get(shared.url + f"email/{mode}.html")
    until(lambda: browser.execute_script("return document.readyState") == "complete")
    scroll, client, inner = browser.execute_script(
        "const e = document.documentElement; return [e.scrollWidth, e.clientWidth, innerWidth];"
    )
    assert inner == 375
    assert scroll <= client, f"content is {scroll} px wide in a {client} px viewport"
    full_page_screenshot(browser, artifacts / f"email-375-{mode}.png", 375)


def test_built_email_at_desktop_width(browser: Any, shared: Preview, artifacts: Path) -> None:
    """At 800 px the card keeps its 600 px design width, centred."""
    set_viewport(browser, 800, 1000)
    browser.get(shared.url + "email/light.html")
    until(lambda: browser.execute_script("return document.readyState") == "complete")
    card = browser.execute_script(
        "const r = document.querySelector('.container').getBoundingClientRect();"
        "return [r.left, r.width];"
    )
    assert card[1] == 600
    assert card[0] == 100
    full_page_screenshot(browser, artifacts / "email-800-light.png", 800)


# --- dark mode contrast -----------------------------------------------------------------------

TEXT_COLOURS = """
const out = [];
const canvas = getComputedStyle(document.documentElement).backgroundColor;
function background(el) {
  for (let e = el; e; e = e.parentElement) {
    const c = getComputedStyle(e).backgroundColor;
    if (c && c !== 'transparent' && !/rgba\\(.*,\\s*0\\)$/.test(c)) return c;
  }
  return null;
}
for (const el of document.body.querySelectorAll('*')) {
  const own = Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim());
  if (!own || !el.getClientRects().length) continue;
  const style = getComputedStyle(el);
  if (style.visibility === 'hidden' || style.display === 'none' || style.opacity === '0') continue;
  out.push({text: el.textContent.trim().slice(0, 40), tag: el.tagName, color: style.color,
            background: background(el), size: parseFloat(style.fontSize),
            bold: parseInt(style.fontWeight) >= 700});
}
return out;
"""


def test_dark_view_text_keeps_aa_contrast(browser: Any, shared: Preview) -> None:
    """In dark mode every visible text keeps WCAG AA contrast against what is behind it."""
    open_view(browser, shared, "dark", "375")
    browser.switch_to.frame(browser.find_element("id", "email"))
    body_background = rgb(
        browser.execute_script("return getComputedStyle(document.body).backgroundColor")
    )
    samples = browser.execute_script(TEXT_COLOURS)
    browser.switch_to.default_content()
    assert sum(body_background) < 3 * 60, f"the dark view is not dark: body is {body_background}"
    assert len(samples) > 10
    failures = []
    for s in samples:
        behind = rgb(s["background"]) if s["background"] else body_background
        ratio = contrast(rgb(s["color"]), behind)
        large = s["size"] >= 24 or (s["bold"] and s["size"] >= 18.66)
        if ratio < (AA_LARGE if large else AA_NORMAL):
            failures.append(f"{s['tag']} {s['text']!r}: {s['color']} on {behind} = {ratio:.2f}")
    assert not failures, "\n".join(failures)


def test_light_view_ignores_a_dark_operating_system(browser: Any, shared: Preview) -> None:
    """The desktop view stays light even when the browser prefers dark."""
    browser.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": "dark"}]},
    )
    try:
        open_view(browser, shared, "desktop")
        browser.switch_to.frame(browser.find_element("id", "email"))
        card = rgb(
            browser.execute_script(
                "return getComputedStyle(document.querySelector('.card')).backgroundColor"
            )
        )
        browser.switch_to.default_content()
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    from newsletter.colors import parse_hex
    from newsletter.load.config import load_config

    assert card == parse_hex(load_config(shared.paths).brand.surface)


def png(width: int, height: int, colour: tuple[int, int, int] = (196, 120, 84)) -> bytes:
    """A solid-colour PNG, written by hand (no imaging library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + bytes(colour) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


IMAGE_ALT = "A quiet treatment room with a massage table"


@pytest.fixture
def app_with_image(workspace: Path) -> Iterator[Preview]:
    """The example issue with a local picture in the intro (not yet published anywhere)."""
    (workspace / "content" / "images").mkdir(exist_ok=True)
    (workspace / "content" / "images" / "room.png").write_bytes(png(1200, 600))
    issue = workspace / ISSUE
    issue.write_text(
        issue.read_text(encoding="utf-8").replace(
            "Warmly,", f"![{IMAGE_ALT}](room.png)\n\nWarmly,"
        ),
        encoding="utf-8",
    )
    with running_preview(workspace) as preview:
        yield preview


def images(driver: Any) -> list[dict[str, Any]]:
    driver.switch_to.frame(driver.find_element("id", "email"))
    try:
        return driver.execute_script(
            "return Array.from(document.images).map(i => ({src: i.getAttribute('src'),"
            " loaded: i.complete && i.naturalWidth > 0, width: i.getBoundingClientRect().width,"
            " alt: i.alt}))"
        )
    finally:
        driver.switch_to.default_content()


def test_local_images_show_before_they_are_published(
    browser: Any, app_with_image: Preview, artifacts: Path
) -> None:
    """A picture under content/images/ loads in the preview and fits the phone's width."""
    open_view(browser, app_with_image, "phone")
    shown = until(lambda: [i for i in images(browser) if i["loaded"]])
    assert shown[0]["src"] == "/images/room.png"
    assert shown[0]["width"] <= 375
    browser.save_screenshot(str(artifacts / "preview-phone-image.png"))


def test_images_off_view_shows_alt_text_only(
    browser: Any, app_with_image: Preview, artifacts: Path
) -> None:
    """With images off no image loads; the alt text stands in its place."""
    open_view(browser, app_with_image, "images-off", "375")
    found = images(browser)
    assert [i["alt"] for i in found] == [IMAGE_ALT]
    assert not any(i["src"] or i["loaded"] for i in found)
    browser.save_screenshot(str(artifacts / "preview-images-off-375.png"))


# --- live reload ----------------------------------------------------------------------------


def edit(app: Preview, old: str, new: str) -> str:
    path = app.paths.root / ISSUE
    before = path.read_text(encoding="utf-8")
    assert old in before
    path.write_text(before.replace(old, new), encoding="utf-8")
    return before


def test_editing_content_updates_the_page_within_two_seconds(browser: Any, app: Preview) -> None:
    """Saving a file updates the email on screen by itself, without reloading the page."""
    open_view(browser, app, "phone")
    browser.execute_script("window.__same_page = true")
    started = time.monotonic()
    edit(app, "Warmly,", "Warm wishes from the mountain,")
    until(lambda: "Warm wishes from the mountain," in email_frame_text(browser), timeout=2.0)
    elapsed = time.monotonic() - started
    assert elapsed < 2.0
    assert browser.execute_script("return window.__same_page") is True
    assert "aria-current" in browser.find_element(
        "css selector", '.views a[href="/?view=phone"]'
    ).get_attribute("outerHTML")


def test_broken_file_shows_its_error_and_a_fix_recovers(
    browser: Any, app: Preview, artifacts: Path
) -> None:
    """A content error appears in the page with path:line; fixing the file brings the email back."""
    open_view(browser, app, "desktop")
    good = edit(app, 'subject: "Restless', 'subject: ["Restless')
    problems = until(lambda: browser.find_element("id", "problems").text, timeout=2.0)
    assert re.search(rf"{re.escape(ISSUE)}:\d+: ", problems), problems
    assert "The issue does not build" in browser.find_element("id", "main").text
    browser.save_screenshot(str(artifacts / "preview-error.png"))
    (app.paths.root / ISSUE).write_text(good, encoding="utf-8")
    until(lambda: "Hello Dustin," in email_frame_text(browser), timeout=2.0)
    assert not browser.find_elements("id", "problems")


def test_stopped_server_shows_as_disconnected(browser: Any, workspace: Path) -> None:
    """When the preview stops, the open page says it lost the connection."""
    preview = Preview(Paths(workspace), port=0)
    preview.start()
    try:
        browser.get(preview.url)
        until(lambda: "on" in browser.find_element("id", "live").get_attribute("class"))
    finally:
        preview.stop()
    until(lambda: "disconnected" in browser.find_element("id", "live").text, timeout=3.0)
