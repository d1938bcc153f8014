"""The check rules, one family per module; a rule is a function registered with `@rule`.

Adding a rule touches one place: write `@rule def _my_rule(email: Email) -> list[Finding]` in
its family's module. Adding a family: a module here and its name in FAMILIES.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from newsletter.check.base import Email, Finding

Rule = Callable[["Email"], Iterable["Finding"]]

FAMILIES = ("text", "images", "links", "compliance", "a11y", "layout", "support", "css")
"""The modules under check/rules/, in the order they run."""

_OFFLINE: dict[str, list[Rule]] = {}
_ONLINE: dict[str, list[Rule]] = {}


def rule(function: Rule) -> Rule:
    """Register an offline rule in its module's family."""
    _OFFLINE.setdefault(function.__module__, []).append(function)
    return function


def online_rule(function: Rule) -> Rule:
    """Register a rule that asks the network (run only with `check --links`)."""
    _ONLINE.setdefault(function.__module__, []).append(function)
    return function


def rules(*, online: bool = False) -> list[Rule]:
    """Every registered rule, family by family; importing a family registers its rules."""
    registry = _ONLINE if online else _OFFLINE
    out: list[Rule] = []
    for family in FAMILIES:
        module = importlib.import_module(f"{__name__}.{family}")
        out += registry.get(module.__name__, [])
    return out
