"""Where a workspace keeps each thing, how its text files are read, and where its secrets come from."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from newsletter.errors import NewsletterError

CONFIG_NAME = "content/newsletter.toml"


class Paths(NamedTuple):
    """Where a workspace keeps each thing; all derived from the root."""

    root: Path

    @property
    def content(self) -> Path:
        return self.root / "content"

    @property
    def config(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def templates(self) -> Path:
        return self.root / "templates"

    @property
    def dist(self) -> Path:
        return self.root / "dist"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def database(self) -> Path:
        override = os.environ.get("NEWSLETTER_DB")
        return Path(override) if override else self.data / "newsletter.db"

    def rel(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return str(path)


def read_text(path: Path, rel: str) -> str:
    """File text as UTF-8, with user-facing errors for unreadable or binary files."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NewsletterError.single(rel, "file not found") from None
    except OSError as exc:
        raise NewsletterError.single(rel, f"cannot read the file: {exc.strerror}") from None
    if b"\0" in data:
        raise NewsletterError.single(rel, "this is a binary file, not UTF-8 text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise NewsletterError.single(
            rel, f"not valid UTF-8 (byte 0x{data[exc.start]:02x}); save the file as UTF-8", line
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


SECRET_MIN_BYTES = 32
"""A shorter HMAC key can be guessed; an empty one lets anyone forge an unsubscribe link."""


def load_secret(paths: Paths, env: Mapping[str, str] | None = None, *, create: bool = True) -> str:
    """NEWSLETTER_SECRET, else data/secret, generated once (mode 600) when missing.

    A weak secret (empty, whitespace, shorter than 32 bytes) is refused wherever it comes
    from: a disk that filled up while the file was written must never sign tokens.
    """
    env = os.environ if env is None else env
    if "NEWSLETTER_SECRET" in env:
        return _strong(env["NEWSLETTER_SECRET"], "NEWSLETTER_SECRET")
    file = paths.data / "secret"
    if file.exists() or file.is_symlink():
        return _strong(_read_secret(file), "data/secret")
    if not create:
        raise NewsletterError.single(
            "NEWSLETTER_SECRET", "no signing secret: set NEWSLETTER_SECRET or create data/secret"
        )
    return _create_secret(file)


def _strong(secret: str, where: str) -> str:
    """The secret if it is strong enough; else one clear line saying how to fix it."""
    size = len(secret.strip().encode("utf-8"))
    if size < SECRET_MIN_BYTES:
        fix = (
            "set it to a random value of at least 32 bytes, e.g. "
            "`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            if where == "NEWSLETTER_SECRET"
            else "delete data/secret to have a new one made (links in mail already sent "
            "stop working) or restore it from a backup"
        )
        what = "empty" if not size else f"{size} bytes, fewer than {SECRET_MIN_BYTES}"
        raise NewsletterError.single(where, f"the signing secret is too weak ({what}); {fix}")
    return secret.strip()


def _read_secret(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise NewsletterError.single("data/secret", f"cannot read the secret: {reason}") from None


def _create_secret(file: Path) -> str:
    """Write a new secret completely or not at all, then claim the name exclusively.

    The secret goes to a private temporary file, is flushed to disk, and is linked into
    place with link(2), which fails if the name exists: two processes starting at once
    both end up using the one that won, and a full disk leaves no file rather than an
    empty one.
    """
    from newsletter import tokens

    secret = tokens.new_secret()
    partial = file.with_name(f".secret.{os.getpid()}.partial")
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        partial.unlink(missing_ok=True)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            data = (secret + "\n").encode("ascii")
            if os.write(fd, data) != len(data):
                raise OSError(28, "No space left on device")
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(partial, file)
        except FileExistsError:
            return _strong(_read_secret(file), "data/secret")
        finally:
            partial.unlink(missing_ok=True)
    except OSError as exc:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise NewsletterError.single(
            "data/secret", f"cannot create the signing secret: {exc.strerror or exc}"
        ) from None
    return secret


def load_smtp_password(paths: Paths, env: Mapping[str, str] | None = None) -> str:
    """NEWSLETTER_SMTP_PASSWORD, else data/smtp_password; never newsletter.toml."""
    return _password(paths, "smtp", env)


def load_imap_password(paths: Paths, env: Mapping[str, str] | None = None) -> str:
    """NEWSLETTER_IMAP_PASSWORD, else data/imap_password; never newsletter.toml."""
    return _password(paths, "imap", env)


def _password(paths: Paths, kind: str, env: Mapping[str, str] | None) -> str:
    env = os.environ if env is None else env
    if env.get(f"NEWSLETTER_{kind.upper()}_PASSWORD"):
        return env[f"NEWSLETTER_{kind.upper()}_PASSWORD"]
    file = paths.data / f"{kind}_password"
    return file.read_text(encoding="utf-8").strip() if file.exists() else ""
