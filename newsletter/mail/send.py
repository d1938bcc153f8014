"""Sending: claim ledger rows, fill each message, hand it to a Transport, record, retry.

Render and inline happen once (the caller passes `Rendered`); per recipient this module only
fills placeholders and signs an unsubscribe token. The same loop drives SMTP, a directory of
.eml files (`--dry-run`) and test sends, so what a dry run shows is what a real send does.
Connections and their faults live in `transport` and `smtp`, the rate in `pacing`, the
state of every recipient in `ledger`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from newsletter import tokens
from newsletter.build import mime, placeholders
from newsletter.build.recipient import make_recipient
from newsletter.errors import NewsletterError, Problem
from newsletter.load.loader import Workspace
from newsletter.mail import ledger as ledger_mod
from newsletter.mail import subscribers
from newsletter.mail.database import connect, is_full
from newsletter.mail.ledger import Ledger, Row
from newsletter.mail.pacing import Pacer, backoff
from newsletter.mail.smtp import FatalError, PermanentError, SmtpError, TransientError
from newsletter.mail.transport import (
    Transport,
    Unreachable,
    directory_transports,
    reconnect,
    smtp_transports,
)
from newsletter.model import Config, Rendered
from newsletter.workspace import Paths

DEFAULT_RETRY_AFTER = 60.0
RETRY_CAP = 1800.0
"""Backoff doubles from --retry-after up to this many seconds between tries of one message."""
DEFAULT_RETRY_WINDOW = 24 * 3600.0
"""How long a message answered only with temporary replies is retried before it fails."""
MAX_WAIT = 600.0
"""A run waits at most this long for a deferred message's next try; later ones wait for the
next `newsletter send`."""
CONNECT_TRIES = 6
"""Connection attempts in a row (with backoff) before the server counts as unreachable."""
CLAIM_BATCH = 64

__all__ = ["directory_transports", "smtp_transports"]


@dataclass(frozen=True)
class SendOptions:
    connections: int = 1
    rate: float = 0.0
    """Messages per second across all connections; 0 for no limit."""
    daily_limit: int = 0
    """Messages per rolling 24 hours across all sends of every issue; 0 for no limit."""
    retry_after: float = DEFAULT_RETRY_AFTER
    retry_cap: float = RETRY_CAP
    retry_window: float = DEFAULT_RETRY_WINDOW
    """A message fails on temporary replies only once this long has passed since its first
    try; until then it is deferred and retried (in this run or the next)."""
    max_wait: float = MAX_WAIT
    connect_tries: int = CONNECT_TRIES
    include_new: bool = False
    batch: int = CLAIM_BATCH
    durable: bool = True
    """Flush each ledger commit to disk before the next handover (SQLite synchronous=FULL),
    so even a power cut re-sends at most the message in flight on each connection. Without
    it (synchronous=NORMAL) a process crash still does, but a power cut or OS crash may
    lose the last commits and re-send the messages they recorded (never skip one)."""


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    sent: int
    failed: int
    deferred: int
    skipped: int
    elapsed: float

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed if self.elapsed > 0 else 0.0


@dataclass
class Summary:
    issue_id: str
    scope: str
    counts: dict[str, int]
    sent_now: int
    elapsed: float
    recovered: list[str] = field(default_factory=list)
    """Addresses left in flight by an earlier crash, sent again this run."""
    stopped: str = ""
    """Why the run ended early ('' when nothing is left to send)."""
    failures: list[ledger_mod.Entry] = field(default_factory=list)
    not_built: list[tuple[str, str]] = field(default_factory=list)
    """(address, reason) of messages that could not be made this run: recorded failed."""

    @property
    def left(self) -> int:
        return self.counts["pending"] + self.counts["deferred"] + self.counts["sending"]

    @property
    def rate(self) -> float:
        return self.sent_now / self.elapsed if self.elapsed > 0 else 0.0


@dataclass(frozen=True)
class Plan:
    """What a send is about to do, for the confirmation question."""

    issue_id: str
    subject: str
    scope: str
    to_send: int
    already_sent: int
    started_at: str | None
    in_flight: int
    new_subscribers: int
    content_changed: bool


def content_hash(rendered: Rendered) -> str:
    """What recipients read, without the per-render marker nonce: equal across rebuilds."""
    digest = hashlib.sha256()
    html = placeholders.export(rendered.html, rendered.nonce)
    text = placeholders.export(rendered.text, rendered.nonce)
    for part in (rendered.issue.subject, html, text):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def test_recipients(addresses: Sequence[str]) -> list[tuple[str, str]]:
    """Validated (email, '') pairs for a test send; every bad address reported at once."""
    from newsletter.mail.subscribers import normalize_email

    good: list[tuple[str, str]] = []
    problems = []
    for address in addresses:
        try:
            good.append((normalize_email(address), ""))
        except ValueError as exc:
            problems.append(Problem("--test", 0, f"{address!r}: {exc}"))
    if problems:
        raise NewsletterError(problems)
    return good


@contextlib.contextmanager
def send_lock(database: Path, issue_id: str, scope: str) -> Iterator[None]:
    """One run per issue and scope per database file; the kernel drops it if the process dies.

    The lock file sits beside the database's real file (symlinks and relative paths
    resolved), so every path that reaches one database meets the same lock.
    """
    real = database.resolve()
    real.parent.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", f"{real.name}-{issue_id}")
    path = real.parent / f".send-{safe}-{scope}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise NewsletterError.single(
                issue_id,
                "another `newsletter send` of this issue is running; wait for it or stop it "
                "(Ctrl-C), then run this again to resume",
            ) from None
        yield
    finally:
        os.close(fd)


@dataclass
class Job:
    """Everything a run needs, prepared before the confirmation question."""

    database: Path
    config: Config
    rendered: Rendered
    scope: str
    secret: str
    transports: Callable[[], Transport]
    recipients: Sequence[tuple[str, str]] = ()
    """Explicit (email, name) recipients for test sends; empty for the subscriber list."""
    subject_prefix: str = ""
    workspace: Workspace | None = None
    """What the issue was rendered from, for the checks before a live send."""

    @property
    def issue_id(self) -> str:
        return self.rendered.issue.id

    def template(self) -> mime.MessageTemplate:
        return mime.MessageTemplate(
            self.rendered,
            config=self.config,
            subject_prefix=self.subject_prefix,
            scope="test" if self.scope == "test" else "",
        )


def make_job(
    paths: Paths,
    issue_id: str,
    /,
    *,
    database: Path,
    test: Sequence[str] = (),
    dry_run: Path | None = None,
    rate: float | None = None,
) -> tuple[Job, str]:
    """Build the issue once and gather what its send needs; also says where mail goes.

    A content error, a bad test address or a weak secret stops here, before anything is
    written or any connection opened.
    """
    from newsletter.build.pipeline import render_rendered
    from newsletter.load.content import pick_issue
    from newsletter.load.loader import load_workspace
    from newsletter.workspace import load_secret, load_smtp_password

    workspace = load_workspace(paths)
    config = workspace.config
    rendered = render_rendered(pick_issue(workspace.library, issue_id), config=config, paths=paths)
    if rate is not None:
        config = config._replace(rate_per_second=rate)
    scope = "dry-run" if dry_run else "test" if test else "live"
    if dry_run:
        transports = directory_transports(dry_run)
        where = f"{dry_run}/"
    else:
        transports = smtp_transports(config, load_smtp_password(paths))
        where = f"{config.smtp.host}:{config.smtp.port} ({config.smtp.security})"
    job = Job(
        database=database,
        config=config,
        rendered=rendered,
        scope=scope,
        secret=load_secret(paths),
        transports=transports,
        recipients=test_recipients(test),
        subject_prefix="[TEST] " if test else "",
        workspace=workspace,
    )
    return job, where


def plan(job: Job, *, include_new: bool = False) -> Plan:
    """Count what this run would send, without writing anything."""
    from newsletter.mail.subscribers import count_active

    conn = connect(job.database)
    try:
        ledger = Ledger(conn, job.issue_id, job.scope)
        started = ledger.run_started_at() if job.scope == "live" else None
        counts = ledger.counts()
        if job.recipients:
            to_send = len(job.recipients)
        elif started is None or job.scope == "dry-run":
            to_send = count_active(conn)
        else:
            to_send = ledger.left() + (ledger.new_subscribers() if include_new else 0)
        return Plan(
            issue_id=job.issue_id,
            subject=job.subject_prefix + job.rendered.issue.subject,
            scope=job.scope,
            to_send=to_send,
            already_sent=counts["sent"] if started else 0,
            started_at=started,
            in_flight=counts["sending"] if started else 0,
            new_subscribers=ledger.new_subscribers() if started else 0,
            content_changed=bool(started) and ledger.content_hash() != content_hash(job.rendered),
        )
    finally:
        conn.close()


class _Run:
    """Shared state of one run: counters, stop flag, and the reason it stopped."""

    def __init__(self, job: Job, options: SendOptions, pacer: Pacer):
        self.job = job
        self.options = options
        self.pacer = pacer
        self.daily_limit = options.daily_limit if job.scope != "dry-run" else 0
        self.template = job.template()
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.counts = {"sent": 0, "failed": 0, "deferred": 0, "skipped": 0}
        self.not_built: list[tuple[str, str]] = []
        self.stopped = ""
        self.fatal: FatalError | None = None
        self.worker_error: BaseException | None = None
        self.running = max(1, options.connections)
        self.all_done = threading.Event()

    def worker_done(self) -> None:
        with self.lock:
            self.running -= 1
            if self.running <= 0:
                self.all_done.set()

    def count(self, what: str, n: int = 1) -> None:
        with self.lock:
            self.counts[what] += n

    def note(self, reason: str) -> None:
        """Why this run will end with messages left, without stopping the other workers."""
        with self.lock:
            if not self.stopped:
                self.stopped = reason

    def halt(self, reason: str) -> None:
        self.note(reason)
        self.stop.set()

    def backoff(self, attempts: int) -> float:
        return backoff(attempts, first=self.options.retry_after, cap=self.options.retry_cap)

    reserve: Path | None = None

    def release_reserve(self) -> None:
        with self.lock:
            if self.reserve is not None:
                self.reserve.unlink(missing_ok=True)
                self.reserve = None


RESERVE_BYTES = 1 << 20
"""Disk space held beside the database during a send and freed if the disk fills up, so
the messages the server already took can still be recorded as sent."""


@contextlib.contextmanager
def _disk_reserve(database: Path) -> Iterator[Path | None]:
    real = database.resolve()
    path = real.with_name(f".{real.name}.send-reserve")
    try:
        with path.open("wb") as out:
            out.write(bytes(RESERVE_BYTES))
        held: Path | None = path
    except OSError:
        path.unlink(missing_ok=True)
        held = None
    try:
        yield held
    finally:
        path.unlink(missing_ok=True)


class _Worker:
    """One connection's loop: claim a batch, then for each row pace, build, hand over, record."""

    def __init__(self, run: _Run, number: int, transport: Transport):
        self.run = run
        self.options = run.options
        self.transport = transport
        self.name = f"{os.getpid()}.{number}"
        self.current: Row | None = None
        self.upcoming: Row | None = None
        """The next row of the batch, built while the server answers the current one."""
        self.ready: tuple[int, bytes | Exception] | None = None
        """(row id, its message or why it could not be made), built ahead."""
        self.token_ids: dict[str, str] = {}
        """The unsubscribe link id of each address in the batch (`subscribers.token_ids_for`)."""

    def __call__(self) -> None:
        try:
            self.conn = connect(self.run.job.database)  # SQLite: one connection per thread
        except BaseException as exc:
            self.run.worker_error = exc
            self.run.halt("error")
            self.run.worker_done()
            return
        _set_sync(self.conn, self.options)
        self.ledger = Ledger(self.conn, self.run.job.issue_id, self.run.job.scope)
        try:
            while not self.run.stop.is_set():
                rows = self._next_batch()
                if rows is None:
                    return
                self.token_ids = subscribers.token_ids_for(self.conn, (r.email for r in rows))
                for i, row in enumerate(rows):
                    self.upcoming = rows[i + 1] if i + 1 < len(rows) else None
                    if self.run.stop.is_set() or not self._send(row):
                        break
                self.upcoming, self.ready = None, None
                self.ledger.release(self.name)
        except BaseException as exc:  # a bug or a full disk: stop the others, keep the ledger
            self.run.worker_error = exc
            self.run.halt("error")
            if isinstance(exc, sqlite3.OperationalError) and is_full(exc):
                self.run.release_reserve()  # room to record what the server already took
            with contextlib.suppress(Exception):
                self.ledger.flush()
            if self.current is not None:
                with contextlib.suppress(Exception):
                    self.ledger.unsent(self.current)
        finally:
            with contextlib.suppress(Exception):
                self.ledger.release(self.name)
            self.transport.close()
            self.conn.close()
            self.run.worker_done()

    def _next_batch(self) -> list[Row] | None:
        """The next rows to send; [] to ask again; None when this worker has nothing left."""
        run, ledger = self.run, self.ledger
        rows = ledger.claim(self.name, self.options.batch, daily_limit=run.daily_limit)
        run.count("skipped", ledger.skipped)
        if rows or ledger.taken:
            return rows  # a batch whose every row left the list is no reason to stop
        if ledger.limited:
            run.note("daily limit")
            return None
        ledger.flush()
        due = ledger.next_due()
        if due is None:
            return None
        wait = due - time.time()
        if wait > self.options.max_wait:
            run.note("deferred")
            return None
        run.stop.wait(min(max(wait, 0.01), 0.5))
        return []

    def _send(self, row: Row) -> bool:
        """Send one row; False when this worker must stop its batch."""
        wait = self.run.pacer.reserve()
        if wait > 0:
            self.ledger.flush()
            if self.run.stop.wait(wait):
                return False
        message = self._build(row)
        if message is None:
            return True
        if not self.transport.connected and not self._reconnect():
            return False
        return self._hand_over(row, message)

    def _build(self, row: Row) -> bytes | None:
        """The message bytes, or None (recorded failed) when they cannot be made.

        That is a bug on this side, not the recipient's fault; it must not stop the send
        for everyone after them, and the summary and exit status say so.
        """
        ready, self.ready = self.ready, None
        made = ready[1] if ready is not None and ready[0] == row.id else self._make(row)
        if isinstance(made, bytes):
            return made
        reason = f"the message could not be built: {type(made).__name__}: {made}"
        self.ledger.failed(row, reason)
        self.run.count("failed")
        with self.run.lock:
            self.run.not_built.append((row.email, reason))
        return None

    def _make(self, row: Row) -> bytes | Exception:
        job = self.run.job
        try:
            recipient = make_recipient(
                row.email,
                row.name,
                config=job.config,
                secret=job.secret,
                token_id=self.token_ids.get(row.email, ""),
            )
            return self.run.template.render(recipient)
        except Exception as exc:
            return exc

    def _build_next(self) -> None:
        """Make the next row's message while the server works on this one's (its 250)."""
        row = self.upcoming
        if row is not None and self.ready is None:
            self.ready = (row.id, self._make(row))

    def _hand_over(self, row: Row, message: bytes) -> bool:
        """Send the envelope and the message, all but the final dot; commit `sending` while
        the message travels (the kernel sends it and the server reads it meanwhile); then
        send the dot, build the next message while the server answers, record the reply."""
        sender = self.run.job.config.sender_email
        self.current = row
        refused = self._all_but_the_dot(sender, row.email, message)
        try:
            going = self.ledger.start_sending(row)
        except BaseException:
            self.transport.abandon()
            raise
        if not going:  # unsubscribed since the claim: the envelope is out, drop it
            self.current = None
            self.transport.abandon()
            self.run.count("skipped")
            return True
        try:
            if refused is not None:
                raise refused
            reply = self.transport.finish(self._build_next, then=self._then(sender))
        except TransientError as exc:
            self.current = None
            return self._temporary(row, exc)
        except PermanentError as exc:
            self.current = None
            self.ledger.failed(row, exc.reply, bounced=exc.user_unknown)
            self.run.count("failed")
            return True
        except FatalError as exc:
            self.ledger.unsent(row)
            self.current = None
            self.run.fatal = exc
            self.run.halt("fatal")
            return False
        self.current = None
        self.ledger.accepted(row, reply)
        self.run.count("sent")
        return True

    def _all_but_the_dot(self, sender: str, email: str, message: bytes) -> SmtpError | None:
        """Envelope and message out, the dot held back; a refusal is returned, to be recorded
        after `sending` like any other reply."""
        try:
            self.transport.offer(sender, email, message)
            self.transport.transfer()
        except SmtpError as exc:
            return exc
        return None

    def _then(self, sender: str) -> tuple[str, str] | None:
        """The next row's envelope, to travel behind this message's dot.

        Not when a rate is set: the pause before the next message would hold the server
        in an open DATA for its length.
        """
        row = self.upcoming
        if row is None or self.run.pacer.interval:
            return None
        return (sender, row.email)

    def _temporary(self, row: Row, exc: TransientError) -> bool:
        """A 4xx, a drop or a timeout: defer until the retry window ends, then fail.

        The next message goes on a fresh connection: a server that said 452 or 421 (too
        many messages, shutting down) often means "not on this connection".
        """
        attempts = row.attempts + 1
        tried = row.tried_for()
        if tried >= self.options.retry_window:
            self.ledger.failed(
                row, f"gave up after {attempts} tries over {_duration(tried)}: {exc.reply}"
            )
            self.run.count("failed")
        else:
            retry_at = time.time() + self.run.backoff(attempts)
            self.ledger.deferred(row, exc.reply, retry_at=retry_at)
            self.run.count("deferred")
        return self._reconnect()

    def _reconnect(self) -> bool:
        """Open the connection again, backing off; False (and the run halted) on giving up."""
        try:
            reconnect(
                self.transport,
                tries=self.options.connect_tries,
                wait=lambda attempt: self.run.stop.wait(self.run.backoff(attempt)),
            )
            return True
        except FatalError as exc:
            self.run.fatal = exc
            self.run.halt("fatal")
        except Unreachable as exc:
            self.run.halt(exc.reply)
        except InterruptedError:
            pass
        return False


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def _set_sync(conn: sqlite3.Connection, options: SendOptions) -> None:
    conn.execute(f"PRAGMA synchronous = {'FULL' if options.durable else 'NORMAL'}")


def execute(
    job: Job,
    options: SendOptions = SendOptions(),
    *,
    on_progress: Callable[[Progress], None] | None = None,
    progress_every: float = 0.2,
) -> Summary:
    """Connect (stopping at once on TLS or login failure), take the list, send, summarise.

    Holds the issue's send lock throughout. A run stopped by Ctrl-C, a crash, the daily
    limit or an unreachable server leaves the ledger ready for the next run to continue
    where this one ended.
    """
    with send_lock(job.database, job.issue_id, job.scope):
        transports, unreachable = _open_transports(job, options)
        conn = connect(job.database)
        _set_sync(conn, options)
        try:
            ledger = Ledger(conn, job.issue_id, job.scope)
            if unreachable:
                return _summary(ledger, job, 0, 0.0, [], unreachable, [])
            recovered = _take_the_list(ledger, job, options)
            real = job.scope != "dry-run"
            pacer = Pacer(options.rate if real else 0, ledger_mod.last_sent(conn) if real else None)
            run = _Run(job, options, pacer)
            started = time.monotonic()
            with _disk_reserve(job.database) as run.reserve:
                _drive(run, transports, ledger.left(), on_progress, progress_every)
            elapsed = time.monotonic() - started
            _raise_what_stopped(run, job)
            return _summary(
                ledger, job, run.counts["sent"], elapsed, recovered, run.stopped, run.not_built
            )
        finally:
            conn.close()


def _open_transports(job: Job, options: SendOptions) -> tuple[list[Transport], str]:
    """One open connection per worker; a fatal problem (TLS, login) stops here.

    A temporary one (the server is down, or said 421 or 4xx) returns its reason, so the run
    records nothing and asks to be run again later.
    """
    transports = [job.transports() for _ in range(max(1, options.connections))]
    try:
        for transport in transports:
            transport.open()
    except (FatalError, TransientError) as exc:
        for transport in transports:
            transport.close()
        if isinstance(exc, TransientError):
            return transports, f"server unreachable: {exc.reply}"
        raise NewsletterError.single(
            "smtp", f"{exc.reply}; nothing was sent and no recipient was marked"
        ) from None
    return transports, ""


def _take_the_list(ledger: Ledger, job: Job, options: SendOptions) -> list[str]:
    """Record who this run is for (first run, test, dry run) and recover a crashed run."""
    digest = content_hash(job.rendered)
    if job.recipients:
        ledger.reset(job.recipients, content_hash=digest)
    elif job.scope == "dry-run":
        ledger.fill_dry_run(content_hash=digest)
    else:
        ledger.start(content_hash=digest, include_new=options.include_new)
    return ledger.recover()


def _drive(
    run: _Run,
    transports: list[Transport],
    total: int,
    on_progress: Callable[[Progress], None] | None,
    every: float,
) -> None:
    """Run one worker thread per connection to the end, reporting progress meanwhile."""
    started = time.monotonic()
    threads = [
        threading.Thread(target=_Worker(run, i, t), name=f"send-{i}", daemon=True)
        for i, t in enumerate(transports, start=1)
    ]
    for thread in threads:
        thread.start()

    def report() -> None:
        if on_progress:
            c = dict(run.counts)
            done = c["sent"] + c["failed"] + c["skipped"]
            on_progress(
                Progress(
                    done,
                    total,
                    c["sent"],
                    c["failed"],
                    c["deferred"],
                    c["skipped"],
                    time.monotonic() - started,
                )
            )

    # Wait on the workers' own "done" flag, never Thread.join: a Ctrl-C that lands inside
    # join() can leave it reporting a live thread as finished, and the process would then
    # exit with a message half handed over.
    try:
        while not run.all_done.wait(every):
            report()
    except KeyboardInterrupt:
        run.halt("interrupted")
        while not run.all_done.wait(0.05):
            pass
    report()


def _raise_what_stopped(run: _Run, job: Job) -> None:
    """A worker's bug is re-raised; a full disk or a fatal SMTP reply is one clear line."""
    error = run.worker_error
    if error is not None:
        if isinstance(error, sqlite3.OperationalError) and is_full(error):
            raise NewsletterError.single(
                str(job.database),
                "the disk is full: the send stopped; every message handed over is recorded. "
                "Free some space, then run the same command again to continue",
            )
        raise error
    if run.fatal is not None:
        raise NewsletterError.single(
            "smtp", f"{run.fatal.reply}; the send stopped, run it again once fixed"
        )


def _summary(
    ledger: Ledger,
    job: Job,
    sent_now: int,
    elapsed: float,
    recovered: list[str],
    stopped: str,
    not_built: list[tuple[str, str]],
) -> Summary:
    counts = ledger.counts()
    left = counts["pending"] + counts["deferred"] + counts["sending"]
    return Summary(
        issue_id=job.issue_id,
        scope=job.scope,
        counts=counts,
        sent_now=sent_now,
        elapsed=elapsed,
        recovered=recovered,
        stopped=stopped if left or stopped.startswith("server unreachable") else "",
        failures=ledger.entries("failed"),
        not_built=not_built,
    )


def next_day_slot(database: Path) -> str | None:
    """When the rolling 24-hour window frees its first slot, for the daily-limit message."""
    from newsletter.mail import pacing

    return pacing.next_day_slot(database)


def unsubscribe_token(database: Path, text: str, *, secret: str) -> tuple[str, bool]:
    """Unsubscribe whoever a signed token (or a URL or mail text carrying one) names.

    Returns (address, whether it was already unsubscribed). A forged, altered or truncated
    token changes nothing.
    """
    try:
        token = tokens.token_from(text)
    except tokens.InvalidToken:
        token = ""
    if tokens.find_tokens(token) != [token]:
        found = tokens.find_tokens(text)
        token = found[0] if found else token
    try:
        verified = tokens.read(token, secret)
    except tokens.InvalidToken as exc:
        raise NewsletterError.single(
            "unsubscribe", f"{exc}: the token is not valid, nobody was unsubscribed"
        ) from None
    conn = connect(database)
    try:
        listed = subscribers.by_token(conn, verified)
        if listed is None:
            raise NewsletterError.single("unsubscribe", "not in the subscriber list")
        done = subscribers.unsubscribe(conn, listed, via="command line")
    finally:
        conn.close()
    return done.subscriber.email, done.already
