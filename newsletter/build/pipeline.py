"""Run the stages once per issue and write dist/ atomically: a failed build changes nothing."""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from newsletter.build.placeholders import export
from newsletter.errors import NewsletterError
from newsletter.load.content import Library, pick_issue
from newsletter.load.loader import load_workspace as load_loaded
from newsletter.load.loader import pick_issues
from newsletter.model import Config, Issue, Rendered
from newsletter.workspace import Paths, load_secret

GMAIL_CLIP_BYTES = 102 * 1024
"""Gmail hides everything after about 102 KB of HTML behind "[Message clipped]", including
the footer with the unsubscribe link. The build warns past it; `check` (gmail-clipping) errs."""
GMAIL_WARN_BYTES = 80 * 1024
"""Where `check` starts to warn that the email is close to Gmail's clipping."""


class BuildResult(NamedTuple):
    issue_id: str
    folder: Path
    html_bytes: int
    html_gzip_bytes: int
    text_bytes: int
    files: tuple[Path, ...]
    warnings: tuple[str, ...]


@lru_cache(maxsize=4)
def _env(templates: str):  # type: ignore[no-untyped-def]
    from newsletter.build.render import make_env

    return make_env(Path(templates))


def load_workspace(paths: Paths, env: Mapping[str, str] | None = None) -> tuple[Config, Library]:
    """Config and content together, so one run reports the problems of both."""
    workspace = load_loaded(paths, env, templates=False)
    return workspace.config, workspace.library


def render_rendered(issue: Issue, /, *, config: Config, paths: Paths) -> Rendered:
    """Render, inline and finish one issue: the only per-issue work; sending only fills."""
    from newsletter.build.inline import inline_css
    from newsletter.build.render import render_issue

    if not paths.templates.is_dir():
        raise NewsletterError.single("templates", "the templates folder is missing")
    draft = render_issue(
        issue, config=config, env=_env(str(paths.templates)), templates=paths.templates
    )
    html = inline_css(draft.html)
    warnings = []
    size = len(html.encode("utf-8"))
    if size > GMAIL_CLIP_BYTES:
        warnings.append(
            f"the HTML is {size / 1024:.0f} KB: Gmail clips emails over about 102 KB, hiding the "
            "footer and unsubscribe link; shorten the issue or split it"
        )
    images = tuple(paths.content / "images" / name for name in draft.images)
    return Rendered(
        issue=issue,
        html=html,
        text=draft.text,
        web_html=draft.web_html,
        images=images,
        nonce=draft.nonce,
        warnings=tuple(warnings),
    )


def render_workspace(paths: Paths, issue_id: str | None = None) -> tuple[Config, Rendered]:
    """Load everything, pick the issue (newest by default), render it once."""
    config, library = load_workspace(paths)
    issue = pick_issue(library, issue_id)
    return config, render_rendered(issue, config=config, paths=paths)


def sample_message(rendered: Rendered, /, *, config: Config, secret: str) -> bytes:
    """The message as the sender would receive it: every placeholder filled for them."""
    from newsletter.build.mime import MessageTemplate
    from newsletter.build.recipient import make_recipient

    reader = make_recipient(config.sender_email, config.sender_name, config=config, secret=secret)
    return MessageTemplate(rendered, config=config).render(reader)


def _write_issue(
    folder: Path, rendered: Rendered, *, config: Config, secret: str, images: Path
) -> list[Path]:
    folder.mkdir(parents=True)
    files = {
        "email.html": export(rendered.html, rendered.nonce, escape_literal=True),
        "email.txt": export(rendered.text, rendered.nonce),
        "index.html": rendered.web_html,
    }
    written = []
    for name, text in files.items():
        path = folder / name
        path.write_text(text, encoding="utf-8", newline="\n")
        written.append(path)
    eml = folder / "message.eml"
    eml.write_bytes(sample_message(rendered, config=config, secret=secret))
    written.append(eml)
    if rendered.images:
        (folder / "images").mkdir()
        for image in rendered.images:
            target = folder / "images" / image.relative_to(images)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(image, target)
            written.append(target)
    return written


def _swap_in(new: Path, final: Path) -> None:
    """Replace `final` with `new` so readers see the old folder or the new one, never half."""
    final.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
    os.replace(new, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def build(
    paths: Paths, issue_id: str | None = None, *, all_issues: bool = False, out: Path | None = None
) -> list[BuildResult]:
    """Render every requested issue first; only when all succeed, swap their folders into place."""
    config, library = load_workspace(paths)
    issues = pick_issues(library, issue_id, all_issues=all_issues)
    rendered = [render_rendered(issue, config=config, paths=paths) for issue in issues]
    secret = load_secret(paths)
    root = (out or paths.dist).resolve()
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=root))
    results = []
    try:
        staged = []
        for item in rendered:
            folder = staging / item.issue.id
            files = _write_issue(
                folder, item, config=config, secret=secret, images=paths.content / "images"
            )
            html_bytes = (folder / "email.html").read_bytes()
            staged.append((item, folder, files, html_bytes))
        for item, folder, files, html_bytes in staged:
            final = root / "issues" / item.issue.id
            _swap_in(folder, final)
            results.append(
                BuildResult(
                    issue_id=item.issue.id,
                    folder=final,
                    html_bytes=len(html_bytes),
                    html_gzip_bytes=len(gzip.compress(html_bytes, 9)),
                    text_bytes=len(item.text.encode("utf-8")),
                    files=tuple(final / f.relative_to(folder) for f in files),
                    warnings=item.warnings,
                )
            )
        _write_archive(root, library, config=config, paths=paths)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return results


def _write_archive(root: Path, library: Library, *, config: Config, paths: Paths) -> None:
    """index.html and feed.xml over the issues whose folders exist, each replaced atomically."""
    from newsletter.build.archive import render_archive, render_feed

    built = [i for i in library.issues.values() if (root / "issues" / i.id / "email.html").exists()]
    pages = {
        "index.html": render_archive(built, config=config, env=_env(str(paths.templates))),
        "feed.xml": render_feed(built, config=config),
    }
    for name, text in pages.items():
        temporary = root / f".{name}.tmp-{os.getpid()}"
        temporary.write_text(text, encoding="utf-8", newline="\n")
        os.replace(temporary, root / name)
