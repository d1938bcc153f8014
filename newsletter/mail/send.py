"""Sending: claim ledger rows, fill each message, hand it to a Transport, record, retry, pace.

Render and inline happen once (the caller passes `Rendered`); per recipient this module only
fills placeholders and signs an unsubscribe token. The same loop drives SMTP, a directory of
.eml files (`--dry-run`) and test sends, so what a dry run shows is what a real send does.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import itertools
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from newsletter import tokens
from newsletter.build import mime, placeholders
from newsletter.build.recipient import make_recipient
from newsletter.errors import NewsletterError, Problem
from newsletter.mail import ledger as ledger_mod
from newsletter.mail import subscribers
from newsletter.mail.ledger import Ledger, Row
from newsletter.mail.smtp import FatalError, PermanentError, SmtpTransport, TransientError
from newsletter.model import Config, Rendered

DEFAULT_RETRY_AFTER = 60.0
RETRY_CAP = 1800.0
"""Backoff doubles from --retry-after up to this many seconds between tries of one message."""
MAX_ATTEMPTS = 6
"""Tries per message (and reconnects in a row) before a temporary failure counts as final."""
CLAIM_BATCH = 64


class Transport(Protocol):
    """Where messages go: an SMTP connection, or a folder for dry runs.

    A message goes in two steps: `prepare` sends all but the last byte that commits it,
    `finish` commits it and returns the server's reply, `abandon` drops a prepared one. The
    ledger's commit for a message runs while `prepare` sends it; `finish` waits for both.
    """

    def open(self) -> None: ...

    def prepare(self, sender: str, recipient: str, message: bytes) -> None: ...

    def finish(self) -> str: ...

    def abandon(self) -> None: ...

    def close(self) -> None: ...


class DirectoryTransport:
    """Writes each message as NNNNNN-address.eml, for reading what a send would do."""

    _UNSAFE = re.compile(r"[^A-Za-z0-9@._+-]")

    def __init__(self, folder: Path, counter: Iterator[int]):
        self.folder = folder
        self.counter = counter

    def open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def prepare(self, sender: str, recipient: str, message: bytes) -> None:
        self.staged = (recipient, message)

    def finish(self) -> str:
        recipient, message = self.staged
        name = f"{next(self.counter):06d}-{self._UNSAFE.sub('_', recipient)[:80]}.eml"
        (self.folder / name).write_bytes(message)
        return f"written to {name}"

    def abandon(self) -> None:
        pass

    def close(self) -> None:
        pass


def directory_transports(folder: Path) -> Callable[[], Transport]:
    counter = itertools.count(1)
    lock = threading.Lock()

    def numbers() -> Iterator[int]:
        while True:
            with lock:
                n = next(counter)
            yield n

    shared = numbers()
    return lambda: DirectoryTransport(folder, shared)


@dataclass(frozen=True)
class SendOptions:
    connections: int = 1
    rate: float = 0.0
    """Messages per second across all connections; 0 for no limit."""
    daily_limit: int = 0
    """Messages per rolling 24 hours across all sends; 0 for no limit."""
    retry_after: float = DEFAULT_RETRY_AFTER
    retry_cap: float = RETRY_CAP
    max_attempts: int = MAX_ATTEMPTS
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


class Pacer:
    """Spaces handovers `1/rate` seconds apart across threads, continuing from the last run."""

    def __init__(self, rate: float, last_sent: float | None = None):
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next = (last_sent + self.interval) if (last_sent and self.interval) else 0.0
        self.lock = threading.Lock()

    def reserve(self) -> float:
        """Take the next slot; returns how long to wait for it."""
        if not self.interval:
            return 0.0
        with self.lock:
            now = time.time()
            slot = max(now, self.next)
            self.next = slot + self.interval
            return slot - now


class DailyCap:
    """At most `limit` handovers per rolling 24 hours, counted from the ledger at start."""

    def __init__(self, limit: int, used: int):
        self.limit = limit
        self.used = used
        self.lock = threading.Lock()

    def take(self) -> bool:
        if not self.limit:
            return True
        with self.lock:
            if self.used >= self.limit:
                return False
            self.used += 1
            return True


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
    """One run per issue and scope at a time; the kernel drops the lock if the process dies."""
    database.parent.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", issue_id)
    path = database.parent / f".send-{safe}-{scope}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
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


def smtp_transports(config: Config, password: str, **kwargs: object) -> Callable[[], Transport]:
    return lambda: SmtpTransport(config.smtp, password=password, **kwargs)  # type: ignore[arg-type]


def plan(job: Job, *, include_new: bool = False) -> Plan:
    """Count what this run would send, without writing anything."""
    from newsletter.mail.database import connect

    conn = connect(job.database)
    try:
        ledger = Ledger(conn, job.issue_id, job.scope)
        started = ledger.run_started_at() if job.scope == "live" else None
        counts = ledger.counts()
        if job.recipients:
            to_send = len(job.recipients)
        elif started is None or job.scope == "dry-run":
            to_send = conn.execute(
                "SELECT count(*) FROM subscribers WHERE status = 'active'"
            ).fetchone()[0]
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


def _parse_iso(value: str | None) -> float | None:
    return dt.datetime.fromisoformat(value).timestamp() if value else None


class _Run:
    """Shared state of one run: counters, stop flag, and the reason it stopped."""

    def __init__(self, job: Job, options: SendOptions, pacer: Pacer, cap: DailyCap):
        self.job = job
        self.options = options
        self.pacer = pacer
        self.cap = cap
        self.template = job.template()
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.counts = {"sent": 0, "failed": 0, "deferred": 0, "skipped": 0}
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

    def halt(self, reason: str) -> None:
        with self.lock:
            if not self.stopped:
                self.stopped = reason
        self.stop.set()

    def backoff(self, attempts: int) -> float:
        return min(self.options.retry_cap, self.options.retry_after * 2 ** max(attempts - 1, 0))


def _worker(run: _Run, number: int, transport: Transport) -> None:
    from newsletter.mail.database import connect

    job, options = run.job, run.options
    name = f"{os.getpid()}.{number}"
    conn = connect(job.database)
    _set_sync(conn, options)
    ledger = Ledger(conn, job.issue_id, job.scope)
    sender = job.config.sender_email
    current: Row | None = None
    io = ThreadPoolExecutor(1, thread_name_prefix=f"send-{number}-io")
    """Sends each message's bytes while this thread commits its ledger row."""
    try:
        while not run.stop.is_set():
            rows = ledger.claim(name, options.batch)
            if not rows and ledger.skipped:  # a whole batch had left the list: claim again
                run.count("skipped", ledger.skipped)
                continue
            if not rows:
                ledger.flush()
                due = ledger.next_due()
                if due is None:
                    return
                run.stop.wait(min(max(due - time.time(), 0.01), 0.5))
                continue
            run.count("skipped", ledger.skipped)
            for row in rows:
                if run.stop.is_set():
                    break
                if not run.cap.take():
                    run.halt("daily limit")
                    break
                wait = run.pacer.reserve()
                if wait > 0:
                    ledger.flush()
                    if run.stop.wait(wait):
                        break
                token_id = subscribers.token_id_for(conn, row.email) or ""
                message = run.template.render(
                    make_recipient(
                        row.email,
                        row.name,
                        config=job.config,
                        secret=job.secret,
                        token_id=token_id,
                    )
                )
                if not _connected(transport) and not _reconnect(run, transport):
                    break
                current = row
                staged = io.submit(transport.prepare, sender, row.email, message)
                try:
                    ledger.start_sending(row)
                except BaseException:
                    with contextlib.suppress(Exception):
                        staged.result()
                    transport.abandon()
                    raise
                try:
                    staged.result()
                    reply = transport.finish()
                except TransientError as exc:
                    current = None
                    attempts = row.attempts + 1
                    if attempts >= options.max_attempts:
                        ledger.failed(row, f"gave up after {attempts} tries: {exc.reply}")
                        run.count("failed")
                    else:
                        ledger.deferred(
                            row, exc.reply, retry_at=time.time() + run.backoff(attempts)
                        )
                        run.count("deferred")
                    if exc.reconnect and not _reconnect(run, transport):
                        break
                    continue
                except PermanentError as exc:
                    current = None
                    ledger.failed(row, exc.reply, bounced=exc.user_unknown)
                    run.count("failed")
                    continue
                except FatalError as exc:
                    ledger.unsent(row)
                    current = None
                    run.fatal = exc
                    run.halt("fatal")
                    break
                current = None
                ledger.accepted(row, reply)
                run.count("sent")
            ledger.release(name)
    except BaseException as exc:  # a bug: stop the others, keep the ledger consistent
        run.worker_error = exc
        run.halt("error")
        if current is not None:
            with contextlib.suppress(Exception):
                ledger.unsent(current)
    finally:
        with contextlib.suppress(Exception):
            ledger.release(name)
        io.shutdown()
        transport.close()
        conn.close()
        run.worker_done()


def _set_sync(conn: sqlite3.Connection, options: SendOptions) -> None:
    conn.execute(f"PRAGMA synchronous = {'FULL' if options.durable else 'NORMAL'}")


def _connected(transport: Transport) -> bool:
    return getattr(transport, "connected", True)


def _reconnect(run: _Run, transport: Transport) -> bool:
    """Open the connection again, backing off; False (and the run halted) when it gives up."""
    transport.close()
    for attempt in range(1, run.options.max_attempts + 1):
        if run.stop.is_set():
            return False
        try:
            transport.open()
            return True
        except FatalError as exc:
            run.fatal = exc
            run.halt("fatal")
            return False
        except TransientError as exc:
            last = exc.reply
            if attempt < run.options.max_attempts and run.stop.wait(run.backoff(attempt)):
                return False
    run.halt(f"server unreachable: {last}")
    return False


def execute(
    job: Job,
    options: SendOptions = SendOptions(),
    *,
    on_progress: Callable[[Progress], None] | None = None,
    progress_every: float = 0.2,
) -> Summary:
    """Connect (stopping at once on TLS or login failure), take the list, send, summarise.

    Holds the issue's send lock throughout. A run stopped by Ctrl-C, a crash or the daily
    limit leaves the ledger ready for the next run to continue where this one ended.
    """
    from newsletter.mail.database import connect

    with send_lock(job.database, job.issue_id, job.scope):
        transports = [job.transports() for _ in range(max(1, options.connections))]
        try:
            for transport in transports:
                transport.open()
        except (FatalError, TransientError) as exc:
            for transport in transports:
                transport.close()
            raise NewsletterError.single(
                "smtp", f"{exc.reply}; nothing was sent and no recipient was marked"
            ) from None

        conn = connect(job.database)
        _set_sync(conn, options)
        try:
            ledger = Ledger(conn, job.issue_id, job.scope)
            digest = content_hash(job.rendered)
            if job.recipients:
                ledger.reset(job.recipients, content_hash=digest)
            elif job.scope == "dry-run":
                ledger.fill_dry_run(content_hash=digest)
            else:
                ledger.start(content_hash=digest, include_new=options.include_new)
            recovered = ledger.recover()
            total = ledger.left()
            real = job.scope != "dry-run"
            pacer = Pacer(
                options.rate if real else 0,
                _parse_iso(ledger_mod.last_sent(conn)) if real else None,
            )
            day_ago = ledger_mod.iso_ago(86400)
            cap = DailyCap(
                options.daily_limit if real else 0,
                ledger_mod.sent_since(conn, day_ago) if options.daily_limit and real else 0,
            )
            run = _Run(job, options, pacer, cap)
            started = time.monotonic()
            threads = [
                threading.Thread(target=_worker, args=(run, i, t), name=f"send-{i}", daemon=True)
                for i, t in enumerate(transports, start=1)
            ]
            for thread in threads:
                thread.start()

            def report() -> None:
                if on_progress:
                    c = dict(run.counts)
                    on_progress(
                        Progress(
                            done=c["sent"] + c["failed"] + c["skipped"],
                            total=total,
                            sent=c["sent"],
                            failed=c["failed"],
                            deferred=c["deferred"],
                            skipped=c["skipped"],
                            elapsed=time.monotonic() - started,
                        )
                    )

            # Wait on the workers' own "done" flag, never Thread.join: a Ctrl-C that lands
            # inside join() can leave it reporting a live thread as finished, and the
            # process would then exit with a message half handed over.
            try:
                while not run.all_done.wait(progress_every):
                    report()
            except KeyboardInterrupt:
                run.halt("interrupted")
                while not run.all_done.wait(0.05):
                    pass
            report()
            elapsed = time.monotonic() - started
            if run.worker_error is not None:
                raise run.worker_error
            if run.fatal is not None:
                raise NewsletterError.single(
                    "smtp", f"{run.fatal.reply}; the send stopped, run it again once fixed"
                )
            counts = ledger.counts()
            return Summary(
                issue_id=job.issue_id,
                scope=job.scope,
                counts=counts,
                sent_now=run.counts["sent"],
                elapsed=elapsed,
                recovered=recovered,
                stopped=run.stopped,
                failures=ledger.entries("failed"),
            )
        finally:
            conn.close()


def next_day_slot(database: Path) -> str | None:
    """When the rolling 24-hour window frees its first slot, for the daily-limit message."""
    from newsletter.mail.database import connect

    conn = connect(database)
    try:
        oldest = ledger_mod.oldest_sent_since(conn, ledger_mod.iso_ago(86400))
    finally:
        conn.close()
    if not oldest:
        return None
    when = dt.datetime.fromisoformat(oldest) + dt.timedelta(days=1)
    return when.strftime("%Y-%m-%d %H:%M UTC")


_TOKEN = re.compile(r"\b\d+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\b")


def unsubscribe_token(database: Path, text: str, *, secret: str) -> tuple[str, bool]:
    """Unsubscribe whoever a signed token (or a URL or mail text carrying one) names.

    Returns (address, whether it was already unsubscribed). A forged, altered or truncated
    token changes nothing.
    """
    from newsletter.mail.database import connect

    try:
        token = tokens.token_from(text)
    except tokens.InvalidToken:
        token = ""
    if not _TOKEN.fullmatch(token):
        found = _TOKEN.search(text)
        token = found.group(0) if found else token
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
