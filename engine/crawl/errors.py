"""Exception hierarchy of the crawl library.

Every error raised on purpose by ``engine.crawl`` derives from :class:`CrawlError`;
errors from aiohttp, the XML parser or the resolver are translated into one of
these with ``raise ... from e`` so callers only need to catch ``CrawlError``.
"""

from __future__ import annotations


class CrawlError(Exception):
    """Root of every error raised by the crawl library."""


class InvalidUrl(CrawlError):
    """A URL could not be parsed, uses a scheme other than http/https, or has a host that is
    not a valid name or IP address (an empty or over-long label, an out-of-range number)."""


class InvalidOptions(CrawlError):
    """Crawl or fetch options are out of their documented range."""


class BlockedAddress(CrawlError):
    """A host is, or resolved to, a private, loopback or otherwise non-public address (in any
    spelling of it), or a fetch was asked to use an HTTP session that bypasses the guard."""


class TooLarge(CrawlError):
    """A body exceeded the size limit that applies to it."""


class FetchFailed(CrawlError):
    """A fetch gave no usable HTTP response (network error, loop, 5xx after retries)."""

    def __init__(self, message: str, *, permanent: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.status = status

    def __repr__(self) -> str:
        return f"FetchFailed({self.message!r}, permanent={self.permanent}, status={self.status})"
