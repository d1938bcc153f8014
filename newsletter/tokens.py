"""Signed unsubscribe tokens: verified with the secret alone, no database lookup, no forgery."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from urllib.parse import parse_qs, urlsplit

VERSION = "1"
_SIG_BYTES = 16  # 128-bit truncated HMAC-SHA256: unforgeable in practice, short in a URL.


class InvalidToken(ValueError):
    """The token was altered, truncated, signed with another secret, or is not a token."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, b"unsubscribe:" + payload, hashlib.sha256).digest()[:_SIG_BYTES]


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def sign(email: str, secret: str | bytes) -> str:
    """A URL-safe token naming the (lower-cased) address, signed with the secret."""
    key = secret.encode() if isinstance(secret, str) else secret
    payload = email.strip().lower().encode("utf-8")
    return f"{VERSION}.{_b64(payload)}.{_b64(_mac(key, payload))}"


def verify(token: str, secret: str | bytes) -> str:
    """The address a token was signed for; compares signatures in constant time."""
    key = secret.encode() if isinstance(secret, str) else secret
    parts = token.strip().split(".")
    if len(parts) != 3 or parts[0] != VERSION:
        raise InvalidToken("not an unsubscribe token")
    try:
        payload = _unb64(parts[1])
        signature = _unb64(parts[2])
        email = payload.decode("utf-8")
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidToken("the token is damaged") from exc
    if not hmac.compare_digest(signature, _mac(key, payload)):
        raise InvalidToken("the token's signature does not match")
    return email


def token_from(text: str) -> str:
    """Accept a bare token or a full unsubscribe URL carrying one as ?token=."""
    text = text.strip()
    if "://" in text or text.startswith("mailto:"):
        try:
            query = parse_qs(urlsplit(text).query)
        except ValueError:  # e.g. an unclosed "[" in the host
            raise InvalidToken("the URL is malformed") from None
        for key in ("token", "t", "body", "subject"):
            if query.get(key):
                return query[key][0].strip()
        raise InvalidToken("the URL carries no token")
    return text


def unsubscribe_url(base: str, token: str) -> str:
    joiner = "&" if "?" in base else "?"
    return f"{base}{joiner}token={token}"
