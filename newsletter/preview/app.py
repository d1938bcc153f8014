"""`newsletter preview`: watch the workspace, rebuild the issue in memory, publish to browsers.

One background thread watches content/ and templates/ (watchfiles), renders the issue and
publishes an immutable snapshot (snapshot.py); the server (server.py) hands it to the page,
which listens on server-sent events and swaps itself in. It never writes dist/ and never
sends mail. A mistake, or a crash, in one rebuild is shown in the page; the next good build
replaces it.
"""

from __future__ import annotations

import os
import secrets
import threading
import traceback
from collections.abc import Callable
from pathlib import Path

from newsletter.errors import NewsletterError
from newsletter.preview.server import PreviewState, bind
from newsletter.preview.snapshot import Snapshot, render_snapshot
from newsletter.workspace import Paths

Log = Callable[[str], None]
FOLDER_POLL_MS = 500
"""How often a watched folder that was deleted is looked for again."""


class Preview:
    """The preview server: initial build, watcher thread, HTTP server; `stop` ends all three."""

    def __init__(
        self,
        paths: Paths,
        issue_id: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 8000,
        port_tries: int = 1,
        log: Log = lambda message: None,
        debounce_ms: int = 50,
    ) -> None:
        if not paths.content.is_dir():
            raise NewsletterError.single(
                str(paths.content),
                "no content/ folder here; run in your workspace or pass --root",
            )
        self.paths = paths
        self.issue_id = issue_id
        self.log = log
        self.debounce_ms = debounce_ms
        self.state = PreviewState()
        self._boot = secrets.token_hex(4)
        self._count = 0
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._server_thread: threading.Thread | None = None
        self._serving = False
        self._seen: dict[str, tuple[int, int]] = {}
        """The files as the last rebuild found them: edits made before the watcher runs."""
        self.rebuild()
        self.httpd = bind(
            host, port, state=self.state, images=paths.content / "images", tries=port_tries
        )
        self.host = host
        self.port = int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        return f"http://{host}:{self.port}/"

    # -- building ------------------------------------------------------------------------------

    def rebuild(self, reason: str = "") -> Snapshot:
        """Render and publish (the page reloads), then check and publish the findings.

        A content error is published too, and so is a crash: the page shows it and the
        watcher goes on.
        """
        self._count += 1
        self._seen = _fingerprint(self._folders())
        draft = render_snapshot(self.paths, self.issue_id, version=f"{self._boot}-{self._count}")
        self.state.publish(draft.snapshot)
        snapshot = draft.checked(self.paths)
        if snapshot is not draft.snapshot:
            self.state.publish(snapshot)
        because = f" ({reason})" if reason else ""
        if snapshot.ok:
            self.log(
                f"Rendered {snapshot.issue_id} in {snapshot.elapsed_ms:.0f} ms{because}; "
                f"{_findings_summary(snapshot)}."
            )
        else:
            lines = "\n".join(f"  {p}" for p in snapshot.problems)
            self.log(f"The issue does not build{because}:\n{lines}")
        if draft.trace:
            self.log(draft.trace.rstrip())
        return snapshot

    def watch(self) -> None:
        """Rebuild on every change under content/ and templates/ until `stop` (runs in a thread).

        A watched folder that is deleted and comes back (a branch switch, a restore from a
        backup) is watched again, and its return rebuilds. When the watcher itself fails it
        says so once and tries again: a page that silently stops updating misleads.
        """
        watched, failure = self._folders(), ""
        while not self._stop.is_set():
            try:
                self._watch(watched)
            except Exception as exc:
                if self._stop.is_set():
                    return
                said = f"{type(exc).__name__}: {exc}"
                if said != failure and self._folders() == watched:  # not a folder going away
                    self.log("The file watcher failed; trying again:\n" + traceback.format_exc())
                failure = said
                self._stop.wait(FOLDER_POLL_MS / 1000)
            now = self._folders()
            back = [self.paths.rel(f) for f in now if f not in watched]
            if back and not self._stop.is_set():
                self.rebuild(", ".join(back) + " came back")
            watched = now

    def _folders(self) -> tuple[Path, ...]:
        return tuple(p for p in (self.paths.content, self.paths.templates) if p.is_dir())

    def _watch(self, folders: tuple[Path, ...]) -> None:
        """Rebuild on each batch of changes until `stop` or until a folder goes or comes."""
        import watchfiles

        if not folders:
            self._stop.wait(FOLDER_POLL_MS / 1000)
            return
        started = True
        for changes in watchfiles.watch(
            *folders,
            step=self.debounce_ms,
            debounce=1000,
            stop_event=self._stop,
            rust_timeout=FOLDER_POLL_MS,
            yield_on_timeout=True,
            raise_interrupt=False,
        ):
            if self._stop.is_set():
                return
            if changes:
                self.rebuild(_describe_changes({p for _, p in changes}, self.paths))
            elif started:  # saved after the last rebuild read it, before the watcher ran
                missed = _changed_files(self._seen, _fingerprint(folders))
                if missed:
                    self.rebuild(_describe_changes(missed, self.paths))
            started = False
            if self._folders() != folders:
                return

    # -- serving -------------------------------------------------------------------------------

    def start_watching(self) -> None:
        self._watcher = threading.Thread(target=self.watch, name="preview-watch", daemon=True)
        self._watcher.start()

    def serve_forever(self) -> None:
        """Serve in this thread until `stop` or KeyboardInterrupt (which propagates)."""
        self._serving = True
        try:
            self.httpd.serve_forever(poll_interval=0.2)
        finally:
            self._serving = False

    def start(self) -> None:
        """Watch and serve in background threads (tests, embedding)."""
        self.start_watching()
        self._server_thread = threading.Thread(
            target=self.serve_forever, name="preview-http", daemon=True
        )
        self._server_thread.start()

    def stop(self) -> None:
        """Stop watching and serving, wake every open event stream, close the socket."""
        if self._stop.is_set():
            return
        self._stop.set()
        self.state.close()
        if self._serving:
            self.httpd.shutdown()
        if self._server_thread is not None:
            self._server_thread.join(timeout=5)
        self.httpd.server_close()
        if self._watcher is not None:
            self._watcher.join(timeout=5)


def _findings_summary(snapshot: Snapshot) -> str:
    if snapshot.findings is None:
        return snapshot.check_error or "not checked (no check in this version)"
    errors = sum(1 for f in snapshot.findings if f.severity == "error")
    warnings = len(snapshot.findings) - errors
    parts = [f"{errors} error{'s' * (errors != 1)}"] if errors else []
    if warnings:
        parts.append(f"{warnings} warning{'s' * (warnings != 1)}")
    return "check: " + (", ".join(parts) or "nothing to fix")


def _describe_changes(changed: set[str], paths: Paths) -> str:
    """The files that changed and still exist (editors' temporary files come and go)."""
    existing = {p for p in changed if Path(p).exists()} or changed
    names = sorted(paths.rel(Path(p)) for p in existing)
    more = f" and {len(names) - 2} more" if len(names) > 2 else ""
    return ", ".join(names[:2]) + more + " changed"


def _fingerprint(folders: tuple[Path, ...]) -> dict[str, tuple[int, int]]:
    """Every file under the folders with its modification time and size (symlinks not followed)."""
    found: dict[str, tuple[int, int]] = {}
    for folder in folders:
        for parent, _dirs, names in os.walk(folder):
            for name in names:
                path = os.path.join(parent, name)
                try:
                    stat = os.stat(path)
                except OSError:
                    continue  # gone since the folder was listed
                found[path] = (stat.st_mtime_ns, stat.st_size)
    return found


def _changed_files(
    before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]
) -> set[str]:
    return {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
