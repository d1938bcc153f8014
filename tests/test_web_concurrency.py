"""One-click unsubscribes while a send runs: every POST succeeds, the send is unharmed, and
whoever unsubscribed before their row was claimed does not get the issue."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import TEST_SECRET
from smtp_sink import Sink
from webserver import running_server

from newsletter import tokens
from newsletter.mail import database, subscribers

pytestmark = pytest.mark.slow
READERS = 400
POSTS = 200


def add_readers(db: Path) -> list[str]:
    conn = database.connect(db)
    emails = [f"reader{i:04d}@example.org" for i in range(READERS)]
    conn.executemany(
        "INSERT INTO subscribers (email, email_key, name, consent, consent_at, created_at,"
        " updated_at) VALUES (?, ?, '', 'test', '', '', '')",
        [(e, e) for e in emails],
    )
    conn.close()
    return emails


def one_click_tokens(db: Path, emails: list[str]) -> list[str]:
    conn = database.connect(db)
    ids = subscribers.token_ids_for(conn, emails)
    conn.close()
    return [tokens.sign_id(ids[e], TEST_SECRET) for e in emails]


def test_200_concurrent_one_click_posts_during_a_send(workspace: Path) -> None:
    db = workspace / "data" / "newsletter.db"
    emails = add_readers(db)
    targets = emails[-POSTS:]
    links = one_click_tokens(db, targets)
    env = {
        **os.environ,
        "NEWSLETTER_SMTP_HOST": "127.0.0.1",
        "NEWSLETTER_SMTP_SECURITY": "none",
    }
    with Sink(delay=0.004) as sink, running_server(workspace, smtp_port=sink.port) as server:
        env["NEWSLETTER_SMTP_PORT"] = str(sink.port)
        send = subprocess.Popen(
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
                "--skip-check",
                "--connections",
                "2",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while len(sink.received) < 20 and time.monotonic() < deadline:
            time.sleep(0.01)

        def post(token: str) -> int:
            reply = server.post_form(
                f"/unsubscribe?token={token}", {"List-Unsubscribe": "One-Click"}
            )
            return reply.status

        started = time.monotonic()
        with ThreadPoolExecutor(POSTS) as pool:
            statuses = list(pool.map(post, links))
        took = time.monotonic() - started
        out, err = send.communicate(timeout=120)
        assert "locked" not in server.stderr()
    assert statuses == [200] * POSTS, statuses
    assert send.returncode == 0, (out + err).decode()
    assert "locked" not in (out + err).decode()

    conn = database.connect(db)
    unsubscribed = {
        e for (e,) in conn.execute("SELECT email FROM subscribers WHERE status = 'unsubscribed'")
    }
    states = dict(conn.execute("SELECT email, state FROM deliveries WHERE scope = 'live'"))
    conn.close()
    assert unsubscribed == set(targets)
    counts = sink.counts()
    assert all(n == 1 for n in counts.values())  # nobody twice
    skipped = {e for e, s in states.items() if s == "skipped"}
    assert skipped and skipped <= unsubscribed
    for address in skipped:
        assert counts.get(address, 0) == 0, address  # left before the claim: not sent
    for address in set(emails) - unsubscribed:
        assert counts.get(address) == 1, address  # the send went on for everyone else
    # The List-Unsubscribe link of a message the send delivered works as it is.
    (message,) = sink.messages_to(emails[0])
    link = re.search(
        r"<https://news\.example\.org(/unsubscribe\?token=[^>]+)>",
        re.sub(r"\s+", "", message["List-Unsubscribe"]),
    )
    assert link and emails[0] not in link.group(1)
    with running_server(workspace) as again:
        assert again.post_form(link.group(1), {"List-Unsubscribe": "One-Click"}).status == 200
    conn = database.connect(db)
    assert (
        conn.execute("SELECT status FROM subscribers WHERE email = ?", (emails[0],)).fetchone()[0]
        == "unsubscribed"
    )
    conn.close()
    print(f"{POSTS} one-click POSTs in {took:.2f} s during the send; {len(skipped)} skipped")
