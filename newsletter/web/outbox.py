"""Mail the service sends (confirmations, welcomes), from a thread of its own.

A signup request only queues its email: the answer then takes the same time whether or not
a message goes out, so timing tells nobody whether an address is on the list.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from newsletter.mail.smtp import SmtpError, SmtpTransport
from newsletter.model import Config

Log = Callable[[str], None]


class Outbox:
    """Hands queued (recipient, message bytes) makers to the configured SMTP server."""

    def __init__(self, config: Config, *, password: str, log: Log):
        self.config = config
        self.password = password
        self.log = log
        self._queue: queue.Queue[tuple[str, Callable[[], bytes]] | None] = queue.Queue(1000)
        self._thread = threading.Thread(target=self._run, name="outbox", daemon=True)
        self._thread.start()

    def put(self, recipient: str, make: Callable[[], bytes]) -> None:
        """Queue a message; its bytes are made in the outbox thread, off the request path."""
        try:
            self._queue.put_nowait((recipient, make))
        except queue.Full:
            self.log("outbox full: a message was dropped (is the SMTP server down?)")

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            recipient, make = item
            try:
                self._deliver(recipient, make())
            except Exception as exc:  # logged, never lost silently; the service goes on
                self.log(f"could not make a message: {type(exc).__name__}: {exc}")

    def _deliver(self, recipient: str, data: bytes) -> None:
        transport = SmtpTransport(self.config.smtp, password=self.password)
        try:
            transport.open()
            transport.deliver(self.config.sender_email, recipient, data)
        except SmtpError as exc:
            self.log(f"mail not sent: {exc.reply}")
        finally:
            transport.close()

    def close(self, timeout: float = 10.0) -> None:
        """Send what is queued (waiting up to `timeout`), then stop."""
        self._queue.put(None)
        self._thread.join(timeout)
