"""Bytes of an export into text: the encodings Excel and contact apps write, detected."""

from __future__ import annotations

import codecs
import re

from newsletter.errors import NewsletterError

_SEP_LINE = re.compile(r"sep=(.)[ \t]*(?:\r\n|\r|\n|\Z)", re.IGNORECASE)


def _looks_utf16(data: bytes) -> str | None:
    """'utf-16-le'/'utf-16-be' for BOM-less UTF-16 text (a NUL beside every ASCII byte)."""
    sample = data[:4096]
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.05 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.4 * len(even) and odd.count(0) < 0.05 * len(odd):
        return "utf-16-be"
    return None


def _detect(data: bytes) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"  # Excel's "Unicode text": UTF-16 with a BOM, tab-separated
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    utf16 = _looks_utf16(data)
    if utf16:
        return utf16
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "cp1252"  # Excel's plain "CSV" on Windows and older Macs in the West
    return "utf-8"


def decode(data: bytes, path: str, encoding: str | None = None) -> str:
    """The file's text, BOM dropped: `encoding` when given, else detected.

    Detected: UTF-16 (with BOM, or without one by its NUL bytes), UTF-8 (with or without BOM),
    else Windows-1252. A NUL byte in anything else means a binary file, such as an .xlsx.
    """
    if encoding:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise NewsletterError.single(
                "--encoding", f"unknown encoding {encoding!r}; try utf-8, utf-16 or cp1252"
            ) from None
        chosen = encoding
    else:
        chosen = _detect(data)
    if not chosen.startswith("utf-16") and b"\0" in data:
        line = data[: data.index(b"\0")].count(b"\n") + 1
        raise NewsletterError.single(
            path, "this is a binary file, not a CSV; export the list as CSV (UTF-8)", line
        )
    try:
        text = data.decode(chosen)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        advice = (
            f"is not {encoding} text; check --encoding"
            if encoding
            else "is in no encoding this reader knows; give it with --encoding (e.g. mac-roman)"
        )
        raise NewsletterError.single(
            path, f"byte 0x{data[exc.start]:02x} {advice}, or save it as 'CSV UTF-8'", line
        ) from None
    return text.removeprefix("\ufeff")


def take_separator_line(text: str) -> tuple[str, str | None]:
    """Excel's optional first line `sep=;` names the delimiter; it is not the header.

    The line is blanked rather than removed, so line numbers stay those of the file.
    """
    match = _SEP_LINE.match(text)
    if not match:
        return text, None
    ending = text[match.end(1) : match.end()].lstrip(" \t")
    return ending + text[match.end() :], match.group(1)
