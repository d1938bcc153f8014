"""Sanitised HTML of each Markdown text, remembered: a render of unchanged content imports
neither python-markdown (with its eight extensions) nor nh3.

to_html is a pure function of the text, the trusted flag, the two libraries and
newsletter/build/markdown.py (extensions, allow-list), so its result is kept in the cache
folder under the text (newsletter/load/memo.py), stamped with those files. What comes out is
the same string either way; tests/test_markdowncache.py compares the two.
"""

from __future__ import annotations

import functools

from newsletter.build import markdown
from newsletter.load.memo import Memo, files_stamp, package_file

KEEP = 64
"""Texts kept beyond those the last render used (which are always kept): room for edits."""


@functools.cache
def _stamp() -> list[object]:
    return files_stamp(package_file("markdown"), package_file("nh3"), markdown.__file__, __file__)


class MarkdownCache:
    """to_html through the memo; `save()` after the render."""

    def __init__(self) -> None:
        self.memo = Memo("markdown", "html.pickle", _stamp(), keep=KEEP)

    def to_html(self, source: str, *, trusted: bool) -> str:
        key = f"{int(trusted)}{source}"
        stored = self.memo.get(key)
        if isinstance(stored, str):
            return stored
        html = markdown.to_html(source, trusted=trusted)
        self.memo.put(key, html)
        return html

    def save(self) -> None:
        self.memo.save()
