"""SQLite connections shared by every process: WAL, busy timeouts, migrated on open.

What the tables are lives in `schema`; each table's rows are written by one module only."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import math
import os
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from newsletter.errors import NewsletterError

T = TypeVar("T")

BUSY_TIMEOUT_MS = 30_000
"""How long a writer waits for another process's lock (a send, an import, the web service)."""

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
"""The one timestamp format of every table: UTC ISO 8601 seconds with Z, sortable as text."""

DAMAGED = "the database is damaged: restore it from a backup"


def utc_iso(when: float | None = None) -> str:
    """A stored timestamp: now, or the given epoch seconds (rounded down)."""
    return _second(math.floor(time.time() if when is None else when))


@functools.lru_cache(maxsize=8)
def _second(epoch: int) -> str:
    """Formatting is 5 us and a send stamps every row twice: each second is formatted once."""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime(TIME_FORMAT)


def utc_epoch(text: str) -> float:
    """Epoch seconds of a stored timestamp."""
    return dt.datetime.strptime(text, TIME_FORMAT).replace(tzinfo=dt.UTC).timestamp()


def connect(path: Path) -> sqlite3.Connection:
    """Open the database (creating it if missing), migrated to the latest schema.

    A new file is made and migrated under a temporary name and linked into place, so a
    database file is never empty: an empty or unreadable one is reported as damaged, never
    silently made anew (that would forget every unsubscribe). The connection is in
    autocommit mode: group writes with `transaction(conn)`, so a transaction starts
    exactly where the code says and never implicitly.
    """
    path = Path(path)
    if str(path) == ":memory:":
        conn = sqlite3.connect(path, isolation_level=None)
        _prepare(conn)
        return conn
    if path.is_dir():
        raise NewsletterError.single(
            str(path), "is a folder, not a database file; give a file with --db or NEWSLETTER_DB"
        )
    try:
        if not path.exists():
            _create(path)
        elif path.stat().st_size == 0:
            raise NewsletterError.single(str(path), f"{DAMAGED} (the file is empty)")
        conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    except OSError as exc:
        raise NewsletterError.single(
            str(path), f"cannot open the database: {exc.strerror or exc}"
        ) from None
    except sqlite3.OperationalError as exc:
        raise NewsletterError.single(str(path), f"cannot open the database: {exc}") from None
    try:
        _prepare(conn)
    except NewsletterError:
        conn.close()
        raise
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise NewsletterError.single(str(path), f"{DAMAGED} ({exc})") from None
    return conn


def _prepare(conn: sqlite3.Connection) -> None:
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    _while_locked(lambda: conn.execute("PRAGMA journal_mode = WAL"))
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = NORMAL")
    migrate(conn)


def _create(path: Path) -> None:
    """Make a migrated database under a private name, then link it into place.

    link(2) fails when the name exists: of several processes creating the file at once,
    one wins and the others use its file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    new = path.with_name(f".{path.name}.{secrets.token_hex(6)}.new")
    try:
        conn = sqlite3.connect(new, isolation_level=None)
        try:
            _prepare(conn)
        finally:
            conn.close()
        with contextlib.suppress(FileExistsError):
            os.link(new, path)
    finally:
        for leftover in (new, new.with_name(new.name + "-wal"), new.with_name(new.name + "-shm")):
            leftover.unlink(missing_ok=True)


def patiently(step: Callable[[], T], *, patience: float = 600.0) -> T:
    """Run a write, retrying while another process holds the lock past the busy timeout.

    A send must never die because an import, the web service or another send is writing:
    its ledger writes wait as long as that takes (up to `patience` seconds).
    """
    deadline = time.monotonic() + patience
    while True:
        try:
            return step()
        except sqlite3.OperationalError as exc:
            if not is_busy(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def is_busy(exc: BaseException) -> bool:
    text = str(exc)
    return "locked" in text or "busy" in text


def is_full(exc: BaseException) -> bool:
    return "disk is full" in str(exc) or "disk I/O error" in str(exc)


def _while_locked(step: Callable[[], object]) -> object:
    """Retry a step SQLite refuses with "database is locked" without calling its busy handler.

    Switching a fresh file to WAL takes an exclusive lock that does not wait: when several
    processes open a new database at once, all but one get SQLITE_BUSY immediately.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            return step()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """All statements inside commit together or not at all; nests as a savepoint.

    BEGIN IMMEDIATE takes the write lock up front, so two processes never both read
    then fail to upgrade (SQLITE_BUSY mid-transaction).
    """
    if conn.in_transaction:
        conn.execute("SAVEPOINT nested")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK TO nested")
            conn.execute("RELEASE nested")
            raise
        conn.execute("RELEASE nested")
        return
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc) and "busy" not in str(exc):
            raise
        raise NewsletterError.single(
            _file_name(conn),
            f"the database stayed busy for {BUSY_TIMEOUT_MS / 1000:g} s (is a send or an import "
            "running in another window?); try again when it has finished",
        ) from None
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _file_name(conn: sqlite3.Connection) -> str:
    row = conn.execute("PRAGMA database_list").fetchone()
    return row[2] or "database"


from newsletter.mail.schema import MIGRATIONS  # noqa: E402


def migrate(
    conn: sqlite3.Connection,
    migrations: list[Callable[[sqlite3.Connection], None]] | None = None,
) -> int:
    """Apply every migration newer than the file's version; return the version reached.

    The version is read inside the write transaction, so two processes opening a fresh
    file at once apply each migration once.
    """
    migrations = MIGRATIONS if migrations is None else migrations
    latest = len(migrations)
    if schema_version(conn) > latest:
        raise NewsletterError.single(
            _file_name(conn),
            f"schema version {schema_version(conn)} is newer than this program knows "
            f"({latest}); upgrade newsletter before using this database",
        )
    for version, migration in enumerate(migrations, start=1):
        if schema_version(conn) >= version:
            continue
        with transaction(conn):
            if schema_version(conn) >= version:
                continue
            migration(conn)
            conn.execute(f"PRAGMA user_version = {version}")
    return schema_version(conn)
