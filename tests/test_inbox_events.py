"""Status changes read from the mailbox: recorded once, only ever upwards, never a new address."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.inbox import events
from newsletter.inbox.decide import Event
from newsletter.mail import database, subscribers


@pytest.fixture
def conn(tmp_path: Path):
    connection = database.connect(tmp_path / "db.sqlite")
    for address in ("ann@example.org", "bo@example.org"):
        subscribers.add(connection, address, consent="test")
    yield connection
    connection.close()


def status(conn, address: str) -> str:
    found = subscribers.get(conn, address)
    assert found is not None
    return found.status


def test_a_hard_bounce_never_hides_an_unsubscribe_request(conn) -> None:
    """Someone who asked to leave stays unsubscribed (the proof) when their address bounces."""
    events.record(conn, "<n1@x>", (Event("ann@example.org", "unsubscribe"),), occurred_at="t1")
    events.record(conn, "<n2@x>", (Event("ann@example.org", "hard", "5.1.1"),), occurred_at="t2")
    assert status(conn, "ann@example.org") == "unsubscribed"


def test_a_complaint_outranks_a_bounce(conn) -> None:
    """complained is the strongest status: a bounced address that complains is complained."""
    events.record(conn, "<n1@x>", (Event("bo@example.org", "hard", "5.1.1"),), occurred_at="t1")
    events.record(conn, "<n2@x>", (Event("bo@example.org", "complaint"),), occurred_at="t2")
    assert status(conn, "bo@example.org") == "complained"


def test_an_address_not_on_the_list_is_never_added(conn) -> None:
    """Events about strangers change no subscriber and add none."""
    changes = events.record(
        conn, "<n1@x>", (Event("stranger@example.net", "hard", "5.1.1"),), occurred_at="t1"
    )
    assert changes == []
    assert subscribers.get(conn, "stranger@example.net") is None


def test_the_same_notice_recorded_twice_counts_once(conn) -> None:
    """Re-reading a mail (a re-run after a crash) inserts nothing new."""
    soft = (Event("ann@example.org", "soft", "4.2.2", send_key="2026-12"),)
    for _ in range(3):
        events.record(conn, "<same@x>", soft, occurred_at="t1")
    assert conn.execute("SELECT COUNT(*) FROM inbox_events").fetchone()[0] == 1
    assert events.soft_sends(conn, "ann@example.org") == 1
    assert status(conn, "ann@example.org") == "active"


def test_soft_bounces_of_one_send_never_add_up_to_three(conn) -> None:
    """Three notices about the same send are one send: the address stays active."""
    for i in range(3):
        soft = (Event("ann@example.org", "soft", "4.2.2", send_key="2026-12"),)
        events.record(conn, f"<n{i}@x>", soft, occurred_at="t1")
    assert status(conn, "ann@example.org") == "active"
    soft = (Event("ann@example.org", "soft", "4.2.2", send_key="2027-01"),)
    events.record(conn, "<n9@x>", soft, occurred_at="t2")
    soft = (Event("ann@example.org", "soft", "5.2.2", send_key="2027-02"),)
    (change,) = events.record(conn, "<n10@x>", soft, occurred_at="t3")
    assert change == events.Change("ann@example.org", "bounced", True)
