"""One database, many processes: sends beside imports, other sends and unsubscribes.

Real `newsletter` processes share a real SQLite file while a real SMTP sink records what
arrives; the sink's record is the judge.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from smtp_sink import Sink
from static_site import configure

from newsletter.build import pipeline as build
from newsletter.mail import database, ledger, subscribers
from newsletter.mail import send as sending
from newsletter.workspace import Paths

SECRET = "test-secret-not-for-production-use"


@pytest.fixture(autouse=True)
def _own_sender(workspace: Path) -> None:
    """A live send refuses the example's reserved sender and asks base_url for the web
    version (test_send_preflight); these tests are about sending, so they send as a
    real-looking domain, with --offline."""
    configure(workspace, sender="dustin@sample-bodywork.net")


def add_readers(db: Path, n: int) -> list[str]:
    conn = database.connect(db)
    emails = [f"reader{i:04d}@example.org" for i in range(n)]
    for address in emails:
        subscribers.add(conn, address, name="Reader", consent="test fixture")
    conn.close()
    return emails


def newsletter(workspace: Path, sink: Sink, *args: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "NEWSLETTER_SMTP_HOST": sink.host,
        "NEWSLETTER_SMTP_PORT": str(sink.port),
        "NEWSLETTER_SMTP_SECURITY": "none",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "newsletter", "--root", str(workspace), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_for(sink: Sink, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while len(sink.received) < count:
        assert time.monotonic() < deadline, "the send made no progress"
        time.sleep(0.005)


HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("UPDATE subscribers SET updated_at = updated_at WHERE id = 1")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


@pytest.mark.slow
def test_a_writer_holding_the_lock_for_seconds_never_kills_the_send(workspace: Path) -> None:
    """Another process holds the write lock for 6 s mid-send (longer than the old 5 s busy
    timeout): the send waits, finishes with exit 0, and nobody gets the issue twice."""
    db = workspace / "data" / "newsletter.db"
    emails = add_readers(db, 60)
    with Sink(delay=0.01) as sink:
        send = newsletter(workspace, sink, "send", "2026-12", "--yes", "--offline")
        wait_for(sink, 10)
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLD_LOCK, str(db), "6"], stdout=subprocess.PIPE
        )
        assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
        _out, err = send.communicate(timeout=90)
        holder.wait(timeout=30)
        counts = sink.counts()
    assert send.returncode == 0, err.decode()
    assert sorted(counts) == emails and set(counts.values()) == {1}


@pytest.mark.slow
def test_a_second_send_through_a_symlink_meets_the_same_lock(workspace: Path, tmp_path) -> None:
    """`--db` through a symlink reaches the same file, so it meets the same send lock."""
    db = workspace / "data" / "newsletter.db"
    emails = add_readers(db, 80)
    link = tmp_path / "elsewhere"
    link.symlink_to(workspace / "data", target_is_directory=True)
    with Sink(delay=0.05) as sink:
        first = newsletter(workspace, sink, "send", "2026-12", "--yes", "--offline")
        wait_for(sink, 3)
        second = newsletter(
            workspace,
            sink,
            "send",
            "2026-12",
            "--yes",
            "--offline",
            "--db",
            str(link / "newsletter.db"),
        )
        _, err = second.communicate(timeout=30)
        first.communicate(timeout=60)
        counts = sink.counts()
    assert second.returncode == 1
    assert "another `newsletter send` of this issue is running" in err.decode()
    assert first.returncode == 0
    assert sorted(counts) == emails and set(counts.values()) == {1}


@pytest.mark.slow
def test_two_issues_sent_at_once_share_one_daily_limit(workspace: Path) -> None:
    """Two issues at once against a daily limit of 25: together at most 25 go out."""
    toml = workspace / "content" / "newsletter.toml"
    toml.write_text(toml.read_text().replace("daily_limit = 0", "daily_limit = 25"))
    issue = (workspace / "content/issues/2026-12.md").read_text()
    (workspace / "content/issues/2026-11.md").write_text(
        issue.replace("date: 2026-12-01", "date: 2026-11-01")
    )
    add_readers(workspace / "data" / "newsletter.db", 40)
    with Sink(delay=0.005) as sink:
        sends = [
            newsletter(workspace, sink, "send", i, "--yes", "--offline")
            for i in ("2026-12", "2026-11")
        ]
        results = [(p.communicate(timeout=60), p.returncode) for p in sends]
        total = len(sink.received)
    assert total == 25
    assert [code for _, code in results] == [75, 75]
    assert all(b"Stopped at the daily limit of 25" in out for (out, _), _ in results)


@pytest.mark.slow
def test_an_unsubscribe_during_a_paced_send_stops_that_message(workspace: Path) -> None:
    """At 4 messages a second the whole list is claimed in one batch at the start; the last
    reader unsubscribes (another process) while it waits its turn. The row is checked again
    when it goes `sending`, so that reader gets nothing."""
    emails = add_readers(workspace / "data" / "newsletter.db", 20)
    last = emails[-1]
    with Sink() as sink:
        send = newsletter(workspace, sink, "send", "2026-12", "--yes", "--offline", "--rate", "4/s")
        wait_for(sink, 2)
        remove = newsletter(workspace, sink, "subscribers", "remove", last)
        assert remove.wait(timeout=30) == 0
        assert last not in sink.counts(), "the test needs the removal before their turn"
        out, err = send.communicate(timeout=60)
        counts = sink.counts()
    assert send.returncode == 0, err.decode()
    assert sorted(counts) == emails[:-1]
    assert b"19 sent, 0 failed, 1 skipped, 0 left." in out


def test_a_batch_whose_every_row_left_does_not_end_the_send(workspace: Path) -> None:
    """The first claimed batch has only people who unsubscribed since the send began: the
    send claims the next batch instead of stopping early with rows left."""
    db = workspace / "data" / "newsletter.db"
    emails = add_readers(db, 30)
    conn = database.connect(db)
    ledger.Ledger(conn, "2026-12").start()
    for address in emails[:10]:
        subscribers.mark_unsubscribed(conn, address)
    conn.close()
    config, rendered = build.render_workspace(Paths(workspace), "2026-12")
    with Sink() as sink:
        config = config._replace(
            smtp=config.smtp._replace(host=sink.host, port=sink.port, security="none")
        )
        job = sending.Job(db, config, rendered, "live", SECRET, sending.smtp_transports(config, ""))
        summary = sending.execute(job, replace(sending.SendOptions(), batch=10))
    assert (summary.counts["sent"], summary.counts["skipped"], summary.left) == (20, 10, 0)
    assert sorted(sink.counts()) == emails[10:]


def test_an_import_writes_in_short_batches(workspace: Path, tmp_path: Path) -> None:
    """A long import commits in batches of IMPORT_BATCH: another connection can write
    between them (it is never locked out for the whole import)."""
    from newsletter.mail import csvimport

    batch = subscribers.IMPORT_BATCH
    assert batch <= 5000  # a batch holds the lock for about 0.1 s at most
    rows = "".join(f"r{i}@example.org,Reader {i},yes\n" for i in range(4 * batch))
    (tmp_path / "big.csv").write_text("email,name,consent\n" + rows)
    db = workspace / "data" / "newsletter.db"
    database.connect(db).close()
    conn = database.connect(db)
    changes: list[int] = []
    conn.set_progress_handler(None, 0)
    original = subscribers._import_batch

    def spy(*args: object, **kwargs: object) -> object:
        changes.append(conn.execute("SELECT count(*) FROM subscribers").fetchone()[0])
        return original(*args, **kwargs)  # type: ignore[arg-type]

    subscribers._import_batch = spy  # type: ignore[assignment]
    try:
        result = csvimport.import_csv(db, tmp_path / "big.csv", path="big.csv", consent=None)
    finally:
        subscribers._import_batch = original  # type: ignore[assignment]
        conn.close()
    assert result.counts.added == 4 * batch
    assert changes == [0, batch, 2 * batch, 3 * batch]
