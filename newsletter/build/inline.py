"""premailer: CSS into style attributes, offline, quietly.

The `<style data-premailer="ignore">` block (phone and dark-mode rules, client fixes) is left
as written, so its `!important` flags survive; everything else is inlined and its block removed.
"""

from __future__ import annotations

import importlib
import logging
import sys
import types
import warnings
from collections.abc import Callable

_ready = False


class _Deferred(types.ModuleType):
    """Stands in for a module until an attribute is first read, then imports the real one.

    importlib's LazyLoader does not help here: the import statement itself reads the module's
    __spec__, which makes a lazy module load at once.
    """

    def __init__(self, name: str, on_load: Callable[[types.ModuleType], None] | None) -> None:
        super().__init__(name)
        self._deferred_on_load = on_load

    def __getattr__(self, attr: str) -> object:
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
            module = importlib.import_module(self.__name__)
            if self._deferred_on_load is not None:
                self._deferred_on_load(module)
        return getattr(importlib.import_module(self.__name__), attr)


def _defer_import(name: str, on_load: Callable[[types.ModuleType], None] | None = None) -> None:
    """Defer a module until it is used; `on_load` sets it up when (and if) it is imported."""
    if name in sys.modules:
        if on_load is not None and not isinstance(sys.modules[name], _Deferred):
            on_load(sys.modules[name])
        return
    stand_in = _Deferred(name, on_load)
    sys.modules[name] = stand_in
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(importlib.import_module(parent), child, stand_in)


def _quiet_cssutils(cssutils: types.ModuleType) -> None:
    """cssutils logs every mso-* and -webkit-* property at WARNING. Its validation profiles are
    dropped: validation is off, yet their first use compiles hundreds of regular expressions
    (about 100 ms per process)."""
    cssutils.profile.removeProfile(all=True)
    cssutils.log.setLevel(logging.CRITICAL)
    cssutils.ser.prefs.useMinified()


def _prepare() -> None:
    """Defer what premailer imports but a build does not use.

    - `requests` (with urllib3, ssl, http.cookiejar: about 60 ms), `urllib.request` (about
      25 ms) and `importlib.metadata` (for a User-Agent, 8 ms): only for fetching remote
      stylesheets, which we never allow.
    - cssutils itself (about 35 ms): stylecache usually has the parsed stylesheet already.
    """
    global _ready
    if _ready:
        return
    _defer_import("requests")
    _defer_import("urllib.request")
    _defer_import("importlib.metadata")
    # cssutils first tries a Google App Engine fetcher; say at once that there is none.
    sys.modules.setdefault("cssutils._fetchgae", None)  # type: ignore[arg-type]
    _defer_import("cssutils", on_load=_quiet_cssutils)
    for name in ("premailer", "cssutils", "CSSUTILS"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
        logging.getLogger(name).propagate = False
    _ready = True


def inline_css(document: str) -> str:
    """The document with its CSS inlined; never fetches anything over the network."""
    _prepare()  # before premailer's import, so `requests` is deferred
    from newsletter.build.stylecache import CachingPremailer as Premailer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        premailer = Premailer(
            document,
            allow_network=False,
            strip_important=False,
            keep_style_tags=False,
            remove_classes=False,
            disable_validation=True,
            disable_leftover_css=False,
            cssutils_logging_level=None,  # set by _quiet_cssutils, if cssutils is needed
            align_floating_images=False,
            remove_unset_properties=True,
            exclude_pseudoclasses=True,
            # Keep the width/height attributes the templates chose (Outlook sizes by them).
            disable_basic_attributes=["width", "height"],
        )
        return premailer.transform(pretty_print=False)
