"""The send, status and unsubscribe commands, through Click, against a loopback SMTP sink."""

from __future__ import annotations

from pathlib import Path

import pytest
from smtp_sink import Sink
from static_site import configure

from newsletter import tokens
from newsletter.mail import database, subscribers

SECRET = "test-secret-not-for-production-use"  # conftest sets NEWSLETTER_SECRET to this


@pytest.fixture
def sink(monkeypatch: pytest.MonkeyPatch):
    with Sink() as server:
        monkeypatch.setenv("NEWSLETTER_SMTP_HOST", server.host)
        monkeypatch.setenv("NEWSLETTER_SMTP_PORT", str(server.port))
        monkeypatch.setenv("NEWSLETTER_SMTP_SECURITY", "none")
        yield server


@pytest.fixture(autouse=True)
def _own_sender(workspace: Path) -> None:
    """The example's example.com sender stops a live send (test_send_preflight); these tests
    are about sending, so they send as a real-looking domain, with --offline."""
    configure(workspace, sender="dustin@sample-bodywork.net")


@pytest.fixture
def readers(workspace: Path) -> list[str]:
    conn = database.connect(workspace / "data" / "newsletter.db")
    emails = [f"reader{i}@example.org" for i in range(3)]
    for address in emails:
        subscribers.add(conn, address, name="Reader", consent="test fixture")
    conn.close()
    return emails


def ledger_rows(workspace: Path) -> int:
    conn = database.connect(workspace / "data" / "newsletter.db")
    try:
        return conn.execute("SELECT count(*) FROM deliveries").fetchone()[0]
    finally:
        conn.close()


def test_send_without_a_terminal_or_yes_refuses(cli, sink, readers, workspace) -> None:
    result = cli("send", "2026-12", "--offline")
    assert result.exit_code == 1
    assert "Refusing to send without confirmation: no terminal to ask. Add --yes." in result.stderr
    assert sink.received == [] and ledger_rows(workspace) == 0


def test_send_with_yes_sends_to_everyone_and_summarises(cli, sink, readers) -> None:
    result = cli("send", "2026-12", "--yes", "--offline")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == (
        'Issue 2026-12 "Restless legs at night? How massage can help" -> 3 active '
        "subscriber(s) via 127.0.0.1:" + str(sink.port) + " (none)."
    )
    assert lines[-1].startswith("Sent 3 message(s) in ")
    assert lines[-1].endswith("2026-12 (live): 3 sent, 0 failed, 0 skipped, 0 left.")
    assert sorted(sink.counts()) == readers
    again = cli("send", "2026-12", "--yes", "--offline")
    assert again.exit_code == 0
    assert "Nothing left to send; see `newsletter status 2026-12`." in again.stdout


def test_send_refuses_an_issue_whose_build_fails(cli, sink, readers, write, workspace) -> None:
    text = (workspace / "content/issues/2026-12.md").read_text()
    write({"content/issues/2026-12.md": text.replace("restless-legs-massage", "no-such-article")})
    result = cli("send", "2026-12", "--yes", "--offline")
    assert result.exit_code == 1
    assert "content/issues/2026-12.md:" in result.stderr and "no-such-article" in result.stderr
    assert sink.received == []


def test_a_test_send_goes_only_to_the_given_addresses(cli, sink, readers) -> None:
    result = cli("send", "2026-12", "--test", "me@example.com", "you@example.com")
    assert result.exit_code == 0, result.output
    assert sorted(sink.counts()) == ["me@example.com", "you@example.com"]
    assert sink.messages_to("me@example.com")[0]["Subject"].startswith("[TEST] ")
    status = cli("status", "2026-12")
    assert status.stdout == "2026-12 has not been sent yet.\n"


def test_addresses_without_test_are_a_usage_error(cli, sink) -> None:
    result = cli("send", "2026-12", "me@example.com")
    assert result.exit_code == 2
    assert "addresses go with --test" in result.stderr


def test_status_shows_counts_and_failures_with_the_reply(cli, sink, readers) -> None:
    sink.reply_always("reader1@example.org", "550 5.1.1 no such user")
    assert cli("send", "2026-12", "--yes", "--offline").exit_code == 0
    out = cli("status", "2026-12").stdout.splitlines()
    assert out[0].startswith("2026-12 (live), started ")
    assert out[1:7] == [
        "  pending          0",
        "  in flight        0",
        "  sent             2",
        "  failed           1",
        "  deferred         0",
        "  skipped          0",
    ]
    assert out[7:] == ["Failed:", "  reader1@example.org: 550 5.1.1 no such user"]


def test_a_dry_run_writes_eml_files(cli, sink, readers, tmp_path) -> None:
    result = cli("send", "2026-12", "--dry-run", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "out").glob("*.eml"))) == 3
    assert sink.received == []


def test_a_failed_login_is_one_clear_line(cli, monkeypatch, readers, workspace) -> None:
    with Sink(login=("dustin", "right")) as server:
        monkeypatch.setenv("NEWSLETTER_SMTP_HOST", server.host)
        monkeypatch.setenv("NEWSLETTER_SMTP_PORT", str(server.port))
        monkeypatch.setenv("NEWSLETTER_SMTP_SECURITY", "none")
        monkeypatch.setenv("NEWSLETTER_SMTP_USERNAME", "dustin")
        monkeypatch.setenv("NEWSLETTER_SMTP_PASSWORD", "wrong")
        result = cli("send", "2026-12", "--yes", "--offline")
    assert result.exit_code == 1
    first, count = result.stderr.splitlines()[-2:]
    assert first.startswith(f"smtp: login to 127.0.0.1:{server.port} as 'dustin' failed: 535")
    assert first.endswith("; nothing was sent and no recipient was marked")
    assert count == "Found 1 error."
    assert ledger_rows(workspace) == 0


def test_unsubscribe_accepts_a_signed_url(cli, readers, workspace) -> None:
    url = tokens.unsubscribe_url("https://news.example.org/u", tokens.sign(readers[0], SECRET))
    result = cli("unsubscribe", url)
    assert result.exit_code == 0
    assert result.stdout == "Unsubscribed reader0@example.org.\n"
    assert cli("unsubscribe", url).stdout == "reader0@example.org was already unsubscribed.\n"
    conn = database.connect(workspace / "data" / "newsletter.db")
    assert subscribers.get(conn, readers[0]).status == "unsubscribed"
    conn.close()


def test_unsubscribe_finds_the_token_in_a_pasted_mail_body(cli, readers) -> None:
    token = tokens.sign(readers[1], SECRET)
    result = cli("unsubscribe", f"Please unsubscribe me.\n\n{token}\n")
    assert result.stdout == "Unsubscribed reader1@example.org.\n"


def test_unsubscribe_refuses_a_forged_token(cli, readers, workspace) -> None:
    forged = tokens.sign(readers[2], "someone-elses-secret")
    result = cli("unsubscribe", forged)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        "unsubscribe: the token's signature does not match: the token is not valid, "
        "nobody was unsubscribed"
    )
    conn = database.connect(workspace / "data" / "newsletter.db")
    assert subscribers.get(conn, readers[2]).status == "active"
    conn.close()


def test_a_bad_test_address_is_reported_before_anything_is_sent(cli, sink) -> None:
    result = cli("send", "2026-12", "--test", "me@example.com", "not-an-address")
    assert result.exit_code == 1
    assert result.stderr.startswith("--test: 'not-an-address': ")
    assert sink.received == []


def test_status_lists_a_message_left_in_flight_by_a_crash(cli, readers, workspace) -> None:
    """A process killed mid-handover leaves one row `sending`: status names it."""
    from newsletter.mail.ledger import Ledger

    conn = database.connect(workspace / "data" / "newsletter.db")
    ledger = Ledger(conn, "2026-12")
    ledger.start()
    (row,) = ledger.claim("w1", 1)
    ledger.start_sending(row)
    conn.close()
    out = cli("status", "2026-12").stdout
    assert "  in flight        1\n" in out
    assert out.endswith(
        "In flight when a send stopped (may have arrived; sent again on resume):\n"
        "  reader0@example.org\n"
    )


def test_status_shows_a_deferred_message_with_its_reply_and_next_try(cli, readers, workspace):
    from newsletter.mail.ledger import Ledger

    conn = database.connect(workspace / "data" / "newsletter.db")
    ledger = Ledger(conn, "2026-12")
    ledger.start()
    (row,) = ledger.claim("w1", 1)
    ledger.start_sending(row)
    ledger.deferred(row, "451 4.7.1 greylisted", retry_at=1_800_000_000)  # 2027-01-15 08:00 UTC
    conn.close()
    out = cli("status", "2026-12").stdout
    assert out.endswith(
        "Deferred (retried on the next run):\n"
        "  reader0@example.org: 451 4.7.1 greylisted, next try 08:00:00 UTC\n"
    )
