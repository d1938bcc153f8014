"""SQLite connections shared by every process: WAL, busy timeouts, migrated on open.

What the tables are lives in `schema`; each table's rows are written by one module only."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from newsletter.errors import NewsletterError

BUSY_TIMEOUT_MS = 5000
"""How long a writer waits for another process's lock (a send and an import at once)."""


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) the database, migrated to the latest schema.

    The connection is in autocommit mode: group writes with `transaction(conn)`, so a
    transaction starts exactly where the code says and never implicitly.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _while_locked(lambda: conn.execute("PRAGMA journal_mode = WAL"))
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")
        migrate(conn)
    except NewsletterError:
        conn.close()
        raise
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise NewsletterError.single(
            str(path), f"cannot open the subscriber database: {exc}; is it an SQLite file?"
        ) from None
    return conn


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
    return conn.execute("PRAGMA user_version").fetchone()[0]


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
