"""`newsletter inbox` against a real Dovecot on 127.0.0.1, filled with the corpus."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from imap_server import PASSWORD, Dovecot, available
from inbox_support import (
    EXPECT,
    READERS,
    add_issue,
    add_readers,
    corpus_names,
    fill,
    send,
    smtp_env,
    status_of,
)

from newsletter.cli import main

pytestmark = pytest.mark.skipif(
    not available() and not os.environ.get("NEWSLETTER_REQUIRE_DOVECOT"),
    reason="needs Debian's dovecot-imapd (.ci/run installs it)",
)


@pytest.fixture(scope="module")
def dovecot():
    server = Dovecot()
    yield server
    server.stop()


@pytest.fixture
def mailbox(dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh, empty mailbox the workspace's [inbox] settings point at (through the env)."""
    user = dovecot.user()
    monkeypatch.setenv("NEWSLETTER_IMAP_HOST", "127.0.0.1")
    monkeypatch.setenv("NEWSLETTER_IMAP_PORT", str(dovecot.port))
    monkeypatch.setenv("NEWSLETTER_IMAP_SECURITY", "none")
    monkeypatch.setenv("NEWSLETTER_IMAP_USERNAME", user)
    monkeypatch.setenv("NEWSLETTER_IMAP_PASSWORD", PASSWORD)
    return user


@pytest.fixture(scope="module")
def _sent_once(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    """One real send of the example issue to the corpus's readers, for the whole module."""
    from _pytest.monkeypatch import MonkeyPatch
    from conftest import TEST_SECRET, copy_example

    root = copy_example(tmp_path_factory.mktemp("sent") / "ws")
    patch = MonkeyPatch()
    patch.setenv("NEWSLETTER_SECRET", TEST_SECRET)
    try:
        add_readers(root / "data" / "newsletter.db")
        with smtp_env(patch) as sink:
            return root / "data", send(root, "2026-12", sink)
    finally:
        patch.undo()


@pytest.fixture
def sent(workspace: Path, _sent_once: tuple[Path, dict[str, bytes]]) -> dict[str, bytes]:
    """The workspace gets that send's database (list and ledger); the bytes it handed over."""
    data, messages = _sent_once
    shutil.copytree(data, workspace / "data")
    return messages


def run(workspace: Path, *args: str):
    return CliRunner().invoke(main, ["--root", str(workspace), "inbox", *args])


def filled(dovecot: Dovecot, user: str, sent: dict[str, bytes]) -> dict[bytes, str]:
    """Put the whole corpus in INBOX, unread; Message-ID line -> corpus file name."""
    mails = {name: fill(name, sent) for name in corpus_names()}
    dovecot.fill(user, mails.values())
    return {_mid(data): name for name, data in mails.items()}


def _mid(data: bytes) -> bytes:
    for line in data.split(b"\r\n"):
        if line.lower().startswith(b"message-id:"):
            return line.split(b":", 1)[1].strip()
    raise AssertionError("corpus mail without a Message-ID")


def where(dovecot: Dovecot, user: str, names: dict[bytes, str]) -> dict[str, tuple[str, bool]]:
    """Corpus file -> (folder it is in, whether it is still unread)."""
    found = {}
    for folder, messages in dovecot.folders(user).items():
        for data, flags in messages:
            if _mid(data) in names:
                found[names[_mid(data)]] = (folder, b"\\Seen" not in flags)
    return found


def expected_folders() -> dict[str, tuple[str, bool]]:
    return {
        name: ("INBOX" if label == "other" else "Newsletter.Processed", True)
        for name, (label, _, _) in EXPECT.items()
    }


def expected_statuses() -> dict[str, str]:
    statuses = dict.fromkeys(READERS, "active")
    statuses.update({a: s for _, a, s in EXPECT.values() if a})
    return statuses


@pytest.mark.slow
def test_inbox_files_what_it_handled_and_leaves_the_rest_unread(
    dovecot, mailbox, sent, workspace
) -> None:
    """Each corpus mail is acted on as expected; handled mail is moved unread to the processed
    folder (created, with the server's separator), the rest stays unread in INBOX."""
    names = filled(dovecot, mailbox, sent)
    result = run(workspace)
    assert result.exit_code == 0, result.output
    assert where(dovecot, mailbox, names) == expected_folders()
    assert status_of(workspace / "data" / "newsletter.db") == expected_statuses()
    last = result.stdout.splitlines()[-1]
    assert last.startswith(
        "Filed 21 of 27 message(s) in INBOX (3 auto-reply, 3 complaint, 2 delay, 7 hard bounce,"
        " 1 policy block, 2 soft bounce, 3 unsubscribe) -> Newsletter.Processed; 6 left as"
        " they were."
    ), last
    assert "  hard bounce  ann@example.org: 5.1.1 550 5.1.1 <ann@example.org>: Recipient" in (
        result.stdout
    )
    assert "uma@example.net" not in result.stdout  # ordinary mail: only its header was read


@pytest.mark.slow
def test_a_second_run_changes_nothing(dovecot, mailbox, sent, workspace) -> None:
    """Run again: nothing more is filed, no status or event changes."""
    names = filled(dovecot, mailbox, sent)
    assert run(workspace).exit_code == 0
    db = workspace / "data" / "newsletter.db"
    before = (status_of(db), _events(db), where(dovecot, mailbox, names))
    again = run(workspace)
    assert again.exit_code == 0
    assert again.stdout.splitlines()[-1].startswith("Filed 0 of 6 message(s) in INBOX")
    assert (status_of(db), _events(db), where(dovecot, mailbox, names)) == before


@pytest.mark.slow
def test_a_dry_run_changes_nothing_on_the_server_or_in_the_database(
    dovecot, mailbox, sent, workspace
) -> None:
    """--dry-run reports every decision but moves nothing, creates no folder, records
    nothing; the mail stays unread."""
    names = filled(dovecot, mailbox, sent)
    db = workspace / "data" / "newsletter.db"
    before = status_of(db)
    result = run(workspace, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Would file 21 of 27 message(s)" in result.stdout
    assert result.stdout.splitlines()[-1] == (
        "Dry run: nothing was changed on the server or in the database."
    )
    assert "ann@example.org: 5.1.1" in result.stdout
    assert status_of(db) == before and _events(db) == []
    assert where(dovecot, mailbox, names) == dict.fromkeys(names.values(), ("INBOX", True))
    assert list(dovecot.folders(mailbox)) == ["INBOX"]


def _events(db: Path) -> list[tuple]:
    from newsletter.mail import database

    conn = database.connect(db)
    try:
        return [tuple(r) for r in conn.execute("SELECT * FROM inbox_events ORDER BY id")]
    finally:
        conn.close()


@pytest.mark.slow
def test_a_run_killed_midway_loses_nothing_and_the_next_one_finishes(
    dovecot, mailbox, sent, workspace
) -> None:
    """SIGKILL while filing hundreds of bounces, then run again: every hard bounce is marked,
    every handled mail filed exactly once, nothing deleted."""
    bounce = fill("postfix_hard.eml", sent)
    many = [bounce.replace(b"20261203091204.4F1A21C0A3@", f"kill{i}@".encode()) for i in range(250)]
    names = filled(dovecot, mailbox, sent)
    dovecot.fill(mailbox, many)
    env = {**os.environ, "NEWSLETTER_ROOT": str(workspace)}
    process = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "inbox"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    for _ in range(30):  # wait until it is deciding mail, then kill it mid-run
        if process.stdout.readline().startswith(b"  "):
            break
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed = dovecot.folders(mailbox)
    assert len(killed.get("Newsletter.Processed", [])) < 271  # it really stopped midway
    assert len(_events(workspace / "data" / "newsletter.db")) > 0
    result = run(workspace)
    assert result.exit_code == 0, result.output
    folders = dovecot.folders(mailbox)
    processed = [d for d, _ in folders["Newsletter.Processed"]]
    assert len(processed) == 271 and len(folders["INBOX"]) == 6
    assert len({_mid(d) for d in processed}) == 271
    assert where(dovecot, mailbox, names) == expected_folders()
    assert status_of(workspace / "data" / "newsletter.db") == expected_statuses()


@pytest.mark.slow
def test_soft_bounces_on_three_different_sends_make_an_address_bounced(
    dovecot, mailbox, workspace, monkeypatch
) -> None:
    """Mailbox full on two sends is counted; on a third different send it is bounced. The
    same send's notice twice counts once."""
    add_readers(workspace / "data" / "newsletter.db", ["hal@example.org"])
    add_issue(workspace, "2027-01", "2027-01-01")
    add_issue(workspace, "2027-02", "2027-02-01")
    db = workspace / "data" / "newsletter.db"
    with smtp_env(monkeypatch) as sink:
        sends = [send(workspace, issue, sink) for issue in ("2026-12", "2027-01", "2027-02")]
    notices = [
        fill("postfix_soft_mailbox_full.eml", s).replace(b"0.B1@", f"0.B1{i}@".encode())
        for i, s in enumerate(sends)
    ]
    duplicate = notices[0].replace(b"20261203100000.B10@", b"other-id@")
    dovecot.fill(mailbox, [notices[0], duplicate, notices[1]])
    assert run(workspace).exit_code == 0
    assert status_of(db) == {"hal@example.org": "active"}
    dovecot.fill(mailbox, [notices[2]])
    result = run(workspace)
    assert (
        "  soft bounce  hal@example.org: 5.2.2 552 5.2.2 Mailbox full, over quota -> bounced"
        in (result.stdout)
    )
    assert status_of(db) == {"hal@example.org": "bounced"}


@pytest.mark.slow
def test_status_and_list_show_the_reason_and_send_skips_them(
    dovecot, mailbox, sent, workspace, monkeypatch
) -> None:
    """status ISSUE shows bounces, complaints and the reputation warning with dates;
    subscribers list --status shows the reason; the next send mails none of them."""
    filled(dovecot, mailbox, sent)
    assert run(workspace).exit_code == 0
    runner = CliRunner()
    status = runner.invoke(main, ["--root", str(workspace), "status", "2026-12"]).stdout
    assert "Bounced (read from the mailbox):\n" in status
    assert (
        "  ann@example.org: 5.1.1 550 5.1.1 <ann@example.org>: Recipient address rejected: User "
        "unknown in virtual mailbox table (2026-12-03 09:12 UTC)\n"
    ) in status
    assert "Complaints (marked as spam; never mailed again):\n  max@isp.example:" in status
    assert (
        "Warning: blocked as spam or by policy (5.7.x): your sending reputation, not the "
        "addresses:\n  lia@gmail.example: 5.7.1 550-5.7.1 Our system has detected"
    ) in status
    listed = runner.invoke(
        main, ["--root", str(workspace), "subscribers", "list", "--status", "bounced"]
    ).stdout
    assert "ann@example.org\tbounced\tAnn\t2026-12-03 5.1.1 550 5.1.1 <ann@example.org>: R" in (
        listed
    )
    complained = runner.invoke(
        main, ["--root", str(workspace), "subscribers", "list", "--status", "complained"]
    ).stdout.splitlines()
    assert [line.split("\t")[0] for line in complained] == [
        "max@isp.example",
        "nia@yahoo.example",
        "ola@outlook.example",
    ]
    assert complained[0] == "max@isp.example\tcomplained\tMax\t2026-12-04 feedback-type: abuse"
    add_issue(workspace, "2027-01", "2027-01-01")
    with smtp_env(monkeypatch) as sink:
        again = send(workspace, "2027-01", sink)
    gone = {a for a, s in expected_statuses().items() if s != "active"}
    assert set(again) == set(READERS) - gone


def test_a_wrong_password_is_one_clear_line_and_changes_nothing(
    dovecot, mailbox, sent, workspace, monkeypatch
) -> None:
    """A refused login: one line on stderr, exit 1, no folder made, nothing recorded."""
    names = filled(dovecot, mailbox, sent)
    monkeypatch.setenv("NEWSLETTER_IMAP_PASSWORD", "wrong")
    result = run(workspace)
    assert result.exit_code == 1
    assert result.stderr == (
        f"inbox: 127.0.0.1:{dovecot.port} (none) refused the login of '{mailbox}': "
        "[AUTHENTICATIONFAILED] Authentication failed.; check inbox.username and "
        "NEWSLETTER_IMAP_PASSWORD (or data/imap_password)\n"
    )
    assert where(dovecot, mailbox, names) == dict.fromkeys(names.values(), ("INBOX", True))


def test_an_untrusted_certificate_is_one_clear_line(dovecot, mailbox, workspace, monkeypatch):
    """TLS to a server whose certificate is not trusted stops before logging in."""
    monkeypatch.setenv("NEWSLETTER_IMAP_PORT", str(dovecot.tls_port))
    monkeypatch.setenv("NEWSLETTER_IMAP_SECURITY", "ssl")
    result = run(workspace)
    assert result.exit_code == 1
    assert result.stderr == (
        f"inbox: cannot connect to 127.0.0.1:{dovecot.tls_port} (ssl): the server's "
        "certificate is not trusted (self-signed certificate)\n"
    )


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_tls_with_a_trusted_certificate_reads_the_mailbox(
    dovecot, mailbox, sent, workspace, monkeypatch, security
) -> None:
    """Implicit TLS and STARTTLS both verify the certificate (here trusted through
    SSL_CERT_FILE) and then work as plain IMAP does."""
    monkeypatch.setenv("SSL_CERT_FILE", str(dovecot.cert))
    port = dovecot.tls_port if security == "ssl" else dovecot.port
    monkeypatch.setenv("NEWSLETTER_IMAP_PORT", str(port))
    monkeypatch.setenv("NEWSLETTER_IMAP_SECURITY", security)
    dovecot.fill(mailbox, [fill("postfix_hard.eml", sent)])
    result = run(workspace)
    assert result.exit_code == 0, result.output
    assert status_of(workspace / "data" / "newsletter.db")["ann@example.org"] == "bounced"


def test_a_server_that_is_not_there_is_one_clear_line(mailbox, workspace, monkeypatch) -> None:
    """Nothing listening: one line, exit 1."""
    from imap_server import free_port

    port = free_port()
    monkeypatch.setenv("NEWSLETTER_IMAP_PORT", str(port))
    result = run(workspace)
    assert result.exit_code == 1
    assert result.stderr == (
        f"inbox: cannot connect to 127.0.0.1:{port} (none): Connection refused\n"
    )


def test_since_reads_only_mail_from_that_date(dovecot, mailbox, sent, workspace) -> None:
    """--since skips mail that arrived before the date (IMAP SINCE, the server's date)."""
    dovecot.fill(mailbox, [fill("postfix_hard.eml", sent)])
    result = run(workspace, "--since", "2999-01-01")
    assert result.exit_code == 0
    assert result.stdout.startswith("Filed 0 of 0 message(s) in INBOX")
    assert status_of(workspace / "data" / "newsletter.db")["ann@example.org"] == "active"
