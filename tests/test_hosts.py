"""Which hosts reach only this machine: one answer for the preview, SMTP and the web service."""

from __future__ import annotations

import pytest

from newsletter.hosts import is_loopback


@pytest.mark.parametrize(
    "host", ["localhost", "LocalHost", "127.0.0.1", "127.1.2.3", "127.255.255.254", "::1"]
)
def test_loopback_names_and_addresses(host: str) -> None:
    """localhost, all of 127.0.0.0/8 and ::1 never leave the machine."""
    assert is_loopback(host)


@pytest.mark.parametrize(
    "host",
    [
        "0.0.0.0",
        "::",
        "192.168.1.10",
        "10.0.0.1",
        "128.0.0.1",
        "smtp.example.com",
        "127.evil.test",
        "localhost.example.com",
        "[::1]",
        "",
    ],
)
def test_anything_else_is_not_loopback(host: str) -> None:
    """Every-interface binds, private addresses and names that only look local are not loopback."""
    assert not is_loopback(host)
