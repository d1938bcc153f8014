"""Build benchmark: cold `newsletter build` (whole process) and warm in-process re-render.

Run with `make bench`. Prints medians; the README quotes them.
"""

from __future__ import annotations

import gzip
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from newsletter.build.inline import inline_css  # noqa: E402
from newsletter.build.mime import MessageTemplate  # noqa: E402
from newsletter.build.pipeline import _env, load_workspace, render_rendered  # noqa: E402
from newsletter.build.placeholders import export, recipient_values  # noqa: E402
from newsletter.build.recipient import Recipient  # noqa: E402
from newsletter.build.render import markdown_to_html, render_issue  # noqa: E402
from newsletter.build.textify import html_to_text  # noqa: E402
from newsletter.load.content import pick_issue  # noqa: E402
from newsletter.workspace import Paths  # noqa: E402


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def cold_build(root: Path, cache: Path | None, runs: int = 10) -> list[float]:
    """`newsletter build` in a new process each time. With `cache`, the cache folder is kept
    between runs (the everyday case: templates compiled and CSS parsed by an earlier build);
    without, every run starts from an empty one (the first build after a template change)."""
    exe = Path(sys.executable).with_name("newsletter")
    times = []
    with tempfile.TemporaryDirectory() as scratch:
        for n in range(runs):
            folder = cache or Path(scratch) / str(n)
            env = {**os.environ, "NEWSLETTER_CACHE_DIR": str(folder)}
            start = time.perf_counter()
            subprocess.run(
                [str(exe), "--root", str(root), "build"], check=True, capture_output=True, env=env
            )
            times.append(time.perf_counter() - start)
    return times


def warm_stages(root: Path, runs: int = 50) -> dict[str, list[float]]:
    paths = Paths(root)
    config, library = load_workspace(paths)
    issue = pick_issue(library, None)
    env = _env(str(paths.templates))
    render_rendered(issue, config=config, paths=paths)  # warm caches, as preview does
    stages: dict[str, list[float]] = {
        k: [] for k in ("load", "markdown", "jinja", "premailer", "text", "mime", "total")
    }
    for _ in range(runs):
        t0 = time.perf_counter()
        config, library = load_workspace(paths)
        issue = pick_issue(library, None)
        t1 = time.perf_counter()
        fragments = [markdown_to_html(a.body, trusted=True) for a in issue.articles]
        fragments += [markdown_to_html(t.body, trusted=False) for t in issue.testimonials]
        t2 = time.perf_counter()
        for fragment in fragments:
            html_to_text(fragment)
        t3 = time.perf_counter()
        draft = render_issue(issue, config=config, env=env, templates=paths.templates)
        t4 = time.perf_counter()
        inline_css(draft.html)
        t5 = time.perf_counter()
        rendered = render_rendered(issue, config=config, paths=paths)
        t6 = time.perf_counter()
        template = MessageTemplate(rendered, config=config)
        values = recipient_values(
            email="a@example.org",
            name="Ann",
            unsubscribe_url="https://x.example/u",
            fallback="friend",
        )
        template.render(Recipient("a@example.org", "Ann", values, "https://x.example/u", ""))
        t7 = time.perf_counter()
        stages["load"].append(t1 - t0)
        stages["markdown"].append(t2 - t1)
        stages["text"].append(t3 - t2)
        # render_issue includes Markdown and text conversion; Jinja is the rest of it
        stages["jinja"].append(max(0.0, (t4 - t3) - (t3 - t1)))
        stages["premailer"].append(t5 - t4)
        stages["mime"].append(t7 - t6)
        stages["total"].append((t1 - t0) + (t6 - t5) + (t7 - t6))
    return stages


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        root.mkdir()
        shutil.copytree(REPO / "tests" / "fixtures" / "example" / "content", root / "content")
        shutil.copytree(REPO / "templates", root / "templates")
        cache = Path(tmp) / "cache"
        cold_build(root, cache, runs=1)  # fills the cache folder
        cold = cold_build(root, cache)
        first = cold_build(root, None)
        os.environ["NEWSLETTER_CACHE_DIR"] = str(cache)
        stages = warm_stages(root)
        html = (root / "dist" / "issues" / "2026-12" / "email.html").read_bytes()
        paths = Paths(root)
        config, library = load_workspace(paths)
        rendered = render_rendered(pick_issue(library, None), config=config, paths=paths)
        exported = export(rendered.html, rendered.nonce, escape_literal=True).encode()
    print("Cold `newsletter build` of the example (whole process, 10 runs)")
    print(
        f"  median {median_ms(cold):7.1f} ms   min {min(cold) * 1000:7.1f} ms   (target <= 300 ms)"
    )
    print("  the same with an empty cache folder each time (first build after a template edit)")
    print(f"  median {median_ms(first):7.1f} ms   min {min(first) * 1000:7.1f} ms")
    total = statistics.median(stages["total"])
    print("Warm re-render in-process (50 runs): load + render + inline + MIME")
    print(f"  median {total * 1000:7.1f} ms   (target <= 30 ms)")
    for name in ("load", "markdown", "jinja", "premailer", "text", "mime"):
        value = statistics.median(stages[name])
        print(f"    {name:<10} {value * 1000:6.1f} ms  {100 * value / total:5.1f} %")
    print(
        f"HTML: {len(html):,} bytes raw, {len(gzip.compress(html, 9)):,} bytes gzipped "
        f"({len(exported):,} in memory before writing)"
    )


if __name__ == "__main__":
    main()
