"""Export an issue with another email service's merge tags, for practitioners who send there."""

from __future__ import annotations

import os
from pathlib import Path

from newsletter.build.pipeline import render_workspace
from newsletter.build.placeholders import MERGE_TAGS, export
from newsletter.errors import NewsletterError
from newsletter.workspace import Paths


def export_issue(paths: Paths, issue_id: str | None, *, style: str, out: Path) -> list[Path]:
    """email.html and email.txt with the service's merge tags in place of our placeholders."""
    if style not in MERGE_TAGS:
        raise NewsletterError.single(
            "--format", f"unknown format {style!r}; one of {', '.join(MERGE_TAGS)}"
        )
    _, rendered = render_workspace(paths, issue_id)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "email.html": export(
            rendered.html, rendered.nonce, style, escape_literal=style == "native"
        ),
        "email.txt": export(rendered.text, rendered.nonce, style),
    }
    written = []
    for name, text in files.items():
        target = out / name
        temporary = out / f".{name}.tmp-{os.getpid()}"
        temporary.write_text(text, encoding="utf-8", newline="\n")
        os.replace(temporary, target)
        written.append(target)
    return written
