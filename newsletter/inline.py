"""premailer: CSS into style attributes, offline, quietly.

The `<style data-premailer="ignore">` block (phone and dark-mode rules, client fixes) is left
as written, so its `!important` flags survive; everything else is inlined and its block removed.
"""

from __future__ import annotations

import logging
import warnings

_quiet = False


def _silence() -> None:
    """premailer and cssutils log every unknown property (mso-*, -webkit-*) at WARNING."""
    global _quiet
    if _quiet:
        return
    import cssutils

    cssutils.log.setLevel(logging.CRITICAL)
    cssutils.ser.prefs.useMinified()
    for name in ("premailer", "cssutils", "CSSUTILS"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
        logging.getLogger(name).propagate = False
    _quiet = True


def inline_css(document: str) -> str:
    """The document with its CSS inlined; never fetches anything over the network."""
    from premailer import Premailer

    _silence()
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
