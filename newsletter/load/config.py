"""Read content/newsletter.toml and the environment into a Config; every problem reported at once."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from newsletter import colors
from newsletter.errors import Collector, NewsletterError, did_you_mean
from newsletter.load.memo import Memo, files_stamp, package_file
from newsletter.model import Brand, Config, InboxSettings, KeyLines, SmtpSettings, WebSettings
from newsletter.workspace import CONFIG_NAME, Paths, read_text

SECURITY = ("starttls", "ssl", "none")
IMAP_SECURITY = ("ssl", "starttls", "none")
_EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")
_LIST_ID = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?\.[A-Za-z0-9-]+$")


class Key(NamedTuple):
    section: str
    name: str
    kind: type
    required: bool = False
    check: Callable[[Any], str | None] | None = None
    """Returns a message when the value is wrong."""


def _http_url(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"expected an http(s) URL, got {value!r}"
    return None


def _https_url(value: str) -> str | None:
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.netloc:
        return f"expected an https:// URL, got {value!r}"
    return None


def _email(value: str) -> str | None:
    if value and not _EMAIL.match(value):
        return f"expected an email address like name@example.com, got {value!r}"
    return None


def _colour(value: str) -> str | None:
    return None if colors.is_hex(value) else f"expected a colour like #2d5a4c, got {value!r}"


def _single_line(value: str) -> str | None:
    return (
        "must be one line (it goes into an email header)"
        if "\n" in value or "\r" in value
        else None
    )


def _all(*checks: Callable[[Any], str | None]) -> Callable[[Any], str | None]:
    def run(value: Any) -> str | None:
        for check in checks:
            message = check(value)
            if message:
                return message
        return None

    return run


def _choice(*choices: str) -> Callable[[str], str | None]:
    def run(value: str) -> str | None:
        if value not in choices:
            return f"expected one of {', '.join(choices)}, got {value!r}"
        return None

    return run


def _non_negative(value: float) -> str | None:
    return f"must be 0 or more, got {value}" if value < 0 else None


def _list_id(value: str) -> str | None:
    if not _LIST_ID.match(value):
        return f"expected a domain-like list id such as news.example.org, got {value!r}"
    return None


def _port(value: int) -> str | None:
    return None if 0 < value < 65536 else f"expected a port from 1 to 65535, got {value}"


def _each(values: list[Any], check: Callable[[str], str | None]) -> str | None:
    for value in values:
        if not isinstance(value, str):
            return f"expected a list of strings, got {value!r}"
        message = check(value)
        if message:
            return message
    return None


def _network(value: str) -> str | None:
    import ipaddress

    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return f"expected an IP address or network like 127.0.0.1 or 10.0.0.0/8, got {value!r}"
    return None


def _origin(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        return f"expected an origin like https://example.com, got {value!r}"
    return None


KEYS: tuple[Key, ...] = (
    Key("newsletter", "title", str, True, _single_line),
    Key("newsletter", "tagline", str),
    Key(
        "newsletter",
        "language",
        str,
        check=lambda v: (
            None
            if re.match(r"^[a-zA-Z]{2,3}(-[A-Za-z0-9]{2,8})*$", v)
            else f"expected a language tag like en or en-US, got {v!r}"
        ),
    ),
    Key("newsletter", "direction", str, check=_choice("ltr", "rtl")),
    Key("newsletter", "base_url", str, True, _http_url),
    Key("newsletter", "list_id", str, True, _list_id),
    Key("newsletter", "greeting_fallback", str, check=_single_line),
    Key("newsletter", "utm", bool),
    Key("sender", "name", str, True, _single_line),
    Key("sender", "email", str, True, _all(_single_line, _email)),
    Key("sender", "reply_to", str, check=_all(_single_line, _email)),
    Key("sender", "postal_address", str, True),
    Key("booking", "url", str, True, _http_url),
    Key("booking", "cta_text", str, check=_single_line),
    Key("footer", "reason", str, True),
    Key("footer", "disclaimer", str, True),
    Key("unsubscribe", "mailto", str, check=_all(_single_line, _email)),
    Key("unsubscribe", "url", str, check=_https_url),
    *(Key("brand", name, str, check=_colour) for name in Brand._fields),
    Key("smtp", "host", str, check=_single_line),
    Key("smtp", "port", int, check=_port),
    Key("smtp", "security", str, check=_choice(*SECURITY)),
    Key("smtp", "username", str, check=_single_line),
    Key("smtp", "timeout", float, check=_non_negative),
    Key("send", "rate_per_second", float, check=_non_negative),
    Key("send", "daily_limit", int, check=_non_negative),
    Key("inbox", "host", str, check=_single_line),
    Key("inbox", "port", int, check=_port),
    Key("inbox", "security", str, check=_choice(*IMAP_SECURITY)),
    Key("inbox", "username", str, check=_single_line),
    Key("inbox", "folder", str, check=_single_line),
    Key("inbox", "processed_folder", str, check=_single_line),
    Key("inbox", "timeout", float, check=_non_negative),
    *(
        Key("web", name, kind, check=check)
        for name, kind, check in (
            ("host", str, _single_line),
            ("port", int, _port),
            ("trusted_proxies", list, lambda v: _each(v, _network)),
            ("signup_origins", list, lambda v: _each(v, _origin)),
            ("serve_archive", bool, None),
            ("consent_text", str, _single_line),
            ("signups_per_hour", int, _non_negative),
            ("confirmations_per_day", int, _non_negative),
        )
    ),
)
SECTIONS = sorted({k.section for k in KEYS})
SECRET_KEYS = {"password", "pass", "secret", "api_key", "token"}
_SECRET_VARS = {"smtp": "NEWSLETTER_SMTP_PASSWORD", "inbox": "NEWSLETTER_IMAP_PASSWORD"}


def key_lines(text: str) -> dict[tuple[str, str], int]:
    """Line of each `key =` (and of each `[section]` as (section, '')), for path:line messages."""
    lines: dict[tuple[str, str], int] = {}
    section = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        header = re.match(r"^\[\s*([A-Za-z0-9_.-]+)\s*\]", line)
        if header:
            section = header.group(1)
            lines.setdefault((section, ""), number)
            continue
        key = re.match(r"^([A-Za-z0-9_-]+)\s*=", line)
        if key:
            lines.setdefault((section, key.group(1)), number)
    return lines


def _coerce(value: Any, kind: type) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _type_name(kind: type) -> str:
    names = {str: "a string", int: "a whole number", float: "a number", bool: "true or false"}
    return names.get(kind, "a list of strings")


def parse_config(
    text: str, *, path: str = CONFIG_NAME, env: Mapping[str, str] | None = None
) -> Config:
    """Validate every key, then the rules between keys; raise once with all the problems."""
    env = os.environ if env is None else env
    data = _parse_toml(text, path)
    lines = key_lines(text)
    problems = Collector()
    values = _read_values(data, lines, problems, path)
    _check_required(values, lines, problems, path)
    smtp = _smtp_settings(values, env, problems)
    inbox = _inbox_settings(values, env, problems)
    brand = Brand(**{n: values[("brand", n)] for n in Brand._fields if ("brand", n) in values})
    _check_brand(brand, problems, path, lines)
    problems.raise_if_errors()
    return _make_config(values, brand=brand, smtp=smtp, inbox=inbox, lines=lines)


Values = dict[tuple[str, str], Any]
"""Each valid key's value by (section, name)."""
Lines = dict[tuple[str, str], int]
"""What key_lines returns."""


@functools.cache
def _toml_stamp() -> list[object]:
    return files_stamp(package_file("tomllib"))


def _parse_toml(text: str, path: str) -> dict[str, Any]:
    """The TOML document; a syntax error names its line. A text parsed before is read back
    from the cache folder (newsletter/load/memo.py): tomllib is then not even imported."""
    memo = Memo("content", "config.pickle", _toml_stamp(), keep=8)
    stored = memo.get(text)
    if isinstance(stored, dict):
        return stored
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        line = int(match.group(1)) if match else 0
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise NewsletterError.single(path, f"TOML syntax error: {message}", line) from None
    memo.put(text, data)
    memo.save()
    return data


def _read_values(data: dict[str, Any], lines: Lines, problems: Collector, path: str) -> Values:
    """Every known key that holds a valid value; a problem for each one that does not."""
    values: Values = {}
    for section, table in data.items():
        line = lines.get((section, ""), 0)
        if section not in SECTIONS:
            problems.add(
                path, line, f"unknown section [{section}]{did_you_mean(section, SECTIONS)}"
            )
        elif not isinstance(table, dict):
            problems.add(
                path, lines.get(("", section), 0), f"{section} must be a [{section}] table"
            )
        else:
            for name, value in table.items():
                where = lines.get((section, name), line)
                if _valid(section, name, value, problems, path, where):
                    values[(section, name)] = _clean(value, _KNOWN[(section, name)].kind)
    return values


_KNOWN = {(k.section, k.name): k for k in KEYS}


def _clean(value: Any, kind: type) -> Any:
    value = _coerce(value, kind)
    return value.strip() if isinstance(value, str) else value


def _valid(section: str, name: str, value: Any, problems: Collector, path: str, line: int) -> bool:
    """Whether one key is known, not a secret, of its type and passes its check."""
    if name in SECRET_KEYS:
        var = _SECRET_VARS.get(section, "NEWSLETTER_SECRET")
        problems.add(
            path,
            line,
            f"{section}.{name}: secrets never go in content/; remove it and set the "
            f"environment variable {var} (or put it in data/, which git ignores)",
        )
        return False
    key = _KNOWN.get((section, name))
    if key is None:
        choices = [k.name for k in KEYS if k.section == section]
        problems.add(path, line, f"unknown key {section}.{name}{did_you_mean(name, choices)}")
        return False
    value = _coerce(value, key.kind)
    if not isinstance(value, key.kind) or (key.kind is int and isinstance(value, bool)):
        problems.add(
            path, line, f"{section}.{name}: expected {_type_name(key.kind)}, got {value!r}"
        )
        return False
    message = key.check(_clean(value, key.kind)) if key.check else None
    if message:
        problems.add(path, line, f"{section}.{name}: {message}")
        return False
    return True


def _check_required(values: Values, lines: Lines, problems: Collector, path: str) -> None:
    """Each required key, and an unsubscribe route, unless that key already has a problem."""
    reported = [p.message for p in problems.problems]
    for key in KEYS:
        if (
            key.required
            and not values.get((key.section, key.name))
            and not any(m.startswith(f"{key.section}.{key.name}:") for m in reported)
        ):
            line = lines.get((key.section, ""), 1)
            problems.add(path, line, f"missing {key.section}.{key.name}: {_REQUIRED_WHY[key.name]}")
    if (
        not values.get(("unsubscribe", "mailto"))
        and not values.get(("unsubscribe", "url"))
        and not any(m.startswith("unsubscribe.") for m in reported)
    ):
        problems.add(
            path,
            lines.get(("unsubscribe", ""), 1),
            "missing unsubscribe.url or unsubscribe.mailto: every email needs a working "
            "unsubscribe (RFC 8058, CAN-SPAM)",
        )


def _make_config(
    values: Values, *, brand: Brand, smtp: SmtpSettings, inbox: InboxSettings, lines: Lines
) -> Config:
    def get(section: str, name: str, default: Any = "") -> Any:
        return values.get((section, name), default)

    return Config(
        title=get("newsletter", "title"),
        tagline=get("newsletter", "tagline"),
        language=get("newsletter", "language", "en"),
        direction=get("newsletter", "direction", "ltr"),
        base_url=get("newsletter", "base_url").rstrip("/"),
        list_id=get("newsletter", "list_id"),
        greeting_fallback=get("newsletter", "greeting_fallback", "there"),
        utm=get("newsletter", "utm", True),
        sender_name=get("sender", "name"),
        sender_email=get("sender", "email"),
        reply_to=get("sender", "reply_to"),
        postal_address=get("sender", "postal_address"),
        booking_url=get("booking", "url"),
        cta_text=get("booking", "cta_text", "Book a session"),
        reason=get("footer", "reason"),
        disclaimer=get("footer", "disclaimer"),
        unsubscribe_mailto=get("unsubscribe", "mailto"),
        unsubscribe_url=get("unsubscribe", "url"),
        brand=brand,
        smtp=smtp,
        rate_per_second=get("send", "rate_per_second", 0.0),
        daily_limit=get("send", "daily_limit", 0),
        inbox=inbox,
        web=_web_settings(values),
        lines=KeyLines(tuple((_dotted(section, name), n) for (section, name), n in lines.items())),
    )


def _web_settings(values: Values) -> WebSettings:
    """[web]: every key optional; lists become tuples, origins lose a trailing slash."""
    given = {name: value for (section, name), value in values.items() if section == "web"}
    for name in ("trusted_proxies", "signup_origins"):
        if name in given:
            given[name] = tuple(v.rstrip("/") for v in given[name])
    return WebSettings(**given)


def _dotted(section: str, name: str) -> str:
    """("sender", "email") -> "sender.email"; a section header alone -> "sender"."""
    return ".".join(part for part in (section, name) if part)


_REQUIRED_WHY = {
    "title": "the newsletter's name, shown in the header",
    "base_url": "where the web version lives, e.g. https://news.example.org",
    "list_id": "a domain-like id for the List-Id header, e.g. news.example.org",
    "name": "the sender's name shown in the inbox",
    "email": "the From address",
    "postal_address": "anti-spam law (CAN-SPAM) requires a postal address in every email",
    "url": "the booking link the buttons point to",
    "reason": "tell readers why they receive this email",
    "disclaimer": "the health disclaimer printed in every footer",
}


def _smtp_settings(values: Values, env: Mapping[str, str], problems: Collector) -> SmtpSettings:
    def pick(name: str, default: Any) -> Any:
        return values.get(("smtp", name), default)

    settings: dict[str, Any] = {
        "host": pick("host", "localhost"),
        "port": pick("port", 587),
        "security": pick("security", "starttls"),
        "username": pick("username", ""),
        "timeout": pick("timeout", 30.0),
        "password": env.get("NEWSLETTER_SMTP_PASSWORD", ""),
    }
    names = ("host", "port", "username", "security")
    settings |= _env_overrides("NEWSLETTER_SMTP_", names, SECURITY, env, problems)
    return SmtpSettings(**settings)


def _env_overrides(
    prefix: str,
    names: tuple[str, ...],
    securities: tuple[str, ...],
    env: Mapping[str, str],
    problems: Collector,
) -> dict[str, Any]:
    """The settings the environment overrides (PREFIX + NAME), each checked like its key."""
    given: dict[str, Any] = {}
    for name in names:
        var = f"{prefix}{name.upper()}"
        if var not in env:
            continue
        raw = env[var].strip()
        if name == "port":
            if not raw.isdigit() or _port(int(raw)):
                problems.add(var, 0, f"expected a port from 1 to 65535, got {raw!r}")
                continue
            given["port"] = int(raw)
        elif name == "security" and raw not in securities:
            problems.add(var, 0, f"expected one of {', '.join(securities)}, got {raw!r}")
        else:
            given[name] = raw
    return given


def _inbox_settings(values: Values, env: Mapping[str, str], problems: Collector) -> InboxSettings:
    """[inbox], each key overridable by NEWSLETTER_IMAP_<KEY>; the password comes later, from
    NEWSLETTER_IMAP_PASSWORD or data/ (workspace.load_imap_password)."""
    settings: dict[str, Any] = {
        name: values[("inbox", name)] for name in InboxSettings._fields if ("inbox", name) in values
    }
    names = ("host", "port", "username", "security", "folder")
    settings |= _env_overrides("NEWSLETTER_IMAP_", names, IMAP_SECURITY, env, problems)
    if "port" not in settings:
        settings["port"] = 993 if settings.get("security", "ssl") == "ssl" else 143
    return InboxSettings(**settings)


def _check_brand(brand: Brand, problems: Collector, path: str, lines: Lines) -> None:
    """Reject colours that fail WCAG AA, so every email is readable by construction."""
    pairs = [
        ("text", "surface", brand.text, brand.surface, "body text on the card"),
        ("muted", "surface", brand.muted, brand.surface, "footer text on the card"),
        ("muted", "background", brand.muted, brand.background, "footer text on the page"),
        ("accent", "surface", brand.accent, brand.surface, "links on the card"),
        ("surface", "accent", "#ffffff", brand.accent, "white button text on the accent"),
        ("dark_text", "dark_surface", brand.dark_text, brand.dark_surface, "dark-mode body text"),
        (
            "dark_muted",
            "dark_surface",
            brand.dark_muted,
            brand.dark_surface,
            "dark-mode footer text",
        ),
        (
            "dark_muted",
            "dark_background",
            brand.dark_muted,
            brand.dark_background,
            "dark-mode footer text on the page",
        ),
        ("accent_dark", "dark_surface", brand.accent_dark, brand.dark_surface, "dark-mode links"),
    ]
    for a, b, fg, bg, what in pairs:
        if not (colors.is_hex(fg) and colors.is_hex(bg)):
            continue
        ratio = colors.contrast(fg, bg)
        line = lines.get(("brand", a), lines.get(("brand", b), lines.get(("brand", ""), 1)))
        if ratio < colors.AA_NORMAL:
            problems.add(
                path,
                line,
                f"brand.{a} on brand.{b}: contrast {ratio:.2f}:1 is below WCAG AA 4.5:1 ({what}); "
                "choose a darker or lighter colour",
            )
    for name in ("text", "dark_text"):
        value = getattr(brand, name)
        if colors.is_hex(value) and colors.parse_hex(value) in ((0, 0, 0), (255, 255, 255)):
            problems.add(
                path,
                lines.get(("brand", name), 1),
                f"brand.{name}: pure black or white text inverts badly in forced dark modes; "
                "use a near colour such as #26302c",
            )


def load_config(paths: Paths, env: Mapping[str, str] | None = None) -> Config:
    return parse_config(read_text(paths.config, CONFIG_NAME), path=CONFIG_NAME, env=env)
