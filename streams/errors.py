"""Errors of live delivery."""

from __future__ import annotations


class StreamsError(Exception):
    """Root of every error raised by `streams`."""


class SlowReader(StreamsError):
    """A live reader fell too far behind and was dropped; it should resume by id."""


class HubStopped(StreamsError):
    """The hub stopped (the process is shutting down); readers end their streams."""
