"""The command line: help everywhere, versions, and the exit codes users and scripts rely on."""

from __future__ import annotations

import gc
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from newsletter import __version__
from newsletter.cli import main


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        path = (*prefix, name)
        found.append(path)
        if isinstance(command, click.Group):
            found.extend(all_commands(command, path))
    return found


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"newsletter, version {__version__}\n"


@pytest.mark.parametrize("command", all_commands(main), ids=" ".join)
def test_every_command_has_help_with_an_example(command: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output
    assert "newsletter " in result.output.split("Options:")[0], "help should show an example"


def test_usage_error_is_exit_2(cli) -> None:
    result = cli("build", "--no-such-option")
    assert result.exit_code == 2
    assert "No such option" in result.stderr


def test_issue_and_all_together_is_a_usage_error(cli) -> None:
    result = cli("build", "2026-12", "--all")
    assert result.exit_code == 2


def test_internal_error_is_exit_70_with_a_hint(cli, monkeypatch) -> None:
    """A bug shows one line and how to get the traceback, not a wall of Python."""
    import newsletter.build.pipeline

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(newsletter.build.pipeline, "build", broken)
    result = cli("build")
    assert result.exit_code == 70
    assert result.stderr == (
        "internal error: RuntimeError: boom\n"
        "This is a bug. Re-run with --debug for the traceback and report it.\n"
    )


def test_debug_shows_the_traceback(workspace, monkeypatch) -> None:
    import newsletter.build.pipeline

    monkeypatch.setattr(newsletter.build.pipeline, "build", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        CliRunner().invoke(
            main, ["--root", str(workspace), "--debug", "build"], catch_exceptions=False
        )


def test_root_from_environment(workspace, monkeypatch) -> None:
    monkeypatch.setenv("NEWSLETTER_ROOT", str(workspace))
    result = CliRunner().invoke(main, ["build"])
    assert result.exit_code == 0, result.output
    assert (workspace / "dist" / "issues" / "2026-12" / "email.html").exists()


def test_new_scaffolds_from_unused_content(cli, workspace) -> None:
    article = workspace / "content" / "articles" / "winter-sleep.md"
    article.write_text(
        "---\ntitle: Sleep better this winter\nsummary: Three habits for deeper rest.\ndate: 2026-12-10\n---\nBody.\n"
    )
    result = cli("new", "2027-01")
    assert result.exit_code == 0
    assert (
        result.stdout
        == "Created content/issues/2027-01.md: write the letter, then `newsletter preview 2027-01`.\n"
        "  articles: winter-sleep (the newest not sent before)\n"
        "  testimonials: none (every one was used before); add one in content/testimonials/ or "
        "list an earlier one\n"
    )
    text = (workspace / "content" / "issues" / "2027-01.md").read_text()
    assert "subject: Sleep better this winter\n" in text
    assert "date: '2027-01-01'\n" in text
    assert "articles:\n- winter-sleep\n" in text  # the December article was already sent
    assert "testimonials: []\n" in text  # the only testimonial was used in 2026-12


def test_new_refuses_to_overwrite(cli, workspace) -> None:
    before = (workspace / "content" / "issues" / "2026-12.md").read_bytes()
    result = cli("new", "2026-12")
    assert result.exit_code == 1
    assert result.stderr.startswith("content/issues/2026-12.md: already exists")
    assert (workspace / "content" / "issues" / "2026-12.md").read_bytes() == before


def test_help_is_fast() -> None:
    """--help imports no pipeline modules (premailer alone costs ~0.1 s)."""
    code = "import sys; from newsletter.cli import main; print(sorted(m for m in sys.modules if m in ('premailer', 'markdown', 'jinja2', 'nh3', 'sqlite3')))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_build_imports_nothing_it_does_not_use(workspace) -> None:
    """A build never fetches or highlights, so it never pays for the modules that would."""
    code = (
        "import sys\n"
        "from newsletter.cli import main\n"
        "try:\n"
        f"    main(['--root', {str(workspace)!r}, 'build'])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "unused = ('requests', 'urllib.request', 'importlib.metadata', 'pygments', 'sqlite3')\n"
        "print(sorted(m for m in unused if type(sys.modules.get(m)).__name__ == 'module'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_the_command_pauses_the_collector_only_for_short_commands(cli) -> None:
    """`newsletter` starts with the cyclic collector off (see __main__); a list-sized command
    switches it back on, a one-issue command leaves it off."""
    gc.disable()
    try:
        assert cli("build").exit_code == 0
        assert not gc.isenabled()
        assert cli("subscribers", "count").exit_code == 0
        assert gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()


def test_console_entry_point_runs_the_cli(workspace) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "newsletter", "--root", str(workspace), "build"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Built 2026-12 -> dist/issues/2026-12/")
    bad = subprocess.run(
        [sys.executable, "-m", "newsletter", "--root", str(workspace), "build", "nope"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1
    assert bad.stderr.startswith("content/issues/nope.md: no such issue")
