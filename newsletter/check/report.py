"""`newsletter check`'s report: findings ordered like a compiler's, as text or JSON, and the
exit status."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from newsletter.check.base import ERROR, WARNING, Finding
from newsletter.errors import Problem

JSON_VERSION = 1


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
    """Each finding once: two rules (or two elements) may report the very same thing."""
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
    """(errors, warnings)."""
    items = list(findings)
    return (
        sum(1 for f in items if f.severity == ERROR),
        sum(1 for f in items if f.severity == WARNING),
    )


def issues_of(findings: Iterable[Finding], checked: Iterable[str] = ()) -> list[str]:
    """The issues checked, with any a finding names."""
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
    """1 on errors (with `strict`, on warnings too), else 0."""
    errors, warnings = count(findings)
    return 1 if errors or (strict and warnings) else 0
