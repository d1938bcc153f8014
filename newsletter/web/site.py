"""Everything the handlers share: config, secret, database, pages, outbox, limits."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse

from newsletter.model import Config
from newsletter.web import emails
from newsletter.web.clientaddr import client_address, is_trusted, networks
from newsletter.web.db import Database
from newsletter.web.outbox import Outbox
from newsletter.web.pages import Pages
from newsletter.web.ratelimit import SlidingWindow
from newsletter.workspace import Paths

NO_STORE = {"cache-control": "no-store"}
"""Pages reached by a personal link are never kept by a cache."""


def log_to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class Site:
    def __init__(
        self,
        paths: Paths,
        config: Config,
        *,
        secret: str,
        smtp_password: str,
        log: Callable[[str], None] = log_to_stderr,
    ):
        self.paths = paths
        self.config = config
        self.secret = secret
        self.log = log
        self.db = Database(paths.database)
        self.pages = Pages(paths.templates, config=config)
        self.outbox = Outbox(config, password=smtp_password, log=log)
        self.trusted = networks(config.web.trusted_proxies)
        self.signup_limit = SlidingWindow(config.web.signups_per_hour, 3600)
        self.unsubscribe_path = urlsplit(config.unsubscribe_url).path or "/unsubscribe"
        self._emails: dict[str, emails.Email | None] = {}
        self._emails_lock = threading.Lock()
        hosts = {urlsplit(config.base_url).hostname, urlsplit(config.unsubscribe_url).hostname}
        self.hosts = {h for h in hosts if h}

    def email(self, kind: str) -> emails.Email | None:
        """The confirmation or welcome email, rendered on first use, then kept."""
        with self._emails_lock:
            if kind not in self._emails:
                make = emails.confirmation_email if kind == "confirm" else emails.welcome_email
                self._emails[kind] = make(self.paths, self.config)
            return self._emails[kind]

    def client(self, request: Request) -> str:
        peer = request.client.host if request.client else ""
        return client_address(peer, request.headers.get("x-forwarded-for"), self.trusted)

    def https(self, request: Request) -> bool:
        """Whether the browser reached us over TLS (directly, or as a trusted proxy says)."""
        if request.url.scheme == "https":
            return True
        peer = request.client.host if request.client else ""
        forwarded = request.headers.get("x-forwarded-proto", "")
        return forwarded == "https" and is_trusted(peer, self.trusted)

    def page(
        self,
        template: str,
        status: int = 200,
        /,
        **context: object,
    ) -> HTMLResponse:
        html = self.pages.render(template, **context)
        return HTMLResponse(html, status, headers=NO_STORE)

    def close(self) -> None:
        self.outbox.close()
        self.db.close()
