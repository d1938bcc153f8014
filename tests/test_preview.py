"""`newsletter preview` without a browser: snapshots, email variants, HTTP, events, watching, CLI."""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.check import Finding
from newsletter.cli import main
from newsletter.preview.app import Preview
from newsletter.preview.page import render_page
from newsletter.preview.server import EMAIL_CSP, UI_CSP, PreviewState, bind
from newsletter.preview.snapshot import CHECKED, Snapshot, build_snapshot, render_snapshot
from newsletter.preview.variants import (
    MODES,
    email_document,
    inbox_text,
    local_images,
    strip_images,
)
from newsletter.workspace import Paths

ISSUE = "content/issues/2026-12.md"
BROKEN_FRONT_MATTER = "---\nsubject: [unclosed\n---\nHello\n"


def get(app: Preview, path: str, host: str | None = None) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=5)
    headers = {"Host": host} if host else {}
    conn.request("GET", path, headers=headers)
    return conn.getresponse()


def wait_for(predicate, timeout: float = 3.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


# --- snapshots and variants ------------------------------------------------------------------


def test_snapshot_fills_the_email_for_the_sender(workspace: Path) -> None:
    """The preview greets the sender by first name: no placeholder marker is left anywhere."""
    snapshot = build_snapshot(Paths(workspace), None, version="t-1")
    assert snapshot.ok, snapshot.problems
    assert snapshot.issue_id == "2026-12"
    assert "Hello Dustin," in snapshot.text
    for document in [snapshot.html, snapshot.text, *snapshot.documents.values()]:
        assert "nlph." not in document
        assert "\ue000" not in document
    assert set(snapshot.documents) == set(MODES)


def test_snapshot_of_a_broken_issue_carries_path_and_line(workspace: Path) -> None:
    """A content error becomes the snapshot's problems, with the file and line to fix."""
    (workspace / ISSUE).write_text(BROKEN_FRONT_MATTER, encoding="utf-8")
    snapshot = build_snapshot(Paths(workspace), None, version="t-1")
    assert not snapshot.ok
    assert any(p.path == ISSUE and p.line >= 1 for p in snapshot.problems), snapshot.problems
    page = render_page(snapshot)
    assert "The issue does not build" in page
    assert f"{ISSUE}:" in page


def test_headers_show_subject_and_list_headers(workspace: Path) -> None:
    """The headers view lists what a list sender adds, decoded."""
    snapshot = build_snapshot(Paths(workspace), None, version="t-1")
    headers = dict(snapshot.headers)
    assert headers["Subject"] == "Restless legs at night? How massage can help"
    assert headers["From"] == "Dustin at Sample Bodywork <dustin@example.com>"
    assert "List-Unsubscribe" in headers
    assert "List-Id" in headers


def test_inbox_text_starts_with_the_preheader_and_keeps_body_out(workspace: Path) -> None:
    """The preheader's no-break-space filler pushes the body's first words out of the preview."""
    snapshot = build_snapshot(Paths(workspace), None, version="t-1")
    preheader = snapshot.inbox_text[:90]
    assert preheader.startswith("Gentle relief for restless legs")
    assert "Notes from the Table" not in preheader


def test_inbox_text_without_filler_shows_the_body() -> None:
    """Without a preheader, an inbox shows the first visible words; hidden styles don't count."""
    document = (
        "<html><head><title>T</title><style>p{}</style></head><body><p>Hello &amp; welcome</p>"
    )
    assert inbox_text(document) == "Hello & welcome"


def test_dark_variant_answers_prefers_color_scheme_dark() -> None:
    """Dark mode turns the email's own dark rules on and light rules off, whatever the OS says."""
    source = (
        "<html><head><style>@media (prefers-color-scheme: dark) {p{color:#fff}}"
        "@media (prefers-color-scheme:light){p{color:#000}}</style></head><body></body></html>"
    )
    dark = email_document(source, "dark")
    light = email_document(source, "light")
    assert "@media (min-width: 0px) {p{color:#fff}}" in dark
    assert "@media (max-width: 0px){p{color:#000}}" in dark
    assert "@media (max-width: 0px) {p{color:#fff}}" in light
    assert ":root{color-scheme:dark!important}" in dark
    assert dark.index("data-preview") < dark.index("</head>")


def test_inverted_variant_inverts_the_page_and_not_the_images() -> None:
    """Gmail's apps invert colours; images are inverted back, so they look untouched."""
    inverted = email_document(
        "<html><head></head><body><img src=x alt=y></body></html>", "inverted"
    )
    assert "html{filter:invert(1) hue-rotate(180deg)!important}" in inverted
    assert re.search(r"img,[^{]*\{filter:invert\(1\)", inverted)
    assert "(min-width: 0px)" not in inverted


def test_images_off_keeps_alt_text_and_drops_every_source() -> None:
    """With images blocked only alt text remains: no src, srcset or background image."""
    source = (
        '<img src="https://x.example/a.png" srcset="a 2x" alt="A calm room" width="10">'
        '<td background="b.png" style="background-image:url(b.png);color:red">'
    )
    off = strip_images(source)
    assert 'alt="A calm room"' in off
    assert 'width="10"' in off
    for gone in ("a.png", "srcset", "b.png", "background"):
        assert gone not in off


def test_local_images_are_served_from_content(workspace: Path) -> None:
    """An image under content/images/ shows in the preview before it is published."""
    snapshot = build_snapshot(Paths(workspace), None, version="t-1")
    config_url = "https://news.example.org/issues/2026-12/images/"
    from newsletter.load.config import load_config

    config = load_config(Paths(workspace))
    document = f'<img src="{config_url}calm.jpg" alt="">'
    assert local_images(document, config=config, issue_id=snapshot.issue_id) == (
        '<img src="/images/calm.jpg" alt="">'
    )


def test_page_escapes_content(workspace: Path) -> None:
    """Subject text reaches the page escaped: content can't add markup to the tool's page."""
    issue = workspace / ISSUE
    text = issue.read_text(encoding="utf-8")
    issue.write_text(
        text.replace(
            'subject: "Restless legs at night? How massage can help"',
            "subject: \"<script>alert(1)</script> & 'more'\"",
        ),
        encoding="utf-8",
    )
    snapshot = build_snapshot(Paths(workspace), None, version="t-1")
    assert snapshot.ok, snapshot.problems
    page = render_page(snapshot, view="headers")
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp;" in page


def test_page_without_check_findings_says_so() -> None:
    """When `check` is unavailable the panel says so instead of claiming the issue is clean."""
    snapshot = Snapshot(version="v", built_at=0, elapsed_ms=1, issue_id="x", findings=None)
    page = render_page(snapshot)
    assert "No problems found" not in page
    assert "Findings of" in page


def test_unknown_view_and_width_fall_back_to_defaults(workspace: Path) -> None:
    """A hand-typed URL with a bad view or width shows the desktop view rather than failing."""
    snapshot = build_snapshot(Paths(workspace), None, version="t-1")
    page = render_page(snapshot, view="nope", width="99999")
    assert 'src="/email/light.html' in page
    assert "w-desktop" in page
    phone = render_page(snapshot, view="phone", width="430")
    assert "w-430" in phone


# --- HTTP ----------------------------------------------------------------------------------------


def test_page_is_served_with_a_strict_content_security_policy(app: Preview) -> None:
    """The UI page allows scripts and styles only from itself; no inline code at all."""
    response = get(app, "/")
    body = response.read().decode()
    assert response.status == 200
    assert response.getheader("Content-Security-Policy") == UI_CSP
    assert "'unsafe-inline'" not in UI_CSP
    assert "<script>" not in body and " style=" not in body
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in body


def test_email_is_served_sandboxed_without_scripts(app: Preview) -> None:
    """Each email variant comes with a sandbox CSP that allows no script."""
    for mode in MODES:
        response = get(app, f"/email/{mode}.html")
        body = response.read().decode()
        assert response.status == 200
        csp = response.getheader("Content-Security-Policy")
        assert csp == EMAIL_CSP
        assert csp.startswith("sandbox ") and "allow-scripts" not in csp
        assert "Restless" in body


def test_unknown_paths_and_traversal_are_refused(app: Preview) -> None:
    """Only content/images/ is served from disk, and only images."""
    (app.paths.content / "images").mkdir(exist_ok=True)
    (app.paths.content / "images" / "dot.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    assert get(app, "/images/dot.png").status == 200
    for path in (
        "/images/../newsletter.toml",
        "/images/%2e%2e/newsletter.toml",
        "/email/evil.html",
        "/nope",
        "/static/../preview.py",
    ):
        response = get(app, path)
        response.read()
        assert response.status == 404, path


def test_other_host_names_are_refused(app: Preview) -> None:
    """A page on another site can't read the preview through DNS rebinding."""
    response = get(app, "/", host="attacker.example:80")
    response.read()
    assert response.status == 403
    ok = get(app, "/", host=f"localhost:{app.port}")
    ok.read()
    assert ok.status == 200


def test_events_announce_a_newer_version_at_once(app: Preview) -> None:
    """A page that loaded an older version is told to reload as soon as it connects."""
    conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=5)
    conn.request("GET", "/events?since=old")
    response = conn.getresponse()
    assert response.getheader("Content-Type") == "text/event-stream"
    lines = []
    while not any(line.startswith(b"data:") for line in lines):
        lines.append(response.fp.readline())
    assert b"event: reload\n" in lines
    assert lines[-1].decode().strip() == f"data: {app.state.snapshot.version}"
    conn.close()


def test_saving_a_file_rebuilds_and_notifies(app: Preview) -> None:
    """An edit under content/ publishes a new snapshot and wakes the event stream."""
    before = app.state.snapshot.version
    woke: list[str | None] = []
    waiter = threading.Thread(target=lambda: woke.append(app.state.wait_for_change(before, 5)))
    waiter.start()
    issue = app.paths.root / ISSUE
    issue.write_text(
        issue.read_text(encoding="utf-8").replace("Warmly,", "Warm wishes,"), encoding="utf-8"
    )
    waiter.join(6)
    assert woke and woke[0] is not None
    assert wait_for(lambda: "Warm wishes," in app.state.snapshot.text)


def test_a_broken_file_is_reported_and_a_fix_recovers(app: Preview) -> None:
    """The server keeps running through a content error; fixing the file brings the email back."""
    issue = app.paths.root / ISSUE
    good = issue.read_text(encoding="utf-8")
    issue.write_text(BROKEN_FRONT_MATTER, encoding="utf-8")
    assert wait_for(lambda: not app.state.snapshot.ok)
    response = get(app, "/email/light.html")
    assert response.status == 503
    assert ISSUE in response.read().decode()
    issue.write_text(good, encoding="utf-8")
    assert wait_for(lambda: app.state.snapshot.ok)
    assert get(app, "/email/light.html").status == 200


def test_template_edits_rebuild_too(app: Preview) -> None:
    """templates/ is watched as well as content/."""
    css = app.paths.templates / "email.css"
    css.write_text(css.read_text() + "\n.masthead h1 { letter-spacing: 2px; }\n", encoding="utf-8")
    assert wait_for(lambda: "letter-spacing:2px" in app.state.snapshot.html.replace(" ", ""))


def test_preview_never_writes_dist_or_a_secret(app: Preview) -> None:
    """The preview renders in memory: no dist/ and no data/secret appear."""
    get(app, "/").read()
    get(app, "/email/dark.html").read()
    assert not (app.paths.root / "dist").exists()
    assert not (app.paths.root / "data").exists()


def test_stop_closes_open_event_streams(workspace: Path) -> None:
    """Stopping ends every open event stream and frees the port promptly."""
    app = Preview(Paths(workspace), port=0)
    app.start()
    conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=5)
    conn.request("GET", f"/events?since={app.state.snapshot.version}")
    response = conn.getresponse()
    response.fp.readline()
    started = time.monotonic()
    app.stop()
    assert time.monotonic() - started < 3
    rest = response.read()  # the stream ends instead of hanging
    assert b"reload" not in rest
    with socket.socket() as s:  # a new preview can take the port (as HTTPServer binds)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", app.port))


# --- ports and the command ---------------------------------------------------------------------


def busy_port() -> socket.socket:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s


def test_bind_moves_on_from_a_busy_port() -> None:
    """With tries, a busy port is skipped for the next free one."""
    with busy_port() as taken:
        port = taken.getsockname()[1]
        try:
            server = bind("127.0.0.1", port, state=PreviewState(), images=Path(), tries=10)
        except Exception:
            pytest.skip("the next ports happen to be taken too")
        try:
            assert server.server_address[1] != port
        finally:
            server.server_close()


def test_explicit_busy_port_is_a_clear_error(workspace: Path) -> None:
    """`--port N` on a busy port exits 1 saying the port is in use, no traceback."""
    with busy_port() as taken:
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            main, ["--root", str(workspace), "preview", "--no-open", "--port", str(port)]
        )
    assert result.exit_code == 1
    assert f"--port: port {port} is already in use on 127.0.0.1" in result.output
    assert "Traceback" not in result.output


def test_preview_outside_a_workspace_is_a_clear_error(tmp_path: Path) -> None:
    """Without content/ the command says where it looked and how to point it elsewhere."""
    result = CliRunner().invoke(main, ["--root", str(tmp_path), "preview", "--no-open"])
    assert result.exit_code == 1
    assert "no content/ folder here; run in your workspace or pass --root" in result.output


def test_help_has_an_example() -> None:
    result = CliRunner().invoke(main, ["preview", "--help"])
    assert result.exit_code == 0
    assert "newsletter preview 2026-12 --port 8001 --no-open" in result.output


@pytest.mark.slow
def test_ctrl_c_stops_cleanly(workspace: Path) -> None:
    """The command serves until Ctrl-C, then says so and exits 0 without a traceback."""
    env = {**os.environ, "NEWSLETTER_ROOT": str(workspace), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "preview", "--no-open", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        lines = []
        while proc.stdout and not any("Previewing at" in line for line in lines):
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
        url = next(line for line in lines if "Previewing at" in line).split()[2]
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/")
        assert conn.getresponse().status == 200
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "Stopped." in out
    assert not (workspace / "dist").exists()


# --- check findings ----------------------------------------------------------------------------


def FakeFinding() -> Finding:
    return Finding(
        "fake-rule",
        "error",
        "content/articles/restless-legs-massage.md",
        7,
        "a <b>fake</b> problem",
        "do the fake fix",
    )


def test_check_findings_show_beside_the_email(workspace: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Each finding shows its severity, path:line, message and fix, escaped."""
    import newsletter.preview.snapshot

    calls = []

    def fake_check(workspace, rendered, /, *, links=False):  # type: ignore[no-untyped-def]
        calls.append((rendered.issue.id, workspace.config.title, workspace.paths.root))
        return [FakeFinding()]

    monkeypatch.setattr(newsletter.preview.snapshot, "check_rendered", fake_check)
    snapshot = build_snapshot(Paths(workspace), None, version="t-1")
    assert calls == [("2026-12", "Notes from the Table", workspace)]
    page = render_page(snapshot)
    assert "content/articles/restless-legs-massage.md:7" in page
    assert "a &lt;b&gt;fake&lt;/b&gt; problem" in page
    assert "do the fake fix" in page
    assert "1 error, 0 warnings" in page


def test_a_failing_check_does_not_take_the_preview_down(workspace: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A bug in a check rule is shown in the panel; the email is still previewed."""
    import newsletter.preview.snapshot

    def broken(workspace, rendered, /, *, links=False):  # type: ignore[no-untyped-def]
        raise RuntimeError("rule exploded")

    monkeypatch.setattr(newsletter.preview.snapshot, "check_rendered", broken)
    snapshot = build_snapshot(Paths(workspace), None, version="t-1")
    assert snapshot.ok and snapshot.findings is None
    assert snapshot.check_error == "check failed: RuntimeError: rule exploded"
    assert "check failed: RuntimeError: rule exploded" in render_page(snapshot)


def test_render_is_published_before_the_check_runs(workspace: Path) -> None:
    """The email appears as soon as it renders; the findings follow as a version of their own."""
    draft = render_snapshot(Paths(workspace), None, version="t-1")
    assert draft.snapshot.checking and draft.snapshot.findings is None
    assert "Checking…" in render_page(draft.snapshot)
    checked = draft.checked(Paths(workspace))
    assert checked.version == "t-1" + CHECKED
    assert not checked.checking
    assert checked.documents == draft.snapshot.documents


def test_events_tell_apart_new_findings_from_a_new_render(app: Preview) -> None:
    """Only the check panel needs refreshing when the same render gets its findings."""
    from dataclasses import replace

    current = app.state.snapshot
    base = current.version.removesuffix(CHECKED)
    app.state.publish(replace(current, version=base + CHECKED))
    conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=5)
    conn.request("GET", f"/events?since={base}")
    response = conn.getresponse()
    lines = []
    while not any(line.startswith(b"data:") for line in lines):
        lines.append(response.fp.readline())
    assert b"event: findings\n" in lines
    conn.close()


def test_terminal_log_names_the_changed_file_and_the_outcome(workspace: Path) -> None:
    """Each rebuild logs one line: what changed, how long it took, what check found."""
    lines: list[str] = []
    app = Preview(Paths(workspace), port=0, log=lines.append)
    app.start()
    try:
        issue = workspace / ISSUE
        issue.write_text(issue.read_text(encoding="utf-8") + "\nP.S.\n", encoding="utf-8")
        assert wait_for(lambda: len(lines) >= 2)
        issue.write_text(BROKEN_FRONT_MATTER, encoding="utf-8")
        assert wait_for(lambda: len(lines) >= 3)
    finally:
        app.stop()
    assert re.fullmatch(
        rf"Rendered 2026-12 in \d+ ms \({ISSUE} changed\); check: .+\.", lines[1]
    ), lines[1]
    assert lines[2].startswith(f"The issue does not build ({ISSUE} changed):\n  {ISSUE}:2: ")


# --- watching through every kind of mistake ----------------------------------------------------

GOOD_MARKER = "Warm wishes after the fix,"


def _break_and_fix(app: Preview, step: str, breaks: dict[str, str | None]) -> None:
    """Apply `breaks` (None deletes), wait for the failed build, undo it with a new edit, and
    wait for the good build that shows the edit."""
    import shutil

    root = app.paths.root
    saved = {rel: root / rel for rel in breaks}
    backup = root.parent / "backup"
    for rel, path in saved.items():
        target = backup / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            shutil.copytree(path, target)
        else:
            shutil.copy2(path, target)
    for rel, text in breaks.items():
        path = root / rel
        if text is None:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        else:
            path.write_text(text, encoding="utf-8")
    assert wait_for(lambda: not app.state.snapshot.ok, 5), f"{step}: no failed build shown"
    page = get(app, "/")
    assert "The issue does not build" in page.read().decode(), step
    for rel, path in saved.items():
        if path.is_dir():
            shutil.rmtree(path)
        if (backup / rel).is_dir():
            shutil.copytree(backup / rel, path)
        else:
            shutil.copy2(backup / rel, path)
    shutil.rmtree(backup)
    issue = root / ISSUE
    issue.write_text(
        issue.read_text(encoding="utf-8").replace("Warmly,", f"{GOOD_MARKER} {step}"),
        encoding="utf-8",
    )
    assert wait_for(
        lambda: app.state.snapshot.ok and f"{GOOD_MARKER} {step}" in app.state.snapshot.text, 5
    ), f"{step}: the next good build was not shown: {app.state.snapshot.problems}"
    issue.write_text(
        issue.read_text(encoding="utf-8").replace(f"{GOOD_MARKER} {step}", "Warmly,"),
        encoding="utf-8",
    )
    assert wait_for(lambda: app.state.snapshot.ok and GOOD_MARKER not in app.state.snapshot.text)


def test_watching_goes_on_after_every_kind_of_mistake(app: Preview) -> None:
    """Broken YAML, an impossible date, a template that fails while rendering, an empty
    template, a deleted issue, the templates/ folder deleted and restored: after each, the
    page shows the failure and the next good build replaces it, in one preview run that
    never writes dist/."""
    issue = (app.paths.root / ISSUE).read_text(encoding="utf-8")
    steps: dict[str, dict[str, str | None]] = {
        "yaml": {ISSUE: BROKEN_FRONT_MATTER},
        "date": {ISSUE: issue.replace("date: 2026-12-01", "date: 2026-13-45")},
        "template raises": {"templates/email.txt": "{{ 1 / 0 }}"},
        "empty template": {"templates/email.html": ""},
        "issue deleted": {ISSUE: None},
        "templates deleted": {"templates": None},
    }
    for step, breaks in steps.items():
        _break_and_fix(app, step, breaks)
    assert not (app.paths.root / "dist").exists()
    assert not (app.paths.root / "data").exists()


def test_a_crash_while_rendering_is_shown_and_the_next_build_recovers(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug hit by some content is an error in the page and a traceback in the terminal,
    not the end of the preview: the next rebuild shows the email again."""
    import newsletter.build.pipeline

    real = newsletter.build.pipeline.render_rendered
    lines: list[str] = []
    app = Preview(Paths(workspace), port=0, log=lines.append)
    try:

        def crash(*args: object, **kwargs: object) -> None:
            raise RuntimeError("rule of three")

        monkeypatch.setattr(newsletter.build.pipeline, "render_rendered", crash)
        failed = app.rebuild("content/issues/2026-12.md changed")
        assert [str(p) for p in failed.problems] == [
            "internal error: RuntimeError: rule of three (a bug in newsletter; the traceback "
            "is in the terminal)"
        ]
        page = render_page(failed)
        assert '<code class="where">internal error</code>: RuntimeError: rule of three' in page
        assert lines[-1].startswith("Traceback (most recent call last):")
        assert lines[-1].endswith("RuntimeError: rule of three")
        monkeypatch.setattr(newsletter.build.pipeline, "render_rendered", real)
        assert app.rebuild().ok
    finally:
        app.stop()


def test_a_crash_in_the_first_build_still_starts_the_preview(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even the first build may fail: the preview serves the problem and waits for a fix."""
    import newsletter.build.pipeline

    def crash(*args: object, **kwargs: object) -> None:
        raise ValueError("month must be in 1..12")

    monkeypatch.setattr(newsletter.build.pipeline, "render_rendered", crash)
    app = Preview(Paths(workspace), port=0)
    app.start()
    try:
        response = get(app, "/email/light.html")
        assert response.status == 503
        assert "ValueError: month must be in 1..12" in response.read().decode()
    finally:
        app.stop()


# --- routes ------------------------------------------------------------------------------------


def test_routes_match_exact_paths_then_prefixes() -> None:
    """An exact entry wins (/email.txt); `/name/*` takes everything under /name/ and hands on
    the rest as sent; anything else has no route."""
    from newsletter.preview.server import route, show_email, show_image, show_text

    assert route("/email.txt") == (show_text, "")
    assert route("/email/dark.html") == (show_email, "dark.html")
    assert route("/images/a/%2e%2e/b.png") == (show_image, "a/%2e%2e/b.png")
    assert route("/email") is None
    assert route("/nope/x") is None
    assert route("") is None


def test_every_route_in_the_table_answers(app: Preview) -> None:
    """Each entry of the route table is reachable; a path outside it is a 404."""
    from newsletter.preview.server import ROUTES

    (app.paths.content / "images").mkdir(exist_ok=True)
    (app.paths.content / "images" / "dot.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    samples = {
        "/email/*": "/email/dark.html",
        "/static/*": "/static/preview.js",
        "/images/*": "/images/dot.png",
    }
    for pattern in ROUTES:
        path = samples.get(pattern, pattern)
        if pattern == "/events":
            continue  # a stream: test_events_* read it
        response = get(app, path)
        response.read()
        assert response.status in (200, 204), (pattern, response.status)
    response = get(app, "/email")
    response.read()
    assert response.status == 404


def test_status_json_reports_the_build(app: Preview) -> None:
    """/status.json says which version is shown and whether it built, for scripts."""
    import json

    response = get(app, "/status.json")
    status = json.loads(response.read())
    assert response.getheader("Content-Type") == "application/json"
    assert status["ok"] is True and status["issue"] == "2026-12" and status["problems"] == []
    assert status["version"] == app.state.snapshot.version


def test_static_files_come_from_the_preview_assets(app: Preview) -> None:
    """The page's script and style are served with their types; the page template is not."""
    css = get(app, "/static/preview.css")
    assert css.getheader("Content-Type") == "text/css; charset=utf-8"
    assert css.read()
    response = get(app, "/static/preview.html")
    response.read()
    assert response.status == 404


def test_a_deleted_folder_is_watched_again_when_it_comes_back(app: Preview) -> None:
    """templates/ deleted (a branch switch) is an error in the page; once it is back the
    preview rebuilds by itself and goes on watching it."""
    import shutil

    templates = app.paths.templates
    kept = app.paths.root.parent / "kept-templates"
    shutil.copytree(templates, kept)
    shutil.rmtree(templates)
    assert wait_for(lambda: not app.state.snapshot.ok, 15)
    assert "templates: the templates folder is missing" in [
        str(p) for p in app.state.snapshot.problems
    ]
    shutil.copytree(kept, templates)
    assert wait_for(lambda: app.state.snapshot.ok, 15), app.state.snapshot.problems
    css = templates / "email.css"
    css.write_text(css.read_text() + "\n.masthead h1 { letter-spacing: 3px; }\n", encoding="utf-8")
    assert wait_for(lambda: "letter-spacing:3px" in app.state.snapshot.html.replace(" ", ""), 15)


def test_an_edit_saved_while_the_watcher_starts_is_not_missed(workspace: Path) -> None:
    """A file saved between the first build and the watcher's start is caught up at once."""
    lines: list[str] = []
    app = Preview(Paths(workspace), port=0, log=lines.append)
    issue = workspace / ISSUE
    issue.write_text(
        issue.read_text(encoding="utf-8").replace("Warmly,", "Saved early,"), encoding="utf-8"
    )
    app.start()
    try:
        assert wait_for(lambda: "Saved early," in app.state.snapshot.text, 5)
    finally:
        app.stop()
    assert f"({ISSUE} changed)" in lines[1]


def test_a_failing_file_watcher_says_so_and_tries_again(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watcher failing (e.g. out of inotify watches) is reported once, not the end of it:
    once it can watch again, edits show."""
    import watchfiles

    real = watchfiles.watch
    failures = [OSError("OS file watch limit reached") for _ in range(3)]

    def flaky(*args: object, **kwargs: object) -> object:
        if failures:
            raise failures.pop()
        return real(*args, **kwargs)

    monkeypatch.setattr(watchfiles, "watch", flaky)
    lines: list[str] = []
    app = Preview(Paths(workspace), port=0, log=lines.append)
    app.start()
    try:
        assert wait_for(lambda: not failures, 5)
        issue = workspace / ISSUE
        issue.write_text(
            issue.read_text(encoding="utf-8").replace("Warmly,", "Watched again,"),
            encoding="utf-8",
        )
        assert wait_for(lambda: "Watched again," in app.state.snapshot.text, 5)
    finally:
        app.stop()
    reported = [line for line in lines if line.startswith("The file watcher failed")]
    assert len(reported) == 1
    assert reported[0].rstrip().endswith("OSError: OS file watch limit reached")
