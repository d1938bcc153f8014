"""A newsletter pipeline for a wellness practitioner: Markdown in, accessible email out."""

__version__ = "0.1.0"
