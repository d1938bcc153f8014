"""Double opt-in: the signups table (its only writer). A signup waits for its link's click."""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import NamedTuple

from newsletter import tokens
from newsletter.mail import subscribers
from newsletter.mail.database import TIME_FORMAT, transaction

LINK_DAYS = 7
"""A confirmation link works this long."""
DECLINE_DAYS = 30
"""After "this wasn't me" (the confirmation email's unsubscribe link), no confirmation mail
goes to that address for this long."""
METHOD = "web form, confirmed by email"


class Signup(NamedTuple):
    token_id: str
    email: str
    name: str
    consent: str
    state: str
    expires_at: str


def _stamp(moment: dt.datetime) -> str:
    return moment.strftime(TIME_FORMAT)


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.UTC)


def start(
    conn: sqlite3.Connection,
    email: str,
    *,
    name: str,
    consent: str,
    per_day: int,
    now: dt.datetime | None = None,
) -> Signup | None:
    """Record a signup to confirm; None when no confirmation should be mailed.

    None for an address already active, one that declined lately, or one that had
    `per_day` confirmations in the last 24 hours (list bombing). The caller answers the
    same either way, so nobody learns which.
    """
    moment = _now(now)
    key = subscribers.email_key(email)
    with transaction(conn):
        current = subscribers.get(conn, email)
        if current is not None and current.status == "active":
            return None
        declined = conn.execute(
            "SELECT 1 FROM signups WHERE email_key = ? AND state = 'declined' AND created_at > ?",
            (key, _stamp(moment - dt.timedelta(days=DECLINE_DAYS))),
        ).fetchone()
        mailed = conn.execute(
            "SELECT count(*) FROM signups WHERE email_key = ? AND mailed = 1 AND created_at > ?",
            (key, _stamp(moment - dt.timedelta(days=1))),
        ).fetchone()[0]
        if declined or (per_day and mailed >= per_day):
            return None
        signup = Signup(
            tokens.new_id(),
            email,
            subscribers.clean_name(name),
            consent,
            "pending",
            _stamp(moment + dt.timedelta(days=LINK_DAYS)),
        )
        conn.execute(
            "INSERT INTO signups (token_id, email, email_key, name, consent, mailed, created_at,"
            " expires_at) VALUES (?, ?, ?, ?, ?, 1, ?, ?)",
            (signup.token_id, email, key, signup.name, consent, _stamp(moment), signup.expires_at),
        )
    return signup


def find(
    conn: sqlite3.Connection, token_id: str, *, now: dt.datetime | None = None
) -> Signup | None:
    """The signup a confirmation link names, while its link is still good."""
    row = conn.execute(
        "SELECT token_id, email, name, consent, state, expires_at FROM signups"
        " WHERE token_id = ? AND expires_at > ?",
        (token_id, _stamp(_now(now))),
    ).fetchone()
    return Signup(*row) if row is not None else None


def confirm(
    conn: sqlite3.Connection, token_id: str, *, now: dt.datetime | None = None
) -> tuple[subscribers.Subscriber, bool] | None:
    """Activate the signup's address with its consent (wording, time, method); idempotent.

    Returns (subscriber, newly active), or None when the link expired or was declined.
    """
    moment = _now(now)
    with transaction(conn):
        signup = find(conn, token_id, now=moment)
        if signup is None or signup.state == "declined":
            return None
        result = subscribers.confirm(
            conn,
            signup.email,
            name=signup.name,
            consent=f"{signup.consent} ({METHOD})",
            now=_stamp(moment),
        )
        conn.execute(
            "UPDATE signups SET state = 'confirmed', confirmed_at = COALESCE(confirmed_at, ?)"
            " WHERE token_id = ?",
            (_stamp(moment), token_id),
        )
    return result


def decline(conn: sqlite3.Connection, token_id: str) -> Signup | None:
    """ "This wasn't me": the pending signup is dropped and confirmations stop for a while."""
    row = conn.execute(  # one statement: its own transaction
        "UPDATE signups SET state = 'declined' WHERE token_id = ? AND state != 'confirmed'"
        " RETURNING token_id, email, name, consent, state, expires_at",
        (token_id,),
    ).fetchone()
    return Signup(*row) if row is not None else None
