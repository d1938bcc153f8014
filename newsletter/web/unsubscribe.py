"""Unsubscribe: a GET shows the page, a POST (RFC 8058 one-click or the button) unsubscribes.

Mail security scanners open every link in every message, so GET and HEAD only read. The
POST answers 200 with a page, never a redirect (RFC 8058), and doing it twice is harmless.
"""

from __future__ import annotations

import sqlite3
from typing import NamedTuple

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from newsletter import tokens
from newsletter.mail import subscribers
from newsletter.web import signups
from newsletter.web.forms import BadForm, read_form
from newsletter.web.pages import mask
from newsletter.web.site import Site


class Target(NamedTuple):
    """Whom a valid token names: a subscriber, a pending signup, or nobody we know."""

    subscriber: subscribers.Subscriber | None
    signup_id: str = ""


def _target(site: Site, verified: tokens.Verified) -> Target:
    conn = site.db.connection()
    found = subscribers.by_token(conn, verified)
    if found is None and verified.kind == "id":
        return Target(None, verified.value)
    return Target(found)


def _unsubscribe(site: Site, verified: tokens.Verified, via: str, *, eager: bool = False) -> Target:
    """Unsubscribe whom the token names; `eager` runs on the event loop's never-waiting
    connection (raising sqlite3.OperationalError when another writer holds the lock)."""
    conn = site.db.without_waiting() if eager else site.db.connection()
    lock = site.db.write_lock
    if not lock.acquire(blocking=not eager):
        raise sqlite3.OperationalError("database is locked (by a request thread)")
    try:
        found = subscribers.by_token(conn, verified)
        if found is not None:
            done = subscribers.unsubscribe(conn, found, via=via)
            if not done.already:
                site.log(f"unsubscribed subscriber {done.subscriber.id} ({via})")
            return Target(done.subscriber)
        if verified.kind == "id":
            signups.decline(conn, verified.value)
            return Target(None, verified.value)
        return Target(None)
    finally:
        lock.release()


async def _unsubscribe_now(site: Site, verified: tokens.Verified, via: str) -> Target:
    """In the event loop when the database is free (no thread hop), else in a thread."""
    try:
        return _unsubscribe(site, verified, via, eager=True)
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc) and "busy" not in str(exc):
            raise
    return await run_in_threadpool(_unsubscribe, site, verified, via)


def verified_token(
    request: Request, site: Site, purpose: str = "unsubscribe"
) -> tokens.Verified | None:
    try:
        return tokens.read(request.query_params.get("token", ""), site.secret, purpose=purpose)
    except tokens.InvalidToken:
        return None


async def unsubscribe(request: Request) -> Response:
    site: Site = request.app.state.site
    verified = verified_token(request, site)
    if verified is None:
        missing = not request.query_params.get("token", "").strip()
        return site.page("invalid", 400, what="missing" if missing else "unsubscribe")
    action = f"{site.unsubscribe_path}?token={request.query_params['token'].strip()}"
    if request.method != "POST":
        target = await run_in_threadpool(_target, site, verified)
        return site.page("unsubscribe", action=action, **_shown(target))
    try:
        form = await read_form(request)
    except BadForm as exc:
        if exc.status == 413:
            return Response(site.pages.error(413), 413, media_type="text/html")
        form = {}  # the signed token is the request; an odd body must not keep anyone on
    via = "one-click" if form.get("List-Unsubscribe") == "One-Click" else "web page"
    target = await _unsubscribe_now(site, verified, via)
    resubscribe = f"/resubscribe?token={request.query_params['token'].strip()}"
    return site.page(
        "unsubscribed",
        resubscribe=resubscribe if target.subscriber is not None else "",
        consent_text=site.config.web.consent_text,
        **_shown(target),
    )


def _shown(target: Target) -> dict[str, object]:
    address = target.subscriber.email if target.subscriber else ""
    return {"masked": mask(address) if address else "", "signup": bool(target.signup_id)}
