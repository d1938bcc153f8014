"""Command line: parse, call one driver function, print, exit. Imports stay inside commands."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from . import __version__

EXIT_INTERNAL = 70


class Context:
    """What every command needs: the workspace root and whether to show tracebacks."""

    def __init__(self, root: Path, debug: bool):
        self.root = root
        self.debug = debug

    @property
    def paths(self) -> Any:
        from .config import Paths

        return Paths(self.root)


pass_ctx = click.make_pass_decorator(Context)


class Group(click.Group):
    """Turns user mistakes into `path:line: message` and exit 1, bugs into exit 70."""

    def invoke(self, ctx: click.Context) -> Any:
        from .errors import NewsletterError

        try:
            return super().invoke(ctx)
        except NewsletterError as exc:
            report_problems(exc.problems)
            ctx.exit(1)
        except (click.exceptions.Exit, click.ClickException, click.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            debug = bool(ctx.obj and ctx.obj.debug) or "--debug" in sys.argv
            if debug:
                raise
            click.echo(
                f"internal error: {type(exc).__name__}: {exc}\n"
                "This is a bug. Re-run with --debug for the traceback and report it.",
                err=True,
            )
            ctx.exit(EXIT_INTERNAL)


def report_problems(problems: Any) -> None:
    errors = [p for p in problems if p.severity == "error"]
    warnings = [p for p in problems if p.severity == "warning"]
    for problem in problems:
        click.echo(str(problem), err=True)
    parts = []
    if errors:
        parts.append(f"{len(errors)} error{'s' if len(errors) != 1 else ''}")
    if warnings:
        parts.append(f"{len(warnings)} warning{'s' if len(warnings) != 1 else ''}")
    if parts:
        click.echo(f"Found {' and '.join(parts)}.", err=True)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="newsletter")
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="NEWSLETTER_ROOT",
    default=".",
    show_default=True,
    help="Workspace folder holding content/ and templates/ (env NEWSLETTER_ROOT).",
)
@click.option("--debug", is_flag=True, help="Show the full traceback of internal errors.")
@click.pass_context
def main(ctx: click.Context, root: Path, debug: bool) -> None:
    """Turn the month's Markdown articles and testimonials into an email, check it, preview it
    and send it.

    \b
    Monthly loop:
      newsletter new 2026-12
      newsletter preview
      newsletter check
      newsletter build
      newsletter send 2026-12 --test me@example.com
      newsletter send 2026-12
    """
    ctx.obj = Context(root, debug)
    if debug:
        os.environ["NEWSLETTER_DEBUG"] = "1"


# --- build (issue pipeline) --------------------------------------------------------------------

# --- check and preview -------------------------------------------------------------------------

# --- subscribers -------------------------------------------------------------------------------

# --- send, status, unsubscribe -----------------------------------------------------------------
