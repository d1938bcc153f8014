"""Where a workspace keeps each thing, how its text files are read, and where its secrets come from."""

from __future__ import annotations

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


def load_secret(paths: Paths, env: Mapping[str, str] | None = None, *, create: bool = True) -> str:
    """NEWSLETTER_SECRET, else data/secret, generated once (mode 600) when missing."""
    from newsletter import tokens

    env = os.environ if env is None else env
    if env.get("NEWSLETTER_SECRET"):
        return env["NEWSLETTER_SECRET"]
    file = paths.data / "secret"
    if file.exists():
        return file.read_text(encoding="utf-8").strip()
    if not create:
        raise NewsletterError.single(
            "NEWSLETTER_SECRET", "no signing secret: set NEWSLETTER_SECRET or create data/secret"
        )
    file.parent.mkdir(parents=True, exist_ok=True)
    secret = tokens.new_secret()
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(secret + "\n")
    return secret


def load_smtp_password(paths: Paths, env: Mapping[str, str] | None = None) -> str:
    """NEWSLETTER_SMTP_PASSWORD, else data/smtp_password; never newsletter.toml."""
    env = os.environ if env is None else env
    if env.get("NEWSLETTER_SMTP_PASSWORD"):
        return env["NEWSLETTER_SMTP_PASSWORD"]
    file = paths.data / "smtp_password"
    return file.read_text(encoding="utf-8").strip() if file.exists() else ""


def load_imap_password(paths: Paths, env: Mapping[str, str] | None = None) -> str:
    """NEWSLETTER_IMAP_PASSWORD, else data/imap_password; never newsletter.toml."""
    env = os.environ if env is None else env
    if env.get("NEWSLETTER_IMAP_PASSWORD"):
        return env["NEWSLETTER_IMAP_PASSWORD"]
    file = paths.data / "imap_password"
    return file.read_text(encoding="utf-8").strip() if file.exists() else ""
