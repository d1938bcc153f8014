"""One rebuild of the issue in memory, with every view the preview page offers.

A `Snapshot` is immutable: the server hands out the same one until the watcher publishes the
next. Nothing here writes a file: no dist/, no data/secret.
"""

from __future__ import annotations

import email.parser
import email.policy
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from newsletter.check import Finding, check_rendered, problems_to_findings, sort_findings
from newsletter.errors import NewsletterError, Problem
from newsletter.load.loader import Workspace
from newsletter.model import Config, Rendered
from newsletter.preview.variants import MODES, email_document, inbox_text, local_images, truncate
from newsletter.workspace import Paths

PHONE_WIDTHS = (360, 375, 390, 393, 412, 414, 430)
"""CSS widths of common phones: small Android, iPhone SE/mini, iPhone, Pixel, large phones."""
DEFAULT_PHONE_WIDTH = 375
INBOX_DESKTOP_CHARS = 120
"""About what a desktop inbox line shows of subject and preview text together."""
INBOX_PHONE_CHARS = 90
"""About what a phone inbox shows of the preview text, in two lines under the subject."""
PREVIEW_SECRET = "preview-only-not-a-real-secret"
"""Signs the sample unsubscribe link when no secret exists; the preview never creates one."""
CHECKED = ".checked"
"""Suffix of a snapshot's version once its findings are in (the email itself is unchanged)."""
INTERNAL_ERROR = "internal error"
"""The path of the problem shown when rendering crashed: a bug, not the user's mistake."""


@dataclass(frozen=True)
class View:
    """One tab of the preview page."""

    name: str
    label: str
    mode: str
    """Email variant shown (variants.MODES), or '' for views that are not the rendered email."""
    default_width: str
    widths: tuple[str, ...]


_ALL_WIDTHS = ("desktop", *(str(w) for w in PHONE_WIDTHS))
_PHONES = tuple(str(w) for w in PHONE_WIDTHS)
VIEWS: tuple[View, ...] = (
    View("desktop", "Desktop", "light", "desktop", ("desktop",)),
    View("phone", "Phone", "light", str(DEFAULT_PHONE_WIDTH), _PHONES),
    View("dark", "Dark mode", "dark", str(DEFAULT_PHONE_WIDTH), _ALL_WIDTHS),
    View("inverted", "Gmail app (inverted)", "inverted", str(DEFAULT_PHONE_WIDTH), _ALL_WIDTHS),
    View("images-off", "Images off", "images-off", "desktop", _ALL_WIDTHS),
    View("text", "Plain text", "", "", ()),
    View("source", "HTML source", "", "", ()),
    View("headers", "Headers", "", "", ()),
)
VIEWS_BY_NAME = {v.name: v for v in VIEWS}


@dataclass(frozen=True)
class Snapshot:
    """One rebuild's outcome: everything the server hands out until the next one."""

    version: str
    built_at: float
    elapsed_ms: float
    problems: tuple[Problem, ...] = ()
    """Non-empty when the issue does not build; then the fields below are empty."""
    issue_id: str = ""
    subject: str = ""
    sender: str = ""
    inbox_text: str = ""
    """What an inbox shows after the subject: the start of the body's text, preheader first."""
    documents: Mapping[str, str] = field(default_factory=dict)
    """Email variant (MODES) -> HTML document, placeholders filled for a sample recipient."""
    html: str = ""
    text: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    findings: tuple[Finding, ...] | None = None
    """None when `check` is not available."""
    check_error: str = ""
    checking: bool = False
    """True between the render and the check's findings (published separately: faster)."""
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def html_kb(self) -> float:
        return len(self.html.encode("utf-8")) / 1024

    @property
    def inbox_desktop(self) -> str:
        """A desktop inbox line: subject, then as much preview text as fits."""
        return truncate(f"{self.subject} – {self.inbox_text}", INBOX_DESKTOP_CHARS)

    @property
    def inbox_phone(self) -> str:
        """A phone inbox's two lines of preview text under the subject."""
        return truncate(self.inbox_text, INBOX_PHONE_CHARS)


def sample_values(config: Config) -> dict[str, str]:
    """Placeholder values for the preview: the sender reading their own newsletter."""
    from newsletter.build.recipient import make_recipient

    reader = make_recipient(
        config.sender_email, config.sender_name, config=config, secret=PREVIEW_SECRET
    )
    return dict(reader.values)


def message_headers(
    rendered: Rendered, /, *, config: Config, paths: Paths
) -> list[tuple[str, str]]:
    """The headers of the sample message sent to the sender, decoded for reading."""
    from newsletter.build.pipeline import sample_message
    from newsletter.workspace import load_secret

    try:
        secret = load_secret(paths, create=False)
    except NewsletterError:
        secret = PREVIEW_SECRET
    raw = sample_message(rendered, config=config, secret=secret)
    head = email.parser.BytesParser(policy=email.policy.default).parsebytes(raw, headersonly=True)
    return [(name, str(value)) for name, value in head.items()]


def run_checks(
    workspace: Workspace, rendered: Rendered, /
) -> tuple[tuple[Finding, ...] | None, str]:
    """`check`'s findings for the rendered issue, or (None, reason) when a rule crashed."""
    try:
        found = check_rendered(workspace, rendered)
    except NewsletterError as exc:
        return tuple(problems_to_findings(exc.problems)), ""
    except Exception as exc:  # a bug in a rule must not take the preview down
        return None, f"check failed: {type(exc).__name__}: {exc}"
    return tuple(sort_findings(found)), ""


@dataclass(frozen=True)
class Draft:
    """A rendered snapshot whose `check` has not run yet, with what the check needs."""

    snapshot: Snapshot
    rendered: Rendered | None = None
    workspace: Workspace | None = None
    trace: str = ""
    """The traceback when rendering crashed (a bug), for the terminal; '' otherwise."""

    def checked(self, paths: Paths) -> Snapshot:
        """The snapshot with `check`'s findings: a version of its own, same email."""
        if self.rendered is None or self.workspace is None:
            return self.snapshot
        findings, check_error = run_checks(self.workspace, self.rendered)
        return replace(
            self.snapshot,
            version=self.snapshot.version + CHECKED,
            findings=findings,
            check_error=check_error,
            checking=False,
        )


def render_snapshot(paths: Paths, issue_id: str | None, *, version: str) -> Draft:
    """Render the issue in memory and prepare every view.

    Whatever the content does, this returns: a mistake becomes the snapshot's problems, and so
    does a crash (a bug), so the preview keeps watching and shows the next good build.
    """
    started = time.perf_counter()
    try:
        snapshot, rendered, workspace = _render(paths, issue_id, version=version)
    except NewsletterError as exc:
        problems = tuple(exc.problems) or (Problem("content", 0, str(exc)),)
        return Draft(_failed(version, started, problems))
    except Exception as exc:
        message = (
            f"{type(exc).__name__}: {exc} (a bug in newsletter; the traceback is in the terminal)"
        )
        return Draft(
            _failed(version, started, (Problem(INTERNAL_ERROR, 0, message),)),
            trace=traceback.format_exc(),
        )
    elapsed = (time.perf_counter() - started) * 1000
    return Draft(replace(snapshot, elapsed_ms=elapsed), rendered, workspace)


def _failed(version: str, started: float, problems: tuple[Problem, ...]) -> Snapshot:
    return Snapshot(
        version=version,
        built_at=time.time(),
        elapsed_ms=(time.perf_counter() - started) * 1000,
        problems=problems,
    )


def _render(
    paths: Paths, issue_id: str | None, *, version: str
) -> tuple[Snapshot, Rendered, Workspace]:
    """Load and render the issue once, then fill it for the sender and make every variant."""
    from newsletter.build.pipeline import render_rendered
    from newsletter.build.placeholders import fill
    from newsletter.load.content import pick_issue
    from newsletter.load.loader import load_workspace

    workspace = load_workspace(paths)
    config = workspace.config
    rendered = render_rendered(pick_issue(workspace.library, issue_id), config=config, paths=paths)
    values = sample_values(config)
    filled = fill(rendered.html, values, rendered.nonce)
    shown = local_images(filled, config=config, issue_id=rendered.issue.id)
    snapshot = Snapshot(
        version=version,
        built_at=time.time(),
        elapsed_ms=0.0,
        issue_id=rendered.issue.id,
        subject=rendered.issue.subject,
        sender=config.sender_name,
        inbox_text=inbox_text(filled),
        documents={mode: email_document(shown, mode) for mode in MODES},
        html=filled,
        text=fill(rendered.text, values, rendered.nonce),
        headers=tuple(message_headers(rendered, config=config, paths=paths)),
        checking=True,
        warnings=rendered.warnings,
    )
    return snapshot, rendered, workspace


def build_snapshot(paths: Paths, issue_id: str | None, *, version: str) -> Snapshot:
    """Render and check in one go (what the server publishes in two steps)."""
    return render_snapshot(paths, issue_id, version=version).checked(paths)
