"""Front matter parsed once per text: loading content that did not change imports no YAML.

PyYAML's import alone (its reader compiles a large character class) and its pure-Python
parser are a good part of what a build spends loading content. A Document is a pure function
of the file's text and of the parsing code, so it is remembered under the text (newsletter/
load/memo.py), stamped with PyYAML's and our parser's files. Only documents that parse are
kept: a file with a mistake is parsed, and reported, every time.
"""

from __future__ import annotations

import functools
from pathlib import Path

from newsletter.load import frontmatter
from newsletter.load.frontmatter import Document, parse_document
from newsletter.load.memo import Memo, files_stamp, package_file

KEEP = 64
"""Documents kept beyond those the last load used (which are always kept): room for edits."""


@functools.cache
def _stamp() -> list[object]:
    here = Path(frontmatter.__file__).parent
    return files_stamp(
        package_file("yaml"), frontmatter.__file__, str(here / "yamlsafe.py"), __file__
    )


def memo() -> Memo:
    """The remembered documents, read when first asked; `save()` it after loading."""
    return Memo("content", "frontmatter.pickle", _stamp(), keep=KEEP)


def parse(text: str, *, path: str, memo: Memo) -> Document:
    """parse_document(text, path=path), from `memo` when this text was parsed before."""
    stored = memo.get(text)
    if isinstance(stored, Document):
        return stored._replace(path=path)
    document = parse_document(text, path=path)
    memo.put(text, document._replace(path=""))
    return document
