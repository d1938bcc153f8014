"""Client support rules (caniemail data)."""

from __future__ import annotations

from .check_base import Email, Finding


def check(email: Email) -> list[Finding]:
    return []
