"""The web service's SQLite connections: one per thread, checkpoints in a thread of their own.

A commit that crosses SQLite's auto-checkpoint threshold copies the WAL back into the
database inside that commit, a pause of many milliseconds in whichever request made it.
The service's connections switch auto-checkpoints off and a background thread runs a
passive checkpoint every second instead, so no request waits for one.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path

from newsletter.mail.database import connect

CHECKPOINT_EVERY = 1.0


class Database:
    """Per-thread connections to the shared subscriber database."""

    def __init__(self, path: Path):
        self.path = path
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._checkpointer: threading.Thread | None = None
        self.write_lock = threading.Lock()
        """Request threads queue here for their (microseconds-long) write instead of in
        SQLite's busy handler, which sleeps 1, 2, 5, 10... ms between tries and would give
        the slowest requests seconds of waiting under load."""
        connect(path).close()  # migrate now, not inside the first request

    def connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path)
            conn.execute("PRAGMA wal_autocheckpoint = 0")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def without_waiting(self) -> sqlite3.Connection:
        """The event loop thread's connection: it never waits for a lock (busy_timeout 0).

        A write that finds the database busy fails at once with "locked"; the caller then
        does it again in a worker thread that may wait. So the loop runs the common case
        without a thread hop and is never held up by another process's transaction.
        """
        conn: sqlite3.Connection | None = getattr(self._local, "eager", None)
        if conn is None:
            conn = connect(self.path)
            conn.execute("PRAGMA wal_autocheckpoint = 0")
            conn.execute("PRAGMA busy_timeout = 0")
            self._local.eager = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def start_checkpoints(self) -> None:
        self._checkpointer = threading.Thread(
            target=self._checkpoints, name="sqlite-checkpoint", daemon=True
        )
        self._checkpointer.start()

    def _checkpoints(self) -> None:
        conn = connect(self.path)
        try:
            while not self._stop.wait(CHECKPOINT_EVERY):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.OperationalError:
                    continue  # busy: the next round catches up
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        if self._checkpointer is not None:
            self._checkpointer.join(timeout=5)
        with self._lock:
            for conn in self._all:
                # A connection made in another thread cannot be closed here; the process
                # exit closes it.
                with contextlib.suppress(sqlite3.ProgrammingError):
                    conn.close()
            self._all.clear()
