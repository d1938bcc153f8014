"""premailer: CSS into style attributes, offline, quietly.

The `<style data-premailer="ignore">` block (phone and dark-mode rules, client fixes) is left
as written, so its `!important` flags survive; everything else is inlined and its block removed.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import warnings

_ready = False


def _defer_import(name: str) -> None:
    """Load a module only when first used. premailer imports `requests` (and with it urllib3,
    ssl, http.cookiejar: about 60 ms) just to fetch remote stylesheets, which we never allow."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


def _prepare() -> None:
    """Quiet premailer and cssutils, which log every mso-* and -webkit-* property at WARNING,
    and drop cssutils' validation profiles: validation is off, yet their first use compiles
    hundreds of regular expressions (about 100 ms per process)."""
    global _ready
    if _ready:
        return
    _defer_import("requests")
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
    from premailer import Premailer

    _prepare()
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
