"""Exception hierarchy of the crawl library.

Every error raised on purpose by ``engine.crawl`` derives from :class:`CrawlError`;
errors from aiohttp, the XML parser or the resolver are translated into one of
these with ``raise ... from e`` so callers only need to catch ``CrawlError``.
"""

from __future__ import annotations

# A crawl's errors are errors of talking to the outside: the crawl library's root is
# `engine.net`'s, so catching CrawlError also catches the guard's and the URL parser's.
from engine.net.errors import BlockedAddress, InvalidUrl
from engine.net.errors import NetError as CrawlError

__all__ = [
    "BlockedAddress", "CrawlError", "FetchFailed", "InvalidOptions", "InvalidUrl", "TooLarge",
]  # fmt: skip


class InvalidOptions(CrawlError):
    """Crawl or fetch options are out of their documented range."""


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
