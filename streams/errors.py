"""Errors of live delivery."""

from __future__ import annotations


class StreamsError(Exception):
    """Root of every error raised by `streams`."""
