"""Refresh newsletter/assets/caniemail.json from the caniemail npm package (MIT).

Usage:
  python -m newsletter.check.refresh_caniemail                # npm pack caniemail (needs npm + network)
  python -m newsletter.check.refresh_caniemail path/to/caniemail.json   # or node_modules/caniemail/...

Keeps, per feature, the newest test result for the clients `newsletter check` reports on and
the notes those results cite, so the vendored file stays small (about 100 KB instead of 640).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[1] / "assets"
TARGET = DATA / "caniemail.json"
LICENSE = DATA / "CANIEMAIL-LICENSE"
FAMILIES = ("gmail", "apple-mail", "outlook", "yahoo", "samsung-email")


def fetch() -> tuple[dict[str, Any], str, str]:
    """The package's JSON, its LICENSE text and version, via `npm pack` in a temp folder."""
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            ["npm", "pack", "caniemail", "--silent"],
            cwd=tmp,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()[-1]
        with tarfile.open(Path(tmp) / out) as tar:
            data = json.load(tar.extractfile("package/data/caniemail.json"))  # type: ignore[arg-type]
            license_text = tar.extractfile("package/LICENSE").read().decode()  # type: ignore[union-attr]
            package = json.load(tar.extractfile("package/package.json"))  # type: ignore[arg-type]
    return data, license_text, package["version"]


def trim(data: dict[str, Any], version: str) -> dict[str, Any]:
    features = {}
    for item in data["data"]:
        support: dict[str, str] = {}
        notes: dict[str, str] = {}
        for family, platforms in item.get("stats", {}).items():
            if family not in FAMILIES:
                continue
            for platform, results in platforms.items():
                if not results:
                    continue
                latest = list(results.values())[-1]  # the data lists tests oldest first
                client = f"{family}.{platform}"
                support[client] = latest.split()[0][:1]
                cited = [n.lstrip("#") for n in latest.split()[1:] if n.startswith("#")]
                text = " ".join(
                    str((item.get("notes_by_num") or {}).get(n, "")) for n in cited
                ).strip()
                if text:
                    notes[client] = text
        features[item["slug"]] = {
            "title": item["title"],
            "url": item["url"],
            "category": item["category"],
            "keywords": item.get("keywords") or "",
            "support": support,
            "notes": notes,
        }
    return {
        "source": f"caniemail npm package {version} (https://www.caniemail.com, MIT licence)",
        "last_update_date": data.get("last_update_date", ""),
        "nicenames": data.get("nicenames", {}),
        "features": features,
    }


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        source = Path(argv[1])
        data = json.loads(source.read_text(encoding="utf-8"))
        package_json = source.parent.parent / "package.json"
        version = (
            json.loads(package_json.read_text())["version"] if package_json.exists() else "local"
        )
        license_file = source.parent.parent / "LICENSE"
        license_text = license_file.read_text() if license_file.exists() else ""
    else:
        data, license_text, version = fetch()
    TARGET.write_text(
        json.dumps(trim(data, version), indent=0, sort_keys=True, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    if license_text:
        LICENSE.write_text(
            "newsletter/assets/caniemail.json is derived from the caniemail npm package\n"
            "(https://github.com/shellscape/caniemail), data from https://www.caniemail.com\n"
            "by Rémi Parmentier and contributors, under this licence:\n\n" + license_text,
            encoding="utf-8",
        )
    print(f"wrote {TARGET} (caniemail {version}, {TARGET.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
