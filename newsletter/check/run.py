"""`newsletter check`: rules over the finished email, reported like a linter, offline by default.

Each rule family lives in its own module (check_images, check_links, check_text,
check_compliance, check_support, check_a11y) as `check(email) -> list[Finding]`; this module
runs them, adds the loader's own problems, and formats the result as text or JSON.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from newsletter.check.base import ERROR, WARNING, Finding, parse_email
from newsletter.errors import NewsletterError, Problem
from newsletter.model import Config, Rendered
from newsletter.workspace import Paths

__all__ = [
    "JSON_VERSION",
    "Finding",
    "check_issues",
    "check_rendered",
    "check_workspace",
    "findings_to_json",
    "format_text",
]

JSON_VERSION = 1


def check_rendered(
    rendered: Rendered, /, *, config: Config, paths: Paths, links: bool = False
) -> list[Finding]:
    """Every offline rule over one rendered issue; `links` also asks each URL over the network."""
    from newsletter.check.rules import a11y as check_a11y
    from newsletter.check.rules import compliance as check_compliance
    from newsletter.check.rules import images as check_images
    from newsletter.check.rules import links as check_links
    from newsletter.check.rules import support as check_support
    from newsletter.check.rules import text as check_text

    email = parse_email(rendered, config=config, paths=paths)
    findings: list[Finding] = []
    for module in (check_text, check_images, check_links, check_compliance, check_a11y):
        findings.extend(module.check(email))
    findings.extend(check_support.check(email))
    if links:
        findings.extend(check_links.check_online(email))
    return sort_findings(dedupe(findings))


def check_workspace(
    paths: Paths, issue_id: str | None = None, *, all_issues: bool = False, links: bool = False
) -> list[Finding]:
    """Build the issue (or every issue), then check it; content errors become findings too."""
    return check_issues(paths, issue_id, all_issues=all_issues, links=links)[1]


def check_issues(
    paths: Paths, issue_id: str | None = None, *, all_issues: bool = False, links: bool = False
) -> tuple[list[str], list[Finding]]:
    """The ids of the issues checked and the findings; what the CLI prints."""
    from newsletter.build.pipeline import build

    try:
        results = build(paths, issue_id, all_issues=all_issues)
    except NewsletterError as exc:
        return [], sort_findings(problems_to_findings(exc.problems))
    findings: list[Finding] = []
    for result in results:
        findings.extend(
            check_rendered(result.rendered, config=result.config, paths=paths, links=links)
        )
    return [result.issue_id for result in results], findings


def problems_to_findings(problems: Iterable[Problem]) -> list[Finding]:
    """The loader's problems in the check format, so one run shows every kind of mistake.

    Their messages already say what to do, so they carry no separate fix line."""
    out = []
    for problem in problems:
        if problem.path.startswith("templates"):
            rule = "template"
        elif problem.path.endswith("newsletter.toml") or problem.path.startswith("NEWSLETTER_"):
            rule = "config"
        else:
            rule = "content"
        out.append(Finding(rule, problem.severity, problem.path, problem.line, problem.message, ""))
    return out


def dedupe(findings: Iterable[Finding]) -> list[Finding]:
    seen: set[Finding] = set()
    out = []
    for finding in findings:
        if finding not in seen:
            seen.add(finding)
            out.append(finding)
    return out


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Errors first, then by file and line, like a compiler: the first line is the one to fix."""
    return sorted(
        findings,
        key=lambda f: (f.issue, f.severity != ERROR, f.path, f.line, f.rule, f.message),
    )


def count(findings: Iterable[Finding]) -> tuple[int, int]:
    items = list(findings)
    return (
        sum(1 for f in items if f.severity == ERROR),
        sum(1 for f in items if f.severity == WARNING),
    )


def issues_of(findings: Iterable[Finding], checked: Iterable[str] = ()) -> list[str]:
    return sorted({*checked, *(f.issue for f in findings if f.issue)})


def findings_to_json(findings: Iterable[Finding], checked: Iterable[str] = ()) -> dict[str, Any]:
    """The stable machine-readable report (schema version 1; documented in README.md)."""
    items = list(findings)
    errors, warnings = count(items)
    return {
        "version": JSON_VERSION,
        "findings": [
            {
                "rule": f.rule,
                "severity": f.severity,
                "path": f.path,
                "line": f.line,
                "message": f.message,
                "fix": f.fix,
                "issue": f.issue,
            }
            for f in items
        ],
        "summary": {
            "errors": errors,
            "warnings": warnings,
            "issues": issues_of(items, checked),
        },
    }


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def format_text(findings: Iterable[Finding], checked: Iterable[str] = ()) -> str:
    """`path:line: severity: message [rule]`, an indented fix line, then one summary line."""
    items = list(findings)
    errors, warnings = count(items)
    lines = [str(f) if f.fix else f"{f.where}: {f.severity}: {f.message} [{f.rule}]" for f in items]
    names = ", ".join(issues_of(items, checked)) or "the workspace"
    if not items:
        lines.append(f"{names}: no problems found.")
    else:
        lines.append(f"{names}: {_plural(errors, 'error')}, {_plural(warnings, 'warning')}.")
    return "\n".join(lines)


def exit_code(findings: Iterable[Finding], *, strict: bool = False) -> int:
    errors, warnings = count(findings)
    return 1 if errors or (strict and warnings) else 0
