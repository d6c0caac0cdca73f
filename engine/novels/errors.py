"""Errors of the novel sources; everything raised on purpose here derives from NovelError."""

from __future__ import annotations


class NovelError(Exception):
    """Root of every error raised on purpose by :mod:`engine.novels`."""


class InvalidNovelUrl(NovelError):
    """A URL or host is not an absolute http(s) URL or a valid host name."""


class ParseError(NovelError):
    """A page does not have the layout its source expects (e.g. no title where the theme
    puts it), or a request the source needed gave nothing usable."""


class NoSource(NovelError):
    """No registered source handles a URL's host, or no source has the name asked for."""


class InvalidSourceConfig(NovelError):
    """A declarative source configuration is malformed; ``field`` names the offending field
    (``None`` when the document as a whole is wrong), for a 422 that points at it."""

    def __init__(self, detail: str, *, field: str | None) -> None:
        super().__init__(detail if field is None else f"{field}: {detail}")
        self.detail = detail
        self.field = field
