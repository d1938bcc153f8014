"""The next message's envelope travels behind the current one's final dot (RFC 2920).

A bare server on loopback holds back its answer to each final dot and watches whether the
next MAIL FROM arrives anyway: it does only when the client sent it without waiting. The
ledger's promise still holds: a row is `sending` before its dot, and a row whose envelope
went out early is dropped cleanly when it must not be sent.
"""

from __future__ import annotations

import select
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import replace

import pytest
from smtp_sink import Sink
from test_send import FAST, add, job, people, states

from newsletter.mail import database, subscribers
from newsletter.mail import send as sending


class WithholdingSink:
    """Answers each final dot only once the next MAIL FROM arrived or `hold` seconds passed.

    `early[rcpt]` says whether the next envelope was already there; `received` lists the
    recipients whose message was answered 250, in order.
    """

    def __init__(self, hold: float = 0.4):
        self.hold = hold
        self.early: dict[str, bool] = {}
        self.received: list[str] = []
        self.on_body: Callable[[str], None] = lambda rcpt: None
        """Called as the first line of a message arrives, and as its final dot does."""
        self.on_dot: Callable[[str], None] = lambda rcpt: None
        self.host = "127.0.0.1"
        self.server = socket.create_server((self.host, 0))
        self.port = self.server.getsockname()[1]
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> WithholdingSink:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            self.buffer = b""
            conn.sendall(b"220 sink ESMTP\r\n")
            rcpt = ""
            while (line := self._line(conn)) is not None:
                verb = line[:4].upper()
                if verb == b"EHLO":
                    conn.sendall(b"250-sink\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
                elif verb == b"RCPT":
                    rcpt = line.decode().partition("<")[2].rstrip(">\r\n")
                    conn.sendall(b"250 2.1.5 Ok\r\n")
                elif verb == b"DATA":
                    conn.sendall(b"354 go ahead\r\n")
                    self._line(conn)
                    self.on_body(rcpt)
                    while self._line(conn) not in (None, b".\r\n"):
                        pass
                    self.on_dot(rcpt)
                    self.early[rcpt] = self._next_mail_arrives(conn)
                    self.received.append(rcpt)
                    conn.sendall(b"250 2.0.0 Ok: queued\r\n")
                elif verb == b"QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(b"250 Ok\r\n")

    def _line(self, conn: socket.socket) -> bytes | None:
        while b"\r\n" not in self.buffer:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line + b"\r\n"

    def _next_mail_arrives(self, conn: socket.socket) -> bool:
        while not self.buffer.upper().startswith(b"MAIL FROM"):
            if len(self.buffer) >= 9 or not select.select([conn], [], [], self.hold)[0]:
                return False
            chunk = conn.recv(65536)
            if not chunk:
                return False
            self.buffer += chunk
        return True


def test_the_next_envelope_goes_out_before_the_server_answers_the_dot(paths, issue) -> None:
    """Three readers: behind the first two dots the next MAIL FROM is already on its way
    (one round trip a message); the last has none to carry. Everyone gets one copy."""
    add(paths, *people(3))
    with WithholdingSink() as sink:
        summary = sending.execute(job(paths, issue, sink), FAST)
    assert sink.received == [f"reader{i}@example.org" for i in range(3)]
    assert sink.early == {
        "reader0@example.org": True,
        "reader1@example.org": True,
        "reader2@example.org": False,
    }
    assert summary.counts["sent"] == 3


def test_a_paced_send_opens_no_envelope_before_its_turn(paths, issue) -> None:
    """With a rate the next message waits its slot: its envelope waits too, so the server is
    never held in an open transaction through the pause."""
    add(paths, *people(3))
    with WithholdingSink(hold=0.2) as sink:
        sending.execute(job(paths, issue, sink), replace(FAST, rate=50.0))
    assert sink.early == {f"reader{i}@example.org": False for i in range(3)}


def test_a_reader_who_leaves_while_their_envelope_is_out_gets_nothing(paths, issue) -> None:
    """reader2 unsubscribes while reader1's dot is being answered, after reader2's envelope
    went out behind it. reader2's row is checked when it goes `sending`: the envelope is
    dropped (the connection closed inside DATA), reader2 gets nothing, the rest go."""
    add(paths, *people(5))

    def leave(rcpt: str) -> None:
        if rcpt == "reader1@example.org":
            conn = database.connect(paths.database)
            try:
                listed = subscribers.get(conn, "reader2@example.org")
                assert listed is not None
                subscribers.unsubscribe(conn, listed, via="test")
            finally:
                conn.close()

    with Sink() as sink:
        sink.on_data = leave
        summary = sending.execute(job(paths, issue, sink), FAST)
    assert sink.counts() == {f"reader{i}@example.org": 1 for i in (0, 1, 3, 4)}
    assert summary.counts["skipped"] == 1
    assert states(paths)["skipped"] == 1


def test_a_rejected_message_with_the_next_envelope_out_costs_nobody(paths, issue) -> None:
    """554 to reader1's dot while reader2's envelope is already in: reader1 fails, the
    connection is opened afresh and reader2 onwards get exactly one copy each."""
    add(paths, *people(4))
    with Sink() as sink:
        sink.reply_at_data("reader1@example.org", "554 5.6.0 content rejected")
        summary = sending.execute(job(paths, issue, sink), FAST)
    assert sink.counts() == {f"reader{i}@example.org": 1 for i in (0, 2, 3)}
    assert [f.email for f in summary.failures] == ["reader1@example.org"]


def test_the_message_travels_while_its_commit_waits_and_the_dot_waits_for_it(paths, issue) -> None:
    """Another writer takes the database for half a second as reader0's dot arrives, so
    reader1's commit waits. reader1's message reaches the server meanwhile (its row not
    yet `sending`: the transfer overlaps the commit), but its final dot comes only once
    `sending` is committed: no dot ever precedes its row's commit."""
    add(paths, *people(3))
    blocker = sqlite3.connect(paths.database, isolation_level=None, check_same_thread=False)
    seen: dict[str, tuple[str, float]] = {}

    def state(rcpt: str) -> str:
        conn = sqlite3.connect(paths.database)
        try:
            row = conn.execute("SELECT state FROM deliveries WHERE email = ?", (rcpt,))
            return str(row.fetchone()[0])
        finally:
            conn.close()

    def body(rcpt: str) -> None:
        seen[f"body {rcpt}"] = (state(rcpt), time.monotonic())

    def dot(rcpt: str) -> None:
        seen[f"dot {rcpt}"] = (state(rcpt), time.monotonic())
        if rcpt == "reader0@example.org":
            blocker.execute("BEGIN IMMEDIATE")
            threading.Timer(0.5, lambda: blocker.execute("COMMIT")).start()

    with WithholdingSink(hold=0.05) as sink:
        sink.on_body, sink.on_dot = body, dot
        summary = sending.execute(job(paths, issue, sink), FAST)
    blocker.close()
    body_state, body_at = seen["body reader1@example.org"]
    dot_state, dot_at = seen["dot reader1@example.org"]
    assert (body_state, dot_state) == ("pending", "sending")
    assert dot_at - body_at >= 0.3
    assert all(seen[f"dot reader{i}@example.org"][0] == "sending" for i in range(3))
    assert summary.counts["sent"] == 3
    assert sink.received == [f"reader{i}@example.org" for i in range(3)]


def test_a_bug_while_a_message_travels_leaves_the_ledger_whole(paths, issue, monkeypatch) -> None:
    """A fault of ours (not an SMTP reply) while reader1's message travels, with reader0's
    `sent` not yet committed: the send stops with the error, reader0 is recorded sent,
    reader1 is not left `sending`, and the next run sends reader1 and reader2 only."""
    from newsletter.mail.smtp import SmtpTransport

    add(paths, *people(3))
    real = SmtpTransport.transfer

    def broken(self: SmtpTransport) -> None:
        if self.offered[1] and b"reader1@example.org" in self.offered[1]:
            raise RuntimeError("a bug")
        real(self)

    with Sink() as sink:
        monkeypatch.setattr(SmtpTransport, "transfer", broken)
        with pytest.raises(RuntimeError, match="a bug"):
            sending.execute(job(paths, issue, sink), FAST)
        assert states(paths) == {**states(paths), "sent": 1, "sending": 0, "pending": 2}
        monkeypatch.setattr(SmtpTransport, "transfer", real)
        summary = sending.execute(job(paths, issue, sink), FAST)
    assert sink.counts() == {f"reader{i}@example.org": 1 for i in range(3)}
    assert summary.left == 0
