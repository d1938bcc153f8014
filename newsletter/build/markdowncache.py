"""Each Markdown text as the email shows it, remembered: a render of unchanged content imports
neither python-markdown (with its eight extensions) nor nh3 nor lxml.html.

Three steps of the render are pure functions of their arguments and of the code that runs
them: to_html (the text, the trusted flag; python-markdown, nh3, build/markdown.py), the
email's rewrite of that HTML with its links finished (heading level, image sizes, the link
settings; lxml, build/fragment.py and links.py) and the plain text of the result (the width;
build/textify.py). Their results are kept in the cache folder under exactly those arguments
(newsletter/load/memo.py), stamped with those files. What comes out is the same either way;
tests/test_markdowncache.py compares the two.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from pathlib import Path

from newsletter.build import markdown, textify
from newsletter.build.links import LinkFinisher
from newsletter.load import images
from newsletter.load.memo import Memo, files_stamp, package_file

KEEP = 64
"""Results kept beyond those the last render used (which are always kept): room for edits."""


@functools.cache
def _stamp() -> list[object]:
    here = Path(__file__).parent
    code = [here / name for name in ("markdown.py", "fragment.py", "links.py", "textify.py")]
    return files_stamp(
        *(package_file(name) for name in ("markdown", "nh3", "lxml")),
        *(str(file) for file in code),
        images.__file__,
        __file__,
    )


class MarkdownCache:
    """The render's Markdown steps through the memo; `save()` after the render."""

    def __init__(self) -> None:
        self.memo = Memo("markdown", "html.pickle", _stamp(), keep=KEEP)

    def _text_of(self, key: str, compute: Callable[[], str]) -> str:
        """The remembered string under `key`, else `compute()`'s, remembered."""
        stored = self.memo.get(key)
        if isinstance(stored, str):
            return stored
        made = compute()
        self.memo.put(key, made)
        return made

    def to_html(self, source: str, *, trusted: bool) -> str:
        """markdown.to_html(source, trusted=trusted)."""
        return self._text_of(
            f"{int(trusted)}{source}", lambda: markdown.to_html(source, trusted=trusted)
        )

    def finished(
        self,
        source: str,
        *,
        trusted: bool,
        heading_base: int,
        sizes: Mapping[str, tuple[int, int]],
        links: LinkFinisher,
    ) -> str:
        """fragment.rewrite of the text's HTML with `links` finishing them; the local images it
        names are added to `links.images` as the finisher itself adds them."""
        key = repr(
            ("finished", source, trusted, heading_base, sorted(sizes.items()), links.base_url,
             links.issue_id, sorted(links.hosts), links.utm, links.medium)
        )  # fmt: skip
        stored = self.memo.get(key)
        if not _is_finished(stored):
            from newsletter.build.fragment import rewrite

            own = LinkFinisher(links.base_url, links.issue_id, links.hosts, links.utm, links.medium)
            html = self.to_html(source, trusted=trusted)
            stored = (rewrite(html, heading_base=heading_base, sizes=sizes, links=own), own.images)
            self.memo.put(key, stored)
        out: str = stored[0]
        for name in stored[1]:
            if name not in links.images:
                links.images.append(name)
        return out

    def text(self, html: str, *, width: int = textify.WIDTH) -> str:
        """textify.html_to_text(html, width=width)."""
        return self._text_of(
            f"text {width} {html}", lambda: textify.html_to_text(html, width=width)
        )

    def save(self) -> None:
        self.memo.save()


def _is_finished(stored: object) -> bool:
    return (
        isinstance(stored, tuple)
        and len(stored) == 2
        and isinstance(stored[0], str)
        and isinstance(stored[1], list)
        and all(isinstance(name, str) for name in stored[1])
    )
