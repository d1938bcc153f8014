"""Pixel size of PNG, JPEG, GIF and WebP files from their headers, without an imaging library.

Why not `imagesize` (the maintained library for this): its 2.x imports urllib.request and
http.client at import time, for reading sizes over HTTP, which is about 40 ms of a 200 ms
cold build that otherwise defers exactly those modules (see build/stylecache.py); and it
accepts SVG, TIFF, HEIC and AVIF, which most mail clients do not show, so content would have
to filter its answers anyway. The four formats the email may use fit in the 60 lines below.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

CONTENT_WIDTH = 552
"""Usable width of the 600 px card after its padding; wider images are scaled down."""


def image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) in pixels, or None when the file is not an image we can read."""
    try:
        with path.open("rb") as f:
            head = f.read(32)
            if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
                w, h = struct.unpack(">II", head[16:24])
                return w, h
            if head[:6] in (b"GIF87a", b"GIF89a"):
                w, h = struct.unpack("<HH", head[6:10])
                return w, h
            if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
                return _webp(head, f.read(16))
            if head[:2] == b"\xff\xd8":
                f.seek(2)
                return _jpeg(f)
    except OSError:
        return None
    return None


def _webp(head: bytes, more: bytes) -> tuple[int, int] | None:
    data = head + more
    chunk = data[12:16]
    if chunk == b"VP8X":
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
        return w, h
    if chunk == b"VP8 ":
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L":
        b = data[21:25]
        w = 1 + (((b[1] & 0x3F) << 8) | b[0])
        h = 1 + (((b[3] & 0xF) << 10) | (b[2] << 2) | ((b[1] & 0xC0) >> 6))
        return w, h
    return None


def _jpeg(f: BinaryIO) -> tuple[int, int] | None:
    while True:
        marker = f.read(2)
        if len(marker) < 2 or marker[0] != 0xFF:
            return None
        kind = marker[1]
        if kind in (0xD8, 0x01) or 0xD0 <= kind <= 0xD7:
            continue
        length_bytes = f.read(2)
        if len(length_bytes) < 2:
            return None
        length = struct.unpack(">H", length_bytes)[0]
        if kind in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            data = f.read(5)
            if len(data) < 5:
                return None
            h, w = struct.unpack(">HH", data[1:5])
            return w, h
        f.seek(length - 2, 1)


def display_size(width: int, height: int, *, max_width: int = CONTENT_WIDTH) -> tuple[int, int]:
    """Size to show an image at: its own, or scaled down to the column (2x files stay sharp)."""
    if width <= max_width:
        return width, height
    return max_width, round(height * max_width / width)
