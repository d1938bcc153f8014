"""How fast `newsletter preview` shows an edit: render alone, render + check, and file save to
published snapshot through the real watcher. Target: re-render <= 150 ms warm.

    python tests/benchmarks/bench_preview.py [--rounds 30]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from newsletter.preview.app import Preview  # noqa: E402
from newsletter.preview.snapshot import CHECKED, build_snapshot, render_snapshot  # noqa: E402
from newsletter.workspace import Paths  # noqa: E402

ISSUE = "content/issues/2026-12.md"
TARGET_MS = 150.0


def workspace() -> Path:
    root = Path(tempfile.mkdtemp(prefix="bench-preview-"))
    shutil.copytree(REPO / "tests" / "fixtures" / "example" / "content", root / "content")
    shutil.copytree(REPO / "templates", root / "templates")
    return root


def edit(root: Path, n: int) -> None:
    """A real edit each round, so nothing can be served from a cache."""
    path = root / ISSUE
    text = path.read_text(encoding="utf-8")
    marker = "Warmly,"
    body = text.split(marker, 1)
    path.write_text(
        body[0].rstrip("0123456789 \n") + f" {n}\n\n{marker}{body[1]}", encoding="utf-8"
    )


def timed(rounds: int, root: Path, step: Callable[[int], None]) -> list[float]:
    times = []
    for n in range(rounds):
        edit(root, n)
        started = time.perf_counter()
        step(n)
        times.append((time.perf_counter() - started) * 1000)
    return times


def save_to_published(rounds: int, root: Path, *, checked: bool) -> list[float]:
    """Wall time from writing the file to the new snapshot being served (watcher included)."""
    app = Preview(Paths(root), port=0)
    app.start()
    times = []
    try:
        time.sleep(0.3)
        for n in range(rounds):
            before = app.state.snapshot.version.removesuffix(CHECKED)
            done = threading.Event()

            def wait(before: str = before, done: threading.Event = done) -> None:
                seen = before
                while True:
                    version = app.state.wait_for_change(seen, 5)
                    if version is None:
                        return
                    if version.removesuffix(CHECKED) != before and (
                        not checked or version.endswith(CHECKED)
                    ):
                        done.set()
                        return
                    seen = version

            waiter = threading.Thread(target=wait)
            waiter.start()
            started = time.perf_counter()
            edit(root, 1000 + n)
            done.wait(5)
            times.append((time.perf_counter() - started) * 1000)
            waiter.join(5)
            time.sleep(0.15)  # let the watcher settle so each edit is timed alone
    finally:
        app.stop()
    return times


def row(name: str, times: list[float]) -> str:
    times = sorted(times)
    p90 = times[max(0, int(len(times) * 0.9) - 1)]
    return f"{name:<44}{statistics.median(times):>9.1f}{p90:>9.1f}{times[0]:>9.1f}{times[-1]:>9.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    root = workspace()
    paths = Paths(root)
    try:
        started = time.perf_counter()
        build_snapshot(paths, None, version="cold")
        cold = (time.perf_counter() - started) * 1000
        for n in range(3):  # warm up imports, Jinja, premailer, cssutils
            build_snapshot(paths, None, version=f"warm-{n}")
        render = timed(args.rounds, root, lambda n: render_snapshot(paths, None, version=str(n)))
        full = timed(args.rounds, root, lambda n: build_snapshot(paths, None, version=str(n)))
        saved = save_to_published(max(5, args.rounds // 2), root, checked=False)
        saved_checked = save_to_published(max(5, args.rounds // 2), root, checked=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"newsletter preview, example issue, {args.rounds} rounds (ms)")
    print(f"{'':<44}{'median':>9}{'p90':>9}{'min':>9}{'max':>9}")
    print(f"{'first render + check (cold, in process)':<44}{cold:>9.1f}")
    print(row("re-render after an edit (warm)", render))
    print(row("re-render + check (warm)", full))
    print(row("file saved -> email served (watcher)", saved))
    print(row("file saved -> findings served (watcher)", saved_checked))
    verdict = "met" if statistics.median(render) <= TARGET_MS else "MISSED"
    print(f"target: re-render <= {TARGET_MS:.0f} ms warm: {verdict}")


if __name__ == "__main__":
    main()
