"""The signing secret: made once, in full or not at all, and never weak."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from newsletter.errors import NewsletterError
from newsletter.workspace import Paths, load_secret


def test_a_new_secret_is_private_and_complete(tmp_path: Path) -> None:
    """Mode 600, 32 random bytes or more, one line, and no partial file left beside it."""
    secret = load_secret(Paths(tmp_path), env={})
    file = tmp_path / "data" / "secret"
    assert file.stat().st_mode & 0o777 == 0o600
    assert file.read_text() == secret + "\n" and len(secret) >= 32
    assert sorted(p.name for p in file.parent.iterdir()) == ["secret"]


@pytest.mark.parametrize(
    ("content", "what"),
    [("", "empty"), ("   \n\t\n", "empty"), ("short-secret\n", "12 bytes, fewer than 32")],
)
def test_a_weak_secret_file_is_refused(tmp_path: Path, content: str, what: str) -> None:
    """A 0-byte file (a disk that filled up) or a short one never signs a token."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "secret").write_text(content)
    with pytest.raises(NewsletterError) as caught:
        load_secret(Paths(tmp_path), env={})
    assert str(caught.value) == (
        f"data/secret: the signing secret is too weak ({what}); delete data/secret to have a "
        "new one made (links in mail already sent stop working) or restore it from a backup"
    )
    assert (tmp_path / "data" / "secret").read_text() == content


@pytest.mark.parametrize("value", ["", "   ", "x" * 31])
def test_a_weak_environment_secret_is_refused(tmp_path: Path, value: str) -> None:
    """NEWSLETTER_SECRET set but weak is an error, never a silent fall-back to the file."""
    with pytest.raises(
        NewsletterError, match=r"^NEWSLETTER_SECRET: the signing secret is too weak"
    ):
        load_secret(Paths(tmp_path), env={"NEWSLETTER_SECRET": value})
    assert not (tmp_path / "data").exists()


def test_the_cli_reports_a_weak_secret_in_one_line(cli, workspace: Path, monkeypatch) -> None:
    """`build` signs the sample message's token: a weak secret stops it with exit 1."""
    monkeypatch.setenv("NEWSLETTER_SECRET", "weak")
    result = cli("build")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0].startswith(
        "NEWSLETTER_SECRET: the signing secret is too weak (4 bytes, fewer than 32)"
    )


def test_processes_starting_at_once_agree_on_one_secret(tmp_path: Path) -> None:
    """Eight processes create the secret at the same moment: all get the same one."""
    code = (
        "import sys; from pathlib import Path; from newsletter.workspace import Paths, "
        "load_secret; print(load_secret(Paths(Path(sys.argv[1])), env={}))"
    )
    env = {k: v for k, v in os.environ.items() if k != "NEWSLETTER_SECRET"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, env=env
        )
        for _ in range(8)
    ]
    outputs = {p.communicate()[0] for p in procs}
    assert len(outputs) == 1
    assert (tmp_path / "data" / "secret").read_bytes() == outputs.pop()


def test_a_full_disk_leaves_no_secret_file(tmp_path: Path) -> None:
    """A write that fails (the file size limit stands in for a full disk) leaves no file."""
    code = (
        "import resource, signal, sys; from pathlib import Path;"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN);"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (10, 10));"
        "from newsletter.errors import NewsletterError;"
        "from newsletter.workspace import Paths, load_secret\n"
        "try: load_secret(Paths(Path(sys.argv[1])), env={})\n"
        "except NewsletterError as e: print(e)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("data/secret: cannot create the signing secret: ")
    assert list((tmp_path / "data").iterdir()) == []
