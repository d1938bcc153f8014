"""README.md and the code stay in step: commands, options, config keys, front matter, check
rules and the module tree.

Both sides are read, never listed here: the Click command tree, the config schema (`KEYS`),
the front-matter schemas (`*_KEYS` in load/content.py), the rule ids the check package
reports, the files under newsletter/; and the README's command lines, tables and tree. A new
command, key, rule or module is picked up by itself: document it and these tests pass.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from newsletter.cli import main

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")
PACKAGE = REPO / "newsletter"


# --- reading Markdown ---------------------------------------------------------------------------


def section(title: str, text: str = README) -> str:
    """The text under the heading that starts with `title`, up to the next heading of the same
    or a higher level."""
    match = re.search(rf"^(#+) {re.escape(title)}.*$", text, re.MULTILINE)
    assert match, f"README.md has no heading starting with {title!r}"
    rest = text[match.end() :]
    end = re.search(rf"^#{{1,{len(match.group(1))}}} ", rest, re.MULTILINE)
    return rest[: end.start()] if end else rest


def table_rows(text: str) -> Iterator[list[str]]:
    """The cells of every Markdown table row in `text`, separator rows left out."""
    for line in text.splitlines():
        if line.startswith("|"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if not all(set(cell) <= set("-: ") for cell in cells):
                yield cells


def code_spans(text: str) -> list[str]:
    return re.findall(r"`([^`\n]+)`", text)


def code_blocks(text: str) -> list[str]:
    return re.findall(r"^```[^\n]*\n(.*?)^```", text, re.MULTILINE | re.DOTALL)


def code_lines(text: str) -> Iterator[str]:
    """Every line of the fenced blocks, then every inline code span."""
    for block in code_blocks(text):
        yield from block.splitlines()
    yield from code_spans(text)


def mentioned(word: str, text: str = README) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text) is not None


# --- commands and options ----------------------------------------------------------------------


def commands(
    group: click.Command = main, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every command under `group` (groups too) with its words after `newsletter`."""
    yield path, group
    if isinstance(group, click.Group):
        for name, command in sorted(group.commands.items()):
            if not command.hidden:
                yield from commands(command, (*path, name))


COMMANDS = dict(commands())
HELP = {"-h", "--help"}
COMMAND_WORD = re.compile(r"[a-z][a-z0-9-]*(?:\|[a-z][a-z0-9-]*)*")
"""A word where a subcommand goes: `import`, or alternatives `import|add|remove`."""


def spoken(path: tuple[str, ...]) -> str:
    return " ".join(("newsletter", *path))


def option_names(command: click.Command) -> set[str]:
    """The long names of a command's options (the short one where there is no long one)."""
    names: set[str] = set()
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            flags = [*param.opts, *param.secondary_opts]
            names.update([flag for flag in flags if flag.startswith("--")] or flags)
    return names


def takes_value(command: click.Command, flag: str) -> bool:
    return any(
        isinstance(p, click.Option) and flag in p.opts and not p.is_flag for p in command.params
    )


def command_lines(text: str) -> Iterator[tuple[str, list[str]]]:
    """Every `newsletter ...` line in the code of `text`: (line, words after `newsletter`),
    without comments and the brackets of optional parts."""
    for line in code_lines(text):
        match = re.match(r"^(?:\$ )?newsletter((?: +\S+)*)", line.strip())
        if match:
            words = match.group(1).split(" #")[0].split()
            yield line.strip(), [word.strip("[]") for word in words]


def resolve(words: list[str]) -> tuple[tuple[str, ...], list[str]]:
    """The command that a line runs (leading global options and their values skipped) and the
    words after it."""
    path: tuple[str, ...] = ()
    rest = list(words)
    while rest and rest[0].startswith("--"):
        flag = rest.pop(0)
        if "=" not in flag and takes_value(main, flag) and rest:
            rest.pop(0)
    while rest and isinstance(COMMANDS[path], click.Group) and (*path, rest[0]) in COMMANDS:
        path = (*path, rest.pop(0))
    return path, rest


def wrong_command_lines(text: str) -> list[str]:
    """The command lines in `text` that name a command or an option the CLI does not have."""
    wrong = []
    for line, words in command_lines(text):
        path, rest = resolve(words)
        command = COMMANDS[path]
        if isinstance(command, click.Group) and rest and COMMAND_WORD.fullmatch(rest[0]):
            unknown = [word for word in rest[0].split("|") if (*path, word) not in COMMANDS]
            if unknown:
                wrong.append(f"{line}: there is no `{spoken((*path, unknown[0]))}`")
            continue
        known = option_names(command) | option_names(main) | HELP
        for word in rest:
            flag = word.split("=")[0]
            if flag.startswith("--") and flag not in known:
                wrong.append(f"{line}: `{spoken(path)}` has no option {flag}")
    return wrong


@pytest.mark.parametrize("path", [path for path in COMMANDS if path], ids=spoken)
def test_every_command_is_in_the_readme(path: tuple[str, ...]) -> None:
    """`newsletter <command>` appears in README.md for every command and subcommand."""
    assert mentioned(spoken(path)), f"README.md never shows `{spoken(path)}`"


@pytest.mark.parametrize("path", list(COMMANDS), ids=spoken)
def test_every_command_has_help_with_an_example(path: tuple[str, ...]) -> None:
    """Each command explains itself in --help; each one that does something shows an example."""
    text = COMMANDS[path].help or ""
    assert text.strip(), f"`{spoken(path)}` has no help text"
    if not isinstance(COMMANDS[path], click.Group):
        assert "Example" in text, f"`{spoken(path)} --help` gives no example"


@pytest.mark.parametrize("path", list(COMMANDS), ids=spoken)
def test_every_option_is_in_the_readme(path: tuple[str, ...]) -> None:
    """Every option that --help lists is named in README.md."""
    missing = sorted(name for name in option_names(COMMANDS[path]) if not mentioned(name))
    assert not missing, f"`{spoken(path)}`: README.md never names {missing}"


def test_every_command_line_in_the_readme_runs_a_real_command() -> None:
    """A `newsletter X` in the README's code names a real command, and each option it shows
    is one that command (or `newsletter` itself) takes."""
    assert wrong_command_lines(README) == []


def test_the_command_line_check_finds_what_is_wrong() -> None:
    """The check above catches an unknown command, subcommand and option, and lets through
    placeholders, alternatives, global options and comments."""
    text = (
        "```\n$ newsletter frobnicate 2026-12\nnewsletter build --fast\n"
        "newsletter subscribers import|adopt\nnewsletter --root DIR build --out x  # --nope\n"
        "newsletter COMMAND --help\n```\n`newsletter subscribers list --status active`"
    )
    assert wrong_command_lines(text) == [
        "$ newsletter frobnicate 2026-12: there is no `newsletter frobnicate`",
        "newsletter build --fast: `newsletter build` has no option --fast",
        "newsletter subscribers import|adopt: there is no `newsletter subscribers adopt`",
    ]


def test_every_option_the_readme_names_exists() -> None:
    """Every `--option` in README.md belongs to some command: none is left from old versions."""
    known = set().union(HELP, *(option_names(command) for command in COMMANDS.values()))
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", README))
    assert sorted(named - known) == []


# --- configuration and front matter -------------------------------------------------------------


def documented_keys(text: str) -> dict[tuple[str, str], str]:
    """(section, key) -> the 'required' cell of a key table: the first cell is `[section] key`,
    or `key` for the section above, or `a`, `b` for several keys."""
    keys: dict[tuple[str, str], str] = {}
    current = ""
    for cells in table_rows(text):
        if len(cells) < 2 or cells[0] == "key":
            continue
        header = re.match(r"`\[([\w.-]+)\] ", cells[0])
        if header:
            current = header.group(1)
        for name in code_spans(cells[0].replace(f"[{current}] ", "")):
            keys[(current, name)] = cells[1]
    return keys


def test_the_key_table_reader_knows_sections_and_shared_rows() -> None:
    """`[section] key` starts a section, later rows belong to it, `a`, `b` are two keys."""
    text = (
        "| key | required | meaning |\n|---|---|---|\n| `[smtp] host`, `port` | no | x |\n"
        "| `timeout` | yes | y |\n| `[send] daily_limit` | one of the two | z |\n"
    )
    assert documented_keys(text) == {
        ("smtp", "host"): "no",
        ("smtp", "port"): "no",
        ("smtp", "timeout"): "yes",
        ("send", "daily_limit"): "one of the two",
    }


def test_config_keys_match_the_readme() -> None:
    """Every newsletter.toml key is in the README's table, every key there exists, and the
    table says which are required just as the schema does."""
    from newsletter.load.config import KEYS

    documented = documented_keys(section("Configuration"))
    schema = {(key.section, key.name): key.required for key in KEYS}
    assert sorted(set(schema) - set(documented)) == [], "keys missing from the README"
    assert sorted(set(documented) - set(schema)) == [], "README keys the code doesn't know"
    disagree = sorted(
        key for key, required in schema.items() if (documented[key] == "yes") != required
    )
    assert disagree == [], "the README's 'required' column disagrees with the schema"


def front_matter_schemas() -> dict[str, dict[str, bool]]:
    """Each `<KIND>_KEYS` schema of load/content.py, by the README heading documenting it
    (ARTICLE_KEYS: '### Articles: ...')."""
    from newsletter.load import content

    return {
        name.removesuffix("_KEYS").capitalize() + "s": value
        for name, value in vars(content).items()
        if name.endswith("_KEYS") and isinstance(value, dict)
    }


def test_every_kind_of_content_has_a_schema() -> None:
    """Articles, testimonials and issues are all found (the test below would pass on none)."""
    assert {"Articles", "Testimonials", "Issues"} <= set(front_matter_schemas())


@pytest.mark.parametrize("kind", sorted(front_matter_schemas()))
def test_front_matter_keys_match_the_readme(kind: str) -> None:
    """Each kind's front-matter keys are exactly its README table, required where the schema
    requires them."""
    schema = front_matter_schemas()[kind]
    documented = {key: cell for (_, key), cell in documented_keys(section(f"{kind}:")).items()}
    assert sorted(set(schema) - set(documented)) == [], f"{kind}: keys missing from the README"
    assert sorted(set(documented) - set(schema)) == [], f"{kind}: README keys the code lacks"
    disagree = sorted(
        key for key, required in schema.items() if (documented[key] == "yes") != required
    )
    assert disagree == [], f"{kind}: the README's 'required' column disagrees"


# --- check rules ---------------------------------------------------------------------------------

RULE_ID = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")


def rule_ids_in_code() -> set[str]:
    """The id of every finding the check package can make: the first argument of each
    `finding(...)`, `Finding(...)` or `_Problem(...)` call, where it is written out as a string."""
    ids: set[str] = set()
    for path in (PACKAGE / "check").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            values = [first.body, first.orelse] if isinstance(first, ast.IfExp) else [first]
            if name in ("finding", "Finding", "_Problem"):
                ids.update(
                    v.value
                    for v in values
                    if isinstance(v, ast.Constant) and isinstance(v.value, str)
                )
    return ids


def rule_ids_in_table(text: str) -> set[str]:
    """The ids in the second column of a rules table; code in parentheses (explanations,
    examples) is not an id."""
    ids: set[str] = set()
    for cells in table_rows(text):
        if len(cells) < 2 or cells[0] == "family":
            continue
        depth = 0
        for code, prose in re.findall(r"`([^`\n]+)`|([^`]+)", cells[1]):
            depth += prose.count("(") - prose.count(")")
            if code and depth == 0 and RULE_ID.fullmatch(code):
                ids.add(code)
    return ids


def test_the_rules_table_reader_skips_explanations() -> None:
    """Ids are the code outside parentheses: `x` in '(uses `x`)' is not a rule."""
    text = (
        "| family | rules (id) |\n|---|---|\n"
        "| Images | `img-alt` error (missing, or `![](x)`; see `prefers-color-scheme`), "
        "`img-width` warning |\n| Text | `lang`, `dir` (in `newsletter/assets/`) |\n"
    )
    assert rule_ids_in_table(text) == {"img-alt", "img-width", "lang", "dir"}


def test_check_rules_match_the_readme() -> None:
    """Every rule id that `check` can report is in the README's table, and every id there is
    one the code reports."""
    code, readme = rule_ids_in_code(), rule_ids_in_table(section("`newsletter check"))
    assert len(code) > 20, "rule ids are no longer found in the code: update rule_ids_in_code"
    assert sorted(code - readme) == [], "rules missing from the README's table"
    assert sorted(readme - code) == [], "README rules the code never reports"


# --- the module tree and the paths the README names ------------------------------------------------


def listed_tree(text: str) -> dict[str, str]:
    """Path under the repository -> its description, from an indented tree (two spaces a
    level; a folder ends in '/')."""
    listed: dict[str, str] = {}
    folders: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        depth = (len(line) - len(line.lstrip(" "))) // 2
        name, _, description = line.strip().partition(" ")
        del folders[depth:]
        path = "".join(folders) + name
        listed[path] = description.strip()
        if name.endswith("/"):
            folders.append(name)
    return listed


def module_files() -> set[str]:
    """Every module of the package, as a path from the repository root; an `__init__.py`
    only when it holds more than its docstring."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        if path.name == "__init__.py":
            body = ast.parse(path.read_text(encoding="utf-8")).body
            if all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in body):
                continue
        found.add(path.relative_to(REPO).as_posix())
    return found


def readme_tree() -> dict[str, str]:
    blocks = code_blocks(section("How the code is laid out"))
    assert blocks, "README.md's 'How the code is laid out' has no tree"
    return listed_tree(blocks[0])


def test_the_tree_reader_follows_indentation() -> None:
    """Each line's path is its folders' names above it plus its own."""
    text = "newsletter/\n  cli.py   the commands\n  load/\n    config.py  keys\n  errors.py  once\n"
    assert listed_tree(text) == {
        "newsletter/": "",
        "newsletter/cli.py": "the commands",
        "newsletter/load/": "",
        "newsletter/load/config.py": "keys",
        "newsletter/errors.py": "once",
    }


def test_every_module_is_in_the_readme_tree() -> None:
    """The README's tree lists every module of the package, one line each, with its job.

    When this fails after adding a module, add its line where the message says."""
    listed = readme_tree()
    missing = sorted(module_files() - set(listed))
    assert missing == [], "add these lines to the README's tree: " + ", ".join(missing)
    undescribed = sorted(p for p, d in listed.items() if p.endswith(".py") and not d)
    assert undescribed == [], "say in one line what these modules do"


def test_every_module_in_the_readme_tree_exists() -> None:
    """Nothing in the README's tree is left over from an older layout."""
    gone = sorted(path for path in readme_tree() if not (REPO / path).exists())
    assert gone == [], "remove (or rename) these lines in the README's tree"


def test_every_module_and_file_the_readme_names_exists() -> None:
    """`newsletter/...` and `tests/...` paths and `python -m` modules in README.md exist."""
    missing = set()
    for span in code_lines(README):
        for path in re.findall(r"(?<![\w/.-])((?:newsletter|tests)/[\w./*-]*\w/?)", span):
            if not (list(REPO.glob(path)) if "*" in path else (REPO / path).exists()):
                missing.add(path)
        for module in re.findall(r"python -m ([\w.]+)", span):
            target = REPO.joinpath(*module.split("."))
            if not (target.with_suffix(".py").is_file() or (target / "__main__.py").is_file()):
                missing.add(module)
    assert sorted(missing) == []
