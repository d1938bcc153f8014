"""A real HTTPS web server on 127.0.0.1 serving a folder, as base_url's host would.

The certificate is a throwaway one (smtp_sink.self_signed); SSL_CERT_FILE makes Python's
default TLS context (what urllib uses) trust it, so the code under test runs unchanged.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from smtp_sink import self_signed, server_tls


class _Quiet(SimpleHTTPRequestHandler):
    requests: list[str]

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        type(self).requests.append(f"{self.command} {self.path}")

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serving(
    folder: Path, certs: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, list[str]]]:
    """(base URL, request log) of an HTTPS server for `folder` (which may not exist yet)."""
    cert, key = self_signed(certs)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    log: list[str] = []
    handler = type("Handler", (_Quiet,), {"requests": log})
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(folder))
    )
    server.socket = server_tls(cert, key).wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", log
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def png(width: int, height: int) -> bytes:
    """A real, decodable grey PNG of the given size."""
    import struct
    import zlib

    raw = b"".join(b"\x00" + b"\x80\x80\x80" * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def add_article_image(root: Path, name: str = "legs.png") -> None:
    """Give the example article a front-matter image in content/images/."""
    (root / "content" / "images").mkdir(parents=True, exist_ok=True)
    (root / "content" / "images" / name).write_bytes(png(1104, 600))
    article = root / "content" / "articles" / "restless-legs-massage.md"
    text = article.read_text(encoding="utf-8")
    article.write_text(
        text.replace(
            "author: Dustin\n",
            f"author: Dustin\nimage:\n  src: {name}\n  alt: Hands easing a tense calf muscle\n",
            1,
        ),
        encoding="utf-8",
    )


def configure(root: Path, *, base_url: str | None = None, sender: str | None = None) -> None:
    """Point the workspace's config at another base_url (its unsubscribe page with it) and/or
    sender address."""
    config = root / "content" / "newsletter.toml"
    text = config.read_text(encoding="utf-8")
    if base_url:
        text = re.sub(r'(?m)^base_url = ".*"$', f'base_url = "{base_url}"', text)
        text = re.sub(
            r'(?m)^url = "https://.*/unsubscribe"$', f'url = "{base_url}/unsubscribe"', text
        )
    if sender:
        text = re.sub(r'(?m)^email = ".*"$', f'email = "{sender}"', text)
    config.write_text(text, encoding="utf-8")
