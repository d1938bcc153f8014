"""One recipient never stops the send, and no SMTP fault but a 5xx fails a message.

Every test judges by the sink's own record (what a real aiosmtpd server accepted) and the
ledger, with faults injected at the server: 452 after N messages per connection, 4xx at
MAIL FROM, servers with and without SMTPUTF8, and names and addresses from anywhere.
"""

from __future__ import annotations

import csv
import email
import email.policy
import io
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from smtp_sink import Sink
from static_site import configure

from newsletter.build import pipeline as build
from newsletter.mail import database, subscribers
from newsletter.mail import send as sending
from newsletter.mail.csvimport import import_csv
from newsletter.workspace import Paths

SECRET = "test-secret-not-for-production-use"
FAST = sending.SendOptions(retry_after=0.05, retry_cap=0.2)


@pytest.fixture(autouse=True)
def _own_sender(workspace: Path) -> None:
    """A live send refuses the example's reserved sender and asks base_url for the web
    version (test_send_preflight); these tests are about sending, so they send as a
    real-looking domain, with --offline."""
    configure(workspace, sender="dustin@sample-bodywork.net")


def job(root: Path, sink: Sink) -> sending.Job:
    config, rendered = build.render_workspace(Paths(root), "2026-12")
    config = config._replace(
        smtp=config.smtp._replace(host=sink.host, port=sink.port, security="none", timeout=5)
    )
    return sending.Job(
        Paths(root).database, config, rendered, "live", SECRET, sending.smtp_transports(config, "")
    )


def add(root: Path, *people: tuple[str, str]) -> None:
    conn = database.connect(Paths(root).database)
    try:
        for address, name in people:
            subscribers.add(conn, address, name=name, consent="test fixture")
    finally:
        conn.close()


def readers(n: int) -> list[tuple[str, str]]:
    return [(f"reader{i}@example.org", f"Reader {i}") for i in range(n)]


def test_452_after_three_messages_per_connection_never_fails_anyone(workspace: Path) -> None:
    """The server takes three messages per connection, then says 452: the send reconnects
    and everyone gets the issue once, with nothing failed (it used to fail the rest)."""
    add(workspace, *readers(10))
    with Sink(per_connection=3) as sink:
        summary = sending.execute(job(workspace, sink), FAST)
    assert sink.counts() == {f"reader{i}@example.org": 1 for i in range(10)}
    assert (summary.counts["sent"], summary.counts["failed"], summary.left) == (10, 0, 0)


def test_a_4xx_to_mail_from_defers_and_the_message_goes_later(workspace: Path) -> None:
    """451 and 421 to MAIL FROM are temporary at any stage: deferred, retried, delivered."""
    add(workspace, *readers(3))
    with Sink() as sink:
        sink.fail_mail("451 4.3.0 try again later", "421 4.7.0 too busy")
        summary = sending.execute(job(workspace, sink), FAST)
    assert sink.counts() == {f"reader{i}@example.org": 1 for i in range(3)}
    assert summary.counts["failed"] == 0 and summary.left == 0


def test_deferred_rows_wait_for_the_next_run_which_retries_them(workspace: Path) -> None:
    """A retry further off than the run will wait ends the run with the row deferred (exit
    75 in the CLI); the next `send` retries it at once and delivers it."""
    add(workspace, *readers(3))
    slow_retry = replace(FAST, retry_after=30, retry_cap=30, max_wait=1)
    with Sink() as sink:
        sink.reply_once("reader1@example.org", "450 4.2.1 mailbox busy")
        first = sending.execute(job(workspace, sink), slow_retry)
        assert (first.stopped, first.left, first.counts["deferred"]) == ("deferred", 1, 1)
        second = sending.execute(job(workspace, sink), slow_retry)
    assert (second.sent_now, second.left) == (1, 0)
    assert sink.counts() == {f"reader{i}@example.org": 1 for i in range(3)}


def test_an_international_address_goes_with_smtputf8(workspace: Path) -> None:
    """`zoë@example.com` is accepted by add and delivered with SMTPUTF8, its To header in
    UTF-8 (RFC 6532) naming exactly that address and name."""
    add(workspace, ("zoë@example.com", "Zoë Ünal"), ("ann@example.com", "Ann"))
    with Sink(smtputf8=True) as sink:
        summary = sending.execute(job(workspace, sink), FAST)
        (received,) = [r for r in sink.received if r.recipient == "zoë@example.com"]
    assert summary.counts["sent"] == 2
    parsed = email.message_from_string(received.data.decode("utf-8"), policy=email.policy.SMTPUTF8)
    (to,) = parsed["To"].addresses
    assert (to.display_name, to.addr_spec) == ("Zoë Ünal", "zoë@example.com")


def test_without_smtputf8_that_row_fails_with_the_reason_and_the_rest_go(
    cli, workspace, monkeypatch
):
    """A server without SMTPUTF8 cannot take `zoë@`: that row is failed, saying why; the
    others are sent, and a re-run does not die at that row."""
    add(workspace, ("ann@example.com", "Ann"), ("zoë@example.com", "Zoë"), *readers(2))
    with Sink() as sink:
        for name, value in [("HOST", sink.host), ("PORT", str(sink.port)), ("SECURITY", "none")]:
            monkeypatch.setenv(f"NEWSLETTER_SMTP_{name}", value)
        result = cli("send", "2026-12", "--yes", "--offline")
        again = cli("send", "2026-12", "--yes", "--offline")
    assert result.exit_code == 0, result.output
    assert sorted(sink.counts()) == [
        "ann@example.com",
        "reader0@example.org",
        "reader1@example.org",
    ]
    assert (
        "  failed: zoë@example.com: not sent: the address has non-ASCII characters before the @,"
        f" which need SMTPUTF8, and 127.0.0.1:{sink.port} does not offer it"
    ) in result.stdout
    assert again.exit_code == 0 and "Nothing left to send" in again.stdout


def test_a_message_that_cannot_be_built_is_failed_and_the_send_goes_on(cli, workspace, monkeypatch):
    """An address another tool wrote with a CR/LF in it would add a header: that message
    is not built, its row is failed with the reason, everyone else gets theirs, exit 1."""
    add(workspace, *readers(3))
    conn = database.connect(Paths(workspace).database)
    conn.execute(
        "INSERT INTO subscribers (email, email_key, name, consent, consent_at, created_at,"
        " updated_at) VALUES (?, ?, 'Eve', 'x', '', '', '')",
        ("eve@example.org\r\nBcc: all@example.org",) * 2,
    )
    conn.close()
    with Sink() as sink:
        for name, value in [("HOST", sink.host), ("PORT", str(sink.port)), ("SECURITY", "none")]:
            monkeypatch.setenv(f"NEWSLETTER_SMTP_{name}", value)
        result = cli("send", "2026-12", "--yes", "--offline")
    assert result.exit_code == 1
    assert sorted(sink.counts()) == [f"reader{i}@example.org" for i in range(3)]
    assert "3 sent, 1 failed, 0 skipped, 0 left." in result.stdout
    assert (
        "  failed: eve@example.org??Bcc: all@example.org: the message could not be built: "
        "ValueError: the address 'eve@example.org\\r\\nBcc: all@example.org' holds spaces or "
        "control characters"
    ) in result.stdout
    assert result.stderr.startswith("1 message(s) could not be built and are recorded as failed")


# A NUL byte makes the file binary (import refuses it whole); encoded NULs stay in below.
NAMES = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="\x00"),
    max_size=80,
) | st.sampled_from(
    [
        "=?utf-8?q?F=0D=0ABcc=3A_x=40attacker.test?=",
        "=?utf-8?q?a=00b?=",
        'Zoë "x", y <evil@example.org>',
        "\u202eevil\u2028next",
        "a" * 199,
    ]
)
LOCAL = st.text(
    alphabet=st.characters(categories=["Ll", "Lu", "Lo", "Nd"], max_codepoint=0x30FF),
    min_size=1,
    max_size=12,
)


@pytest.fixture(scope="module")
def shared_sinks():
    with Sink(smtputf8=True) as utf8, Sink() as plain:
        yield {True: utf8, False: plain}


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    people=st.lists(st.tuples(LOCAL, NAMES), min_size=1, max_size=6),
    utf8=st.booleans(),
)
def test_any_name_and_address_that_imports_can_be_sent(
    tmp_path_factory, shared_sinks, people, utf8
) -> None:
    """Arbitrary Unicode names and addresses, from a CSV import through a real send: every
    imported row ends sent (once, To naming its address and cleaned name) or failed with
    a reason; the send always finishes and nothing is left."""
    from conftest import copy_example

    root = copy_example(tmp_path_factory.mktemp("any") / "ws")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["email", "name"])
    for i, (local, name) in enumerate(people):
        writer.writerow([f"{local}{i}@example.org", name])
    (root / "list.csv").write_text(out.getvalue(), encoding="utf-8")
    result = import_csv(Paths(root).database, root / "list.csv", path="list.csv", consent="test")
    conn = database.connect(Paths(root).database)
    stored = {s.email: s.name for s in subscribers.iter_active(conn)}
    conn.close()
    assert result.counts.added == len(stored)
    sink = shared_sinks[utf8]
    before = len(sink.received)
    summary = sending.execute(job(root, sink), FAST)
    assert summary.left == 0 and summary.not_built == []
    assert summary.counts["sent"] + summary.counts["failed"] == len(stored)
    arrived = sink.received[before:]
    assert len(arrived) == summary.counts["sent"]
    for received in arrived:
        message = email.message_from_string(
            received.data.decode("utf-8"), policy=email.policy.SMTPUTF8
        )
        (to,) = message["To"].addresses
        assert to.addr_spec in stored
        assert "".join(to.display_name.split()) == "".join(stored[to.addr_spec].split())
    if utf8:
        assert summary.counts["failed"] == 0
    else:
        assert all("SMTPUTF8" in f.last_reply for f in summary.failures)
