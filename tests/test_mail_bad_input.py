"""Bad input on the mail side is one plain line and exit 1, never an internal error."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from smtp_sink import Sink
from static_site import configure

from newsletter.mail import database, subscribers

DAMAGED = "the database is damaged: restore it from a backup"


@pytest.fixture(autouse=True)
def _own_sender(workspace: Path) -> None:
    """A live send refuses the example's reserved sender and asks base_url for the web
    version (test_send_preflight); these tests are about sending, so they send as a
    real-looking domain, with --offline."""
    configure(workspace, sender="dustin@sample-bodywork.net")


def db_of(workspace: Path) -> Path:
    return workspace / "data" / "newsletter.db"


def test_a_100_kb_name_is_refused_by_add(cli, workspace: Path) -> None:
    result = cli("subscribers", "add", "a@example.org", "--name", "x" * 100_000, "--consent", "y")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        "a@example.org: the name is 100,000 characters long; at most 200 are kept (it goes "
        "into the greeting and the To header)"
    )


def test_a_100_kb_name_rejects_only_its_row_on_import(cli, workspace: Path) -> None:
    (workspace / "list.csv").write_text(
        f"email,name,consent\na@example.org,{'x' * 100_000},yes\nb@example.org,Bo,yes\n"
    )
    result = cli("subscribers", "import", str(workspace / "list.csv"))
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0].startswith(
        f"{workspace / 'list.csv'}:2: a@example.org: the name is 100,000 characters long"
    )
    assert "1 added" in result.stdout


def test_an_empty_database_file_is_damaged_never_made_anew(cli, workspace: Path) -> None:
    """A 0-byte file (truncated by a crash or a bad copy) would silently become an empty
    list, forgetting every unsubscribe: it is refused and left as it is."""
    db_of(workspace).parent.mkdir(parents=True)
    db_of(workspace).write_bytes(b"")
    result = cli("subscribers", "count")
    assert result.exit_code == 1
    assert result.stderr == f"{db_of(workspace)}: {DAMAGED} (the file is empty)\nFound 1 error.\n"
    assert db_of(workspace).stat().st_size == 0


def test_a_file_damaged_inside_is_one_line(cli, workspace: Path) -> None:
    """Pages overwritten in the middle of the file: SQLite finds it on reading."""
    conn = database.connect(db_of(workspace))
    for i in range(400):
        subscribers.add(conn, f"r{i}@example.org", name="R" * 150, consent="test")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(db_of(workspace).read_bytes())
    data[8192 : len(data) - 4096] = b"\xff" * (len(data) - 12288)
    db_of(workspace).write_bytes(bytes(data))
    result = cli("subscribers", "list")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1].endswith(DAMAGED) or DAMAGED in result.stderr
    assert "internal error" not in result.stderr


def test_the_database_path_being_a_folder_is_one_line(cli, workspace: Path, monkeypatch) -> None:
    """(`--db FOLDER` is refused by Click as a usage error; the environment reaches us.)"""
    (workspace / "folder.db").mkdir()
    monkeypatch.setenv("NEWSLETTER_DB", str(workspace / "folder.db"))
    result = cli("subscribers", "count")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        f"{workspace / 'folder.db'}: is a folder, not a database file; give a file with --db "
        "or NEWSLETTER_DB"
    )


@pytest.mark.parametrize(
    "url", ["https://[news.example.org/u?token=1.a.b", "http://[::1/unsubscribe?token=x"]
)
def test_a_malformed_url_given_to_unsubscribe_is_one_line(cli, url: str) -> None:
    result = cli("unsubscribe", url)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0].startswith("unsubscribe: ")
    assert "nobody was unsubscribed" in result.stderr


def test_export_neutralises_spreadsheet_formulas(cli, workspace: Path) -> None:
    """Cells starting with = + - @ (or a tab or CR) get a leading quote: a spreadsheet shows
    them as text instead of running them."""
    conn = database.connect(db_of(workspace))
    names = ['=HYPERLINK("http://evil.test","x")', "+1+2", "-3", "@SUM(A1)", "Ann"]
    for i, name in enumerate(names):
        subscribers.add(conn, f"r{i}@example.org", name=name, consent="test")
    conn.close()
    result = cli("subscribers", "export", "-")
    rows = list(csv.DictReader(result.stdout.splitlines()))
    assert [r["name"] for r in rows] == [f"'{n}" for n in names[:4]] + ["Ann"]


def test_control_characters_never_reach_the_terminal(cli, workspace: Path) -> None:
    """A name another tool stored with an escape sequence is printed without it."""
    conn = database.connect(db_of(workspace))
    conn.execute(
        "INSERT INTO subscribers (email, email_key, name, consent, consent_at, created_at,"
        " updated_at) VALUES ('e@example.org', 'e@example.org', ?, 'x', '', '', '')",
        ("Eve\x1b]0;pwned\x07\x1b[2J",),
    )
    conn.close()
    result = cli("subscribers", "list")
    assert result.stdout == "e@example.org\tactive\tEve?]0;pwned??[2J\n"


@pytest.fixture
def small_disk(tmp_path: Path):
    """An 8 MB tmpfs: a real disk that fills up (needs root, as on CI)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.slow
def test_a_disk_full_during_send_keeps_what_was_sent_recorded(workspace, small_disk) -> None:
    """The disk fills up mid-send: one plain line, exit 1, and every message the server
    took is recorded as sent (the next run sends only the rest)."""
    db = small_disk / "newsletter.db"
    conn = database.connect(db)
    people = [(f"reader{i:03d}@example.org", "Reader", "test") for i in range(300)]
    subscribers.import_rows(conn, people, source="test")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    filler = small_disk / "filler"
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    filler.write_bytes(bytes(free - 1_600_000))  # room for the 1 MB reserve and some WAL
    with Sink() as sink:
        env = {
            **os.environ,
            "NEWSLETTER_SMTP_HOST": sink.host,
            "NEWSLETTER_SMTP_PORT": str(sink.port),
            "NEWSLETTER_SMTP_SECURITY": "none",
        }
        command = [sys.executable, "-m", "newsletter", "--root", str(workspace), "send"]
        first = subprocess.run(
            [*command, "2026-12", "--yes", "--offline", "--db", str(db)],
            env=env,
            capture_output=True,
        )
        received = sink.counts()
        filler.unlink()
        conn = database.connect(db)
        sent = {
            r[0]
            for r in conn.execute("SELECT email FROM deliveries WHERE state = 'sent'").fetchall()
        }
        conn.close()
        second = subprocess.run(
            [*command, "2026-12", "--yes", "--offline", "--db", str(db)],
            env=env,
            capture_output=True,
        )
        final = sink.counts()
    assert first.returncode == 1, first.stderr.decode()
    assert b"the disk is full: the send stopped; every message handed over is recorded" in (
        first.stderr
    )
    assert b"internal error" not in first.stderr
    assert 0 < len(received) < 300, (first.stdout, first.stderr)
    assert set(received) == sent
    assert second.returncode == 0, second.stderr.decode()
    assert len(final) == 300 and set(final.values()) == {1}


def test_the_date_header_says_utc_as_plus_0000(cli, workspace: Path) -> None:
    """`-0000` would mean "time zone unknown" (RFC 5322 3.3); the time is UTC, so +0000."""
    assert cli("build").exit_code == 0
    eml = (workspace / "dist/issues/2026-12/message.eml").read_text()
    (date,) = [line for line in eml.splitlines() if line.startswith("Date: ")]
    assert date.endswith(" +0000")
