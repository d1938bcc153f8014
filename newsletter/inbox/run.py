"""`newsletter inbox`: read the folder, decide each mail, record it, then file it.

Order per batch: decide, commit the events (one transaction per mail), then MOVE the
handled mail. A crash before the move leaves the mail where it was and the events recorded
(idempotent), so the next run records nothing new and finishes the move: nothing is lost.
A dry run does all the database work inside one transaction it rolls back, and only
examines the folder (EXAMINE, PEEK): its report is exactly what a real run would do.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import NamedTuple

from newsletter.errors import NewsletterError
from newsletter.inbox import events
from newsletter.inbox.classify import might_matter, read
from newsletter.inbox.decide import Decision, decide
from newsletter.inbox.directory import Directory
from newsletter.inbox.imap import Mailbox
from newsletter.inbox.parse import parse_notice
from newsletter.mail.database import TIME_FORMAT, connect, transaction
from newsletter.model import Config, InboxSettings


class Handled(NamedTuple):
    uid: int
    subject: str
    sender: str
    decision: Decision
    changes: tuple[events.Change, ...]


class Summary(NamedTuple):
    folder: str
    processed_folder: str
    examined: int
    handled: list[Handled]
    elapsed: float
    dry_run: bool
    created_folder: bool

    @property
    def counts(self) -> Counter[str]:
        return Counter(h.decision.label for h in self.handled if h.decision.file)

    @property
    def left(self) -> int:
        return self.examined - sum(self.counts.values())


class _DryRun(Exception):
    """Raised inside the dry run's transaction to roll back everything it recorded."""


def _occurred(when: dt.datetime | None) -> str:
    return (when or dt.datetime.now(dt.UTC)).strftime(TIME_FORMAT)


def check_settings(settings: InboxSettings) -> None:
    missing = [name for name in ("host", "username") if not getattr(settings, name)]
    problems = [f"inbox.{name} is not set" for name in missing]
    if not settings.password:
        problems.append(
            "no password: set NEWSLETTER_IMAP_PASSWORD or write it to data/imap_password"
        )
    if settings.folder.strip("/") == settings.processed_folder.strip("/"):
        problems.append(
            f"inbox.folder and inbox.processed_folder are both {settings.folder!r}: filed mail "
            "must go elsewhere"
        )
    if problems:
        raise NewsletterError.single(
            "inbox", "; ".join(problems) + " (see [inbox] in content/newsletter.toml)"
        )


def _process(
    mailbox: Mailbox,
    conn: sqlite3.Connection,
    directory: Directory,
    uids: list[int],
    *,
    target: str,
    dry_run: bool,
    on_item: Callable[[Handled], None],
) -> list[Handled]:
    """Decide and record each candidate, then move the batch that was handled."""
    mailto = directory.unsubscribe_mailto
    candidates = [uid for uid, head in mailbox.headers(uids) if might_matter(head, mailto)]
    handled: list[Handled] = []
    for uid, data in mailbox.messages(candidates):
        notice = parse_notice(data)
        decision = decide(notice, read(notice), directory)
        changes: list[events.Change] = []
        if decision.file and decision.events:
            changes = events.record(
                conn, notice.notice_id, decision.events, occurred_at=_occurred(notice.date)
            )
        item = Handled(uid, notice.subject, notice.sender, decision, tuple(changes))
        handled.append(item)
        on_item(item)
    filed = [h.uid for h in handled if h.decision.file]
    if filed and not dry_run:
        mailbox.move(filed, target)
    return handled


def run_inbox(
    database: Path,
    /,
    *,
    config: Config,
    secret: str,
    since: dt.date | None = None,
    dry_run: bool = False,
    on_item: Callable[[Handled], None] = lambda item: None,
) -> Summary:
    settings = config.inbox
    check_settings(settings)
    started = time.perf_counter()
    conn = connect(database)
    try:
        with Mailbox.open(settings) as mailbox:
            target = mailbox.folder_name(settings.processed_folder)
            created = False
            if not dry_run:
                created = mailbox.ensure_folder(target)
            mailbox.select(settings.folder, readonly=dry_run)
            uids = mailbox.uids(since)
            directory = Directory(conn, config=config, secret=secret)
            handled: list[Handled] = []
            try:
                with transaction(conn) if dry_run else nullcontext():
                    for start in range(0, len(uids), 500):
                        handled += _process(
                            mailbox,
                            conn,
                            directory,
                            uids[start : start + 500],
                            target=target,
                            dry_run=dry_run,
                            on_item=on_item,
                        )
                    if dry_run:
                        raise _DryRun
            except _DryRun:
                pass
    finally:
        conn.close()
    return Summary(
        settings.folder,
        target,
        len(uids),
        handled,
        time.perf_counter() - started,
        dry_run,
        created,
    )
