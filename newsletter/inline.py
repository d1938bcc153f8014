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

_ready = False


class _Deferred(types.ModuleType):
    """Stands in for a module until an attribute is first read, then imports the real one.

    importlib's LazyLoader does not help here: the import statement itself reads the module's
    __spec__, which makes a lazy module load at once.
    """

    def __getattr__(self, attr: str) -> object:
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), attr)


def _defer_import(name: str) -> None:
    """Defer a module that premailer and cssutils import only to fetch remote stylesheets,
    which we never allow: `requests` (with urllib3, ssl, http.cookiejar: about 60 ms),
    `urllib.request` (about 25 ms) and `importlib.metadata` (for the fetcher's User-Agent,
    about 8 ms)."""
    if name in sys.modules:
        return
    stand_in = _Deferred(name)
    sys.modules[name] = stand_in
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(importlib.import_module(parent), child, stand_in)


def _prepare() -> None:
    """Quiet premailer and cssutils, which log every mso-* and -webkit-* property at WARNING,
    and drop cssutils' validation profiles: validation is off, yet their first use compiles
    hundreds of regular expressions (about 100 ms per process)."""
    global _ready
    if _ready:
        return
    _defer_import("requests")
    _defer_import("urllib.request")
    _defer_import("importlib.metadata")
    # cssutils first tries a Google App Engine fetcher; say at once that there is none.
    sys.modules.setdefault("cssutils._fetchgae", None)  # type: ignore[arg-type]
    import cssutils

    cssutils.profile.removeProfile(all=True)
    cssutils.log.setLevel(logging.CRITICAL)
    cssutils.ser.prefs.useMinified()
    for name in ("premailer", "cssutils", "CSSUTILS"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
        logging.getLogger(name).propagate = False
    _ready = True


def inline_css(document: str) -> str:
    """The document with its CSS inlined; never fetches anything over the network."""
    _prepare()  # before premailer's import, so `requests` is deferred
    from .stylecache import CachingPremailer as Premailer

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
            cssutils_logging_level=logging.CRITICAL,
            align_floating_images=False,
            remove_unset_properties=True,
            exclude_pseudoclasses=True,
            # Keep the width/height attributes the templates chose (Outlook sizes by them).
            disable_basic_attributes=["width", "height"],
        )
        return premailer.transform(pretty_print=False)
