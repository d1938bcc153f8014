"""Signup with double opt-in: the form, "check your inbox", and the confirmation link.

Every accepted post answers the same page, whether the address is new, on the list or
gone, and whether or not a confirmation goes out (rate limits, list bombing): nobody can
probe the list through it.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from newsletter import tokens
from newsletter.mail import subscribers
from newsletter.web import emails, signups
from newsletter.web.forms import (
    CSRF_COOKIE,
    CSRF_FIELD,
    BadForm,
    form_token,
    new_cookie,
    read_form,
    valid_form_token,
)
from newsletter.web.site import Site
from newsletter.web.unsubscribe import verified_token

HONEYPOT = "website"


def _form(site: Site, request: Request, status: int = 200, **context: object) -> HTMLResponse:
    """The signup form with a form token bound to this browser's cookie (set when missing)."""
    cookie = request.cookies.get(CSRF_COOKIE) or new_cookie()
    response = site.page(
        "subscribe",
        status,
        token=form_token(cookie, site.secret),
        consent_text=site.config.web.consent_text,
        **{"error": "", "email": "", "name": "", **context},
    )
    if request.cookies.get(CSRF_COOKIE) != cookie:
        response.set_cookie(
            CSRF_COOKIE,
            cookie,
            max_age=86400,
            httponly=True,
            samesite="strict",
            secure=site.https(request),
        )
    return response


def _from_embedded_form(site: Site, request: Request) -> bool:
    origin = request.headers.get("origin", "").rstrip("/")
    return bool(origin) and origin in site.config.web.signup_origins


async def subscribe(request: Request) -> Response:
    site: Site = request.app.state.site
    if request.method != "POST":
        return _form(site, request)
    if not site.signup_limit.hit(site.client(request)):
        return site.page("error", 429, status=429, title="Too many tries")
    try:
        form = await read_form(request)
    except BadForm as exc:
        return Response(site.pages.error(exc.status), exc.status, media_type="text/html")
    email, name = form.get("email", "").strip(), form.get("name", "").strip()[:200]
    fields = {"email": email[:320], "name": name}
    if not _from_embedded_form(site, request) and not valid_form_token(
        request.cookies.get(CSRF_COOKIE), form.get(CSRF_FIELD), site.secret
    ):
        return _form(site, request, 403, error="expired", **fields)
    if form.get(HONEYPOT):
        return site.page("check_inbox")
    try:
        address = subscribers.normalize_email(email)
    except ValueError:
        return _form(site, request, 400, error="email", **fields)
    if form.get("consent") != "yes":
        return _form(site, request, 400, error="consent", **fields)
    await run_in_threadpool(start_signup, site, address, name)
    return site.page("check_inbox")


def start_signup(site: Site, address: str, name: str) -> None:
    """Record the signup and queue its confirmation, unless limits or the list say no."""
    conn = site.db.connection()
    with site.db.write_lock:
        signup = signups.start(
            conn,
            address,
            name=name,
            consent=site.config.web.consent_text,
            per_day=site.config.web.confirmations_per_day,
        )
    if signup is None:
        return

    def make() -> bytes:
        email = site.email("confirm")
        assert email is not None
        return emails.message(
            email,
            signup.email,
            signup.name,
            secret=site.secret,
            unsubscribe_id=signup.token_id,
            confirm_token=tokens.sign_id(signup.token_id, site.secret, purpose="confirm"),
            message_key=signup.token_id[:12],
        )

    site.outbox.put(signup.email, make)


async def resubscribe(request: Request) -> Response:
    """The unsubscribed page's "subscribe again": a confirmation email, as for a new signup."""
    site: Site = request.app.state.site
    verified = verified_token(request, site)
    if verified is None:
        return site.page("invalid", 400, what="unsubscribe")
    if not site.signup_limit.hit(site.client(request)):
        return site.page("error", 429, status=429, title="Too many tries")

    def start() -> None:
        found = subscribers.by_token(site.db.connection(), verified)
        if found is not None and found.status != "active":
            start_signup(site, found.email, found.name)

    await run_in_threadpool(start)
    return site.page("check_inbox")


async def confirm(request: Request) -> Response:
    site: Site = request.app.state.site
    verified = verified_token(request, site, "confirm")
    if verified is None:
        return site.page("invalid", 400, what="confirm")
    signup = await run_in_threadpool(lambda: signups.find(site.db.connection(), verified.value))
    if signup is None or signup.state == "declined":
        return site.page("invalid", 400, what="expired")
    if request.method != "POST":
        token = request.query_params["token"].strip()
        return site.page("confirm", action=f"/confirm?token={token}")
    result = await run_in_threadpool(_confirm, site, verified.value)
    if result is None:
        return site.page("invalid", 400, what="expired")
    return site.page("confirmed")


def _confirm(site: Site, token_id: str) -> tuple[subscribers.Subscriber, bool] | None:
    conn = site.db.connection()
    with site.db.write_lock:
        result = signups.confirm(conn, token_id)
    if result is None:
        return None
    subscriber, newly = result
    if newly:
        site.log(f"confirmed subscriber {subscriber.id} (web form)")
        welcome = site.email("welcome")
        token_id_ = subscribers.token_id_for(conn, subscriber.email) or ""
        if welcome is not None:
            site.outbox.put(
                subscriber.email,
                lambda: emails.message(
                    welcome,
                    subscriber.email,
                    subscriber.name,
                    secret=site.secret,
                    unsubscribe_id=token_id_,
                    message_key=token_id[:12],
                ),
            )
    return result
