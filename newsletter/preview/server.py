"""The preview's HTTP side: a route table, strict security headers, server-sent events.

Bound to 127.0.0.1 by default, it answers only Host names of this machine (no DNS
rebinding). The email is served to sandboxed iframes without scripts; the page's own script
and style come from assets/. Only content/images/ is read from disk, and only images.
"""

from __future__ import annotations

import errno
import html
import io
import json
import mimetypes
import socket
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from newsletter.errors import NewsletterError, Problem
from newsletter.hosts import is_loopback
from newsletter.preview.page import render_page
from newsletter.preview.snapshot import CHECKED, Snapshot
from newsletter.preview.variants import MODES

SSE_KEEPALIVE_SECONDS = 10.0
UI_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
EMAIL_CSP = (
    "sandbox allow-popups allow-popups-to-escape-sandbox; default-src 'none'; "
    "style-src 'unsafe-inline'; img-src * data:; font-src *; base-uri 'none'; "
    "frame-ancestors 'self'"
)
STATIC = {"preview.css": "text/css; charset=utf-8", "preview.js": "text/javascript; charset=utf-8"}
HTML = "text/html; charset=utf-8"
TEXT = "text/plain; charset=utf-8"


class PreviewState:
    """The current snapshot; request threads wait here for the next one (server-sent events)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._snapshot: Snapshot | None = None
        self.closed = False

    @property
    def snapshot(self) -> Snapshot:
        with self._changed:
            assert self._snapshot is not None, "publish a snapshot before serving"
            return self._snapshot

    def publish(self, snapshot: Snapshot) -> None:
        with self._changed:
            self._snapshot = snapshot
            self._changed.notify_all()

    def wait_for_change(self, seen: str, timeout: float) -> str | None:
        """The new version once it differs from `seen`; None on timeout or when closing."""
        with self._changed:
            self._changed.wait_for(
                lambda: self.closed or self._version() not in (None, seen), timeout
            )
            version = self._version()
            return None if self.closed or version in (None, seen) else version

    def _version(self) -> str | None:
        return None if self._snapshot is None else self._snapshot.version

    def close(self) -> None:
        with self._changed:
            self.closed = True
            self._changed.notify_all()


# --- routes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    rest: str
    """What follows the prefix of a `/prefix/*` route ('' for the others), as sent."""
    query: Mapping[str, str]
    state: PreviewState
    images: Path
    """content/images/, the only folder read from disk."""


@dataclass(frozen=True)
class Response:
    status: HTTPStatus
    body: bytes = b""
    kind: str = "text/plain"
    csp: str = ""
    stream: Callable[[io.BufferedIOBase], None] | None = None
    """Writes the body as it comes (server-sent events) instead of `body`."""


def _not_found(message: str = "not found") -> Response:
    return Response(HTTPStatus.NOT_FOUND, f"{message}\n".encode())


def _problems_text(problems: Iterable[Problem]) -> str:
    return "".join(f"{p}\n" for p in problems)


def show_page(request: Request) -> Response:
    page = render_page(
        request.state.snapshot,
        view=request.query.get("view", ""),
        width=request.query.get("width", ""),
    )
    return Response(HTTPStatus.OK, page.encode("utf-8"), HTML, csp=UI_CSP)


def show_status(request: Request) -> Response:
    """The build's state for scripts and editors: version, ok, problems."""
    snapshot = request.state.snapshot
    status = {
        "version": snapshot.version,
        "ok": snapshot.ok,
        "issue": snapshot.issue_id,
        "elapsed_ms": round(snapshot.elapsed_ms, 1),
        "problems": [str(p) for p in snapshot.problems],
    }
    return Response(HTTPStatus.OK, json.dumps(status).encode(), "application/json")


def show_email(request: Request) -> Response:
    """`/email/<mode>.html`: one variant of the email, sandboxed; the problems when it fails."""
    mode = request.rest.removesuffix(".html")
    if not request.rest.endswith(".html"):
        return _not_found()
    if mode not in MODES:
        return _not_found("no such view")
    snapshot = request.state.snapshot
    if not snapshot.ok:
        problems = html.escape(_problems_text(snapshot.problems))
        body = f"<!DOCTYPE html><title>Build failed</title><pre>{problems}</pre>"
        return Response(HTTPStatus.SERVICE_UNAVAILABLE, body.encode(), HTML, csp=EMAIL_CSP)
    return Response(HTTPStatus.OK, snapshot.documents[mode].encode("utf-8"), HTML, csp=EMAIL_CSP)


def show_text(request: Request) -> Response:
    snapshot = request.state.snapshot
    if not snapshot.ok:
        body = _problems_text(snapshot.problems)
        return Response(HTTPStatus.SERVICE_UNAVAILABLE, body.encode("utf-8"), TEXT)
    return Response(HTTPStatus.OK, snapshot.text.encode("utf-8"), TEXT)


def show_static(request: Request) -> Response:
    """The page's own stylesheet and script, from assets/ (nothing else is served from there)."""
    from importlib.resources import files

    kind = STATIC.get(request.rest)
    if kind is None:
        return _not_found()
    body = files("newsletter.preview").joinpath("assets", request.rest).read_bytes()
    return Response(HTTPStatus.OK, body, kind)


def show_image(request: Request) -> Response:
    """A picture from content/images/, so the email shows it before it is published."""
    folder = request.images.resolve()
    target = (folder / request.rest).resolve()
    if not target.is_relative_to(folder) or not target.is_file():
        return _not_found()
    kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    if not kind.startswith("image/") or kind == "image/svg+xml":
        return _not_found("not an image")
    return Response(HTTPStatus.OK, target.read_bytes(), kind)


def no_icon(request: Request) -> Response:
    return Response(HTTPStatus.NO_CONTENT, b"", "image/x-icon")


def stream_events(request: Request) -> Response:
    """Server-sent events: 'reload' after a new render, 'findings' when only the check ran."""
    state, since = request.state, request.query.get("since", "")

    def stream(out: io.BufferedIOBase) -> None:
        seen = since
        out.write(b"retry: 1000\n\n")
        out.flush()
        while not state.closed:
            version = state.wait_for_change(seen, SSE_KEEPALIVE_SECONDS)
            if version is None:
                out.write(b": keepalive\n\n")
            else:
                kind = "findings" if version == seen + CHECKED else "reload"
                out.write(f"event: {kind}\ndata: {version}\n\n".encode())
                seen = version
            out.flush()

    return Response(HTTPStatus.OK, kind="text/event-stream", stream=stream)


Handler = Callable[[Request], Response]
ROUTES: dict[str, Handler] = {
    "/": show_page,
    "/events": stream_events,
    "/status.json": show_status,
    "/email/*": show_email,
    "/email.txt": show_text,
    "/static/*": show_static,
    "/images/*": show_image,
    "/favicon.ico": no_icon,
}
"""Path -> handler; `/name/*` matches every path under /name/ and passes the rest on."""


def route(path: str) -> tuple[Handler, str] | None:
    """The handler for a path and the part after its prefix, or None (404)."""
    if path in ROUTES:
        return ROUTES[path], ""
    head, slash, rest = path.removeprefix("/").partition("/")
    handler = ROUTES.get(f"/{head}/*") if slash else None
    return None if handler is None else (handler, rest)


# --- the server ----------------------------------------------------------------------------


class PreviewServer(ThreadingHTTPServer):
    """One thread per request (event streams stay open); knows the state and the images."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], *, state: PreviewState, images: Path) -> None:
        super().__init__(address, PreviewHandler)
        self.state = state
        self.images = images
        self.allowed_hosts: frozenset[str] = frozenset()
        """Host headers answered; empty (any) unless bound to a loopback address."""
        host, port = address[0], int(self.server_address[1])
        if is_loopback(host):
            names = ("127.0.0.1", "localhost", "[::1]", host if ":" not in host else f"[{host}]")
            self.allowed_hosts = frozenset(f"{n}:{port}" for n in names)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A browser closing a tab mid-response is normal; anything else is a bug to show."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        traceback.print_exc()


class PreviewServer6(PreviewServer):
    address_family = socket.AF_INET6


class PreviewHandler(BaseHTTPRequestHandler):
    server: PreviewServer
    server_version = "newsletter-preview"

    def log_message(self, format: str, *args: Any) -> None:
        """Requests are not logged: the terminal shows rebuilds, which is what matters."""

    def do_GET(self) -> None:
        allowed = self.server.allowed_hosts
        if allowed and self.headers.get("Host", "") not in allowed:
            # A page elsewhere cannot read the unpublished issue through DNS rebinding.
            self._send(Response(HTTPStatus.FORBIDDEN, b"unexpected Host header\n"))
            return
        url = urlsplit(self.path)
        found = route(url.path)
        if found is None:
            self._send(_not_found())
            return
        handler, rest = found
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        self._send(handler(Request(rest, query, self.server.state, self.server.images)))

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.kind)
        if response.stream is None:
            self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        if response.csp:
            self.send_header("Content-Security-Policy", response.csp)
        self.end_headers()
        if response.stream is None:
            self.wfile.write(response.body)
            return
        try:
            response.stream(self.wfile)
        except (ConnectionError, TimeoutError, ValueError):
            return  # the tab went away, or the server is closing the socket


def bind(
    host: str, port: int, *, state: PreviewState, images: Path, tries: int = 1
) -> PreviewServer:
    """Listen on host:port, or on the next free port when `tries` > 1; a clear error otherwise."""
    cls = PreviewServer6 if ":" in host else PreviewServer
    last = port + max(tries, 1) - 1 if port else port
    for candidate in range(port, last + 1):
        try:
            return cls((host, candidate), state=state, images=images)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise NewsletterError.single(
                    "--host", f"cannot listen on {host}:{candidate}: {exc.strerror or exc}"
                ) from None
    ports = f"ports {port}-{last} are" if last > port else f"port {port} is"
    raise NewsletterError.single(
        "--port",
        f"{ports} already in use on {host} (another preview still running?); "
        "stop it or choose another port with --port",
    )
