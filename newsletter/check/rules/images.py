"""Image rules: alt text, width, missing and heavy files, HTTPS, oversized pictures."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from lxml import etree

from newsletter.check.base import ERROR, WARNING, Email, Finding
from newsletter.check.rules import rule
from newsletter.load.images import image_size
from newsletter.model import Ref

HEAVY_BYTES = 200 * 1024
"""Most subscribers read on a phone, often on mobile data: keep each picture under 200 KB."""
MAX_WIDTH = 1200
"""Twice the 600 px layout is enough for sharp pictures on high-density screens."""


@rule
def _images(email: Email) -> list[Finding]:
    out: list[Finding] = []
    for img in email.elements("img"):
        out.extend(check_image(email, img))
    return out


def local_file(email: Email, src: str) -> Path | None:
    """content/images/<name> for an image the build copies next to the email."""
    prefix = f"{email.config.base_url}/issues/{email.issue_id}/images/"
    if not src.startswith(prefix):
        return None
    return email.paths.content / "images" / unquote(src[len(prefix) :].split("?")[0])


def image_site(email: Email, img: etree._Element, src: str) -> tuple[tuple[str, int], Ref | None]:
    """Where the content wrote this image (matched by file name) and how, else a template
    line naming it, else the image's line in the output."""
    name = unquote(src.rsplit("/", 1)[-1].split("?")[0])
    for path, ref in email.images:
        if name and _file_name(ref.target) == name.lower():
            return (path, ref.line), ref
    return email.locate(name, src, element=img), None


def _file_name(target: str) -> str:
    return unquote(target.strip().rsplit("/", 1)[-1].split("?")[0]).lower()


def check_image(email: Email, img: etree._Element) -> list[Finding]:
    src = (img.get("src") or "").strip()
    where, ref = image_site(email, img, src) if src else (email.at(img), None)
    out = _alt(email, img, src, where, ref)
    if img.get("width") is None:
        out.append(
            email.finding(
                "img-width",
                WARNING,
                where,
                f"image {_short(src)} has no width attribute; Outlook for Windows shows it at "
                "its full file size, breaking the layout",
                "use a file in content/images/ (its size is added for you) or give width in "
                'HTML: <img src="..." alt="..." width="552">',
            )
        )
    scheme = urlsplit(src).scheme.lower()
    if scheme != "https":
        out.append(
            email.finding(
                "img-https",
                ERROR,
                where,
                f"image URL {_short(src)} is not HTTPS; clients block or flag insecure images",
                "use an https:// URL or put the file in content/images/",
            )
        )
    file = local_file(email, src)
    if file is not None:
        out.extend(_file(email, file, where))
    else:
        width = _int(img.get("width"))
        if width > MAX_WIDTH:
            out.append(_too_wide(email, where, src, width))
    return out


def _alt(
    email: Email, img: etree._Element, src: str, where: tuple[str, int], ref: Ref | None
) -> list[Finding]:
    alt = img.get("alt")
    if alt is None:
        return [
            email.finding(
                "img-alt",
                ERROR,
                where,
                f"image {_short(src)} has no alt text; screen readers read out its file name "
                "and images-off readers see nothing",
                "describe the picture: ![Hands massaging a calf](legs.jpg); a purely decorative "
                'image needs an explicit <img src="..." alt="">',
            )
        ]
    if alt.strip() or ref is None or not _alt_left_out(ref):
        return []
    return [
        email.finding(
            "img-alt",
            ERROR,
            where,
            f"image {_short(src)} has empty alt text; say what it shows",
            "describe the picture in the brackets: ![Hands massaging a calf](legs.jpg); if it "
            'is purely decorative, write <img src="..." alt=""> to say so',
        )
    ]


def _alt_left_out(ref: Ref) -> bool:
    """Empty alt by omission (`![](x)`, or a tag without alt) rather than written as alt=""
    or `alt: ""` to mark a decorative image."""
    if ref.syntax == "markdown":
        return not ref.text.strip()
    return ref.syntax == "html" and not ref.alt


def _file(email: Email, file: Path, where: tuple[str, int]) -> list[Finding]:
    rel = email.paths.rel(file)
    if not file.is_file():
        return [
            email.finding(
                "img-missing",
                ERROR,
                where,
                f"image file {rel} does not exist; readers would see a broken image",
                "put the file in content/images/ or correct the name",
            )
        ]
    out = []
    size = file.stat().st_size
    if size > HEAVY_BYTES:
        out.append(
            email.finding(
                "img-heavy",
                WARNING,
                where,
                f"image {rel} is {size / 1024:.0f} KB; over 200 KB loads slowly on phones",
                "export it at most 1200 px wide as JPEG quality 75-80 (or compress the PNG)",
            )
        )
    dimensions = image_size(file)
    if dimensions and dimensions[0] > MAX_WIDTH:
        out.append(_too_wide(email, where, rel, dimensions[0]))
    return out


def _too_wide(email: Email, where: tuple[str, int], name: str, width: int) -> Finding:
    return email.finding(
        "img-too-wide",
        WARNING,
        where,
        f"image {name} is {width} px wide; the email is 600 px, so over {MAX_WIDTH} px only "
        "adds weight",
        f"resize it to at most {MAX_WIDTH} px wide (2x the layout, sharp on every screen)",
    )


def _int(value: str | None) -> int:
    try:
        return int(str(value).strip().removesuffix("px"))
    except (TypeError, ValueError):
        return 0


def _short(src: str) -> str:
    if not src:
        return "(no src)"
    return repr(src if len(src) <= 70 else src[:67] + "...")
