"""Command line: parse, call one driver function, print, exit. Imports stay inside commands."""

from __future__ import annotations

import gc
import sys
from pathlib import Path
from typing import Any

import click

from newsletter import __version__

EXIT_INTERNAL = 70
LONG_RUNNING = {"send", "preview", "subscribers", "serve"}
"""Commands that may run for minutes or hold a whole list: they get the garbage collector
back (see __main__)."""


class Context:
    """What every command needs: the workspace root and whether to show tracebacks."""

    def __init__(self, root: Path, debug: bool):
        self.root = root
        self.debug = debug

    @property
    def paths(self) -> Any:
        from newsletter.workspace import Paths

        return Paths(self.root)


pass_ctx = click.make_pass_decorator(Context)


class Group(click.Group):
    """Turns user mistakes into `path:line: message` and exit 1, bugs into exit 70."""

    def invoke(self, ctx: click.Context) -> Any:
        from newsletter.errors import NewsletterError

        try:
            return super().invoke(ctx)
        except NewsletterError as exc:
            report_problems(exc.problems)
            ctx.exit(1)
        except (click.exceptions.Exit, click.ClickException, click.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            if type(exc).__module__ == "sqlite3" and _damaged(exc):
                click.echo("the database is damaged: restore it from a backup", err=True)
                ctx.exit(1)
            debug = bool(ctx.obj and ctx.obj.debug) or "--debug" in sys.argv
            if debug:
                raise
            click.echo(
                f"internal error: {type(exc).__name__}: {exc}\n"
                "This is a bug. Re-run with --debug for the traceback and report it.",
                err=True,
            )
            ctx.exit(EXIT_INTERNAL)


def _damaged(exc: Exception) -> bool:
    """SQLite's words for a file that is not (or no longer) a whole database."""
    text = str(exc)
    return "malformed" in text or "not a database" in text or "disk image" in text


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
      newsletter new --article winter-sleep
      newsletter new 2026-12
      newsletter preview
      newsletter check
      newsletter build
      newsletter publish --to /var/www/news
      newsletter send 2026-12 --test me@example.com
      newsletter send 2026-12
    """
    ctx.obj = Context(root, debug)
    if ctx.invoked_subcommand in LONG_RUNNING and not gc.isenabled():
        gc.freeze()  # what is loaded by now stays; later collections skip it
        gc.enable()


# --- build (issue pipeline) --------------------------------------------------------------------


def _kb(size: int) -> str:
    return f"{size / 1024:.1f} KB"


@main.command()
@click.argument("issue_id", required=False)
@click.option("--all", "all_issues", is_flag=True, help="Build every issue in content/issues/.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder (default: dist/ in the workspace).",
)
@pass_ctx
def build(obj: Context, issue_id: str | None, all_issues: bool, out: Path | None) -> None:
    """Build an issue into dist/issues/ISSUE_ID/: email.html, email.txt, message.eml, index.html.

    ISSUE_ID defaults to the newest issue by date. Everything is checked first: a content
    mistake is reported as path:line and the previous dist/ stays untouched.

    \b
    Example:
      newsletter build 2026-12
    """
    from newsletter.build.pipeline import build as run_build

    if issue_id and all_issues:
        raise click.UsageError("give an ISSUE_ID or --all, not both")
    results = run_build(obj.paths, issue_id, all_issues=all_issues, out=out)
    for result in results:
        folder = obj.paths.rel(result.folder)
        click.echo(
            f"Built {result.issue_id} -> {folder}/ (email.html {_kb(result.html_bytes)}, "
            f"{_kb(result.html_gzip_bytes)} gzipped; email.txt {_kb(result.text_bytes)}; "
            f"message.eml; index.html)"
        )
        for warning in result.warnings:
            click.echo(f"warning: {warning}", err=True)


@main.command()
@click.argument("issue_id", required=False)
@click.option(
    "--article", "article", metavar="SLUG", help="Start content/articles/SLUG.md instead."
)
@pass_ctx
def new(obj: Context, issue_id: str | None, article: str | None) -> None:
    """Start an article to write, or an issue from the newest unused articles and testimonial.

    Never overwrites a file. An issue needs at least one article not sent before: write it
    first with --article.

    \b
    Examples:
      newsletter new --article winter-sleep    # content/articles/winter-sleep.md to fill in
      newsletter new 2027-01                   # content/issues/2027-01.md from unused content
    """
    from newsletter.build.scaffold import new_article, new_issue

    if bool(issue_id) == bool(article):
        raise click.UsageError("give an ISSUE_ID or --article SLUG (one of them)")
    if article:
        path = new_article(obj.paths, article)
        click.echo(
            f"Created {obj.paths.rel(path)}: fill in the TODOs, then start the issue with "
            "`newsletter new YYYY-MM`."
        )
        return
    assert issue_id is not None
    path, scaffold = new_issue(obj.paths, issue_id)
    click.echo(
        f"Created {obj.paths.rel(path)}: write the letter, then `newsletter preview {issue_id}`."
    )
    click.echo(f"  articles: {', '.join(scaffold.articles)} (the newest not sent before)")
    if scaffold.testimonials:
        click.echo(f"  testimonials: {', '.join(scaffold.testimonials)}")
    else:
        click.echo(
            "  testimonials: none (every one was used before); add one in content/testimonials/"
            " or list an earlier one"
        )


@main.command(name="export")
@click.argument("issue_id", required=False)
@click.option(
    "--format",
    "style",
    type=click.Choice(["mailchimp", "listmonk", "buttondown", "native"]),
    required=True,
    help="Whose merge tags to write in place of the placeholders.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder (default: dist/export/<format>/ISSUE_ID).",
)
@pass_ctx
def export_command(obj: Context, issue_id: str | None, style: str, out: Path | None) -> None:
    """Write the issue's HTML and text with another service's merge tags.

    For sending through Mailchimp, listmonk or Buttondown instead of `newsletter send`:
    %%first_name%% becomes *|FNAME|*, {{ .Subscriber.FirstName }}, ... and the unsubscribe
    link becomes the service's own.

    \b
    Example:
      newsletter export 2026-12 --format mailchimp
    """
    from newsletter.build.export import export_issue

    target = out or obj.paths.dist / "export" / style / (issue_id or "latest")
    for path in export_issue(obj.paths, issue_id, style=style, out=target):
        click.echo(f"Wrote {obj.paths.rel(path)}")


@main.command()
@click.option(
    "--to",
    "target",
    required=True,
    help="A local folder (your web server's document root) or user@host:path (rsync over SSH).",
)
@click.option(
    "--from",
    "source",
    type=click.Path(file_okay=False, path_type=Path),
    help="The built folder to publish (default: dist/ in the workspace).",
)
@pass_ctx
def publish(ctx: Context, target: str, source: Path | None) -> None:
    """Copy the built web pages to where base_url serves them, before sending.

    Images first, then each issue's web version, then the archive and feed, each file
    renamed into place whole, so no reader sees a page without its images. Publishes only
    what browsers open (index.html, images/, feed.xml); run `newsletter build` first.

    \b
    Examples:
      newsletter publish --to /var/www/news
      newsletter publish --to dustin@news.example.org:/var/www/news
    """
    from newsletter.build.publish import is_remote
    from newsletter.build.publish import publish as run_publish

    dist = source or ctx.paths.dist
    done = run_publish(dist, target)
    how = " with rsync" if is_remote(target) else ""
    click.echo(
        f"Published {', '.join(done.issues)} to {target}{how}: {done.copied} file(s) copied, "
        f"{done.unchanged} unchanged (images, then web versions, then the archive and feed)."
    )


# --- check and preview -------------------------------------------------------------------------


@main.command()
@click.argument("issue_id", required=False)
@click.option("--all", "all_issues", is_flag=True, help="Check every issue in content/issues/.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: path:line: severity: message [rule]; json: the versioned report for editors/CI.",
)
@click.option("--strict", is_flag=True, help="Warnings fail the check too (exit 1).")
@click.option(
    "--links",
    is_flag=True,
    help="Also ask every link and image URL whether it answers (network; 10 s timeout each).",
)
@pass_ctx
def check(
    ctx: Context,
    issue_id: str | None,
    all_issues: bool,
    output_format: str,
    strict: bool,
    links: bool,
) -> None:
    """Render the issue and report everything that would embarrass the sender, like a linter.

    Content mistakes, Gmail clipping, images, links, subject and preheader, CAN-SPAM footer
    and headers, testimonial consent, health claims, email-client support (caniemail) and
    accessibility (contrast in light and dark mode, headings, alt text, font size). Offline
    unless --links. ISSUE_ID defaults to the newest issue. Exit 0 when clean or only warnings,
    1 on errors (--strict: on warnings too).

    \b
    Example:
      newsletter check
      newsletter check 2026-12 --strict --format json
    """
    import json

    from newsletter.check import check_issues
    from newsletter.check.report import exit_code, findings_to_json, format_text

    if issue_id and all_issues:
        raise click.UsageError("give an ISSUE_ID or --all, not both")
    checked, findings = check_issues(ctx.paths, issue_id, all_issues=all_issues, links=links)
    if output_format == "json":
        click.echo(json.dumps(findings_to_json(findings, checked), indent=2, ensure_ascii=False))
    else:
        click.echo(format_text(findings, checked))
    raise click.exceptions.Exit(exit_code(findings, strict=strict))


@main.command()
@click.argument("issue_id", required=False)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port to listen on; when the default is busy the next free one is used.",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Anything but 127.0.0.1/localhost shows your unpublished "
    "issue to other machines on the network.",
)
@click.option("--no-open", is_flag=True, help="Don't open a browser tab.")
@pass_ctx
def preview(ctx: Context, issue_id: str | None, port: int, host: str, no_open: bool) -> None:
    """Show the issue as subscribers will see it, live, in your browser.

    Desktop, phone (360-430 px), dark mode, Gmail's inverted colours, images off, plain
    text, HTML source, headers and the check findings. Saving a file under content/ or
    templates/ re-renders it and the page updates by itself; a mistake shows as path:line
    in the page. Never sends mail, never writes dist/. ISSUE_ID defaults to the newest issue.
    Stop with Ctrl-C.

    \b
    Example:
      newsletter preview
      newsletter preview 2026-12 --port 8001 --no-open
    """
    import webbrowser

    from newsletter.hosts import is_loopback
    from newsletter.preview.app import Preview

    source = click.get_current_context().get_parameter_source("port")
    tries = 10 if source == click.core.ParameterSource.DEFAULT and port else 1
    app = Preview(ctx.paths, issue_id, host=host, port=port, port_tries=tries, log=click.echo)
    if app.port != port and port:
        click.echo(f"Port {port} is in use; using {app.port} instead.")
    if not is_loopback(host):
        click.echo(
            f"Warning: listening on {host}: anyone who can reach this machine can read the "
            "unpublished issue.",
            err=True,
        )
    click.echo(f"Previewing at {app.url} (Ctrl-C to stop)")
    app.start_watching()
    if not no_open:
        webbrowser.open(app.url)
    try:
        app.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        app.stop()
    click.echo("Stopped.")


# --- subscribers -------------------------------------------------------------------------------

db_option = click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Subscriber database (default: data/newsletter.db in the workspace; env NEWSLETTER_DB).",
)


def _database(ctx: Context, db: Path | None) -> Path:
    return db if db is not None else ctx.paths.database


@main.group()
def subscribers() -> None:
    """The subscriber list: import a CSV, add, remove, list, count, export.

    \b
    Example:
      newsletter subscribers import clients.csv --consent "newsletter box on the intake form"
      newsletter subscribers count
    """


@subscribers.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--source", help="Where these people came from (default: 'import FILE-NAME').")
@click.option(
    "--consent",
    help="How these people agreed to receive the newsletter, for rows without a consent column "
    "value. Required when the file has no consent column.",
)
@click.option("--dry-run", is_flag=True, help="Report what would change; write nothing.")
@click.option(
    "--encoding",
    help="The file's text encoding, e.g. cp1252 or mac-roman (default: detected: UTF-8, "
    "UTF-16, else Windows-1252).",
)
@click.option("--email-column", help="The column holding the addresses, when not recognised.")
@click.option("--name-column", help="The column holding the full name, when not recognised.")
@db_option
@pass_ctx
def subscribers_import(
    ctx: Context,
    file: Path,
    source: str | None,
    consent: str | None,
    dry_run: bool,
    encoding: str | None,
    email_column: str | None,
    name_column: str | None,
    db: Path | None,
) -> None:
    """Add the people in a contact export (CSV or vCard) to the list.

    Recognises Google Contacts, Outlook, Apple Contacts (.vcf), Mailchimp (subscribed,
    unsubscribed and cleaned exports: their status is kept), Square (its email subscription
    status is kept), Acuity, Calendly and any CSV with an email column (or --email-column).
    UTF-8, UTF-16 (Excel's "Unicode text") and Windows-1252 are detected; Excel's `sep=;`
    line is honoured. Unsubscribed, bounced or complained addresses are never made active
    again. Duplicates and rows without an address are notes; exit 1 only when a row was
    rejected as invalid (the good rows are still imported).

    \b
    Example:
      newsletter subscribers import contacts.csv --consent "asked at booking, 2026" --dry-run
      newsletter subscribers import unsubscribed_members_export.csv
    """
    from newsletter.mail.csvimport import import_csv

    result = import_csv(
        _database(ctx, db),
        file,
        path=str(file),
        source=source,
        consent=consent,
        dry_run=dry_run,
        encoding=encoding,
        email_column=email_column,
        name_column=name_column,
    )
    lines = [(p.line, str(p)) for p in result.problems]
    lines += [(n.line, f"{n.path}:{n.line}: note: {n.message}") for _, n in result.notes]
    for _, text in sorted(lines, key=lambda item: item[0]):
        click.echo(text, err=True)
    if result.rejected:
        click.echo(f"Found {result.rejected} error{'s' if result.rejected != 1 else ''}.", err=True)
    click.echo(result.summary(str(file)))
    if result.rejected:
        raise click.exceptions.Exit(1)


@subscribers.command("add")
@click.argument("email")
@click.option("--name", default="", help="Their name, for the greeting.")
@click.option("--consent", help="How and when they agreed to receive the newsletter (required).")
@click.option(
    "--resubscribe", is_flag=True, help="Make someone who had left active again, with new consent."
)
@db_option
@pass_ctx
def subscribers_add(
    ctx: Context, email: str, name: str, consent: str | None, resubscribe: bool, db: Path | None
) -> None:
    """Add one subscriber.

    \b
    Example:
      newsletter subscribers add jane@example.com --name "Jane Doe" \\
          --consent "asked in person, 2026-03-02"
    """
    from newsletter.mail import subscribers as subs
    from newsletter.mail.database import connect

    if not consent or not consent.strip():
        raise click.UsageError(subs.NO_CONSENT_ONE)
    conn = connect(_database(ctx, db))
    try:
        added = subs.add(
            conn, email, name=name, consent=consent, source="added by hand", resubscribe=resubscribe
        )
    finally:
        conn.close()
    click.echo(f"Added {added.email} (active).")


@subscribers.command("remove")
@click.argument("email")
@db_option
@pass_ctx
def subscribers_remove(ctx: Context, email: str, db: Path | None) -> None:
    """Unsubscribe someone; the row is kept, with the date, as proof of the request.

    \b
    Example:
      newsletter subscribers remove jane@example.com
    """
    from newsletter.mail import subscribers as subs
    from newsletter.mail.database import connect

    conn = connect(_database(ctx, db))
    try:
        before = subs.get(conn, email)
        after = subs.mark_unsubscribed(conn, email)
    finally:
        conn.close()
    if before is not None and before.status == "unsubscribed":
        click.echo(f"{after.email} was already unsubscribed (since {after.unsubscribed_at}).")
    else:
        click.echo(f"Unsubscribed {after.email}.")


@subscribers.command("list")
@click.option(
    "--status",
    type=click.Choice(["active", "unsubscribed", "bounced", "complained"]),
    help="Only subscribers with this status (default: all).",
)
@db_option
@pass_ctx
def subscribers_list(ctx: Context, status: str | None, db: Path | None) -> None:
    """Print subscribers, one per line: email, status, name (tab-separated), oldest first.

    \b
    Example:
      newsletter subscribers list --status active
    """
    from newsletter.inbox.events import reasons
    from newsletter.mail import subscribers as subs
    from newsletter.mail.database import connect

    conn = connect(_database(ctx, db))
    try:
        why = reasons(conn) if status != "active" else {}
        for s in subs.iter_subscribers(conn, status=status):
            reason = why.get(subs.email_key(s.email)) if s.status != "active" else None
            line = f"{_safe(s.email)}\t{s.status}\t{_safe(s.name)}"
            click.echo(line + (f"\t{_safe(str(reason))}" if reason else ""))
    finally:
        conn.close()


@subscribers.command("count")
@db_option
@pass_ctx
def subscribers_count(ctx: Context, db: Path | None) -> None:
    """Print how many subscribers have each status.

    \b
    Example:
      newsletter subscribers count
    """
    from newsletter.mail import subscribers as subs
    from newsletter.mail.database import connect

    conn = connect(_database(ctx, db))
    try:
        counts = subs.count_by_status(conn)
    finally:
        conn.close()
    for status, number in [*counts.items(), ("total", sum(counts.values()))]:
        click.echo(f"{status:<13}{number:>7}")


@subscribers.command("export")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@db_option
@pass_ctx
def subscribers_export(ctx: Context, file: Path, db: Path | None) -> None:
    """Write every subscriber, with every column, to a CSV file ('-' for standard output).

    \b
    Example:
      newsletter subscribers export backup.csv
    """
    from newsletter.mail import subscribers as subs
    from newsletter.mail.database import connect

    conn = connect(_database(ctx, db))
    try:
        if str(file) == "-":
            subs.export_csv(conn, sys.stdout)
            return
        rows = subs.export_csv_file(conn, file)
    finally:
        conn.close()
    click.echo(f"Exported {rows} subscribers to {file}.")


# --- send, status, unsubscribe -----------------------------------------------------------------


EXIT_INCOMPLETE = 75
"""A send that stopped with messages left (daily limit, server unreachable): run it again."""


def _parse_rate(value: str | None) -> float | None:
    if value is None:
        return None
    number = value.strip().removesuffix("/s")
    try:
        rate = float(number)
    except ValueError:
        raise click.BadParameter(f"expected messages per second like 10/s, got {value!r}") from None
    if rate < 0:
        raise click.BadParameter("must be 0 (no limit) or more")
    return rate


class _Bar:
    """A progress bar on stderr, made once the run knows how many messages it has."""

    def __init__(self, label: str):
        self.label = label
        self.bar: Any = None
        self.shown = 0
        self.text = ""

    def __call__(self, progress: Any) -> None:
        if self.bar is None:
            if not progress.total or not sys.stderr.isatty():
                return
            self.bar = click.progressbar(
                length=progress.total,
                label=self.label,
                file=sys.stderr,
                show_eta=True,
                show_pos=True,
                item_show_func=lambda _: self.text,
            )
            self.bar.__enter__()
        extra = f", {progress.deferred} deferred" if progress.deferred else ""
        self.text = f"{progress.rate:,.0f} msg/s{extra}"
        self.bar.update(progress.done - self.shown)
        self.shown = progress.done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.render_finish()
            self.bar = None


def _describe_plan(plan: Any, where: str) -> str:
    if plan.scope == "test":
        return (
            f'Test of {plan.issue_id} "{plan.subject}" -> {plan.to_send} address(es) via {where}.'
        )
    if plan.scope == "dry-run":
        return (
            f'Dry run of {plan.issue_id} "{plan.subject}": {plan.to_send:,} message(s) -> {where}'
        )
    if plan.started_at is None:
        return (
            f'Issue {plan.issue_id} "{plan.subject}" -> {plan.to_send:,} active '
            f"subscriber(s) via {where}."
        )
    if not plan.to_send:
        return f'{plan.issue_id} "{plan.subject}" went out: {plan.already_sent:,} sent.'
    return (
        f'Resuming {plan.issue_id} "{plan.subject}" '
        f"(started {plan.started_at[:16].replace('T', ' ')} UTC): "
        f"{plan.already_sent:,} sent, {plan.to_send:,} to send via {where}."
    )


def _parse_duration(value: str) -> float:
    """'24h', '90m', '45s', '2d' or plain seconds, for --retry-window."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = value.strip().lower()
    scale = units.get(text[-1:], 0)
    try:
        number = float(text[:-1] if scale else text)
    except ValueError:
        raise click.BadParameter(
            f"expected a duration like 24h, 90m or 3600s, got {value!r}"
        ) from None
    if number < 0:
        raise click.BadParameter("must be 0 or more")
    return number * (scale or 1)


@main.command()
@click.argument("issue_id")
@click.argument("addresses", nargs=-1)
@click.option(
    "--test", "test", is_flag=True, help="Send only to ADDRESSES, subject prefixed [TEST]."
)
@click.option(
    "--yes", "-y", is_flag=True, help="Do not ask for confirmation (needed without a terminal)."
)
@click.option(
    "--dry-run",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the messages as .eml files to this folder instead of sending them.",
)
@click.option(
    "--include-new", is_flag=True, help="Also send to subscribers who joined after this send began."
)
@click.option(
    "--rate", help="At most N messages per second, e.g. 5/s (default: send.rate_per_second)."
)
@click.option(
    "--connections",
    type=click.IntRange(1, 32),
    default=1,
    show_default=True,
    help="Parallel SMTP connections.",
)
@click.option(
    "--retry-after",
    type=click.FloatRange(0),
    default=60.0,
    show_default=True,
    help="Seconds before the first retry of a temporary failure; doubles each time.",
)
@click.option(
    "--retry-window",
    default="24h",
    show_default=True,
    help="How long a message that only gets temporary replies (4xx) is retried, counted "
    "from its first try, before it is recorded as failed (e.g. 24h, 90m, 2d).",
)
@click.option(
    "--no-fsync",
    is_flag=True,
    help="Do not wait for the disk after each ledger write: faster; a crash of the program "
    "still re-sends at most the message in flight, but a power cut may re-send more.",
)
@click.option(
    "--skip-check",
    is_flag=True,
    help="Send even when the checks before a live send find errors (they are listed loudly).",
)
@click.option(
    "--offline",
    is_flag=True,
    help="Do not ask base_url whether the web version and images are published.",
)
@db_option
@pass_ctx
def send(
    ctx: Context,
    issue_id: str,
    addresses: tuple[str, ...],
    test: bool,
    yes: bool,
    dry_run: Path | None,
    include_new: bool,
    rate: str | None,
    connections: int,
    retry_after: float,
    retry_window: str,
    no_fsync: bool,
    skip_check: bool,
    offline: bool,
    db: Path | None,
) -> None:
    """Send ISSUE_ID to every active subscriber, once; stopped or crashed sends resume.

    The issue is rebuilt from the current content first (a content error stops here). A live
    send then runs `newsletter check` and refuses on errors, on a sender at a reserved
    example domain (example.com, .test, ...), and when this issue's web version or images do
    not answer at base_url (publish dist/ first; --offline skips asking); --skip-check sends
    anyway. Test sends are never refused. Each subscriber gets one message; running the command again after Ctrl-C, a crash or a
    network failure continues where it stopped, and only a message that was being handed
    over at that moment can arrive twice. Temporary SMTP failures (4xx, dropped
    connections) are retried with backoff, in this run and the next, until --retry-window
    has passed; permanent ones (5xx) are recorded (`newsletter status ISSUE_ID`). Exit 0
    when nothing is left, 1 when a message could not be built, 75 when the send stopped
    with messages left (daily limit, server down, deferred messages), 130 on Ctrl-C. SMTP
    settings: [smtp] in newsletter.toml, overridden by NEWSLETTER_SMTP_HOST, _PORT,
    _USERNAME and _SECURITY; the password only from NEWSLETTER_SMTP_PASSWORD or
    data/smtp_password.

    \b
    Examples:
      newsletter send 2026-12 --test me@example.com
      newsletter send 2026-12 --dry-run /tmp/2026-12
      newsletter send 2026-12
      newsletter send 2026-12 --yes --rate 5/s --connections 2
    """
    from newsletter.check.preflight import preflight
    from newsletter.mail import send as sending

    if addresses and not test:
        raise click.UsageError("addresses go with --test, e.g. send 2026-12 --test me@example.com")
    if test and not addresses:
        raise click.UsageError("--test needs at least one address")
    window = _parse_duration(retry_window)
    per_second = _parse_rate(rate)
    job, where = sending.make_job(
        ctx.paths,
        issue_id,
        database=_database(ctx, db),
        test=addresses,
        dry_run=dry_run,
        rate=per_second,
    )
    assert job.workspace is not None  # make_job keeps what it loaded
    verdict = preflight(job.rendered, workspace=job.workspace, scope=job.scope, offline=offline)
    warned = _report_preflight(verdict, issue_id, skip_check=skip_check)
    plan = sending.plan(job, include_new=include_new)
    _show_plan(plan, where, include_new)
    if not plan.to_send:
        click.echo(f"Nothing left to send; see `newsletter status {issue_id}`.")
        return
    if job.scope == "live" and not yes:
        _confirm(plan, warned)
    options = sending.SendOptions(
        connections=connections,
        rate=job.config.rate_per_second if job.scope != "dry-run" else 0,
        daily_limit=job.config.daily_limit,
        retry_after=retry_after,
        retry_window=window,
        include_new=include_new,
        durable=not no_fsync,
    )
    bar = _Bar("Sending" if job.scope != "dry-run" else "Writing")
    try:
        summary = sending.execute(job, options, on_progress=bar)
    finally:
        bar.close()
    _print_summary(summary, job.config, job.database)
    raise SystemExit(_send_exit_status(summary))


def _show_plan(plan: Any, where: str, include_new: bool) -> None:
    click.echo(_describe_plan(plan, where))
    if plan.in_flight:
        click.echo(
            f"{plan.in_flight} message(s) were being handed over when the last run stopped; "
            "they may have arrived and will be sent again."
        )
    if plan.new_subscribers and not include_new:
        click.echo(
            f"{plan.new_subscribers} subscriber(s) joined after this send began and will not "
            "get it; add --include-new to send to them too."
        )
    if plan.content_changed:
        click.echo(
            "warning: the content changed since this send began; the rest get the new version.",
            err=True,
        )


def _confirm(plan: Any, warned: str) -> None:
    if not sys.stdin.isatty():
        click.echo(
            "Refusing to send without confirmation: no terminal to ask. Add --yes.", err=True
        )
        raise SystemExit(1)
    click.confirm(f"Send to {plan.to_send:,} subscriber(s){warned}?", abort=True)


def _send_exit_status(summary: Any) -> int:
    """130 after Ctrl-C; 75 with messages left (run again); 1 when a message could not be
    built (recorded failed; the others went); else 0."""
    if summary.stopped == "interrupted":
        return 130
    if summary.left or summary.stopped:
        return EXIT_INCOMPLETE
    return 1 if summary.not_built else 0


def _report_preflight(verdict: Any, issue_id: str, *, skip_check: bool) -> str:
    """Refuse (exit 1) on blocking findings unless --skip-check; the warnings, for the prompt."""
    blocking, warnings = verdict.blocking, verdict.warnings
    count = f"{len(blocking)} error{'s' if len(blocking) != 1 else ''}"
    for finding in blocking:
        click.echo(str(finding), err=True)
    if blocking and not skip_check:
        click.echo(
            f"Not sending {issue_id}: {count}. Fix them (`newsletter check` lists them too), "
            "or add --skip-check to send anyway.",
            err=True,
        )
        raise SystemExit(1)
    if blocking:
        click.echo(f"WARNING: --skip-check: SENDING {issue_id} DESPITE {count.upper()}.", err=True)
    if not warnings:
        return ""
    later = [f for f in warnings if f.severity == "error"]  # only a test send gets here
    plain = [f for f in warnings if f.severity != "error"]
    parts = []
    if later:
        rules = ", ".join(dict.fromkeys(f.rule for f in later))
        parts.append(
            f"{len(later)} error{'s' if len(later) != 1 else ''} a live send would refuse: {rules}"
        )
    if plain:
        rules = ", ".join(dict.fromkeys(f.rule for f in plain))
        parts.append(f"{len(plain)} warning{'s' if len(plain) != 1 else ''}: {rules}")
    line = "; ".join(parts)
    click.echo(f"{line} (`newsletter check {issue_id}` explains them).", err=True)
    return f" ({line})"


def _print_summary(summary: Any, config: Any, database: Path) -> None:
    c = summary.counts
    verb, done = ("Wrote", "written") if summary.scope == "dry-run" else ("Sent", "sent")
    deferred = f", {c['deferred']:,} deferred" if c["deferred"] else ""
    click.echo(
        f"{verb} {summary.sent_now:,} message(s) in {summary.elapsed:.1f} s "
        f"({summary.rate:,.0f}/s). {summary.issue_id} ({summary.scope}): {c['sent']:,} {done}, "
        f"{c['failed']:,} failed, {c['skipped']:,} skipped{deferred}, {summary.left:,} left."
    )
    if summary.recovered:
        click.echo(f"Sent again after a crash: {', '.join(map(_safe, summary.recovered[:10]))}")
    for entry in summary.failures[:20]:
        click.echo(f"  failed: {_safe(entry.email)}: {_safe(entry.last_reply)}")
    if len(summary.failures) > 20 or c["failed"] > len(summary.failures):
        click.echo(f"  ... see `newsletter status {summary.issue_id}` for all failures")
    if summary.not_built:
        click.echo(
            f"{len(summary.not_built):,} message(s) could not be built and are recorded as "
            "failed (a bug: please report it); every other message went on.",
            err=True,
        )
    _print_why_stopped(summary, config, database)


def _print_why_stopped(summary: Any, config: Any, database: Path) -> None:
    from newsletter.mail.pacing import next_day_slot

    again = f"run `newsletter send {summary.issue_id}` again"
    if summary.stopped == "interrupted":
        click.echo(f"Stopped by Ctrl-C with {summary.left:,} left; {again} to continue.")
    elif summary.stopped == "daily limit":
        when = next_day_slot(database)
        after = f" after {when}" if when else " tomorrow"
        click.echo(
            f"Stopped at the daily limit of {config.daily_limit:,} (send.daily_limit) with "
            f"{summary.left:,} left; {again}{after}."
        )
    elif summary.stopped == "deferred":
        click.echo(
            f"{summary.counts['deferred']:,} message(s) deferred by the server (temporary "
            f"replies, see `newsletter status {summary.issue_id}`); {again} later to retry them."
        )
    elif summary.stopped:
        click.echo(
            f"Stopped: {_safe(summary.stopped)}; {summary.left:,} left, nothing lost; {again}."
        )


def _safe(text: str) -> str:
    """Text from outside (server replies, addresses) without control characters: nothing
    printed can move the cursor, recolour or retitle the terminal."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)


@main.command()
@click.argument("issue_id")
@click.option("--test", is_flag=True, help="Show the last test send instead of the real one.")
@db_option
@pass_ctx
def status(ctx: Context, issue_id: str, test: bool, db: Path | None) -> None:
    """Show a send's ledger: counts per state, and why each row that did not go is where it
    is: failures with the server's reply, deferred messages with the reply and their next
    try, skipped subscribers (left the list), messages left in flight by a crash.

    \b
    Example:
      newsletter status 2026-12
    """
    from newsletter.mail import ledger as ledger_mod
    from newsletter.mail.database import connect

    conn = connect(_database(ctx, db))
    try:
        ledger = ledger_mod.Ledger(conn, issue_id, "test" if test else "live")
        started = ledger.run_started_at()
        if started is None:
            click.echo(f"{issue_id} has not been sent{' as a test' if test else ''} yet.")
            return
        counts = ledger.counts()
        click.echo(f"{issue_id} ({ledger.scope}), started {started[:16].replace('T', ' ')} UTC")
        for state in ledger_mod.STATES:
            label = "in flight" if state == "sending" else state
            click.echo(f"  {label:<10}{counts[state]:>8,}")
        _print_status_rows(ledger, counts)
        new = ledger.new_subscribers()
        if new:
            click.echo(
                f"{new} subscriber(s) joined after the send began (--include-new to send them)."
            )
        _print_inbox_events(conn, issue_id)
    finally:
        conn.close()


def _print_status_rows(ledger: Any, counts: dict[str, int]) -> None:
    sections = [
        ("failed", "Failed"),
        ("deferred", "Deferred (retried on the next run)"),
        ("sending", "In flight when a send stopped (may have arrived; sent again on resume)"),
        ("skipped", "Skipped"),
    ]
    for state, title in sections:
        entries = ledger.entries(state, limit=100)
        if not entries:
            continue
        click.echo(f"{title}:")
        for e in entries:
            tries = f" (tries: {e.attempts})" if e.attempts > 1 else ""
            if state == "deferred":
                when = f"{e.next_attempt_at[11:19]} UTC" if e.next_attempt_at else "now"
                tries += f", next try {when}"
            reply = f": {_safe(e.last_reply)}" if e.last_reply else ""
            click.echo(f"  {_safe(e.email)}{reply}{tries}")
        if counts[state] > len(entries):
            click.echo(f"  ... and {counts[state] - len(entries):,} more")


def _print_inbox_events(conn: Any, issue_id: str) -> None:
    """What `newsletter inbox` read back about this send: bounces, complaints, blocks."""
    from newsletter.inbox.events import for_send

    found = for_send(conn, issue_id)
    titles = {
        "hard": "Bounced (read from the mailbox)",
        "soft": "Soft bounces (3 different sends make an address bounced)",
        "complaint": "Complaints (marked as spam; never mailed again)",
        "policy": "Warning: blocked as spam or by policy (5.7.x): your sending reputation, "
        "not the addresses",
    }
    for kind, title in titles.items():
        rows = [e for e in found if e.kind == kind]
        if rows:
            click.echo(f"{title}:")
            for e in rows[:100]:
                code = " ".join(p for p in (e.status_code, e.diagnostic[:120]) if p)
                click.echo(f"  {e.email}: {code} ({e.occurred_at[:16].replace('T', ' ')} UTC)")
            if len(rows) > 100:
                click.echo(f"  ... and {len(rows) - 100:,} more")


@main.command()
@click.argument("token_or_url")
@db_option
@pass_ctx
def unsubscribe(ctx: Context, token_or_url: str, db: Path | None) -> None:
    """Unsubscribe the person a signed unsubscribe token names (requests that came by mail).

    Accepts the token, the unsubscribe URL, or the mail's body. A forged or altered token
    unsubscribes nobody and exits 1.

    \b
    Example:
      newsletter unsubscribe 'https://news.example.org/unsubscribe?token=1.amFuZU...'
    """
    from newsletter.mail.send import unsubscribe_token
    from newsletter.workspace import load_secret

    secret = load_secret(ctx.paths, create=False)
    address, already = unsubscribe_token(_database(ctx, db), token_or_url, secret=secret)
    click.echo(f"{address} was already unsubscribed." if already else f"Unsubscribed {address}.")


# --- inbox: bounces, complaints and unsubscribe requests read over IMAP ------------------------


def _describe_handled(item: Any) -> str:
    decision = item.decision
    changed = {c.email: c for c in item.changes}
    parts = []
    for event in decision.events:
        code = " ".join(p for p in (event.status_code, event.diagnostic[:80]) if p)
        change = changed.get(event.email)
        after = f" -> {change.status}" if change and change.changed else ""
        parts.append(f"{event.email}{': ' + code if code else ''}{after}")
    what = "; ".join(parts) or f'"{item.subject[:60]}" from {item.sender or "(no sender)"}'
    return f"  {decision.label:<13}{what}"


@main.command()
@click.option("--dry-run", is_flag=True, help="Print what would be done; change nothing anywhere.")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Only mail that arrived on or after this date (YYYY-MM-DD).",
)
@db_option
@pass_ctx
def inbox(ctx: Context, dry_run: bool, since: Any, db: Path | None) -> None:
    """Read bounces, spam complaints and unsubscribe requests from your IMAP mailbox.

    Hard bounces (5.1.x, 5.4.4 ...) make the address bounced; soft ones (4.x.x, mailbox
    full) count, and 3 different sends make it bounced; 5.7.x policy blocks are shown by
    `status` as a warning about your sending reputation; complaints (feedback loops) make it
    complained; mail to [unsubscribe] mailto with a valid token (or a plain request from the
    subscriber's own address) unsubscribes. Handled mail is moved, unread, to
    inbox.processed_folder; everything else stays exactly where it was. Settings: [inbox]
    in newsletter.toml, overridden by NEWSLETTER_IMAP_HOST, _PORT, _USERNAME, _SECURITY and
    _FOLDER; the password only from NEWSLETTER_IMAP_PASSWORD or data/imap_password. Exit 0
    when the mailbox was read, 1 for a settings, login or TLS problem (nothing changed).

    \b
    Examples:
      newsletter inbox --dry-run
      newsletter inbox --since 2026-12-01
    """
    from newsletter.errors import NewsletterError
    from newsletter.inbox.imap import InboxError
    from newsletter.inbox.run import run_inbox
    from newsletter.load.config import load_config
    from newsletter.tokens import new_secret
    from newsletter.workspace import load_imap_password, load_secret

    paths = ctx.paths
    config = load_config(paths)
    settings = config.inbox._replace(password=load_imap_password(paths))
    try:
        secret = load_secret(paths, create=False)
    except NewsletterError:
        secret = new_secret()  # no secret yet, so no token was ever issued: none can verify
    try:
        summary = run_inbox(
            _database(ctx, db),
            config=config._replace(inbox=settings),
            secret=secret,
            since=since.date() if since else None,
            dry_run=dry_run,
            on_item=lambda item: click.echo(_describe_handled(item)),
        )
    except InboxError as exc:
        click.echo(str(exc.problems[0]), err=True)
        raise SystemExit(1) from None
    filed = sum(summary.counts.values())
    verb = "Would file" if dry_run else "Filed"
    click.echo(
        f"{verb} {filed} of {summary.examined} message(s) in {summary.folder} "
        f"({', '.join(f'{n} {k}' for k, n in sorted(summary.counts.items())) or 'nothing to do'})"
        f" -> {summary.processed_folder}; {summary.left} left as they were. "
        f"{summary.elapsed:.1f} s."
    )
    if dry_run:
        click.echo("Dry run: nothing was changed on the server or in the database.")


# --- serve (the subscriber's side) -------------------------------------------------------------


@main.command()
@click.option("--host", default=None, help="Address to listen on (default: [web] host, 127.0.0.1).")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=None, help="Port (default: [web] port, 8080)."
)
@pass_ctx
def serve(ctx: Context, host: str | None, port: int | None) -> None:
    """Serve the subscriber's pages: unsubscribe (RFC 8058 one-click), signup with double
    opt-in, and the built archive in dist/.

    Uses the workspace's config, subscriber database and signing secret; confirmation
    emails go through the [smtp] server. Listens on 127.0.0.1 by default: put a TLS reverse
    proxy (Caddy, nginx) in front of it (see README, "newsletter serve"). Stop with Ctrl-C.

    \b
    Example:
      newsletter serve
      newsletter serve --port 8081
    """
    from newsletter.hosts import is_loopback
    from newsletter.web.server import make_site
    from newsletter.web.server import serve as run_server

    site = make_site(ctx.paths)
    host = host or site.config.web.host
    port = port or site.config.web.port
    if not is_loopback(host):
        click.echo(f"Warning: listening on {host}; put a TLS reverse proxy in front.", err=True)
    click.echo(f"Serving {site.config.base_url} at http://{host}:{port}/ (Ctrl-C to stop)")
    run_server(site, host=host, port=port)
    click.echo("Stopped.")
