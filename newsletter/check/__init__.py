"""`newsletter check`: rules over the finished email, reported like a linter, offline by default.

`check_rendered` is pure: it reads only the loaded workspace and the rendered issue (plus the
image files the email references, to see that they exist) and writes nothing; `dist/` is
never touched. `check_issues` is the command's edge: load, render in memory, check.
The rules live in check/rules/, one family per module; report.py formats the result.
"""

from __future__ import annotations

from newsletter.check.base import Finding, parse_email
from newsletter.check.report import dedupe, problems_to_findings, sort_findings
from newsletter.errors import NewsletterError
from newsletter.load.loader import Workspace
from newsletter.model import Rendered
from newsletter.workspace import Paths

__all__ = [
    "Finding",
    "check_issues",
    "check_rendered",
    "check_workspace",
    "problems_to_findings",
    "sort_findings",
]


def check_rendered(
    workspace: Workspace, rendered: Rendered, /, *, links: bool = False
) -> list[Finding]:
    """Every offline rule over one rendered issue; `links` also asks each URL over the network."""
    from newsletter.check.rules import rules

    email = parse_email(workspace, rendered)
    findings: list[Finding] = []
    for check in rules() + (rules(online=True) if links else []):
        findings.extend(check(email))
    return sort_findings(dedupe(findings))


def check_issues(
    paths: Paths, issue_id: str | None = None, *, all_issues: bool = False, links: bool = False
) -> tuple[list[str], list[Finding]]:
    """The ids of the issues checked and the findings; what the CLI prints. Loads the workspace
    and renders each issue in memory; load and render problems become findings."""
    from newsletter.build.pipeline import render_rendered
    from newsletter.load.loader import load_workspace, pick_issues

    try:
        workspace = load_workspace(paths)
        issues = pick_issues(workspace.library, issue_id, all_issues=all_issues)
        rendered = [render_rendered(i, config=workspace.config, paths=paths) for i in issues]
    except NewsletterError as exc:
        return [], sort_findings(problems_to_findings(exc.problems))
    findings: list[Finding] = []
    for item in rendered:
        findings.extend(check_rendered(workspace, item, links=links))
    return [item.issue.id for item in rendered], findings


def check_workspace(
    paths: Paths, issue_id: str | None = None, *, all_issues: bool = False, links: bool = False
) -> list[Finding]:
    """The findings of `check_issues` alone."""
    return check_issues(paths, issue_id, all_issues=all_issues, links=links)[1]
