"""`newsletter send` as a real process, killed with SIGKILL mid-send, three times, then resumed.

The judge is the SMTP sink's own record: every active subscriber got the issue, and nobody
got it twice except at most one message per connection per kill (the one being handed over).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from smtp_sink import Sink
from static_site import configure

from newsletter.mail import database, ledger

READERS = 240


def add_readers(db: Path, n: int) -> list[str]:
    conn = database.connect(db)
    emails = [f"reader{i:04d}@example.org" for i in range(n)]
    conn.executemany(
        "INSERT INTO subscribers (email, email_key, name, consent, consent_at, created_at,"
        " updated_at) VALUES (?, ?, ?, 'test', '', '', '')",
        [(e, e, f"Reader {i}") for i, e in enumerate(emails)],
    )
    conn.close()
    return emails


def start_send(workspace: Path, sink: Sink, connections: int) -> subprocess.Popen:
    configure(workspace, sender="dustin@sample-bodywork.net")  # example.com stops a live send
    env = {
        **os.environ,
        "NEWSLETTER_SMTP_HOST": sink.host,
        "NEWSLETTER_SMTP_PORT": str(sink.port),
        "NEWSLETTER_SMTP_SECURITY": "none",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "newsletter",
            "--root",
            str(workspace),
            "send",
            "2026-12",
            "--yes",
            "--offline",
            "--retry-after",
            "0.05",
            "--connections",
            str(connections),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_for(sink: Sink, count: int, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(sink.received) < count:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the send made no progress"
        time.sleep(0.002)


@pytest.mark.slow
@pytest.mark.parametrize("connections", [1, 3])
def test_three_kills_then_resume_reach_everyone_once(workspace: Path, connections: int) -> None:
    emails = add_readers(workspace / "data" / "newsletter.db", READERS)
    with Sink(delay=0.004) as sink:
        for stop_at in (30, 90, 150):
            process = start_send(workspace, sink, connections)
            wait_for(sink, stop_at, process)
            process.send_signal(signal.SIGKILL)
            process.wait()
            conn = database.connect(workspace / "data" / "newsletter.db")
            in_flight = ledger.Ledger(conn, "2026-12").counts()["sending"]
            conn.close()
            assert in_flight <= connections
        process = start_send(workspace, sink, connections)
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err.decode()
        counts = sink.counts()
    assert sorted(counts) == emails, "every active subscriber got the issue"
    twice = {e: n for e, n in counts.items() if n > 1}
    assert all(n == 2 for n in twice.values()), twice
    assert len(twice) <= 3 * connections, twice
    assert b"0 left." in out


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_the_resume_sends_no_copy(workspace: Path) -> None:
    """SIGINT lets the message being handed over finish, records it, and exits 130; the next
    run sends the rest, so everyone gets exactly one copy."""
    emails = add_readers(workspace / "data" / "newsletter.db", 120)
    with Sink(delay=0.004) as sink:
        process = start_send(workspace, sink, 2)
        wait_for(sink, 40, process)
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=30)
        assert process.returncode == 130
        assert re.search(
            rb"Stopped by Ctrl-C with \d+ left; run `newsletter send 2026-12` again", out
        )
        conn = database.connect(workspace / "data" / "newsletter.db")
        assert ledger.Ledger(conn, "2026-12").counts()["sending"] == 0
        conn.close()
        process = start_send(workspace, sink, 2)
        process.communicate(timeout=60)
        assert process.returncode == 0
        counts = sink.counts()
    assert sorted(counts) == emails and set(counts.values()) == {1}
