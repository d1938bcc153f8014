"""The only writer of the output folder: whole issue folders swapped in, the archive, the feed.

A manifest records every file a build wrote, so a build never replaces or deletes a file it did
not write (it refuses and names it). Each issue folder is written beside the old one and
exchanged with it in one rename, so a reader or a kill at any moment sees the old folder or the
new one, never neither; what a killed build left behind is cleaned up by the next one.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import posixpath
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

from newsletter.errors import NewsletterError, Problem

MANIFEST = ".newsletter-build.json"
"""Lists, relative to the output folder, every file build wrote there."""
LOCK = ".newsletter-build.lock"
TEMPORARY = ".newsletter-"
"""Prefix of every staging folder and temporary file; anything else with it is the manifest
or the lock."""
PAGES = ("index.html", "feed.xml")


class IssueFiles(NamedTuple):
    """One issue's folder as it should be: file name -> bytes, and image name -> source file."""

    issue_id: str
    files: Mapping[str, bytes]
    images: Mapping[str, Path]


class Written(NamedTuple):
    issue_id: str
    folder: Path
    files: tuple[Path, ...]


CopyImage = Callable[[str, Path, Path], None]
"""(name, source, target): copies one image after checking its source once more."""


def write_output(
    root: Path,
    issues: Iterable[IssueFiles],
    *,
    pages: Callable[[set[str]], Mapping[str, str]],
    copy_image: CopyImage,
    shown: str,
    adopt: bool = False,
) -> list[Written]:
    """Write every issue folder, then the pages listing the issues present; refuse to touch
    a file no build wrote. `adopt` takes an unlisted dist/ made by an older version as ours."""
    wanted = list(issues)
    swapped: list[str] = []
    try:
        root.mkdir(parents=True, exist_ok=True)
        _refuse_foreign(root, wanted, _owned(root, adopt), shown)  # before writing anything
        with _locked(root):
            return _write_locked(root, wanted, pages, copy_image, shown, adopt, swapped)
    except OSError as exc:
        done = (
            f"; {', '.join(swapped)} was replaced but not the archive page: build again"
            if swapped
            else "; the previous build is unchanged"
        )
        raise NewsletterError.single(
            shown, f"cannot write the build: {_reason(exc)}{_where(exc, root)}{done}"
        ) from None


def _reason(exc: OSError) -> str:
    """The system's words, and what to do for the usual two."""
    words = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return f"{words}: free some space, then build again"
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"{words}: the folder is read-only; make it writable or build elsewhere with --out"
    return words


def _where(exc: OSError, root: Path) -> str:
    if not exc.filename:
        return ""
    name = Path(str(exc.filename))
    if name.is_relative_to(root):
        parts = [p for p in name.relative_to(root).parts if not p.startswith(TEMPORARY)]
        return f" ({'/'.join(parts)})" if parts else ""
    return ""


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """One build at a time per output folder: the lock also makes stale temporaries safe to clean."""
    fd = os.open(root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _write_locked(
    root: Path,
    wanted: list[IssueFiles],
    pages: Callable[[set[str]], Mapping[str, str]],
    copy_image: CopyImage,
    shown: str,
    adopt: bool,
    swapped: list[str],
) -> list[Written]:
    issues_dir = root / "issues"
    clean_stale(root)
    owned = _owned(root, adopt)
    _refuse_foreign(root, wanted, owned, shown)
    issues_dir.mkdir(exist_ok=True)
    present = {p.name for p in issues_dir.iterdir() if (p / "email.html").is_file()}
    listing = pages(present | {item.issue_id for item in wanted})  # before anything changes
    staged: list[tuple[IssueFiles, tuple[Path, list[str]]]] = []
    try:
        for item in wanted:
            staged.append((item, _stage(issues_dir, item, copy_image)))
    except BaseException:
        clean_stale(root)  # what was staged so far; the lock is still ours
        raise
    new_files = {f"issues/{item.issue_id}/{name}" for item, (_, names) in staged for name in names}
    _save_manifest(root, owned | new_files | set(PAGES))
    written = []
    for item, (folder, names) in staged:
        final = issues_dir / item.issue_id
        _swap(folder, final)
        swapped.append(item.issue_id)
        shutil.rmtree(folder, ignore_errors=True)  # now the old issue folder, if there was one
        written.append(Written(item.issue_id, final, tuple(final / n for n in names)))
    for name, text in listing.items():
        _replace(root / name, text.encode("utf-8"))
    replaced = {f"issues/{item.issue_id}/" for item in wanted}
    kept = {f for f in owned if not f.startswith(tuple(replaced))}
    _save_manifest(root, kept | new_files | set(PAGES))
    return written


def _owned(root: Path, adopt: bool) -> set[str]:
    owned = read_manifest(root)
    if owned is None:
        owned = set(_existing(root)) if adopt else set()
    return owned


def _existing(root: Path) -> Iterator[str]:
    for name in PAGES:
        if (root / name).exists():
            yield name
    yield from _files_under(root, root / "issues")


def _files_under(root: Path, folder: Path) -> Iterator[str]:
    if not folder.is_dir() or folder.is_symlink():
        return
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(TEMPORARY)]
        base = Path(dirpath)
        for name in filenames:
            if not name.startswith(TEMPORARY):
                yield (base / name).relative_to(root).as_posix()


def _refuse_foreign(root: Path, wanted: list[IssueFiles], owned: set[str], shown: str) -> None:
    """Every file this build would replace or remove must be one a build wrote."""
    foreign = []
    for rel in ("issues", *(f"issues/{i.issue_id}" for i in wanted)):
        path = root / rel
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            foreign.append(rel)
        elif rel != "issues":
            foreign.extend(f for f in _files_under(root, path) if f not in owned)
    for rel in PAGES:
        path = root / rel
        if (path.is_symlink() or path.exists()) and (rel not in owned or not path.is_file()):
            foreign.append(rel)
    if foreign:
        raise NewsletterError(
            Problem(
                f"{shown}/{rel}",
                0,
                "not written by `newsletter build`, which would replace or delete it: move it "
                "out of the folder, or build into another one with --out",
            )
            for rel in sorted(set(foreign))
        )


def _stage(issues_dir: Path, item: IssueFiles, copy_image: CopyImage) -> tuple[Path, list[str]]:
    """The complete new folder, written beside the old one under a temporary name."""
    folder = Path(tempfile.mkdtemp(prefix=f"{TEMPORARY}stage-{item.issue_id}-", dir=issues_dir))
    names = []
    for name, data in item.files.items():
        (folder / name).write_bytes(data)
        names.append(name)
    for name, source in item.images.items():
        clean = posixpath.normpath(name)
        if clean.startswith("../") or clean in ("..", ".") or clean.startswith("/"):
            raise NewsletterError.single(f"content/images/{name}", "not a name inside the folder")
        target = folder / "images" / clean
        target.parent.mkdir(parents=True, exist_ok=True)
        copy_image(name, source, target)
        names.append(f"images/{clean}")
    return folder, names


def _swap(new: Path, final: Path) -> None:
    """Put `new` in place of `final`; afterwards `new` names the old folder (or nothing)."""
    if not final.exists():
        os.rename(new, final)
        return
    if _exchange(new, final):
        return
    old = final.with_name(f"{TEMPORARY}old-{final.name}-{os.getpid()}")
    os.rename(final, old)  # a kill from here to the next line is repaired by clean_stale
    os.rename(new, final)
    os.rename(old, new)


def _exchange(a: Path, b: Path) -> bool:
    """Linux renameat2(RENAME_EXCHANGE): both names swapped in one step; False if unsupported."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def clean_stale(root: Path) -> None:
    """Remove what a killed build left; an issue folder caught mid-swap is put back first."""
    issues_dir = root / "issues"
    for folder in (root, issues_dir):
        if not folder.is_dir() or folder.is_symlink():
            continue
        for entry in folder.iterdir():
            if not entry.name.startswith(TEMPORARY) or entry.name in (MANIFEST, LOCK):
                continue
            if entry.name.startswith(f"{TEMPORARY}old-") and entry.is_dir():
                issue = entry.name.removeprefix(f"{TEMPORARY}old-").rsplit("-", 1)[0]
                if not (issues_dir / issue).exists():
                    os.rename(entry, issues_dir / issue)
                    continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def read_manifest(root: Path) -> set[str] | None:
    """The files a build wrote in `root`, or None when no build has recorded any."""
    try:
        data = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return set()
    files = data.get("files") if isinstance(data, dict) else None
    return {f for f in files if isinstance(f, str)} if isinstance(files, list) else set()


def _save_manifest(root: Path, files: set[str]) -> None:
    text = json.dumps({"version": 1, "files": sorted(files)}, indent=1) + "\n"
    _replace(root / MANIFEST, text.encode("utf-8"))


def _replace(target: Path, data: bytes) -> None:
    """Write beside, then rename over: the file is the old one or the new one, never half."""
    temporary = target.with_name(f"{TEMPORARY}tmp-{target.name}-{os.getpid()}")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
