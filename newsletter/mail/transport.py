"""Where messages go (an SMTP connection, or a folder for dry runs) and keeping one open.

A new SMTP fault is handled in `smtp.classify` (which reply means retry, fail or stop) and,
when it needs the connection opened again, here in `reconnect`.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

from newsletter.mail.smtp import FatalError, SmtpTransport, TransientError
from newsletter.model import Config


class Transport(Protocol):
    """Where messages go: an SMTP connection, or a folder for dry runs.

    A message goes in three steps: `offer` sends its envelope (with PIPELINING, without
    waiting for the answers); `transfer` reads those answers and sends the message, all but
    the final dot; `finish` sends the dot that commits it and returns the server's reply,
    running `meanwhile` (work of the caller's) while the server decides. `abandon` drops an
    offered or transferred one. The ledger's commit for a message runs after `transfer`,
    while the message travels, and is on disk before `finish`. `finish` may send the next message's envelope (`then`) behind the
    dot; the next `offer` for that recipient then sends nothing, one for anyone else starts
    over.
    """

    @property
    def connected(self) -> bool: ...

    def open(self) -> None: ...

    def offer(self, sender: str, recipient: str, message: bytes) -> None: ...

    def transfer(self) -> None: ...

    def finish(
        self,
        meanwhile: Callable[[], None] | None = None,
        *,
        then: tuple[str, str] | None = None,
    ) -> str: ...

    def abandon(self) -> None: ...

    def close(self) -> None: ...


class DirectoryTransport:
    """Writes each message as NNNNNN-address.eml, for reading what a send would do."""

    _UNSAFE = re.compile(r"[^A-Za-z0-9@._+-]")

    def __init__(self, folder: Path, counter: Iterator[int]):
        self.folder = folder
        self.counter = counter
        self.staged: tuple[str, bytes] = ("", b"")

    @property
    def connected(self) -> bool:
        return True

    def open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def offer(self, sender: str, recipient: str, message: bytes) -> None:
        self.staged = (recipient, message)

    def transfer(self) -> None:
        pass

    def finish(
        self,
        meanwhile: Callable[[], None] | None = None,
        *,
        then: tuple[str, str] | None = None,
    ) -> str:
        recipient, message = self.staged
        name = f"{next(self.counter):06d}-{self._UNSAFE.sub('_', recipient)[:80]}.eml"
        (self.folder / name).write_bytes(message)
        if meanwhile is not None:
            meanwhile()
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


def smtp_transports(config: Config, password: str, **kwargs: object) -> Callable[[], Transport]:
    return lambda: SmtpTransport(config.smtp, password=password, **kwargs)  # type: ignore[arg-type]


class Unreachable(Exception):
    """The server could not be reached after every try; `reply` says why."""

    def __init__(self, reply: str):
        super().__init__(reply)
        self.reply = reply


def reconnect(transport: Transport, *, tries: int, wait: Callable[[int], bool]) -> None:
    """Open the connection again, waiting `wait(attempt)` between tries (True: stop asked).

    Raises FatalError (settings are wrong: stop the send), Unreachable after `tries`
    temporary failures, or InterruptedError when a wait was cut short by a stop.
    """
    transport.close()
    last = "not connected"
    for attempt in range(1, tries + 1):
        try:
            transport.open()
            return
        except TransientError as exc:
            last = exc.reply
        if attempt < tries and wait(attempt):
            raise InterruptedError
    raise Unreachable(f"server unreachable: {last}")


__all__ = [
    "DirectoryTransport",
    "FatalError",
    "Transport",
    "Unreachable",
    "directory_transports",
    "reconnect",
    "smtp_transports",
]
