"""WCAG 2 colour arithmetic, shared by the config's brand check and the accessibility rules."""

from __future__ import annotations

import re

_HEX = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
AA_NORMAL = 4.5
AA_LARGE = 3.0


def is_hex(value: str) -> bool:
    return bool(_HEX.match(value))


def parse_hex(value: str) -> tuple[int, int, int]:
    value = value.lstrip("#")
    if len(value) == 3:
        value = "".join(c * 2 for c in value)
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def luminance(rgb: tuple[int, int, int]) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str | tuple[int, int, int], b: str | tuple[int, int, int]) -> float:
    """WCAG contrast ratio between two colours, 1.0 to 21.0."""
    la = luminance(parse_hex(a) if isinstance(a, str) else a)
    lb = luminance(parse_hex(b) if isinstance(b, str) else b)
    hi, lo = max(la, lb), min(la, lb)
    return (hi + 0.05) / (lo + 0.05)


def invert(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """What a client that forces dark mode by full inversion does to a colour."""
    return (255 - rgb[0], 255 - rgb[1], 255 - rgb[2])
