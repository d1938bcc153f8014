"""`newsletter preview`: a local server that rebuilds the issue in memory on change, never writes dist/.

One background thread watches content/ and templates/ (watchfiles), re-renders the issue and
publishes an immutable `Snapshot`; the page listens on server-sent events and swaps itself in.
The email is served to sandboxed iframes in several variants (light, dark, inverted, images
off) so the practitioner sees what subscribers' clients do to it. Nothing here sends mail.
"""

from __future__ import annotations

import email.parser
import email.policy
import errno
import html
import mimetypes
import re
import secrets
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from newsletter.check import Finding, check_rendered, problems_to_findings, sort_findings
from newsletter.errors import NewsletterError, Problem
from newsletter.load.loader import Workspace
from newsletter.model import Config, Rendered
from newsletter.workspace import Paths

Log = Callable[[str], None]

MODES = ("light", "dark", "inverted", "images-off")
"""Variants of the email document; each is a page of its own in a sandboxed iframe."""
PHONE_WIDTHS = (360, 375, 390, 393, 412, 414, 430)
"""CSS widths of common phones: small Android, iPhone SE/mini, iPhone, Pixel, large phones."""
DEFAULT_PHONE_WIDTH = 375
INBOX_DESKTOP_CHARS = 120
"""About what a desktop inbox line shows of subject and preview text together."""
INBOX_PHONE_CHARS = 90
"""About what a phone inbox shows of the preview text, in two lines under the subject."""
SSE_KEEPALIVE_SECONDS = 10.0
PREVIEW_SECRET = "preview-only-not-a-real-secret"
"""Signs the sample unsubscribe link when no secret exists; the preview never creates one."""


@dataclass(frozen=True)
class View:
    name: str
    label: str
    mode: str
    """Email variant shown, or '' for views that are not the rendered email."""
    default_width: str
    widths: tuple[str, ...]


_ALL_WIDTHS = ("desktop", *(str(w) for w in PHONE_WIDTHS))
_PHONES = tuple(str(w) for w in PHONE_WIDTHS)
VIEWS: tuple[View, ...] = (
    View("desktop", "Desktop", "light", "desktop", ("desktop",)),
    View("phone", "Phone", "light", str(DEFAULT_PHONE_WIDTH), _PHONES),
    View("dark", "Dark mode", "dark", str(DEFAULT_PHONE_WIDTH), _ALL_WIDTHS),
    View("inverted", "Gmail app (inverted)", "inverted", str(DEFAULT_PHONE_WIDTH), _ALL_WIDTHS),
    View("images-off", "Images off", "images-off", "desktop", _ALL_WIDTHS),
    View("text", "Plain text", "", "", ()),
    View("source", "HTML source", "", "", ()),
    View("headers", "Headers", "", "", ()),
)
VIEWS_BY_NAME = {v.name: v for v in VIEWS}


@dataclass(frozen=True)
class Snapshot:
    """One rebuild's outcome: everything the server hands out until the next one."""

    version: str
    built_at: float
    elapsed_ms: float
    problems: tuple[Problem, ...] = ()
    """Non-empty when the issue does not build; then the fields below are empty."""
    issue_id: str = ""
    subject: str = ""
    sender: str = ""
    inbox_text: str = ""
    """What an inbox shows after the subject: the start of the body's text, preheader first."""
    documents: Mapping[str, str] = field(default_factory=dict)
    """Email variant (MODES) -> HTML document, placeholders filled for a sample recipient."""
    html: str = ""
    text: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    findings: tuple[Finding, ...] | None = None
    """None when `check` is not available."""
    check_error: str = ""
    checking: bool = False
    """True between the render and the check's findings (published separately: faster)."""
    check_ms: float = 0.0
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def html_kb(self) -> float:
        return len(self.html.encode("utf-8")) / 1024


# --- the email variants ----------------------------------------------------------------------

_SCHEME_FEATURE = re.compile(r"\(\s*prefers-color-scheme\s*:\s*(dark|light)\s*\)", re.IGNORECASE)
_ALWAYS = "(min-width: 0px)"
_NEVER = "(max-width: 0px)"
_IMG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_SRC_ATTR = re.compile(r"\s(?:src|srcset)\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>]+)", re.IGNORECASE)
_BACKGROUND_ATTR = re.compile(r"\sbackground\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>]+)", re.IGNORECASE)
_BACKGROUND_IMAGE = re.compile(r"background-image\s*:\s*url\([^)]*\)\s*;?", re.IGNORECASE)
_HEAD_END = re.compile(r"</head\s*>", re.IGNORECASE)
INVERT_CSS = (
    # Gmail's apps invert light emails that don't opt out: light backgrounds turn dark, dark
    # text turns light, hues roughly kept. Images are left alone, so they are inverted back.
    "html{filter:invert(1) hue-rotate(180deg)!important}"
    "img,picture,video,[background],[style*='background-image']"
    "{filter:invert(1) hue-rotate(180deg)!important}"
)


def force_scheme(document: str, scheme: str) -> str:
    """Make `prefers-color-scheme` media features answer for `scheme`, whatever the OS says."""

    def answer(m: re.Match[str]) -> str:
        return _ALWAYS if m.group(1).lower() == scheme else _NEVER

    return _SCHEME_FEATURE.sub(answer, document)


def strip_images(document: str) -> str:
    """What a client with images blocked loads: no image source, only alt text and boxes."""
    document = _IMG.sub(lambda m: _SRC_ATTR.sub("", m.group(0)), document)
    document = _BACKGROUND_ATTR.sub("", document)
    return _BACKGROUND_IMAGE.sub("", document)


def email_document(document: str, mode: str) -> str:
    """One variant of the filled email, for a sandboxed iframe in the preview page."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}")
    scheme = "dark" if mode == "dark" else "light"
    document = force_scheme(document, scheme)
    css = [f":root{{color-scheme:{scheme}!important}}"]
    if mode == "inverted":
        css.append(INVERT_CSS)
    if mode == "images-off":
        document = strip_images(document)
    # Links open in a new tab: the frame is sandboxed without scripts and keeps the preview.
    extra = f'<base target="_blank"><style data-preview="{mode}">{"".join(css)}</style>'
    match = _HEAD_END.search(document)
    if match is None:
        return extra + document
    return document[: match.start()] + extra + document[match.start() :]


def local_images(document: str, *, config: Config, issue_id: str) -> str:
    """Point the published image URLs at content/images/, so images show before upload."""
    return document.replace(f"{config.base_url}/issues/{issue_id}/images/", "/images/")


_ZERO_WIDTH = dict.fromkeys(map(ord, "\u034f\u200b\u200c\u200d\u2060\ufeff\u00ad"))
_COLLAPSIBLE = re.compile(r"[ \t\r\n\f]+")


def inbox_text(document: str, limit: int = 200) -> str:
    """The start of the body's text as inboxes pick it for the preview line (hidden text too).

    No-break spaces are kept, as inboxes keep them: that is how the preheader's filler pushes
    the body's first words out of the preview.
    """
    body = re.split(r"<body\b[^>]*>", document, maxsplit=1, flags=re.IGNORECASE)[-1]
    body = re.sub(r"<(style|script|title)\b.*?</\1\s*>", " ", body, flags=re.S | re.I)
    body = re.sub(r"<!--.*?-->", " ", body, flags=re.S)
    text = html.unescape(re.sub(r"<[^>]+>", " ", body)).translate(_ZERO_WIDTH)
    return _COLLAPSIBLE.sub(" ", text).strip(" ")[:limit].replace("\u00a0", " ").rstrip()


def truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"


# --- one rebuild -----------------------------------------------------------------------------


def sample_values(config: Config) -> dict[str, str]:
    """Placeholder values for the preview: the sender reading their own newsletter."""
    from newsletter.build.recipient import make_recipient

    reader = make_recipient(
        config.sender_email, config.sender_name, config=config, secret=PREVIEW_SECRET
    )
    return dict(reader.values)


def message_headers(
    rendered: Rendered, /, *, config: Config, paths: Paths
) -> list[tuple[str, str]]:
    """The headers of the sample message sent to the sender, decoded for reading."""
    from newsletter.build.pipeline import sample_message
    from newsletter.workspace import load_secret

    try:
        secret = load_secret(paths, create=False)
    except NewsletterError:
        secret = PREVIEW_SECRET
    raw = sample_message(rendered, config=config, secret=secret)
    head = email.parser.BytesParser(policy=email.policy.default).parsebytes(raw, headersonly=True)
    return [(name, str(value)) for name, value in head.items()]


def run_checks(
    workspace: Workspace, rendered: Rendered, /
) -> tuple[tuple[Finding, ...] | None, str]:
    """`check`'s findings for the rendered issue, or (None, reason) when a rule crashed."""
    try:
        found = check_rendered(workspace, rendered)
    except NewsletterError as exc:
        return tuple(problems_to_findings(exc.problems)), ""
    except Exception as exc:  # a bug in a rule must not take the preview down
        return None, f"check failed: {type(exc).__name__}: {exc}"
    return tuple(sort_findings(found)), ""


@dataclass(frozen=True)
class Draft:
    """A rendered snapshot whose `check` has not run yet, with what the check needs."""

    snapshot: Snapshot
    rendered: Rendered | None = None
    workspace: Workspace | None = None

    def checked(self, paths: Paths) -> Snapshot:
        """The snapshot with `check`'s findings: a version of its own, same email."""
        if self.rendered is None or self.workspace is None:
            return self.snapshot
        started = time.perf_counter()
        findings, check_error = run_checks(self.workspace, self.rendered)
        return replace(
            self.snapshot,
            version=self.snapshot.version + CHECKED,
            findings=findings,
            check_error=check_error,
            checking=False,
            check_ms=(time.perf_counter() - started) * 1000,
        )


CHECKED = ".checked"
"""Suffix of a snapshot's version once its findings are in (the email itself is unchanged)."""


def render_snapshot(paths: Paths, issue_id: str | None, *, version: str) -> Draft:
    """Render the issue in memory and prepare every view; content errors become the snapshot."""
    from newsletter.build.pipeline import render_rendered
    from newsletter.build.placeholders import fill
    from newsletter.load.content import pick_issue
    from newsletter.load.loader import load_workspace

    started = time.perf_counter()
    try:
        workspace = load_workspace(paths)
        config = workspace.config
        issue = pick_issue(workspace.library, issue_id)
        rendered = render_rendered(issue, config=config, paths=paths)
    except NewsletterError as exc:
        return Draft(
            Snapshot(
                version=version,
                built_at=time.time(),
                elapsed_ms=(time.perf_counter() - started) * 1000,
                problems=tuple(exc.problems) or (Problem("content", 0, str(exc)),),
            )
        )
    values = sample_values(config)
    filled = fill(rendered.html, values, rendered.nonce)
    shown = local_images(filled, config=config, issue_id=rendered.issue.id)
    snapshot = Snapshot(
        version=version,
        built_at=time.time(),
        elapsed_ms=0.0,
        issue_id=rendered.issue.id,
        subject=rendered.issue.subject,
        sender=config.sender_name,
        inbox_text=inbox_text(filled),
        documents={mode: email_document(shown, mode) for mode in MODES},
        html=filled,
        text=fill(rendered.text, values, rendered.nonce),
        headers=tuple(message_headers(rendered, config=config, paths=paths)),
        checking=True,
        warnings=rendered.warnings,
    )
    elapsed = (time.perf_counter() - started) * 1000
    return Draft(replace(snapshot, elapsed_ms=elapsed), rendered, workspace)


def build_snapshot(paths: Paths, issue_id: str | None, *, version: str) -> Snapshot:
    """Render and check in one go (what the server publishes in two steps)."""
    return render_snapshot(paths, issue_id, version=version).checked(paths)


# --- state shared by the watcher and the request threads --------------------------------------


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
                lambda: (
                    self.closed or (self._snapshot is not None and self._snapshot.version != seen)
                ),
                timeout,
            )
            if self.closed or self._snapshot is None or self._snapshot.version == seen:
                return None
            return self._snapshot.version

    def close(self) -> None:
        with self._changed:
            self.closed = True
            self._changed.notify_all()


# --- HTTP --------------------------------------------------------------------------------------

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


def _data_file(name: str) -> bytes:
    from importlib.resources import files

    return files("newsletter").joinpath("assets", name).read_bytes()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allowed_hosts: frozenset[str] = frozenset()
    app: Preview

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A browser closing a tab mid-response is normal; anything else is a bug to show."""
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        traceback.print_exc()


class _Server6(_Server):
    address_family = socket.AF_INET6


class PreviewHandler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "newsletter-preview"

    def log_message(self, format: str, *args: Any) -> None:
        """Requests are not logged: the terminal shows rebuilds, which is what matters."""

    def do_GET(self) -> None:
        if (
            self.server.allowed_hosts
            and self.headers.get("Host", "") not in self.server.allowed_hosts
        ):
            # A page elsewhere cannot read the unpublished issue through DNS rebinding.
            self._send(HTTPStatus.FORBIDDEN, b"unexpected Host header\n", "text/plain")
            return
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        app = self.server.app
        route = url.path
        if route == "/":
            page = app.page(query.get("view", ""), query.get("width", ""))
            self._send(HTTPStatus.OK, page.encode("utf-8"), "text/html; charset=utf-8", csp=UI_CSP)
        elif route == "/events":
            self._events(query.get("since", ""))
        elif route == "/status.json":
            self._send(HTTPStatus.OK, app.status_json().encode(), "application/json")
        elif route.startswith("/email/") and route.endswith(".html"):
            self._email(route.removeprefix("/email/").removesuffix(".html"))
        elif route == "/email.txt":
            snapshot = app.state.snapshot
            status = HTTPStatus.OK if snapshot.ok else HTTPStatus.SERVICE_UNAVAILABLE
            body = snapshot.text if snapshot.ok else _problems_text(snapshot.problems)
            self._send(status, body.encode("utf-8"), "text/plain; charset=utf-8")
        elif route.startswith("/static/") and route.removeprefix("/static/") in STATIC:
            name = route.removeprefix("/static/")
            self._send(HTTPStatus.OK, _data_file(name), STATIC[name])
        elif route.startswith("/images/"):
            self._image(route.removeprefix("/images/"))
        elif route == "/favicon.ico":
            self._send(HTTPStatus.NO_CONTENT, b"", "image/x-icon")
        else:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")

    def _email(self, mode: str) -> None:
        snapshot = self.server.app.state.snapshot
        if mode not in MODES:
            self._send(HTTPStatus.NOT_FOUND, b"no such view\n", "text/plain")
        elif not snapshot.ok:
            body = f"<!DOCTYPE html><title>Build failed</title><pre>{html.escape(_problems_text(snapshot.problems))}</pre>"
            self._send(
                HTTPStatus.SERVICE_UNAVAILABLE,
                body.encode(),
                "text/html; charset=utf-8",
                csp=EMAIL_CSP,
            )
        else:
            body = snapshot.documents[mode].encode("utf-8")
            self._send(HTTPStatus.OK, body, "text/html; charset=utf-8", csp=EMAIL_CSP)

    def _image(self, name: str) -> None:
        folder = (self.server.app.paths.content / "images").resolve()
        target = (folder / name).resolve()
        if not target.is_relative_to(folder) or not target.is_file():
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")
            return
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if not kind.startswith("image/") or kind == "image/svg+xml":
            self._send(HTTPStatus.NOT_FOUND, b"not an image\n", "text/plain")
            return
        self._send(HTTPStatus.OK, target.read_bytes(), kind)

    def _events(self, since: str) -> None:
        """Server-sent events: 'reload' after a new render, 'findings' when only the check ran."""
        state = self.server.app.state
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        seen = since
        try:
            self.wfile.write(b"retry: 1000\n\n")
            self.wfile.flush()
            while not state.closed:
                version = state.wait_for_change(seen, SSE_KEEPALIVE_SECONDS)
                if version is None:
                    self.wfile.write(b": keepalive\n\n")
                else:
                    kind = "findings" if version == seen + CHECKED else "reload"
                    self.wfile.write(f"event: {kind}\ndata: {version}\n\n".encode())
                    seen = version
                self.wfile.flush()
        except (ConnectionError, TimeoutError, ValueError):
            return  # the tab went away, or the server is closing the socket

    def _send(self, status: HTTPStatus, body: bytes, kind: str, *, csp: str = "") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        if csp:
            self.send_header("Content-Security-Policy", csp)
        self.end_headers()
        self.wfile.write(body)


def _problems_text(problems: Iterable[Problem]) -> str:
    return "".join(f"{p}\n" for p in problems)


# --- the application ---------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    return host in ("localhost", "127.0.0.1", "::1") or host.startswith("127.")


def bind(host: str, port: int, *, tries: int = 1) -> _Server:
    """Listen on host:port, or on the next free port when `tries` > 1; a clear error otherwise."""
    cls = _Server6 if ":" in host else _Server
    last = port + max(tries, 1) - 1 if port else port
    for candidate in range(port, last + 1):
        try:
            return cls((host, candidate), PreviewHandler)
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
        self.rebuild()
        self.httpd = bind(host, port, tries=port_tries)
        self.httpd.app = self
        self.host = host
        self.port = int(self.httpd.server_address[1])
        if is_loopback(host):
            names = ("127.0.0.1", "localhost", "[::1]", host if ":" not in host else f"[{host}]")
            self.httpd.allowed_hosts = frozenset(f"{n}:{self.port}" for n in names)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        return f"http://{host}:{self.port}/"

    # -- building ------------------------------------------------------------------------------

    def rebuild(self, reason: str = "") -> Snapshot:
        """Render and publish (the page reloads), then check and publish the findings.

        A content error is published too: the page shows it and the server keeps going.
        """
        self._count += 1
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
        return snapshot

    def watch(self) -> None:
        """Rebuild on every change under content/ and templates/ until `stop` (runs in a thread)."""
        import watchfiles

        folders = [p for p in (self.paths.content, self.paths.templates) if p.is_dir()]
        try:
            for changes in watchfiles.watch(
                *folders,
                step=self.debounce_ms,
                debounce=1000,
                stop_event=self._stop,
                rust_timeout=500,
                raise_interrupt=False,
            ):
                if self._stop.is_set():
                    break
                self.rebuild(_describe_changes(changes, self.paths))
        except Exception:  # the watcher dying silently would leave a stale page; say so
            if not self._stop.is_set():
                self.log("The file watcher stopped:\n" + traceback.format_exc())

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

    # -- pages ---------------------------------------------------------------------------------

    def page(self, view: str, width: str) -> str:
        return render_page(self.state.snapshot, view=view, width=width)

    def status_json(self) -> str:
        import json

        snapshot = self.state.snapshot
        return json.dumps(
            {
                "version": snapshot.version,
                "ok": snapshot.ok,
                "issue": snapshot.issue_id,
                "elapsed_ms": round(snapshot.elapsed_ms, 1),
                "problems": [str(p) for p in snapshot.problems],
            }
        )


def _findings_summary(snapshot: Snapshot) -> str:
    if snapshot.findings is None:
        return snapshot.check_error or "not checked (no check in this version)"
    errors = sum(1 for f in snapshot.findings if f.severity == "error")
    warnings = len(snapshot.findings) - errors
    parts = [f"{errors} error{'s' * (errors != 1)}"] if errors else []
    if warnings:
        parts.append(f"{warnings} warning{'s' * (warnings != 1)}")
    return "check: " + (", ".join(parts) or "nothing to fix")


def _describe_changes(changes: set[tuple[Any, str]], paths: Paths) -> str:
    """The files that changed and still exist (editors' temporary files come and go)."""
    existing = {p for _, p in changes if Path(p).exists()} or {p for _, p in changes}
    names = sorted(paths.rel(Path(p)) for p in existing)
    more = f" and {len(names) - 2} more" if len(names) > 2 else ""
    return ", ".join(names[:2]) + more + " changed"


# --- the page ----------------------------------------------------------------------------------


def _page_env() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("newsletter", "assets"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


_ENV: Any = None


def render_page(snapshot: Snapshot, *, view: str = "", width: str = "") -> str:
    """The preview page for one view; everything from content is escaped by Jinja."""
    global _ENV
    if _ENV is None:
        _ENV = _page_env()
    chosen = VIEWS_BY_NAME.get(view, VIEWS[0])
    if width not in chosen.widths:
        width = chosen.default_width
    findings = snapshot.findings or ()
    errors = sum(1 for f in findings if f.severity == "error")
    return _ENV.get_template("preview.html").render(
        s=snapshot,
        view=chosen,
        width=width,
        views=VIEWS,
        built=time.strftime("%H:%M:%S", time.localtime(snapshot.built_at)),
        inbox_desktop=truncate(f"{snapshot.subject} – {snapshot.inbox_text}", INBOX_DESKTOP_CHARS),
        inbox_phone=truncate(snapshot.inbox_text, INBOX_PHONE_CHARS),
        errors=errors,
        warnings=len(findings) - errors + len(snapshot.warnings),
        frame_title=_frame_title(chosen, width),
    )


def _frame_title(view: View, width: str) -> str:
    size = "at desktop width" if width == "desktop" else f"on a {width} px wide phone"
    return f"The email {size}: {view.label}"
