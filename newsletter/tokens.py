"""Signed tokens for unsubscribe and confirmation links: HMAC-signed, compared in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from typing import NamedTuple
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


# --- opaque tokens (version 2) ----------------------------------------------------------------
#
# A version-2 token is `2.<id>.<signature>`: the id is a random per-subscriber (or per-signup)
# value stored in the database, so the token says nothing about whom it belongs to and web
# server logs hold no addresses. The purpose ("unsubscribe", "confirm") is signed with it, so
# a confirmation link cannot be replayed as an unsubscribe link or the other way round.
#
# Version-1 tokens (the address in base64) were in every email sent before this; `read` keeps
# accepting them. Policy: they are honoured for at least 30 days after the last send that
# issued them (CAN-SPAM's 30 days), and are only removed in a release that says so.

OPAQUE_VERSION = "2"
PURPOSES = ("unsubscribe", "confirm")
_ID_ALPHABET = frozenset("0123456789abcdef")
_ID_LENGTH = 24


class Verified(NamedTuple):
    """What a valid token names: an opaque `id` (version 2) or, for version 1, an `address`."""

    kind: str
    """"id" or "address"."""
    value: str


def new_id() -> str:
    """A random opaque id (96 bits, hex): unguessable and unrelated to the address."""
    return secrets.token_hex(_ID_LENGTH // 2)


def _id_mac(secret: bytes, purpose: str, ident: str) -> bytes:
    message = f"{purpose}:v2:{ident}".encode("ascii")
    return hmac.new(secret, message, hashlib.sha256).digest()[:_SIG_BYTES]


def _key(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def sign_id(ident: str, secret: str | bytes, *, purpose: str = "unsubscribe") -> str:
    """An opaque token for a stored random id; the address is never in it."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    if len(ident) != _ID_LENGTH or not set(ident) <= _ID_ALPHABET:
        raise ValueError("an opaque id is 24 lower-case hex digits")
    return f"{OPAQUE_VERSION}.{ident}.{_b64(_id_mac(_key(secret), purpose, ident))}"


def read(token: str, secret: str | bytes, *, purpose: str = "unsubscribe") -> Verified:
    """Check any token version in constant time; raise InvalidToken for anything else.

    Version 1 tokens exist only for unsubscribing (see the policy above).
    """
    text = token.strip()
    if text.startswith(f"{VERSION}.") and purpose == "unsubscribe":
        return Verified("address", verify(text, secret))
    parts = text.split(".")
    if len(parts) != 3 or parts[0] != OPAQUE_VERSION:
        raise InvalidToken("not a token")
    ident = parts[1]
    if len(ident) != _ID_LENGTH or not set(ident) <= _ID_ALPHABET:
        raise InvalidToken("the token is damaged")
    try:
        signature = _unb64(parts[2])
    except ValueError as exc:
        raise InvalidToken("the token is damaged") from exc
    if not hmac.compare_digest(signature, _id_mac(_key(secret), purpose, ident)):
        raise InvalidToken("the token's signature does not match")
    return Verified("id", ident)


_IN_TEXT = re.compile(
    r"(?<![A-Za-z0-9_.-])\d+\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{8,}(?![A-Za-z0-9_-])"
)


def find_tokens(text: str) -> list[str]:
    """Every string in a text (a mail's subject or body) shaped like a token, in order, once
    each; whether one is valid is for `read` to say."""
    return list(dict.fromkeys(_IN_TEXT.findall(text)))
