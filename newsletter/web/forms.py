"""Form bodies read within a size limit, and the form token that protects the signup form."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import AsyncGenerator
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from newsletter.web.security import MAX_BODY

CSRF_COOKIE = "nl_form"
CSRF_FIELD = "form_token"


class BadForm(Exception):
    """The body is too large (status 413) or cannot be read as a form (status 400)."""

    def __init__(self, status: int):
        super().__init__(status)
        self.status = status


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The body, refused once it passes `limit` however it is sent (chunked included)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadForm(413)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_form(request: Request) -> dict[str, str]:
    """Fields of a form-encoded or multipart body (first value of each; files ignored)."""
    body = await read_body(request)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        return await _multipart(request.headers, body)
    if kind in ("application/x-www-form-urlencoded", "") or not body:
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=50)
        except (UnicodeDecodeError, ValueError):
            raise BadForm(400) from None
        fields: dict[str, str] = {}
        for key, value in pairs:
            fields.setdefault(key, value)
        return fields
    raise BadForm(415)


async def _multipart(headers: Headers, body: bytes) -> dict[str, str]:
    async def stream() -> AsyncGenerator[bytes, None]:
        yield body

    parser = MultiPartParser(headers, stream(), max_files=0, max_fields=50, max_part_size=16384)
    try:
        form = await parser.parse()
    except MultiPartException:
        raise BadForm(400) from None
    return {k: v for k, v in form.multi_items() if isinstance(v, str)}


def new_cookie() -> str:
    return secrets.token_urlsafe(18)


def form_token(cookie: str, secret: str) -> str:
    """The hidden field's value: bound to this browser's cookie by HMAC (double submit).

    A page on another site can post a form here, but its request carries no SameSite=Strict
    cookie, so it cannot match any token; nor can it read the token out of our page.
    """
    mac = hmac.new(secret.encode(), b"form:" + cookie.encode(), hashlib.sha256)
    return mac.hexdigest()[:32]


def valid_form_token(cookie: str | None, token: str | None, secret: str) -> bool:
    if not cookie or not token:
        return False
    return hmac.compare_digest(token.encode(), form_token(cookie, secret).encode())
