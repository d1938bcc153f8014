"""Headers on every response, the Host check and the request size limit, as ASGI middleware.

Pure ASGI (no per-request objects) because it wraps every request, including the
one-click unsubscribes that must stay fast while a send runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY = 64 * 1024
"""A signup or unsubscribe post is a few hundred bytes; anything near this is not a person."""

CSP = (
    "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' https: data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"interest-cohort=(), camera=(), microphone=(), geolocation=()"),
)
"""Referrer-Policy: no-referrer keeps tokens in our URLs from reaching other sites;
frame-ancestors (and X-Frame-Options for old browsers) stop the pages being framed."""


def host_name(host: str) -> str:
    """The name part of a Host header: no port, lower case, IPv6 brackets kept."""
    host = host.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class Guard:
    """Refuses unknown Host names (400) and large bodies (413); adds the security headers."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        hosts: Iterable[str],
        page: Callable[[int], bytes],
        max_body: int = MAX_BODY,
    ):
        self.app = app
        self.hosts = frozenset(h.lower() for h in hosts)
        self.page = page
        """The body of an error page for a status (400, 413), already rendered."""
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if host_name(headers.get(b"host", b"").decode("latin-1")) not in self.hosts:
            await self._refuse(send, 400)
            return
        length = headers.get(b"content-length", b"0")
        if not length.isdigit() or int(length) > self.max_body:
            await self._refuse(send, 413 if length.isdigit() else 400)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _refuse(self, send: Send, status: int) -> None:
        body = self.page(status)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"text/html; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                    *HEADERS,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
