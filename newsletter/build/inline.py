"""premailer: CSS into style attributes, offline, quietly.

The `<style data-premailer="ignore">` block (phone and dark-mode rules, client fixes) is left
as written, so its `!important` flags survive; everything else is inlined and its block removed.
How premailer is made fast (its parsed CSS cached, its unused imports deferred) is
stylecache.py's business, and the only place that touches premailer's internals.
"""

from __future__ import annotations

import warnings


def inline_css(document: str) -> str:
    """The document with its CSS inlined; never fetches anything over the network."""
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
            cssutils_logging_level=None,  # stylecache quiets cssutils, if it is needed at all
            align_floating_images=False,
            remove_unset_properties=True,
            exclude_pseudoclasses=True,
            # Keep the width/height attributes the templates chose (Outlook sizes by them).
            disable_basic_attributes=["width", "height"],
        )
        return premailer.transform(pretty_print=False)
