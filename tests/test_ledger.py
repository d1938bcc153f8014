"""The ledger's state machine on a real SQLite file: claims, in-flight rows, resumes."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from newsletter.mail import database, subscribers
from newsletter.mail.ledger import Ledger


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "newsletter.db"
    conn = database.connect(path)
    conn.executemany(
        "INSERT INTO subscribers (email, email_key, name, consent, consent_at, created_at,"
        " updated_at) VALUES (?, ?, '', 'test', '', '', '')",
        [(f"r{i}@example.org", f"r{i}@example.org") for i in range(500)],
    )
    conn.close()
    return path


def test_the_recipient_list_is_taken_once(db: Path) -> None:
    conn = database.connect(db)
    ledger = Ledger(conn, "2026-12")
    assert ledger.start() == 500
    subscribers.add(conn, "late@example.org", consent="test")
    assert ledger.start() == 0
    assert ledger.new_subscribers() == 1
    assert ledger.start(include_new=True) == 1
    assert ledger.counts()["pending"] == 501


def test_parallel_claims_never_share_a_row(db: Path) -> None:
    """Eight threads, each with its own connection, claim until nothing is left."""
    database.connect(db).close()
    setup = database.connect(db)
    Ledger(setup, "2026-12").start()
    taken: list[list[int]] = [[] for _ in range(8)]

    def claim(n: int) -> None:
        conn = database.connect(db)
        ledger = Ledger(conn, "2026-12")
        while rows := ledger.claim(f"w{n}", 7):
            taken[n].extend(r.id for r in rows)
        conn.close()

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [i for ids in taken for i in ids]
    assert len(everything) == len(set(everything)) == 500


def test_each_worker_has_at_most_one_row_in_flight(db: Path) -> None:
    """`sending` for the next row and `sent` for the last commit together."""
    conn = database.connect(db)
    ledger = Ledger(conn, "2026-12")
    ledger.start()
    rows = ledger.claim("w1", 5)
    for row in rows:
        ledger.start_sending(row)
        assert ledger.counts()["sending"] == 1
        ledger.accepted(row, "250 ok")
    ledger.flush()
    assert ledger.counts()["sending"] == 0 and ledger.counts()["sent"] == 5


def test_a_crash_leaves_the_in_flight_row_to_send_again(db: Path) -> None:
    conn = database.connect(db)
    ledger = Ledger(conn, "2026-12")
    ledger.start()
    first, second = ledger.claim("w1", 2)
    ledger.start_sending(first)
    ledger.accepted(first, "250 ok")
    ledger.start_sending(second)
    conn.close()  # the process dies here, mid-handover of `second`

    conn = database.connect(db)
    ledger = Ledger(conn, "2026-12")
    assert ledger.counts()["sending"] == 1
    assert ledger.recover() == ["r1@example.org"]
    rows = ledger.claim("w2", 3)
    assert rows[0].email == "r1@example.org" and rows[0].attempts == 1
    assert ledger.counts()["sent"] == 1


def test_a_deferred_row_waits_for_its_time(db: Path) -> None:
    conn = database.connect(db)
    ledger = Ledger(conn, "2026-12")
    ledger.start()
    (row,) = ledger.claim("w1", 1)
    ledger.start_sending(row)
    ledger.deferred(row, "451 later", retry_at=2e9)
    assert all(r.id != row.id for r in ledger.claim("w1", 1000, now=1e9))
    ledger.release("w1")
    assert ledger.claim("w1", 1, now=2e9 + 1)[0].id == row.id


def test_scopes_are_separate(db: Path) -> None:
    conn = database.connect(db)
    Ledger(conn, "2026-12").start()
    test = Ledger(conn, "2026-12", "test")
    test.reset([("me@example.com", "")])
    assert test.counts()["pending"] == 1
    assert Ledger(conn, "2026-12").counts()["pending"] == 500
