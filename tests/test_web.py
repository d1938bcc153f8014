"""`newsletter serve` against the real server process on 127.0.0.1: unsubscribe, signup,
archive, and the limits and headers around them."""

from __future__ import annotations

import contextlib
import email
import itertools
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import TEST_SECRET, copy_example, write_files
from smtp_sink import Sink
from webserver import Server, cookie, form_token, running_server

from newsletter import tokens
from newsletter.mail import database, subscribers
from newsletter.workspace import Paths

pytestmark = pytest.mark.slow
ONE_CLICK = "List-Unsubscribe=One-Click"
WELCOME = """---
subject: Welcome to Notes from the Table
preheader: What to expect from the newsletter, once a month.
---
Thank you for joining. Once a month you will get one article and a few openings.
"""
_clients = itertools.count(1)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Sink]]:
    """One server (and SMTP sink) for the module; each test uses addresses of its own."""
    root = copy_example(tmp_path_factory.mktemp("web") / "ws")
    write_files(root, {"content/welcome.md": WELCOME})
    with Sink() as sink, running_server(root, smtp_port=sink.port) as server:
        yield server, sink


@pytest.fixture
def server(site: tuple[Server, Sink]) -> Server:
    return site[0]


@pytest.fixture
def sink(site: tuple[Server, Sink]) -> Sink:
    return site[1]


def client() -> dict[str, str]:
    """A header naming a client of its own (the peer, 127.0.0.1, is a trusted proxy); the
    left entry is what a client may claim, the right one what the proxy saw."""
    n = next(_clients)
    return {"X-Forwarded-For": f"198.51.100.9, 203.0.{n // 250}.{n % 250 + 1}"}


def connect(server: Server):  # type: ignore[no-untyped-def]
    return database.connect(Paths(server.root).database)


def add(server: Server, address: str, name: str = "") -> str:
    """Add an active subscriber; returns the token their emails carry."""
    conn = connect(server)
    try:
        subscribers.add(conn, address, name=name, consent="asked in person")
        return tokens.sign_id(subscribers.token_id_for(conn, address) or "", TEST_SECRET)
    finally:
        conn.close()


def row(server: Server, address: str) -> dict[str, object]:
    conn = connect(server)
    try:
        found = conn.execute(
            "SELECT * FROM subscribers WHERE email_key = ?", (address.lower(),)
        ).fetchone()
        return dict(found) if found else {}
    finally:
        conn.close()


def signup_rows(server: Server, address: str) -> int:
    """Confirmation emails queued for the address (the signups table's record of them)."""
    conn = connect(server)
    try:
        return conn.execute(
            "SELECT count(*) FROM signups WHERE email_key = ? AND mailed = 1", (address.lower(),)
        ).fetchone()[0]
    finally:
        conn.close()


def wait_for_mail(sink: Sink, address: str, count: int = 1, timeout: float = 10) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(sink.messages_to(address)) >= count:
            break
        time.sleep(0.05)
    return sink.messages_to(address)


# --- unsubscribe ------------------------------------------------------------------------------


def test_the_one_click_post_exactly_as_gmail_sends_it_unsubscribes(server: Server) -> None:
    """RFC 8058: a form-encoded POST of List-Unsubscribe=One-Click, no cookies, no referrer,
    answers 200 with a page (never a redirect) and records when and how."""
    token = add(server, "gmail@example.org")
    reply = server.request(
        "POST",
        f"/unsubscribe?token={token}",
        ONE_CLICK,
        {
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "Mozilla/5.0 (compatible; Google-Unsubscribe)",
            "Content-Length": str(len(ONE_CLICK)),
        },
    )
    assert reply.status == 200 and not reply.header("location")
    assert "You are unsubscribed" in reply.body
    record = row(server, "gmail@example.org")
    assert record["status"] == "unsubscribed"
    assert record["unsubscribed_via"] == "one-click"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", str(record["unsubscribed_at"]))


def test_the_one_click_post_as_multipart_unsubscribes(server: Server) -> None:
    """Some providers send the one-click body as multipart/form-data."""
    token = add(server, "multipart@example.org")
    body = (
        '--XyZ\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\n'
        "One-Click\r\n--XyZ--\r\n"
    )
    reply = server.request(
        "POST",
        f"/unsubscribe?token={token}",
        body,
        {"Content-Type": "multipart/form-data; boundary=XyZ"},
    )
    assert reply.status == 200
    assert row(server, "multipart@example.org")["unsubscribed_via"] == "one-click"


def test_unsubscribing_twice_is_harmless_and_keeps_the_first_record(server: Server) -> None:
    """Idempotent: the second POST answers the same page and changes nothing."""
    token = add(server, "twice@example.org")
    first = server.post_form(f"/unsubscribe?token={token}", {"List-Unsubscribe": "One-Click"})
    before = row(server, "twice@example.org")
    time.sleep(1.1)
    second = server.post_form(f"/unsubscribe?token={token}", {})
    assert first.status == second.status == 200
    assert second.body == first.body
    assert row(server, "twice@example.org") == before


@pytest.mark.parametrize(
    ("method", "headers"),
    [
        ("GET", {}),
        ("HEAD", {}),
        ("GET", {"Purpose": "prefetch"}),
        ("GET", {"Sec-Purpose": "prefetch;prerender"}),
        ("GET", {"User-Agent": "Microsoft Office/16.0 (Safe Links)"}),
    ],
)
def test_a_get_head_or_prefetch_changes_nothing(
    server: Server, method: str, headers: dict[str, str]
) -> None:
    """Link scanners open every link: the page shows one button and the list stays as it was."""
    address = f"scanned-{method.lower()}-{len(headers)}-{abs(hash(str(headers))) % 997}@example.org"
    token = add(server, address)
    before = row(server, address)
    reply = server.request(method, f"/unsubscribe?token={token}", headers=headers)
    assert reply.status == 200
    if method == "GET":
        assert reply.body.count("<button") == 1
        assert address not in reply.body  # the address is partly masked
        assert "sc•••@ex•••.org" in reply.body
        assert f'action="/unsubscribe?token={token}"' in reply.body
    assert row(server, address) == before


def _forgeries(token: str) -> list[str]:
    version, ident, signature = token.split(".")
    flipped = ident[:-1] + ("0" if ident[-1] != "0" else "1")
    return [
        "",
        token[:-1],
        token[:-8],
        f"{version}.{flipped}.{signature}",
        f"{version}.{ident}.{signature[:-2]}AA",
        tokens.sign_id(ident, "another-secret"),
        tokens.sign_id(ident, TEST_SECRET, purpose="confirm"),
        tokens.sign("forged@example.org", "another-secret"),
        "garbage",
    ]


def test_forged_altered_or_truncated_tokens_answer_400_and_change_nothing(server: Server) -> None:
    """Any change to a token, or another secret or purpose, is refused with a page."""
    token = add(server, "forged@example.org")
    before = row(server, "forged@example.org")
    for forged in _forgeries(token):
        for method in ("GET", "POST"):
            reply = server.request(
                method,
                f"/unsubscribe?token={forged}",
                ONE_CLICK if method == "POST" else None,
                {"Content-Type": "application/x-www-form-urlencoded"},
            )
            assert reply.status == 400, (forged, method)
            assert "This link does not work" in reply.body
    assert row(server, "forged@example.org") == before


def test_a_one_click_post_with_an_unexpected_body_still_unsubscribes(server: Server) -> None:
    """The signed token is the request: a provider's odd content type keeps nobody on."""
    token = add(server, "odd.body@example.org")
    reply = server.request(
        "POST", f"/unsubscribe?token={token}", '{"x": 1}', {"Content-Type": "application/json"}
    )
    assert reply.status == 200
    assert row(server, "odd.body@example.org")["status"] == "unsubscribed"


def test_the_generic_link_on_the_web_version_explains_links_are_personal(server: Server) -> None:
    reply = server.request("GET", "/unsubscribe")
    assert reply.status == 400 and "Unsubscribe links are personal" in reply.body


def test_old_format_tokens_in_mail_already_sent_still_work(server: Server) -> None:
    """Version 1 tokens (address in base64) stay valid for at least 30 days after upgrading."""
    add(server, "Old.Format@example.org")
    token = tokens.sign("Old.Format@example.org", TEST_SECRET)
    assert token.startswith("1.")
    reply = server.post_form(f"/unsubscribe?token={token}", {"List-Unsubscribe": "One-Click"})
    assert reply.status == 200
    assert row(server, "old.format@example.org")["status"] == "unsubscribed"


def test_the_unsubscribed_page_offers_to_subscribe_again_through_confirmation(
    server: Server, sink: Sink
) -> None:
    """ "Subscribe again" mails a confirmation link; the address stays unsubscribed until then."""
    token = add(server, "regret@example.org", "Regret")
    page = server.post_form(f"/unsubscribe?token={token}", {})
    action = re.search(r'action="(/resubscribe\?token=[^"]+)"', page.body)
    assert action
    reply = server.request("POST", action.group(1), "", client())
    assert reply.status == 200 and "Check your inbox" in reply.body
    (message,) = wait_for_mail(sink, "regret@example.org")
    assert row(server, "regret@example.org")["status"] == "unsubscribed"
    confirm_link = _confirm_link(message)
    assert server.request("POST", confirm_link).status == 200
    assert row(server, "regret@example.org")["status"] == "active"


# --- signup -----------------------------------------------------------------------------------


def _signup(server: Server, address: str, name: str = "", **extra: str):  # type: ignore[no-untyped-def]
    form = server.request("GET", "/subscribe")
    fields = {
        "email": address,
        "name": name,
        "consent": "yes",
        "form_token": form_token(form.body),
        "website": "",
        **extra,
    }
    return server.post_form("/subscribe", fields, Cookie=cookie(form), **client())


def _parts(message: email.message.Message) -> dict[str, str]:
    return {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in message.walk()
        if not part.is_multipart()
    }


def _confirm_link(message: email.message.Message) -> str:
    text = _parts(message)["text/plain"]
    found = re.search(r"https://news\.example\.org(/confirm\?token=[A-Za-z0-9._-]+)", text)
    assert found, text
    return found.group(1)


def test_signup_end_to_end_with_double_opt_in(server: Server, sink: Sink) -> None:
    """Form, "check your inbox", a confirmation email built like an issue (text and HTML,
    the same footer), a confirm page whose GET changes nothing, and a POST that activates
    and records the consent; then the welcome email from content/welcome.md."""
    reply = _signup(server, "new.reader@example.org", "Nina")
    assert reply.status == 200 and "Check your inbox" in reply.body
    assert row(server, "new.reader@example.org") == {}
    (message,) = wait_for_mail(sink, "new.reader@example.org")
    assert message["Subject"] == "Please confirm your subscription to Notes from the Table"
    assert message["To"] == "Nina <new.reader@example.org>"
    assert message.get_content_type() == "multipart/alternative"
    parts = _parts(message)
    assert set(parts) == {"text/plain", "text/html"}
    for body in parts.values():
        assert "Example Street, Suite 0" in body  # the footer
        assert "Unsubscribe" in body and "Hello Nina," in body
        assert "https://news.example.org/issues/confirm" not in body
    assert "List-Unsubscribe=One-Click" in message["List-Unsubscribe-Post"]
    assert "new.reader" not in message["List-Unsubscribe"]
    link = _confirm_link(message)
    assert ">Yes, subscribe me<" in parts["text/html"]

    for method in ("GET", "HEAD"):
        assert server.request(method, link).status == 200
    page = server.request("GET", link)
    assert page.body.count("<button") == 1
    assert row(server, "new.reader@example.org") == {}

    done = server.request("POST", link)
    assert done.status == 200 and "You are subscribed" in done.body
    record = row(server, "new.reader@example.org")
    assert record["status"] == "active" and record["name"] == "Nina"
    assert record["consent"] == (
        "Yes, email me the newsletter. I can unsubscribe at any time with the link in every "
        "email. (web form, confirmed by email)"
    )
    assert record["source"] == "web form" and record["consent_at"]
    messages = wait_for_mail(sink, "new.reader@example.org", 2)
    assert messages[1]["Subject"] == "Welcome to Notes from the Table"
    assert "Thank you for joining" in _parts(messages[1])["text/plain"]
    assert server.request("POST", link).status == 200  # idempotent
    time.sleep(0.3)
    assert len(sink.messages_to("new.reader@example.org")) == 2  # one welcome only


def test_the_same_answer_whether_new_listed_or_unsubscribed(server: Server, sink: Sink) -> None:
    """Nobody can probe the list: the status and the page are identical in every case."""
    add(server, "listed@example.org")
    gone = add(server, "gone@example.org")
    server.post_form(f"/unsubscribe?token={gone}", {})
    replies = [
        _signup(server, a) for a in ("fresh@example.org", "listed@example.org", "gone@example.org")
    ]
    assert {r.status for r in replies} == {200}
    assert replies[0].body == replies[1].body == replies[2].body
    wait_for_mail(sink, "gone@example.org")
    assert len(wait_for_mail(sink, "fresh@example.org")) == 1
    assert sink.messages_to("listed@example.org") == []  # already active: nothing to confirm
    assert row(server, "gone@example.org")["status"] == "unsubscribed"


def test_list_bombing_sends_at_most_three_confirmations(server: Server, sink: Sink) -> None:
    """Thirty signups of one victim's address, from many clients: at most three emails."""
    for _ in range(30):
        assert _signup(server, "victim@example.org").status == 200
    assert signup_rows(server, "victim@example.org") == 3
    time.sleep(1.0)
    assert len(wait_for_mail(sink, "victim@example.org", 3)) == 3


def test_the_confirmation_email_can_stop_further_confirmations(server: Server, sink: Sink) -> None:
    """ "Not me": the confirmation email's unsubscribe link stops confirmations to it."""
    _signup(server, "not.me@example.org")
    (message,) = wait_for_mail(sink, "not.me@example.org")
    url = re.search(
        r"<https://news\.example\.org(/unsubscribe\?token=[^>]+)>",
        re.sub(r"\s+", "", message["List-Unsubscribe"]),
    )
    assert url
    assert "confirmation emails" in server.request("GET", url.group(1)).body
    assert server.post_form(url.group(1), {"List-Unsubscribe": "One-Click"}).status == 200
    assert server.request("POST", _confirm_link(message)).status == 400
    _signup(server, "not.me@example.org")
    assert signup_rows(server, "not.me@example.org") == 1
    time.sleep(0.5)
    assert len(sink.messages_to("not.me@example.org")) == 1
    assert row(server, "not.me@example.org") == {}


def test_the_signup_form_needs_its_form_token(server: Server, sink: Sink) -> None:
    """A post without the token, with another browser's token, or from Origin: null without
    one gets the form again (403) and sends nothing."""
    form = server.request("GET", "/subscribe")
    good = form_token(form.body)
    fields = {"email": "csrf@example.org", "consent": "yes"}
    cases = [
        ({}, {}),
        ({"form_token": good}, {}),
        ({"form_token": good}, {"Cookie": "nl_form=someone-else"}),
        ({}, {"Cookie": cookie(form), "Origin": "null"}),
        ({}, {"Origin": "https://evil.example.net"}),
    ]
    for extra, headers in cases:
        reply = server.post_form("/subscribe", {**fields, **extra}, **headers, **client())
        assert reply.status == 403, (extra, headers)
        assert "The form had expired" in reply.body
    assert signup_rows(server, "csrf@example.org") == 0
    time.sleep(0.3)
    assert sink.messages_to("csrf@example.org") == []


def test_a_filled_honeypot_gets_the_same_answer_and_no_email(server: Server, sink: Sink) -> None:
    reply = _signup(server, "bot@example.org", website="http://spam.example.net")
    assert reply.status == 200 and "Check your inbox" in reply.body
    assert signup_rows(server, "bot@example.org") == 0
    time.sleep(0.5)
    assert sink.messages_to("bot@example.org") == []


def test_an_invalid_address_or_missing_consent_shows_the_form_again(server: Server) -> None:
    """Labelled, with the mistake said in words and the field marked invalid."""
    bad = _signup(server, "not-an-address")
    assert bad.status == 400 and 'aria-invalid="true" aria-describedby="email-error"' in bad.body
    no_consent = _signup(server, "ok@example.org", consent="")
    assert no_consent.status == 400 and "tick the box" in no_consent.body


def test_a_client_gets_at_most_ten_signups_an_hour(server: Server) -> None:
    """The eleventh post from one client address is refused with 429."""
    headers = {"X-Forwarded-For": "192.0.2.99"}
    form = server.request("GET", "/subscribe")
    fields = {"email": "many@example.org", "consent": "yes", "form_token": form_token(form.body)}
    statuses = [
        server.post_form("/subscribe", fields, Cookie=cookie(form), **headers).status
        for _ in range(11)
    ]
    assert statuses == [200] * 10 + [429]


def _raw_post(server: Server, head: str, body: bytes) -> str:
    """Send a request over a bare socket, tolerating a server that answers and closes early."""
    import socket

    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head.encode())
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(body)
        received = b""
        try:
            while b"\r\n\r\n" not in received and (chunk := sock.recv(65536)):
                received += chunk
        except ConnectionResetError:
            pass
    return received.decode("latin-1").split("\r\n", 1)[0]


def test_forwarded_for_from_an_untrusted_peer_is_ignored(tmp_path: Path) -> None:
    """With the proxy configured elsewhere, a client naming a new address in X-Forwarded-For
    each time is still one client (the peer) to the limits."""
    root = copy_example(tmp_path / "ws")
    config = root / "content/newsletter.toml"
    config.write_text(
        config.read_text() + '\n[web]\ntrusted_proxies = ["10.9.9.9"]\nsignups_per_hour = 2\n'
    )
    with running_server(root) as server:
        form = server.request("GET", "/subscribe")
        fields = {
            "email": "spoof@example.org",
            "consent": "yes",
            "form_token": form_token(form.body),
        }
        statuses = [
            server.post_form(
                "/subscribe", fields, Cookie=cookie(form), **{"X-Forwarded-For": f"192.0.2.{n}"}
            ).status
            for n in range(3)
        ]
    assert statuses == [200, 200, 429]


def test_large_posts_are_refused(server: Server) -> None:
    """A 2 MB post is refused with 413, whether it says its length or is sent chunked."""
    big = b"email=" + b"a" * (2 * 1024 * 1024)
    common = (
        "POST /subscribe HTTP/1.1\r\nHost: news.example.org\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
    )
    sized = _raw_post(server, f"{common}Content-Length: {len(big)}\r\n\r\n", big)
    assert sized.startswith("HTTP/1.1 413")
    chunks = (
        b"".join(
            b"%x\r\n%s\r\n" % (len(big[i : i + 65536]), big[i : i + 65536])
            for i in range(0, len(big), 65536)
        )
        + b"0\r\n\r\n"
    )
    chunked = _raw_post(server, f"{common}Transfer-Encoding: chunked\r\n\r\n", chunks)
    assert chunked.startswith("HTTP/1.1 413")


# --- archive, headers, hosts ------------------------------------------------------------------


def test_every_response_carries_the_security_headers(server: Server) -> None:
    for path in ("/", "/subscribe", "/unsubscribe?token=x", "/nowhere", "/feed.xml"):
        reply = server.request("GET", path)
        assert reply.header("Referrer-Policy") == "no-referrer", path
        assert "frame-ancestors 'none'" in reply.header("Content-Security-Policy"), path
        assert reply.header("X-Content-Type-Options") == "nosniff", path


def test_a_host_other_than_base_urls_is_refused(server: Server) -> None:
    assert server.request("GET", "/subscribe", host="evil.example.net").status == 400
    assert server.request("GET", "/subscribe", host="news.example.org:443").status == 200


def test_a_welcome_email_mistake_stops_the_start_with_path_and_line(cli, write) -> None:
    """The emails are rendered when the service starts: a mistake is reported at once."""
    write({"content/welcome.md": "---\npreheader: no subject\n---\nHello.\n"})
    result = cli("serve", "--port", "1")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "content/welcome.md:1: subject: the welcome email needs a subject",
        "Found 1 error.",
    ]


def test_the_archive_is_served_with_caching_headers(tmp_path: Path) -> None:
    """dist/: the archive index, each issue's web version, images and the Atom feed, with
    validators; the sample .eml (the sender's own copy) is not published."""
    from newsletter.build.pipeline import build

    root = copy_example(tmp_path / "ws")
    build(Paths(root))
    with running_server(root) as server:
        index = server.request("GET", "/")
        assert index.status == 200 and "issues/2026-12/" in index.body
        assert index.header("Cache-Control") == "public, max-age=300"
        page = server.request("GET", "/issues/2026-12/")
        assert page.status == 200 and "Restless legs" in page.body
        etag = page.header("ETag")
        assert (
            server.request("GET", "/issues/2026-12/", headers={"If-None-Match": etag}).status == 304
        )
        feed = server.request("GET", "/feed.xml")
        assert feed.header("Content-Type").startswith("application/atom+xml")
        for image in (root / "dist/issues/2026-12/images").rglob("*.*"):
            rel = image.relative_to(root / "dist").as_posix()
            assert (
                server.request("GET", f"/{rel}").header("Cache-Control") == "public, max-age=604800"
            )
        for hidden in ("/issues/2026-12/message.eml", "/issues/2026-12/email.html", "/.env"):
            assert server.request("GET", hidden).status == 404, hidden


@pytest.mark.parametrize(
    "path", ["//evil.example.net/", "/\\evil.example.net", "/%2F%2Fevil.example.net"]
)
def test_no_path_redirects_to_another_site(server: Server, path: str) -> None:
    reply = server.request("GET", path)
    location = reply.header("Location")
    assert "evil" not in location
