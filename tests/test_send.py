"""Sending to a real SMTP server on loopback: every active subscriber once, faults survived."""

from __future__ import annotations

import email.header
import email.policy
import re
import ssl
import time
from dataclasses import replace

import pytest
from conftest import copy_example
from hypothesis import given, settings
from hypothesis import strategies as st
from smtp_sink import Sink, self_signed, server_tls

from newsletter import tokens
from newsletter.build import mime
from newsletter.build import pipeline as build
from newsletter.build.recipient import make_recipient
from newsletter.errors import NewsletterError
from newsletter.mail import database, ledger, subscribers
from newsletter.mail import send as sending
from newsletter.workspace import Paths

SECRET = "test-secret-not-for-production-use"
FAST = sending.SendOptions(retry_after=0.05, retry_cap=0.2)


def add(paths: Paths, *people: tuple[str, str]) -> None:
    conn = database.connect(paths.database)
    try:
        for address, name in people:
            subscribers.add(conn, address, name=name, consent="test fixture")
    finally:
        conn.close()


def people(n: int) -> list[tuple[str, str]]:
    return [(f"reader{i}@example.org", f"Reader {i}") for i in range(n)]


def job(
    paths: Paths,
    issue,
    sink: Sink,
    *,
    scope: str = "live",
    security: str = "none",
    recipients=(),
    prefix: str = "",
    **smtp,
) -> sending.Job:
    config, rendered = issue
    config = config._replace(
        smtp=config.smtp._replace(
            host=sink.host, port=sink.port, security=security, timeout=5, **smtp
        ),
    )
    return sending.Job(
        paths.database,
        config,
        rendered,
        scope,
        SECRET,
        sending.smtp_transports(config, ""),
        recipients=list(recipients),
        subject_prefix=prefix,
    )


def states(paths: Paths, issue_id: str = "2026-12", scope: str = "live") -> dict[str, int]:
    conn = database.connect(paths.database)
    try:
        return ledger.Ledger(conn, issue_id, scope).counts()
    finally:
        conn.close()


def status_of(paths: Paths, address: str) -> str:
    conn = database.connect(paths.database)
    try:
        found = subscribers.get(conn, address)
        assert found is not None
        return found.status
    finally:
        conn.close()


def test_every_active_subscriber_gets_one_personal_message(paths, issue) -> None:
    """One message each, addressed to them, with a stable unique Message-ID, list headers and
    a List-Unsubscribe token that is opaque and resolves to their own address."""
    add(paths, *people(12), ("left@example.org", "Left"))
    conn = database.connect(paths.database)
    subscribers.mark_unsubscribed(conn, "left@example.org")
    conn.close()
    with Sink() as sink:
        summary = sending.execute(job(paths, issue, sink), FAST)
    assert summary.counts["sent"] == 12 and summary.left == 0
    counts = sink.counts()
    assert counts == {f"reader{i}@example.org": 1 for i in range(12)}
    ids = set()
    for i in range(12):
        (msg,) = sink.messages_to(f"reader{i}@example.org")
        assert msg["To"] == f"Reader {i} <reader{i}@example.org>"
        ids.add(msg["Message-ID"])
        assert msg["List-Id"] == "Notes from the Table <notes.news.example.org>"
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        unsub = re.sub(r"\s+", "", msg["List-Unsubscribe"])
        url, mailto = re.findall(r"<([^>]+)>", unsub)
        assert url.startswith("https://news.example.org/unsubscribe?token=")
        assert tokens.token_from(url) == tokens.token_from(mailto)
        assert f"reader{i}" not in unsub and "cmVhZGVy" not in unsub  # opaque: no address
        conn = database.connect(paths.database)
        owner = subscribers.by_token(conn, tokens.read(tokens.token_from(url), SECRET))
        conn.close()
        assert owner is not None and owner.email == f"reader{i}@example.org"
        html = next(p for p in msg.walk() if p.get_content_type() == "text/html")
        assert "Reader" in html.get_payload(decode=True).decode()
    assert len(ids) == 12
    assert make_recipient  # the Message-ID is a pure function of issue and address:
    from newsletter.build.mime import message_id

    expected = message_id("2026-12", "reader0@example.org", domain="example.com")
    assert sink.messages_to("reader0@example.org")[0]["Message-ID"] == expected


def test_a_second_run_sends_nothing_more(paths, issue) -> None:
    add(paths, *people(5))
    with Sink() as sink:
        sending.execute(job(paths, issue, sink), FAST)
        again = sending.execute(job(paths, issue, sink), FAST)
    assert again.sent_now == 0 and sum(sink.counts().values()) == 5


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "one-by-one"])
def test_temporary_failures_are_retried_and_permanent_ones_recorded(
    paths, issue, pipelining
) -> None:
    """451 twice then accepted: delivered once. 550 5.1.1: failed with the reply and the
    subscriber marked bounced. 552 (not 5.1.x): failed, still active. The rest go on."""
    add(paths, *people(6))
    with Sink(pipelining=pipelining) as sink:
        sink.reply_once("reader1@example.org", "451 4.7.1 greylisted", "451 4.7.1 greylisted")
        sink.reply_always("reader2@example.org", "550 5.1.1 <reader2@example.org>: user unknown")
        sink.reply_always("reader3@example.org", "552 5.2.2 mailbox full")
        summary = sending.execute(job(paths, issue, sink), FAST)
    assert sink.counts() == {f"reader{i}@example.org": 1 for i in (0, 1, 4, 5)}
    assert summary.counts == {**summary.counts, "sent": 4, "failed": 2, "deferred": 0}
    replies = {e.email: e.last_reply for e in summary.failures}
    assert replies == {
        "reader2@example.org": "550 5.1.1 <reader2@example.org>: user unknown",
        "reader3@example.org": "552 5.2.2 mailbox full",
    }
    assert status_of(paths, "reader2@example.org") == "bounced"
    assert status_of(paths, "reader3@example.org") == "active"


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "one-by-one"])
def test_replies_after_the_message_data_are_classified_too(paths, issue, pipelining) -> None:
    """451 after DATA: retried and delivered. 554 after DATA: failed, not bounced."""
    add(paths, *people(4))
    with Sink(pipelining=pipelining) as sink:
        sink.reply_at_data("reader1@example.org", "451 4.3.0 queue full")
        sink.reply_at_data("reader2@example.org", "554 5.6.0 content rejected")
        summary = sending.execute(job(paths, issue, sink), FAST)
    assert sink.counts() == {f"reader{i}@example.org": 1 for i in (0, 1, 3)}
    assert [(f.email, f.last_reply) for f in summary.failures] == [
        ("reader2@example.org", "554 5.6.0 content rejected")
    ]
    assert status_of(paths, "reader2@example.org") == "active"


def test_a_refused_sender_stops_the_send_with_nothing_marked_sent(paths, issue) -> None:
    """A 5xx to MAIL FROM means no message can go: stop at once, leave the rows to resume."""
    add(paths, *people(3))
    with Sink() as sink:
        j = job(paths, issue, sink)
        j.config = j.config._replace(sender_email="bad@refused.example")
        j.transports = sending.smtp_transports(j.config, "")
        sink.refuse_sender("bad@refused.example", "553 5.7.1 sender not allowed")
        with pytest.raises(NewsletterError, match=r"refused the sender bad@refused\.example"):
            sending.execute(j, FAST)
    assert sink.received == []
    assert states(paths)["pending"] == 3


def test_a_temporary_failure_fails_only_when_the_retry_window_ends(paths, issue) -> None:
    """421 every time: retried on fresh connections until the window (1.5 s here) has passed
    since the first try, then recorded failed with the count, the time and the reply."""
    add(paths, *people(2))
    with Sink() as sink:
        sink.reply_always("reader0@example.org", "421 4.3.2 shutting down")
        summary = sending.execute(job(paths, issue, sink), replace(FAST, retry_window=1.5))
    assert sink.counts() == {"reader1@example.org": 1}
    (failure,) = summary.failures
    assert re.fullmatch(
        r"gave up after \d+ tries over \d s: 421 4\.3\.2 shutting down", failure.last_reply
    )
    assert failure.attempts >= 2


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "one-by-one"])
def test_a_dropped_connection_is_reopened_and_the_message_sent(paths, issue, pipelining) -> None:
    """The server cuts the line after DATA (twice): the send reconnects and delivers."""
    add(paths, *people(5))
    with Sink(pipelining=pipelining) as sink:
        sink.drop_at_data("reader2@example.org", times=2)
        summary = sending.execute(job(paths, issue, sink), FAST)
    assert sink.counts() == {f"reader{i}@example.org": 1 for i in range(5)}
    assert summary.left == 0


def test_a_slow_server_times_out_and_the_message_is_retried(paths, issue) -> None:
    """A reply slower than the timeout counts as temporary: the message goes again later."""
    add(paths, *people(2))
    with Sink(delay=0.6) as sink:
        j = job(paths, issue, sink)
        j.config = j.config._replace(smtp=j.config.smtp._replace(timeout=0.3))
        j.transports = sending.smtp_transports(j.config, "")
        summary = sending.execute(j, replace(FAST, retry_window=0.5))
    # each try timed out, so the server did get copies: timeouts are "may have arrived"
    assert summary.counts["failed"] == 2
    assert all("timed out" in f.last_reply for f in summary.failures)


def test_many_connections_never_take_the_same_row(paths, issue) -> None:
    add(paths, *people(60))
    with Sink() as sink:
        summary = sending.execute(job(paths, issue, sink), replace(FAST, connections=4, batch=4))
    assert sink.counts() == {f"reader{i}@example.org": 1 for i in range(60)}
    assert summary.counts["sent"] == 60


def test_login_failure_stops_before_any_recipient_is_marked(paths, issue) -> None:
    add(paths, *people(3))
    with Sink(login=("dustin", "right")) as sink:
        bad = job(paths, issue, sink, username="dustin")
        bad.transports = sending.smtp_transports(bad.config, "wrong")
        with pytest.raises(NewsletterError) as caught:
            sending.execute(bad, FAST)
        assert sink.received == []
        message = str(caught.value)
        assert message.startswith("smtp: login to 127.0.0.1:")
        assert "535" in message and "nothing was sent and no recipient was marked" in message
        assert sum(states(paths).values()) == 0
        good = job(paths, issue, sink, username="dustin")
        good.transports = sending.smtp_transports(good.config, "right")
        assert sending.execute(good, FAST).counts["sent"] == 3


def test_an_untrusted_certificate_stops_before_any_recipient_is_marked(paths, issue, tmp_path):
    """STARTTLS with a self-signed certificate the client does not trust: one clear line."""
    add(paths, *people(2))
    cert, key = self_signed(tmp_path)
    with Sink(tls_context=server_tls(cert, key)) as sink:
        with pytest.raises(NewsletterError, match="certificate not trusted"):
            sending.execute(job(paths, issue, sink, security="starttls"), FAST)
        assert sink.received == [] and sum(states(paths).values()) == 0
        trusting = job(paths, issue, sink, security="starttls")
        context = ssl.create_default_context(cafile=str(cert))
        trusting.transports = sending.smtp_transports(trusting.config, "", ssl_context=context)
        assert sending.execute(trusting, FAST).counts["sent"] == 2


def test_a_server_without_starttls_is_refused_when_starttls_is_required(paths, issue) -> None:
    add(paths, *people(1))
    with Sink() as sink, pytest.raises(NewsletterError, match="does not offer STARTTLS"):
        sending.execute(job(paths, issue, sink, security="starttls"), FAST)
    assert sum(states(paths).values()) == 0


def test_ssl_against_a_plain_server_is_a_tls_failure(paths, issue) -> None:
    with Sink() as sink, pytest.raises(NewsletterError, match=r"TLS with 127\.0\.0\.1"):
        sending.execute(job(paths, issue, sink, security="ssl"), FAST)


def test_crlf_in_a_name_or_subject_never_adds_a_header(paths, issue) -> None:
    config, rendered = issue
    rendered = rendered._replace(
        issue=rendered.issue._replace(subject="Hello\r\nBcc: victim@example.org")
    )
    add(paths, ("reader@example.org", "Eve\r\nBcc: spy@example.org\nX-Evil: 1"))
    with Sink() as sink:
        sending.execute(job(paths, (config, rendered), sink), FAST)
    (msg,) = sink.messages_to("reader@example.org")
    assert msg["Bcc"] is None and msg["X-Evil"] is None
    raw_headers = sink.received[0].data.split(b"\r\n\r\n")[0]
    assert b"\nBcc:" not in raw_headers and b"\nX-Evil" not in raw_headers
    assert sink.counts() == {"reader@example.org": 1}


def test_names_are_html_escaped_in_the_html_part(paths, issue) -> None:
    add(paths, ("reader@example.org", "<b>Bo</b> & Co"))
    with Sink() as sink:
        sending.execute(job(paths, issue, sink), FAST)
    (msg,) = sink.messages_to("reader@example.org")
    html = next(p for p in msg.walk() if p.get_content_type() == "text/html")
    body = html.get_payload(decode=True).decode()
    assert "<b>Bo</b>" not in body and "&lt;b&gt;Bo&lt;/b&gt;" in body


def test_subscribers_who_join_later_wait_for_include_new(paths, issue) -> None:
    """The list is taken when the send begins; later sign-ups get it only with include_new.
    Someone who unsubscribes before their turn is skipped."""
    add(paths, *people(3))
    with Sink() as sink:
        sending.execute(job(paths, issue, sink), FAST)
        add(paths, ("late@example.org", "Late"))
        assert sending.execute(job(paths, issue, sink), FAST).sent_now == 0
        assert sending.plan(job(paths, issue, sink)).new_subscribers == 1
        summary = sending.execute(job(paths, issue, sink), replace(FAST, include_new=True))
        assert summary.sent_now == 1 and sink.counts()["late@example.org"] == 1


def test_an_address_that_unsubscribed_meanwhile_is_skipped(paths, issue) -> None:
    add(paths, *people(3))
    conn = database.connect(paths.database)
    ledger.Ledger(conn, "2026-12").start()  # the send began (and stopped) earlier
    subscribers.mark_unsubscribed(conn, "reader1@example.org")
    conn.close()
    with Sink() as sink:
        summary = sending.execute(job(paths, issue, sink), FAST)
    assert set(sink.counts()) == {"reader0@example.org", "reader2@example.org"}
    assert summary.counts["skipped"] == 1


def test_a_test_send_is_recorded_apart_from_the_real_one(paths, issue) -> None:
    add(paths, *people(2))
    with Sink() as sink:
        sending.execute(
            job(
                paths,
                issue,
                sink,
                scope="test",
                recipients=[("me@example.com", "")],
                prefix="[TEST] ",
            ),
            FAST,
        )
        (msg,) = sink.messages_to("me@example.com")
        assert str(email.header.make_header(email.header.decode_header(msg["Subject"]))).startswith(
            "[TEST] Restless legs"
        )
        assert states(paths, scope="test")["sent"] == 1
        assert sum(states(paths).values()) == 0
        live = sending.execute(job(paths, issue, sink), FAST)
    assert live.counts["sent"] == 2
    assert msg["Message-ID"] != sink.messages_to("reader0@example.org")[0]["Message-ID"]


def test_a_dry_run_writes_the_messages_it_would_send(paths, issue, tmp_path) -> None:
    add(paths, *people(3))
    config, rendered = issue
    folder = tmp_path / "out"
    dry = sending.Job(
        paths.database, config, rendered, "dry-run", SECRET, sending.directory_transports(folder)
    )
    summary = sending.execute(dry, FAST)
    files = sorted(p.name for p in folder.iterdir())
    assert files == [f"00000{i}-reader{j}@example.org.eml" for i, j in ((1, 0), (2, 1), (3, 2))]
    assert b"To: Reader 0 <reader0@example.org>" in (folder / files[0]).read_bytes()
    assert summary.counts["sent"] == 3 and sum(states(paths).values()) == 0


def test_the_rate_limit_spaces_messages_and_holds_across_runs(paths, issue) -> None:
    add(paths, *people(6))
    options = replace(FAST, rate=10.0)
    with Sink() as sink:
        j = job(paths, issue, sink)
        j.recipients = []
        started = time.monotonic()
        first = sending.execute(j, options)
        middle = time.monotonic()
        add(paths, ("late@example.org", ""))
        sending.execute(job(paths, issue, sink), replace(options, include_new=True))
        ended = time.monotonic()
    assert first.counts["sent"] == 6
    assert middle - started >= 0.45  # 6 messages at 10/s: 5 gaps of 0.1 s
    assert ended - middle >= 0.08  # the next run waits for the slot after the last send


def test_the_daily_limit_stops_the_send_and_holds_across_runs(paths, issue) -> None:
    add(paths, *people(5))
    options = replace(FAST, daily_limit=3)
    with Sink() as sink:
        first = sending.execute(job(paths, issue, sink), options)
        second = sending.execute(job(paths, issue, sink), options)
    assert (first.sent_now, first.stopped, first.left) == (3, "daily limit", 2)
    assert (second.sent_now, second.stopped) == (0, "daily limit")
    assert sum(sink.counts().values()) == 3


@pytest.fixture(scope="module")
def issue_template(tmp_path_factory: pytest.TempPathFactory):
    """The example issue's MessageTemplate, made once for the property test below."""
    root = copy_example(tmp_path_factory.mktemp("ws"))
    config, rendered = build.render_workspace(Paths(root), "2026-12")
    return config, sending.Job(root / "db", config, rendered, "live", SECRET, None).template()


@settings(max_examples=60, deadline=None)
@given(name=st.text(max_size=120).map(subscribers.clean_name), address=st.emails())
def test_per_recipient_bytes_equal_encoding_the_whole_filled_document(
    issue_template, name, address
) -> None:
    """The body is QP-encoded once per issue except the lines holding a field; for any name
    and address the bytes equal those of encoding the whole filled document, and the To
    header names that one address with that name, whatever the name holds."""
    config, template = issue_template
    person = make_recipient(address, name, config=config, secret=SECRET)
    message = template.render(person)
    assert isinstance(message, mime.WireMessage)
    assert not re.search(rb"\r(?!\n)|(?<!\r)\n|\n\.", message) and message[:1] != b"."
    assert template._html_qp.encode(person.values) == mime._qp(template.html.fill(person.values))
    assert template._text_qp.encode(person.values) == mime._qp(template.text.fill(person.values))
    header = mime.address_header("To", person.name, person.address)
    assert all(len(line) <= max(78, len(address) + 8) for line in header.split(b"\r\n"))
    parsed = email.message_from_string(header.decode() + "\r\n", policy=email.policy.SMTPUTF8)
    (only,) = parsed["To"].addresses
    assert only.addr_spec == mime.ascii_domain(address)
    assert "".join(only.display_name.split()) == "".join(mime.clean_header(name).split())


@given(lines=st.lists(st.sampled_from(["", ".", "..", ".x", "x.", "a", "=2E"]), max_size=12))
def test_dot_stuffing_matches_smtplib(lines: list[str]) -> None:
    """Every line-leading dot is doubled, exactly as smtplib's regex does, CRLF or bare LF."""
    from newsletter.mail.smtp import _DOT, stuff_dots

    for separator in (b"\r\n", b"\n"):
        message = separator.join(line.encode() for line in lines)
        assert stuff_dots(message) == _DOT.sub(b"..", message)


_BODY_TEXT = st.text(
    alphabet=st.one_of(st.sampled_from(". .=\t\r\na"), st.characters(codec="utf-8")),
    max_size=600,
)


_NEAR_THE_LIMIT = st.lists(st.sampled_from([".", "x" * 75, "y" * 74, "=", " ", "\n"])).map("".join)
"""Lines that reach 76 characters just as a dot comes: where the re-breaking is needed."""


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(_BODY_TEXT, _NEAR_THE_LIMIT))
def test_the_body_encoding_leaves_smtp_nothing_to_stuff(text: str) -> None:
    """Any body text QP-encodes to CRLF lines of at most 76 characters, none starting with a
    dot, that decode back to the text (line ends as LF): SMTP's dot-stuffing has nothing to
    change, so the message bytes are sent as they are."""
    import binascii

    from newsletter.mail.smtp import stuff_dots

    encoded = mime._qp(text)
    lines = encoded.split(b"\r\n")
    assert all(len(line) <= 76 for line in lines)
    assert not any(line.startswith(b".") for line in lines)
    assert b"\r" not in b"".join(lines) and b"\n" not in b"".join(lines)
    assert stuff_dots(encoded) == encoded
    decoded = binascii.a2b_qp(encoded.replace(b"\r\n", b"\n")).decode("utf-8")
    assert decoded == text.replace("\r\n", "\n").replace("\r", "\n")


@given(address=st.one_of(st.emails(), st.text(max_size=40)))
def test_ascii_addresses_skip_the_idna_codec_with_the_same_result(address: str) -> None:
    """The shortcut for ASCII addresses gives what encoding the domain with IDNA gives."""
    import contextlib

    from newsletter.mail.smtp import envelope_address

    local, _, domain = address.rpartition("@")
    with contextlib.suppress(UnicodeError):
        domain = domain.encode("idna").decode("ascii")
    expected = f"{local}@{domain}"
    assert envelope_address(address) == (expected, not expected.isascii())
    assert mime.ascii_domain(address) == expected


def test_a_batch_finds_each_readers_link_id_as_one_lookup_would(paths) -> None:
    """token_ids_for (one query a batch) agrees with token_id_for for listed addresses in
    any case, and leaves out those not listed."""
    add(paths, ("Ann@Example.org", "Ann"), ("bo@example.org", "Bo"))
    conn = database.connect(paths.database)
    try:
        asked = ["ann@example.ORG", "Ann@Example.org", "bo@example.org", "nobody@example.org"]
        found = subscribers.token_ids_for(conn, asked)
        expected = {a: subscribers.token_id_for(conn, a) for a in asked}
    finally:
        conn.close()
    assert found == {a: t for a, t in expected.items() if t}
    assert len(found) == 3 and len(set(found.values())) == 2


def test_a_resume_notices_changed_content_but_not_a_rebuild(paths, issue, write) -> None:
    """Rebuilding the same content is the same issue; an edited letter is flagged on resume."""
    add(paths, *people(2))
    with Sink() as sink:
        sending.execute(job(paths, issue, sink), sending.SendOptions(daily_limit=1))
        assert not sending.plan(
            job(paths, build.render_workspace(paths, "2026-12"), sink)
        ).content_changed
        text = (paths.root / "content/issues/2026-12.md").read_text()
        write({"content/issues/2026-12.md": text.replace("Warmly,", "Warm wishes,")})
        changed = sending.plan(job(paths, build.render_workspace(paths, "2026-12"), sink))
    assert changed.content_changed and changed.to_send == 1


def test_implicit_tls_with_a_trusted_certificate_sends(paths, issue, tmp_path) -> None:
    """security = "ssl" (port 465 style): TLS from the first byte."""
    add(paths, *people(2))
    cert, key = self_signed(tmp_path)
    with Sink(implicit_tls=server_tls(cert, key)) as sink:
        j = job(paths, issue, sink, security="ssl")
        context = ssl.create_default_context(cafile=str(cert))
        j.transports = sending.smtp_transports(j.config, "", ssl_context=context)
        assert sending.execute(j, FAST).counts["sent"] == 2
    assert len(sink.received) == 2


def test_without_an_https_endpoint_there_is_no_one_click_header(paths, issue) -> None:
    """A mailto-only list still gets List-Unsubscribe, but not List-Unsubscribe-Post."""
    config, rendered = issue
    add(paths, ("reader@example.org", "Reader"))
    with Sink() as sink:
        sending.execute(job(paths, (config._replace(unsubscribe_url=""), rendered), sink), FAST)
    (msg,) = sink.messages_to("reader@example.org")
    assert msg["List-Unsubscribe-Post"] is None
    (mailto,) = re.findall(r"<([^>]+)>", re.sub(r"\s+", "", msg["List-Unsubscribe"]))
    assert mailto.startswith("mailto:unsubscribe@example.com?subject=unsubscribe%202.")
    assert "&body=2." in mailto


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "one-by-one"])
def test_each_row_is_committed_sending_before_its_final_dot(paths, issue, pipelining) -> None:
    """When the server has a message's final dot (and before it answers), the ledger already
    says `sending` for that row, and every earlier row is `sent`: a crash at that moment
    re-sends at most this one message. A 550 on RCPT and a 452 in the middle of the stream
    are recorded against their own rows (failed; deferred, then sent on a retry), never a
    neighbour's."""
    add(paths, *people(8))
    seen: list[tuple[str, dict[str, str]]] = []

    def at_dot(rcpt: str) -> None:
        reader = database.connect(paths.database)
        try:
            rows = reader.execute("SELECT email, state FROM deliveries").fetchall()
        finally:
            reader.close()
        seen.append((rcpt, {email: state for email, state in rows}))

    with Sink(pipelining=pipelining) as sink:
        sink.on_data = at_dot
        sink.reply_always("reader2@example.org", "550 5.1.1 no such user")
        sink.reply_once("reader5@example.org", "452 4.5.3 too many recipients")
        summary = sending.execute(job(paths, issue, sink), FAST)
    delivered = [f"reader{i}@example.org" for i in (0, 1, 3, 4, 6, 7, 5)]
    assert [rcpt for rcpt, _ in seen] == delivered
    for rcpt, ledger_now in seen:
        assert ledger_now[rcpt] == "sending"
        before = delivered[: delivered.index(rcpt)]
        assert all(ledger_now[e] == "sent" for e in before)
        assert list(ledger_now.values()).count("sending") == 1
    assert summary.counts == {**summary.counts, "sent": 7, "failed": 1, "deferred": 0}
    assert [(f.email, f.last_reply) for f in summary.failures] == [
        ("reader2@example.org", "550 5.1.1 no such user")
    ]
