"""`newsletter check` on the command line: text and JSON output, exit codes, --links."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from newsletter.build.pipeline import render_rendered
from newsletter.check import check_rendered
from newsletter.check.rules.links import probe
from newsletter.load.content import pick_issue
from newsletter.load.loader import load_workspace
from newsletter.workspace import Paths

ARTICLE = "content/articles/restless-legs-massage.md"
CONFIG = "content/newsletter.toml"

EXAMPLE_TEXT = (
    "content/newsletter.toml:17: warning: example.com is a reserved example domain; mail from "
    "it is rejected [sender-domain]\n"
    "    fix: set [sender] email to an address at your own domain before sending\n"
    "2026-12: 0 errors, 1 warning.\n"
)


def add_to_article(root: Path, text: str) -> None:
    path = root / ARTICLE
    path.write_text(path.read_text(encoding="utf-8") + "\n" + text + "\n", encoding="utf-8")


def test_text_output_for_the_example(cli) -> None:  # type: ignore[no-untyped-def]
    """One finding per entry, an indented fix, a summary; warnings alone exit 0."""
    result = cli("check")
    assert result.exit_code == 0
    assert result.stdout == EXAMPLE_TEXT


def test_strict_makes_warnings_fail(cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("check", "--strict").exit_code == 1


def test_clean_workspace_says_so(cli, workspace: Path) -> None:  # type: ignore[no-untyped-def]
    config = workspace / CONFIG
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            'email = "dustin@example.com"', 'email = "dustin@samplebodywork.com"'
        ),
        encoding="utf-8",
    )
    result = cli("check", "2026-12", "--strict")
    assert result.exit_code == 0
    assert result.stdout == "2026-12: no problems found.\n"


def test_errors_exit_1_and_come_first(cli, workspace: Path) -> None:  # type: ignore[no-untyped-def]
    add_to_article(workspace, "TODO: finish this paragraph.")
    result = cli("check")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{ARTICLE}:") and lines[0].endswith(
        "error: draft marker 'TODO' is still in the email [draft-marker]"
    )
    assert lines[1] == "    fix: finish or remove the unfinished passage before sending"
    assert lines[-1] == "2026-12: 1 error, 1 warning."


def test_json_report_schema(cli, workspace: Path) -> None:  # type: ignore[no-untyped-def]
    """The JSON document: version, one object per finding, and a summary."""
    add_to_article(workspace, "TODO: finish this paragraph.")
    result = cli("check", "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["version"] == 1
    assert report["summary"] == {"errors": 1, "warnings": 1, "issues": ["2026-12"]}
    first = report["findings"][0]
    assert set(first) == {"rule", "severity", "path", "line", "message", "fix", "issue"}
    assert (first["rule"], first["severity"], first["path"], first["issue"]) == (
        "draft-marker",
        "error",
        ARTICLE,
        "2026-12",
    )
    assert isinstance(first["line"], int) and first["line"] > 0


def test_content_errors_use_the_same_format(cli, workspace: Path) -> None:  # type: ignore[no-untyped-def]
    """A load error's message says what to do: no generic fix line is repeated under it."""
    path = workspace / ARTICLE
    path.write_text(path.read_text(encoding="utf-8").replace("date: 2026-11-20", "date: soon"))
    result = cli("check")
    assert result.exit_code == 1
    assert result.stdout == (
        f"{ARTICLE}:4: error: date: expected a date as YYYY-MM-DD, e.g. 2026-12-01, got 'soon' [content]\n"
        "the workspace: 1 error, 0 warnings.\n"
    )


def test_all_issues(cli, workspace: Path) -> None:  # type: ignore[no-untyped-def]
    source = workspace / "content/issues/2026-12.md"
    text = source.read_text(encoding="utf-8").replace("date: 2026-12-01", "date: 2026-11-01")
    (workspace / "content/issues/2026-11.md").write_text(text, encoding="utf-8")
    result = cli("check", "--all", "--format", "json")
    assert json.loads(result.stdout)["summary"]["issues"] == ["2026-11", "2026-12"]


@pytest.mark.parametrize("args", [("--format", "xml"), ("2026-12", "--all"), ("--no-such-option",)])
def test_usage_errors_exit_2(cli, args: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    assert cli("check", *args).exit_code == 2


def test_help_has_an_example(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("check", "--help")
    assert result.exit_code == 0
    assert "newsletter check 2026-12 --strict --format json" in result.stdout


# --- --links against a local server ---------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    def _answer(self, body: bool) -> None:
        if self.path.startswith("/missing"):
            self.send_response(404)
        elif self.path.startswith("/no-head") and self.command == "HEAD":
            self.send_response(405)
        else:
            self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        if body:
            self.wfile.write(b"ok")

    def do_HEAD(self) -> None:
        self._answer(False)

    def do_GET(self) -> None:
        self._answer(True)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_probe_falls_back_to_get_and_reports_404(server: str) -> None:
    """A server that refuses HEAD is asked with GET; a 404 is broken."""
    assert probe(f"{server}/page")[0] == "ok"
    assert probe(f"{server}/no-head")[0] == "ok"
    assert probe(f"{server}/missing") == ("broken", "HTTP 404 Not Found")


def test_links_option_reports_only_the_dead_link(workspace: Path, server: str) -> None:
    """Every URL of the email is asked once; only the 404 becomes a finding, at its line."""
    config = workspace / CONFIG
    text = config.read_text(encoding="utf-8")
    text = text.replace('base_url = "https://news.example.org"', f'base_url = "{server}"')
    text = text.replace(
        'url = "https://booking.example.com/sample-bodywork"', f'url = "{server}/book"'
    )
    config.write_text(text, encoding="utf-8")
    add_to_article(workspace, f"[The study]({server}/study) and [the old page]({server}/missing).")
    loaded = load_workspace(Paths(workspace))
    issue = pick_issue(loaded.library, None)
    rendered = render_rendered(issue, config=loaded.config, paths=loaded.paths)
    found = [f for f in check_rendered(loaded, rendered, links=True) if f.rule == "link-dead"]
    assert [(f.severity, f.path) for f in found] == [("error", ARTICLE)]
    assert found[0].message.startswith(f"{server}/missing does not answer: HTTP 404")
