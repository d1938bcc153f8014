"""`newsletter publish`: the web pages copied where base_url serves them, images first."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from static_site import add_article_image

from newsletter.build import publish as publishing

WEB_FILES = [
    "feed.xml",
    "index.html",
    "issues/2026-12/images/legs.png",
    "issues/2026-12/index.html",
]


def files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def built(workspace: Path, cli) -> Path:
    add_article_image(workspace)
    result = cli("build")
    assert result.exit_code == 0, result.output
    return workspace / "dist"


def test_publish_to_a_folder_copies_only_the_web_pages(built, cli, tmp_path) -> None:
    """index.html, images, archive and feed: what browsers open; the email files stay local."""
    site = tmp_path / "site"
    result = cli("publish", "--to", str(site))
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"Published 2026-12 to {site}: 4 file(s) copied, 0 unchanged (images, then web "
        "versions, then the archive and feed).\n"
    )
    assert files(site) == WEB_FILES
    assert (site / "issues/2026-12/images/legs.png").read_bytes() == (
        built / "issues/2026-12/images/legs.png"
    ).read_bytes()
    again = cli("publish", "--to", str(site))
    assert "0 file(s) copied, 4 unchanged" in again.stdout


def test_images_go_up_before_the_page_that_shows_them(built, tmp_path, monkeypatch) -> None:
    """Each file is renamed into place whole, images first, the archive last."""
    order: list[str] = []
    real = os.replace

    def recording(src, dst):  # the real rename, noted
        order.append(Path(dst).relative_to(tmp_path / "site").as_posix())
        return real(src, dst)

    monkeypatch.setattr(publishing.os, "replace", recording)
    publishing.publish_to_folder(built, tmp_path / "site")
    assert order == [
        "issues/2026-12/images/legs.png",
        "issues/2026-12/index.html",
        "index.html",
        "feed.xml",
    ]
    assert not [p for p in (tmp_path / "site").rglob(".*partial*")]


def test_publish_before_build_says_what_to_do(workspace, cli, tmp_path) -> None:
    """Nothing built yet: one clear line, exit 1."""
    result = cli("publish", "--to", str(tmp_path / "site"))
    assert result.exit_code == 1
    assert result.stderr == (
        f"{workspace / 'dist'}: nothing built to publish: run `newsletter build` first\n"
        "Found 1 error.\n"
    )


@pytest.mark.parametrize(
    ("target", "remote"),
    [
        ("dustin@news.example.org:/var/www/news", True),
        ("news.example.org:www", True),
        ("/var/www/news", False),
        ("./site", False),
        ("site", False),
        ("some/dir:with-colon", False),
    ],
)
def test_remote_targets_are_rsyncs_syntax(target: str, remote: bool) -> None:
    """user@host:path and host:path go over SSH; a path with / before any colon is local."""
    assert publishing.is_remote(target) is remote


def test_the_rsync_commands_are_three_passes_in_order(tmp_path) -> None:
    """Images, then web versions, then archive and feed; each pass renames at its end."""
    commands = publishing.rsync_commands(tmp_path / "dist", "me@host:/srv/news")
    common = ["rsync", "--recursive", "--times", "--delay-updates", "--prune-empty-dirs",
              "--chmod=D755,F644", "--include=*/"]  # fmt: skip
    tail = ["--exclude=*", f"{tmp_path / 'dist'}/", "me@host:/srv/news/"]
    assert commands == [
        [*common, "--include=/issues/*/images/**", *tail],
        [*common, "--include=/issues/*/index.html", *tail],
        [*common, "--include=/index.html", "--include=/feed.xml", *tail],
    ]


@pytest.mark.skipif(shutil.which("rsync") is None, reason="needs rsync (.ci/run installs it)")
def test_rsync_publishes_the_same_files_as_a_folder_copy(built, tmp_path) -> None:
    """The real rsync, to a local destination: the same web pages, nothing else."""
    done = publishing.publish_with_rsync(built, str(tmp_path / "by-rsync"))
    assert done.issues == ("2026-12",)
    assert files(tmp_path / "by-rsync") == WEB_FILES


@pytest.mark.skipif(shutil.which("rsync") is None, reason="needs rsync (.ci/run installs it)")
def test_a_failing_rsync_is_one_clear_error(built, tmp_path) -> None:
    """rsync's own last line is quoted, and nothing after the failed pass is attempted."""
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(publishing.NewsletterError) as caught:
        publishing.publish_with_rsync(built, str(blocker / "site"))
    (problem,) = caught.value.problems
    assert problem.message.startswith("rsync failed while publishing the images (exit ")
    assert problem.message.endswith("; nothing after it was published")
