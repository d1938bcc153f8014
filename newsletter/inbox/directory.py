"""The list and the sends as the decision sees them, read from the subscriber database."""

from __future__ import annotations

import bisect
import datetime as dt
import re
import sqlite3

from newsletter.build.mime import message_id, sender_domain
from newsletter.inbox import token as token_mod
from newsletter.mail import subscribers
from newsletter.mail.database import TIME_FORMAT
from newsletter.model import Config

_OUR_ID = re.compile(r"<([a-z0-9][a-z0-9-]*)\.([0-9a-f]{20})@([^<>\s]+)>")


class Directory:
    """Read-only look-ups, each cached: a thousand bounces of one send cost one scan of it."""

    def __init__(self, conn: sqlite3.Connection, /, *, config: Config, secret: str) -> None:
        self.conn = conn
        self.secret = secret
        self.unsubscribe_mailto = config.unsubscribe_mailto
        self.list_id = config.list_id.lower()
        self.domain = sender_domain(config).lower()
        self._issues: dict[str, dict[str, str]] = {}
        self._subscribers: dict[str, str | None] = {}
        runs = conn.execute(
            "SELECT started_at, issue_id FROM send_runs WHERE scope = 'live' ORDER BY started_at"
        ).fetchall()
        self._runs = [(r[0], r[1]) for r in runs]

    def subscriber(self, address: str) -> str | None:
        key = address.strip().lower()
        if key not in self._subscribers:
            found = subscribers.get(self.conn, key)
            self._subscribers[key] = found.email if found else None
        return self._subscribers[key]

    def _sent_ids(self, issue_id: str) -> dict[str, str]:
        if issue_id not in self._issues:
            rows = self.conn.execute(
                "SELECT email FROM deliveries WHERE issue_id = ? AND scope = 'live'", (issue_id,)
            )
            self._issues[issue_id] = {
                message_id(issue_id, email, domain=self.domain): email for (email,) in rows
            }
        return self._issues[issue_id]

    def sent_to(self, message_id_value: str) -> tuple[str, str] | None:
        match = _OUR_ID.fullmatch(message_id_value.strip().lower())
        if match is None or match.group(3) != self.domain:
            return None
        email = self._sent_ids(match.group(1)).get(match.group(0))
        return (match.group(1), email) if email else None

    def is_our_list(self, list_id: str) -> bool:
        return bool(self.list_id) and f"<{self.list_id}>" in list_id.lower()

    def find_tokens(self, text: str) -> list[str]:
        return token_mod.find_tokens(text)

    def token_address(self, token: str) -> str | None:
        return token_mod.address_for_token(token, secret=self.secret, conn=self.conn)

    def was_sent(self, address: str) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM deliveries WHERE email_key = ? AND scope = 'live'"
            " AND state IN ('sent', 'failed', 'sending') LIMIT 1",
            (subscribers.email_key(address),),
        ).fetchone()
        return row is not None

    def send_for_date(self, when: dt.datetime | None) -> str:
        """The issue of the last live send begun before `when`; else the day itself."""
        if when is None:
            return ""
        stamp = when.astimezone(dt.UTC).strftime(TIME_FORMAT)
        at = bisect.bisect_right([r[0] for r in self._runs], stamp)
        return self._runs[at - 1][1] if at else f"date:{stamp[:10]}"
