"""Nothing outside content/images/ reaches dist/, whatever syntax names it and whatever links."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import TEST_SECRET, copy_example
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.build.pipeline import build
from newsletter.errors import NewsletterError
from newsletter.workspace import Paths

ARTICLE = "content/articles/restless-legs-massage.md"
HEAD = "---\ntitle: A short article\nsummary: One line about it.\ndate: 2026-11-20\n---\nIntro.\n"
"""Five lines of front matter and one of text: a snippet appended starts on line 7."""
SECRET = b"SECRET-NOT-FOR-PUBLISHING"


def png(width: int = 16, height: int = 8, tail: bytes = b"") -> bytes:
    """The header of a PNG file (enough for the size reader), then `tail`."""
    return (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
        + width.to_bytes(4, "big")
        + height.to_bytes(4, "big")
        + b"\x08\x02\x00\x00\x00"
        + tail
    )


def plant(workspace: Path, outside: Path) -> None:
    """Files a hostile article could try to publish: inside the workspace but outside
    content/images/, outside the workspace, and links from content/images/ to both."""
    images = workspace / "content" / "images"
    (images / "sub").mkdir(parents=True)
    (images / "ok.png").write_bytes(png())
    (images / "sub" / "inner.png").write_bytes(png())
    (workspace / "data").mkdir(exist_ok=True)
    (workspace / "data" / "secret").write_bytes(SECRET)
    (workspace / "data" / "leak.png").write_bytes(png(tail=SECRET))
    outside.mkdir(exist_ok=True)
    (outside / "shadow").write_bytes(png(tail=SECRET))
    (images / "chart.png").symlink_to(outside / "shadow")
    (images / "etc-shadow.png").symlink_to("/etc/shadow")
    (images / "elsewhere").symlink_to(outside, target_is_directory=True)
    (images / "data-link.png").symlink_to(workspace / "data" / "leak.png")
    (images / "inner-link.png").symlink_to(images / "sub" / "inner.png")


def published(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def assert_nothing_leaked(root: Path) -> None:
    for path in published(root):
        assert SECRET not in path.read_bytes(), path


WAYS = [
    ("front-matter", "image:\n  src: ../../data/leak.png\n  alt: x\n", 0, "image.src"),
    ("inline", "![A chart](../../data/leak.png)\n", 7, "image"),
    ("inline-angle", "![A chart](<../../data/leak.png> 'title')\n", 7, "image"),
    ("reference", "![Sleep chart][c1]\n\n[c1]: ../../../ws/data/secret\n", 9, "reference [c1]"),
    ("shortcut", "![c1]\n\n[c1]: ../../data/leak.png\n", 9, "reference [c1]"),
    ("link-definition", "[my notes][n]\n\n[n]: ../../data/secret\n", 9, "reference [n]"),
    ("html-double", '<img src="../../data/leak.png" alt="x">\n', 7, "src"),
    ("html-single", "<img src='../../data/leak.png' alt='x'>\n", 7, "src"),
    ("html-unquoted", "<img src=../../data/leak.png alt=x>\n", 7, "src"),
    ("html-symlink", "<img src=chart.png alt=x>\n", 7, "src"),
    ("etc-shadow", "![x](etc-shadow.png)\n", 7, "image"),
    ("symlink-in-workspace", "![x](data-link.png)\n", 7, "image"),
    ("symlinked-folder", "![x](elsewhere/shadow)\n", 7, "image"),
    (
        "srcset",
        '<img src="ok.png" srcset="ok.png 1x, ../../data/leak.png 2x" alt="x">\n',
        7,
        "srcset",
    ),
    ("html-href", "<a href=../../data/secret>my notes</a>\n", 7, "href"),
    ("relative-link", "[my notes](../../data/secret)\n", 7, "link"),
    ("percent", "![x](%2e%2e/%2e%2e/data/leak.png)\n", 7, "image"),
    ("entities", '<img src="&#46;&#46;/&#46;&#46;/data/leak.png" alt="x">\n', 7, "src"),
    ("missing-reference", "![x][m]\n\n[m]: missing.png\n", 9, "reference [m]"),
]


@pytest.mark.parametrize(
    ("snippet", "line", "what"), [w[1:] for w in WAYS], ids=[w[0] for w in WAYS]
)
def test_every_way_to_name_a_file_outside_images_is_a_content_error(
    cli, workspace: Path, tmp_path: Path, snippet: str, line: int, what: str
) -> None:
    """Build exits 1 with `path:line` naming the reference, and dist/ gets nothing from it;
    `check` reports the same line as an error."""
    plant(workspace, tmp_path / "outside")
    if what == "image.src":
        text = HEAD.replace("date: 2026-11-20\n", "date: 2026-11-20\n" + snippet)
        line = 6
    else:
        text = HEAD + snippet
    (workspace / ARTICLE).write_text(text)
    result = cli("build")
    assert result.exit_code == 1, result.output
    first, count = result.stderr.splitlines()
    assert first.startswith(f"{ARTICLE}:{line}: {what}"), first
    assert "Traceback" not in result.output and count == "Found 1 error."
    assert_nothing_leaked(workspace / "dist")
    checked = cli("check")
    assert checked.exit_code == 1
    assert f"{ARTICLE}:{line}: error: {what}" in checked.stdout


def test_the_two_reported_leaks_are_refused_with_their_lines(cli, workspace, tmp_path) -> None:
    """The issue's examples word for word: a reference definition climbing out of the
    workspace, and an unquoted <img> through a symlink to /etc/shadow."""
    plant(workspace, tmp_path / "outside")
    (workspace / "content" / "images" / "chart.png").unlink()
    (workspace / "content" / "images" / "chart.png").symlink_to("/etc/shadow")
    (workspace / ARTICLE).write_text(
        HEAD + "![Sleep chart][c1]\n\n<img src=chart.png>\n\n[c1]: ../../../ws/data/secret\n"
    )
    result = cli("build")
    assert result.exit_code == 1
    assert result.stderr == (
        f"{ARTICLE}:9: src 'chart.png': content/images/chart.png is a link to a file outside "
        "content/images/; only files in content/images/ are published: copy the file itself "
        "there\n"
        f"{ARTICLE}:11: reference [c1] '../../../ws/data/secret': '../../../ws/data/secret' is "
        "outside content/images/: only files in content/images/ are published; put the file "
        "there and write its name, e.g. secret\n"
        "Found 2 errors.\n"
    )
    assert not (workspace / "dist").exists()


def test_links_inside_images_and_code_samples_are_fine(cli, workspace, tmp_path) -> None:
    """A link within content/images/ (even through a symlink that stays inside) is
    published; names inside code are only shown, never resolved; site links stay links."""
    plant(workspace, tmp_path / "outside")
    (workspace / ARTICLE).write_text(
        HEAD
        + "![A calf](ok.png) ![Inner](images/sub/inner.png) ![Linked](inner-link.png)\n\n"
        + "`![x](../../data/leak.png)`\n\n```\n<img src=../../data/leak.png>\n```\n\n"
        + "See [my prices](/prices).\n"
    )
    result = cli("build")
    assert result.exit_code == 0, result.output
    folder = workspace / "dist" / "issues" / "2026-12" / "images"
    assert sorted(p.relative_to(folder).as_posix() for p in published(folder)) == [
        "inner-link.png",
        "ok.png",
        "sub/inner.png",
    ]
    assert (folder / "inner-link.png").read_bytes() == png()
    assert not (folder / "inner-link.png").is_symlink()
    assert_nothing_leaked(workspace / "dist")


# --- property: any name, in any syntax ------------------------------------------------------

SEGMENTS = ["..", ".", "images", "sub", "inner.png", "ok.png", "chart.png", "elsewhere", "shadow"]
SEGMENTS += ["data", "leak.png", "secret", "%2e%2e", "&#46;&#46;", "", "data-link.png", "ws"]
WRAPPERS = [
    "![x]({})",
    "![x][r]\n\n[r]: {}",
    "[x]({})",
    '<img src="{}" alt="x">',
    "<img src={} alt=x>",
    '<img src="ok.png" srcset="{} 2x" alt="x">',
    "<a href={}>x</a>",
]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_example(tmp_path_factory.mktemp("hostile") / "ws")
    plant(root, root.parent / "outside")
    return root


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=5).map("/".join),
    wrapper=st.sampled_from(WRAPPERS),
    slash=st.booleans(),
)
def test_whatever_the_name_dist_holds_only_files_from_content_images(
    hostile: Path, tmp_path_factory: pytest.TempPathFactory, name: str, wrapper: str, slash: bool
) -> None:
    """Either the build refuses with path:line, or every file it published is a file whose
    real location is inside content/images/."""
    reference = ("/" if slash else "") + name
    (hostile / ARTICLE).write_text(HEAD + wrapper.format(reference) + "\n")
    out = tmp_path_factory.mktemp("out")
    os.environ["NEWSLETTER_SECRET"] = TEST_SECRET
    try:
        build(Paths(hostile), out=out)
    except NewsletterError as exc:
        assert all(p.path == ARTICLE and p.line >= 7 for p in exc.problems), exc.problems
        return
    finally:
        assert_nothing_leaked(out)
    inside = {
        p.read_bytes()
        for p in (hostile / "content" / "images").rglob("*.png")
        if p.resolve().is_relative_to(hostile / "content" / "images")
    }
    for path in published(out / "issues" / "2026-12" / "images"):
        assert path.read_bytes() in inside


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.text(
        alphabet=st.sampled_from([*"![]()<>\"'=/.%&#;: \n-abcimgsrc", "\x00", "é", "\t"]),
        max_size=80,
    )
)
def test_finding_and_resolving_names_never_raises(hostile: Path, body: str) -> None:
    """Whatever the body, every name found resolves to a file in content/images/ or a problem."""
    from newsletter.load.references import find_references, is_local, resolve_local

    images = (hostile / "content" / "images").resolve()
    for ref in find_references(body):
        if is_local(ref.raw):
            local = resolve_local(ref.raw, Paths(hostile), kind=ref.kind)
            assert local.problem or local.real is None or local.real.is_relative_to(images)
