"""How long `newsletter check` takes on the example issue and on one near Gmail's clip size."""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from newsletter.build.pipeline import render_rendered  # noqa: E402
from newsletter.check import check_rendered, check_workspace  # noqa: E402
from newsletter.check.cascade import parse_colour  # noqa: E402
from newsletter.check.rules.support import style_features  # noqa: E402
from newsletter.check.stylesheet import clear_caches  # noqa: E402
from newsletter.load.content import pick_issue  # noqa: E402
from newsletter.load.loader import load_workspace  # noqa: E402
from newsletter.workspace import Paths  # noqa: E402


def workspace(tmp: Path, name: str, extra_kb: int) -> Path:
    root = tmp / name
    shutil.copytree(REPO / "tests" / "fixtures" / "example" / "content", root / "content")
    shutil.copytree(REPO / "templates", root / "templates")
    if extra_kb:
        article = root / "content/articles/restless-legs-massage.md"
        paragraph = "Gentle pressure along the calf eases the urge to move. " * 10
        count = extra_kb * 1024 // (len(paragraph) + 80)
        article.write_text(
            article.read_text(encoding="utf-8") + "\n\n" + "\n\n".join([paragraph] * count),
            encoding="utf-8",
        )
    return root


def fresh_check(workspace, rendered):  # type: ignore[no-untyped-def]
    """One check as a new process makes it: without the CSS parsed by the run before."""
    clear_caches()
    style_features.cache_clear()
    parse_colour.cache_clear()
    return check_rendered(workspace, rendered)


def timed(fn, runs: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000, max(times) * 1000


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for name, extra in (("example issue", 0), ("long issue", 60)):
            root = workspace(Path(tmp), name.split()[0], extra)
            paths = Paths(root)
            loaded = load_workspace(paths)
            issue = pick_issue(loaded.library, None)
            rendered = render_rendered(issue, config=loaded.config, paths=paths)
            size = len(rendered.html.encode()) / 1024
            rules = timed(lambda w=loaded, r=rendered: fresh_check(w, r), 10)
            whole = timed(lambda p=paths: check_workspace(p), 5)
            rows.append((f"{name}", size, rules, whole))
        print(f"{'issue':<28}{'HTML KB':>9}{'rules ms (median/max)':>24}{'check_workspace ms':>22}")
        for name, size, rules, whole in rows:
            print(
                f"{name:<28}{size:>9.1f}{rules[0]:>12.0f} / {rules[1]:<9.0f}"
                f"{whole[0]:>11.0f} / {whole[1]:<8.0f}"
            )
        print("rules: check_rendered on an already rendered issue (what preview calls);")
        print("check_workspace: load, render in memory and check (what the CLI runs).")


if __name__ == "__main__":
    main()
