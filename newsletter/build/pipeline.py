"""Run the stages once per issue and write dist/ atomically: a failed build changes nothing."""

from __future__ import annotations

import shutil
import zlib
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from newsletter.build.placeholders import export
from newsletter.build.write import IssueFiles, write_output
from newsletter.errors import Collector, NewsletterError
from newsletter.load.content import Library, pick_issue
from newsletter.load.loader import load_workspace as load_loaded
from newsletter.load.loader import pick_issues
from newsletter.load.references import images_folder, resolve_local
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
    try:
        draft = render_issue(
            issue, config=config, env=_env(str(paths.templates)), templates=paths.templates
        )
    except RecursionError:
        raise NewsletterError.single(
            issue.path, "the content is nested too deeply to render: flatten its lists", 1
        ) from None
    html = inline_css(draft.html)
    warnings = []
    size = len(html.encode("utf-8"))
    if size > GMAIL_CLIP_BYTES:
        warnings.append(
            f"the HTML is {size / 1024:.0f} KB: Gmail clips emails over about 102 KB, hiding the "
            "footer and unsubscribe link; shorten the issue or split it"
        )
    images = local_images(draft.images, issue, paths=paths)
    return Rendered(
        issue=issue,
        html=html,
        text=draft.text,
        web_html=draft.web_html,
        images=images,
        nonce=draft.nonce,
        warnings=tuple(warnings),
    )


def local_images(
    names: Sequence[str], issue: Issue, /, *, paths: Paths, strict: bool = False
) -> tuple[Path, ...]:
    """The files under content/images/ the email names; a name that leads outside it is the
    content's error (with `strict`, so is a missing file or one that is no image).

    The loader already checked every reference it can find in the Markdown; this checks what the
    render actually produced, whatever syntax produced it.
    """
    problems = Collector()
    images = []
    for raw in names:
        local = resolve_local(raw, paths)
        path = local.path
        if path is None and not strict and "outside content/images/" not in local.problem:
            path = images_folder(paths) / local.name  # check reports it; build refuses it
        if path is None:
            where, line = locate(issue, raw)
            problems.add(where, line, f"image {raw!r}: {local.problem}")
        elif path not in images:
            images.append(path)
    problems.raise_if_errors()
    return tuple(images)


def locate(issue: Issue, needle: str) -> tuple[str, int]:
    """The content file and line where a name is written (the issue's first line if nowhere)."""
    sources = [(issue.path, issue.intro, issue.intro_line)]
    sources += [(a.path, a.body, a.body_line) for a in issue.articles]
    sources += [(a.path, f"\n{a.image.src}", 0) for a in issue.articles if a.image]
    for path, text, first in sources:
        index = text.find(needle)
        if index >= 0:
            return path, first + text.count("\n", 0, index)
    return issue.path, 1


def copy_image(name: str, source: Path, target: Path, *, paths: Paths) -> None:
    """Copy one picture into dist/, checking again that it is still a file in content/images/."""
    local = resolve_local(name, paths)
    if local.real is None or local.path != source:
        raise NewsletterError.single(
            f"content/images/{name}", local.problem or "changed during the build"
        )
    shutil.copyfile(local.real, target)


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


def issue_files(rendered: Rendered, /, *, config: Config, secret: str, paths: Paths) -> IssueFiles:
    """What goes into dist/issues/<id>/: the email, its text, the web page, a sample message."""
    files = {
        "email.html": export(rendered.html, rendered.nonce, escape_literal=True),
        "email.txt": export(rendered.text, rendered.nonce, escape_literal="text"),
        "index.html": rendered.web_html,
    }
    data = {name: text.encode("utf-8") for name, text in files.items()}
    data["message.eml"] = sample_message(rendered, config=config, secret=secret)
    folder = images_folder(paths)
    images = {image.relative_to(folder).as_posix(): image for image in rendered.images}
    return IssueFiles(rendered.issue.id, data, images)


def build(
    paths: Paths, issue_id: str | None = None, *, all_issues: bool = False, out: Path | None = None
) -> list[BuildResult]:
    """Render every requested issue first; only when all succeed, swap their folders into place."""
    config, library = load_workspace(paths)
    issues = pick_issues(library, issue_id, all_issues=all_issues)
    rendered = [render_rendered(issue, config=config, paths=paths) for issue in issues]
    problems = Collector()
    for item in rendered:
        names = [p.relative_to(images_folder(paths)).as_posix() for p in item.images]
        try:
            local_images(names, item.issue, paths=paths, strict=True)
        except NewsletterError as exc:
            problems.extend(exc.problems)
    problems.raise_if_errors()
    secret = _secret(paths)
    staged = [issue_files(item, config=config, secret=secret, paths=paths) for item in rendered]
    root = (out or paths.dist).resolve()
    _refuse_workspace_folder(root, paths)

    def pages(present: set[str]) -> dict[str, str]:
        return archive_pages(
            [i for i in library.issues.values() if i.id in present], config=config, paths=paths
        )

    written = write_output(
        root,
        staged,
        pages=pages,
        copy_image=lambda name, source, target: copy_image(name, source, target, paths=paths),
        shown=paths.rel(root),
        adopt=root == paths.dist.resolve(),
    )
    return [
        BuildResult(
            issue_id=item.issue.id,
            folder=done.folder,
            html_bytes=len(files.files["email.html"]),
            html_gzip_bytes=gzipped_size(files.files["email.html"]),
            text_bytes=len(item.text.encode("utf-8")),
            files=done.files,
            warnings=item.warnings,
        )
        for item, files, done in zip(rendered, staged, written, strict=True)
    ]


def gzipped_size(data: bytes) -> int:
    """What `gzip -9` makes of it: zlib writes the same stream, without importing gzip."""
    return len(zlib.compress(data, 9, wbits=31))


def _refuse_workspace_folder(root: Path, paths: Paths) -> None:
    """Output never goes into the workspace's own folders, where it would mix with content."""
    workspace = paths.root.resolve()
    own = [workspace / name for name in ("content", "templates", "data", "newsletter", "tests")]
    if root == workspace or any(root == p or root.is_relative_to(p) for p in own):
        raise NewsletterError.single(
            "--out",
            f"{paths.rel(root) or '.'} is part of the workspace: build into dist/ (the default) "
            "or a folder outside content/, templates/ and data/",
        )


def _secret(paths: Paths) -> str:
    try:
        return load_secret(paths)
    except OSError as exc:
        raise NewsletterError.single(
            "data/secret",
            f"cannot create the signing secret: {exc.strerror or exc}; "
            "set NEWSLETTER_SECRET or make data/ writable",
        ) from None


def archive_pages(built: list[Issue], /, *, config: Config, paths: Paths) -> dict[str, str]:
    """index.html and feed.xml over the issues whose folders exist."""
    import jinja2

    from newsletter.build.archive import render_archive, render_feed
    from newsletter.build.render import template_problem

    try:
        page = render_archive(built, config=config, env=_env(str(paths.templates)))
    except (jinja2.TemplateError, TypeError, ValueError, AttributeError, KeyError) as exc:
        raise NewsletterError([template_problem(exc, paths.templates)]) from None
    return {"index.html": page, "feed.xml": render_feed(built, config=config)}
