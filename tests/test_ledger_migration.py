"""Migration ledger_v2_one_time_format: an existing ledger keeps every row, in one time format."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from newsletter.mail import database
from newsletter.mail.ledger import Ledger
from newsletter.mail.schema import MIGRATIONS


def test_an_old_ledger_is_rewritten_in_the_subscribers_time_format(tmp_path: Path) -> None:
    """Milliseconds with +00:00 and REAL epochs become ISO seconds with Z; a row that failed
    only because quick 4xx retries ran out is deferred again; nothing else changes."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    database.migrate(conn, MIGRATIONS[:2])
    conn.execute(
        "INSERT INTO subscribers (email, email_key, consent, consent_at, created_at, updated_at)"
        " VALUES ('a@example.org', 'a@example.org', 'x', '2026-01-01T00:00:00Z',"
        " '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')"
    )
    conn.execute(
        "INSERT INTO send_runs VALUES ('2026-12', 'live', '2026-11-25T16:57:03.123+00:00', 'h')"
    )
    rows = [
        ("a@example.org", "sent", 1, "250 ok", 0.0, "2026-11-25T16:57:04.500+00:00"),
        ("b@example.org", "failed", 6, "gave up after 6 tries: 452 4.5.3 too many", 0.0, None),
        ("c@example.org", "failed", 1, "550 5.1.1 no such user", 0.0, None),
        ("d@example.org", "deferred", 2, "451 later", 1_800_000_000.25, None),
    ]
    for email, state, attempts, reply, retry, sent in rows:
        conn.execute(
            "INSERT INTO deliveries (issue_id, scope, email, email_key, state, attempts,"
            " last_reply, next_attempt_at, created_at, updated_at, sent_at) VALUES"
            " ('2026-12', 'live', ?, ?, ?, ?, ?, ?, '2026-11-25T16:57:03.999+00:00',"
            " '2026-11-25T16:58:00.001+00:00', ?)",
            (email, email, state, attempts, reply, retry, sent),
        )
    conn.close()

    conn = database.connect(path)
    assert database.schema_version(conn) == len(MIGRATIONS)
    got = conn.execute(
        "SELECT email, state, next_attempt_at, first_tried_at, created_at, sent_at"
        " FROM deliveries ORDER BY id"
    ).fetchall()
    assert [tuple(r) for r in got] == [
        (
            "a@example.org",
            "sent",
            "",
            "2026-11-25T16:58:00Z",
            "2026-11-25T16:57:03Z",
            "2026-11-25T16:57:04Z",
        ),
        ("b@example.org", "deferred", "", "2026-11-25T16:58:00Z", "2026-11-25T16:57:03Z", None),
        ("c@example.org", "failed", "", "2026-11-25T16:58:00Z", "2026-11-25T16:57:03Z", None),
        (
            "d@example.org",
            "deferred",
            "2027-01-15T08:00:01Z",
            "2026-11-25T16:58:00Z",
            "2026-11-25T16:57:03Z",
            None,
        ),
    ]
    ledger = Ledger(conn, "2026-12")
    assert ledger.run_started_at() == "2026-11-25T16:57:03Z"
    assert ledger.counts()["deferred"] == 2
    conn.close()
