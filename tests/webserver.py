"""`newsletter serve` as a real subprocess on a free loopback port, and HTTP to it.

with running_server(workspace, smtp_port=sink.port) as server:
    reply = server.request("GET", "/subscribe")
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from conftest import TEST_SECRET
from smtp_sink import free_port

HOST = "news.example.org"


class Reply(NamedTuple):
    status: int
    headers: http.client.HTTPMessage
    body: str

    def header(self, name: str) -> str:
        return self.headers.get(name, "")


class Server:
    def __init__(self, root: Path, port: int, process: subprocess.Popen[bytes], log: Path):
        self.root = root
        self.port = port
        self.process = process
        self.log = log

    def request(
        self,
        method: str,
        path: str,
        body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        host: str = HOST,
    ) -> Reply:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            data = body.encode() if isinstance(body, str) else body
            conn.request(method, path, body=data, headers={"Host": host, **(headers or {})})
            response = conn.getresponse()
            text = response.read().decode("utf-8", "replace")
            return Reply(response.status, response.headers, text)
        finally:
            conn.close()

    def post_form(self, path: str, fields: Mapping[str, str], **headers: str) -> Reply:
        from urllib.parse import urlencode

        head = {"Content-Type": "application/x-www-form-urlencoded", **headers}
        return self.request("POST", path, urlencode(fields), head)

    def stderr(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def server_env(smtp_port: int, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(
        NEWSLETTER_SECRET=TEST_SECRET,
        NEWSLETTER_SMTP_HOST="127.0.0.1",
        NEWSLETTER_SMTP_PORT=str(smtp_port),
        NEWSLETTER_SMTP_SECURITY="none",
        NEWSLETTER_CACHE_DIR=os.environ.get("NEWSLETTER_CACHE_DIR", ""),
    )
    env.update(extra or {})
    return env


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"newsletter serve exited {process.returncode}: {log.read_text()}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"newsletter serve did not listen on {port}: {log.read_text()}")


@contextmanager
def running_server(
    root: Path, *, smtp_port: int = 1, env: Mapping[str, str] | None = None
) -> Iterator[Server]:
    """Start `newsletter --root ROOT serve --port P`; stop it with SIGTERM afterwards."""
    port = free_port()
    log = root / f"serve-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "newsletter", "--root", str(root), "serve", "--port", str(port)],
            env=server_env(smtp_port, env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_port(port, process, log)
        yield Server(root, port, process, log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def form_token(page: str) -> str:
    found = re.search(r'name="form_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def cookie(reply: Reply) -> str:
    """The form cookie a page set, as a Cookie header value."""
    raw = reply.header("set-cookie")
    return raw.split(";", 1)[0]
