"""The service's pages in headless Chromium: 375 px and desktop, light and dark, readable,
and a signup and an unsubscribe done through the browser's own forms."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import artifacts_fixture, chrome_fixture, clear_viewport, rgb, set_viewport  # noqa: F401
from conftest import TEST_SECRET, copy_example
from smtp_sink import Sink
from webserver import Server, running_server

from newsletter import tokens
from newsletter.colors import AA_LARGE, AA_NORMAL, contrast
from newsletter.mail import database, subscribers
from newsletter.workspace import Paths

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Every visible piece of text with its colour and the first opaque background behind it.
TEXTS = """
const found = [];
const behind = el => {
  for (let e = el; e; e = e.parentElement) {
    const c = getComputedStyle(e).backgroundColor;
    if (c && !/rgba\\(.*,\\s*0\\)$/.test(c) && c !== 'transparent') return c;
  }
  return getComputedStyle(document.documentElement).backgroundColor;
};
for (const el of document.body.querySelectorAll('*')) {
  const text = Array.from(el.childNodes).filter(n => n.nodeType === 3).map(n => n.textContent).join('').trim();
  if (!text || !el.getClientRects().length || el.closest('.trap')) continue;
  const s = getComputedStyle(el);
  found.push({text: text.slice(0, 30), color: s.color, background: behind(el),
              size: parseFloat(s.fontSize), bold: parseInt(s.fontWeight) >= 700});
}
return found;
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Sink]]:
    """A workspace whose base_url is the loopback address the browser uses."""
    root = copy_example(tmp_path_factory.mktemp("webbrowser") / "ws")
    config = root / "content/newsletter.toml"
    config.write_text(
        config.read_text()
        .replace('base_url = "https://news.example.org"', 'base_url = "http://127.0.0.1"')
        .replace(
            'url = "https://news.example.org/unsubscribe"', 'url = "https://127.0.0.1/unsubscribe"'
        )
    )
    with Sink() as sink, running_server(root, smtp_port=sink.port) as server:
        yield server, sink


def url(server: Server, path: str) -> str:
    return f"http://127.0.0.1:{server.port}{path}"


def scheme(chrome: Any, dark: bool) -> None:
    features = [{"name": "prefers-color-scheme", "value": "dark" if dark else "light"}]
    chrome.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": features})


def assert_readable(chrome: Any, width: int) -> None:
    """No sideways scrolling at this width, and every text passes WCAG AA."""
    scroll = chrome.execute_script("return document.documentElement.scrollWidth")
    assert scroll <= width, f"{scroll} px wide at {width} px"
    failures = []
    for item in chrome.execute_script(TEXTS):
        ratio = contrast(rgb(item["color"]), rgb(item["background"]))
        large = item["size"] >= 24 or (item["bold"] and item["size"] >= 18.66)
        if ratio < (AA_LARGE if large else AA_NORMAL):
            failures.append(
                f"{item['text']!r}: {item['color']} on {item['background']} {ratio:.2f}"
            )
    assert not failures, "\n".join(failures)


def unsubscribe_link(server: Server, address: str) -> str:
    conn = database.connect(Paths(server.root).database)
    try:
        if subscribers.get(conn, address) is None:
            subscribers.add(conn, address, consent="asked in person")
        ident = subscribers.token_id_for(conn, address) or ""
    finally:
        conn.close()
    return f"/unsubscribe?token={tokens.sign_id(ident, TEST_SECRET)}"


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
@pytest.mark.parametrize("width", [375, 1280])
def test_pages_read_well_at_phone_and_desktop_width(
    chrome: Any, artifacts: Path, site: tuple[Server, Sink], width: int, dark: bool
) -> None:
    """The signup, unsubscribe and error pages at 375 px and desktop, light and dark."""
    server = site[0]
    set_viewport(chrome, width, 900)
    scheme(chrome, dark)
    try:
        pages = {
            "subscribe": "/subscribe",
            "unsubscribe": unsubscribe_link(server, "reader.browser@example.org"),
            "invalid": "/unsubscribe?token=2.nope",
        }
        for name, path in pages.items():
            chrome.get(url(server, path))
            assert chrome.execute_script("return document.documentElement.lang") == "en"
            assert_readable(chrome, width)
            mode = "dark" if dark else "light"
            chrome.save_screenshot(str(artifacts / f"web-{name}-{width}-{mode}.png"))
        background = rgb(
            chrome.execute_script("return getComputedStyle(document.body).backgroundColor")
        )
        assert (sum(background) < 180) == dark
    finally:
        scheme(chrome, False)
        clear_viewport(chrome)


def test_a_signup_submitted_through_the_browser(
    chrome: Any, artifacts: Path, site: tuple[Server, Sink]
) -> None:
    """Labelled fields, the consent box, the button: the browser's own post, with its cookie
    and form token, reaches "check your inbox" and a confirmation email goes out."""
    server, sink = site
    set_viewport(chrome, 375, 900)
    try:
        chrome.get(url(server, "/subscribe"))
        for field in ("email", "name", "consent"):
            label = chrome.find_element("css selector", f"label[for={field}]")
            assert label.text.strip()
        chrome.find_element("id", "email").send_keys("browser.signup@example.org")
        chrome.find_element("id", "name").send_keys("Bea")
        chrome.find_element("id", "consent").click()
        chrome.find_element("css selector", "button[type=submit]").click()
        deadline = time.monotonic() + 10
        while "Check your inbox" not in chrome.page_source and time.monotonic() < deadline:
            time.sleep(0.05)
        chrome.save_screenshot(str(artifacts / "web-check-inbox-375.png"))
        assert "Check your inbox" in chrome.page_source
        while not sink.messages_to("browser.signup@example.org") and time.monotonic() < deadline:
            time.sleep(0.05)
        (message,) = sink.messages_to("browser.signup@example.org")
        assert message["To"] == "Bea <browser.signup@example.org>"
    finally:
        clear_viewport(chrome)


def test_unsubscribing_with_the_pages_button(
    chrome: Any, artifacts: Path, site: tuple[Server, Sink]
) -> None:
    server = site[0]
    link = unsubscribe_link(server, "button.click@example.org")
    set_viewport(chrome, 375, 900)
    try:
        chrome.get(url(server, link))
        chrome.find_element("css selector", "button[type=submit]").click()
        deadline = time.monotonic() + 10
        while "You are unsubscribed" not in chrome.page_source and time.monotonic() < deadline:
            time.sleep(0.05)
        chrome.save_screenshot(str(artifacts / "web-unsubscribed-375.png"))
        assert "You are unsubscribed" in chrome.page_source
    finally:
        clear_viewport(chrome)
    conn = database.connect(Paths(server.root).database)
    found = subscribers.get(conn, "button.click@example.org")
    via = conn.execute(
        "SELECT unsubscribed_via FROM subscribers WHERE email_key = 'button.click@example.org'"
    ).fetchone()[0]
    conn.close()
    assert found is not None and found.status == "unsubscribed" and via == "web page"
