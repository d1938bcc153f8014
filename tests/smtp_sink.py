"""A real SMTP server on 127.0.0.1 (aiosmtpd) that records what it accepts, with faults on request.

It offers PIPELINING unless told not to (aiosmtpd reads pipelined commands in order).
Faults: chosen replies at MAIL, at RCPT for chosen recipients (451, 550 ...) and after DATA,
a per-connection message limit (452 after N messages), a dropped connection at DATA, a slow
server, AUTH with one valid login, STARTTLS with a throwaway certificate, and SMTPUTF8 on
request (off by default, as on many servers).
The record is the sink's own: tests judge a send by what arrived here, not by the ledger.
"""

from __future__ import annotations

import asyncio
import email
import socket
import ssl
import subprocess
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


@dataclass(frozen=True)
class Received:
    recipient: str
    data: bytes

    @property
    def message(self) -> email.message.Message:
        return email.message_from_bytes(self.data)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Handler:
    def __init__(self, sink: Sink):
        self.sink = sink

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.sink.pipelining:
            responses.insert(1, "250-PIPELINING")
        if not self.sink.smtputf8:  # aiosmtpd offers it always; many servers do not
            responses = [r for r in responses if "SMTPUTF8" not in r]
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        reply = self.sink._refused.get(address.lower()) or self.sink._take_mail_fault()
        if reply:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        limit = self.sink.per_connection
        if limit and getattr(session, "accepted", 0) >= limit:
            return self.sink.per_connection_reply
        reply = self.sink._rcpt_reply(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.sink.delay:
            await asyncio.sleep(self.sink.delay)
        for rcpt in envelope.rcpt_tos:
            reply = self.sink._data_reply(rcpt)
            if reply:
                return reply
        for rcpt in envelope.rcpt_tos:
            if self.sink._take_drop(rcpt):
                server.transport.abort()
                return "421 dropped"
        for rcpt in envelope.rcpt_tos:
            if self.sink.on_data is not None:
                self.sink.on_data(rcpt)
            self.sink._record(Received(rcpt, envelope.original_content or envelope.content))
        session.accepted = getattr(session, "accepted", 0) + 1
        return f"250 2.0.0 Ok: queued as Q{len(self.sink.received)}"


class Sink:
    """Start with `with Sink() as sink:`; then point SmtpSettings at sink.host, sink.port."""

    def __init__(
        self,
        *,
        delay: float = 0.0,
        login: tuple[str, str] | None = None,
        tls_context: ssl.SSLContext | None = None,
        pipelining: bool = True,
        implicit_tls: ssl.SSLContext | None = None,
        smtputf8: bool = False,
        per_connection: int = 0,
        per_connection_reply: str = "452 4.5.3 Too many messages on this connection",
    ):
        self.host = "127.0.0.1"
        self.port = free_port()
        self.delay = delay
        self.pipelining = pipelining
        self.smtputf8 = smtputf8
        self.per_connection = per_connection
        """Messages accepted per connection; after that RCPT gets per_connection_reply."""
        self.per_connection_reply = per_connection_reply
        self.received: list[Received] = []
        self.on_data: Callable[[str], None] | None = None
        """Called with each recipient once its final dot arrived, before the 250 goes back."""
        self._mail_faults: list[str] = []
        self._lock = threading.Lock()
        self._replies: dict[str, list[str]] = {}
        self._always: dict[str, str] = {}
        self._data_replies: dict[str, list[str]] = {}
        self._refused: dict[str, str] = {}
        self._drops: Counter[str] = Counter()
        kwargs: dict = {}
        if login:
            kwargs.update(
                authenticator=self._authenticator(login),
                auth_require_tls=tls_context is not None,
            )
        if tls_context:
            kwargs.update(tls_context=tls_context)
        if smtputf8:
            kwargs.update(enable_SMTPUTF8=True)
        self.controller = Controller(
            Handler(self),
            hostname=self.host,
            port=self.port,
            ready_timeout=10,
            ssl_context=implicit_tls,
            **kwargs,
        )

    @staticmethod
    def _authenticator(login: tuple[str, str]):
        def check(server, session, envelope, mechanism, auth_data):
            ok = (auth_data.login.decode(), auth_data.password.decode()) == login
            return AuthResult(success=ok, handled=False)

        return check

    # -- faults --------------------------------------------------------------------------

    def reply_once(self, address: str, *replies: str) -> None:
        """The next RCPTs for this address get these replies in turn, then it is accepted."""
        with self._lock:
            self._replies.setdefault(address.lower(), []).extend(replies)

    def reply_always(self, address: str, reply: str) -> None:
        with self._lock:
            self._always[address.lower()] = reply

    def refuse_sender(self, address: str, reply: str) -> None:
        """Answer MAIL FROM for this sender with `reply`."""
        self._refused[address.lower()] = reply

    def fail_mail(self, *replies: str) -> None:
        """The next MAIL FROM commands (whoever the sender) get these replies in turn."""
        with self._lock:
            self._mail_faults.extend(replies)

    def _take_mail_fault(self) -> str | None:
        with self._lock:
            return self._mail_faults.pop(0) if self._mail_faults else None

    def reply_at_data(self, address: str, *replies: str) -> None:
        """The next messages to this address are answered with these replies, then accepted."""
        with self._lock:
            self._data_replies.setdefault(address.lower(), []).extend(replies)

    def _data_reply(self, address: str) -> str | None:
        with self._lock:
            queue = self._data_replies.get(address.lower())
            return queue.pop(0) if queue else None

    def drop_at_data(self, address: str, times: int = 1) -> None:
        """Cut the connection after this recipient's message arrives, before the reply."""
        with self._lock:
            self._drops[address.lower()] += times

    def _rcpt_reply(self, address: str) -> str | None:
        key = address.lower()
        with self._lock:
            if key in self._always:
                return self._always[key]
            queue = self._replies.get(key)
            return queue.pop(0) if queue else None

    def _take_drop(self, address: str) -> bool:
        key = address.lower()
        with self._lock:
            if self._drops[key] > 0:
                self._drops[key] -= 1
                return True
            return False

    def _record(self, item: Received) -> None:
        with self._lock:
            self.received.append(item)

    # -- the record ----------------------------------------------------------------------

    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(r.recipient.lower() for r in self.received)

    def messages_to(self, address: str) -> list[email.message.Message]:
        with self._lock:
            return [r.message for r in self.received if r.recipient.lower() == address.lower()]

    def __enter__(self) -> Sink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1/localhost, made with the openssl command."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def server_tls(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context
