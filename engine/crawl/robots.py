"""robots.txt policy (RFC 9309) on top of protego."""

from __future__ import annotations

from typing import Any

from protego import Protego

# RFC 9309 §2.5: crawlers may ignore everything past the first 500 KiB.
MAX_ROBOTS_BYTES = 500 * 1024


class RobotsPolicy:
    """What one host's robots.txt allows for one user agent.

    Build it with :meth:`parse`, :meth:`allow_all` or :meth:`disallow_all`; the
    object is immutable afterwards and does no I/O.
    """

    __slots__ = ("_allow", "_parser", "_unread", "_user_agent")

    def __init__(
        self, parser: Any | None, user_agent: str, *, allow: bool = True, unread: str = ""
    ) -> None:
        self._parser = parser
        self._user_agent = user_agent
        self._allow = allow
        self._unread = unread

    @classmethod
    def parse(cls, text: str, user_agent: str) -> RobotsPolicy:
        """Parse robots.txt ``text``; rules are matched for ``user_agent``."""
        return cls(Protego.parse(text[:MAX_ROBOTS_BYTES]), user_agent)

    @classmethod
    def allow_all(cls) -> RobotsPolicy:
        """A policy for a host without robots.txt (e.g. it answered 404)."""
        return cls(None, "*", allow=True)

    @classmethod
    def disallow_all(cls, why: str = "") -> RobotsPolicy:
        """A policy for a host whose robots.txt was unreachable (5xx / network error);
        ``why`` says what the fetch of it met, for :meth:`refusal`."""
        return cls(None, "*", allow=False, unread=why)

    def allowed(self, url: str) -> bool:
        """Whether ``url`` may be fetched."""
        if self._parser is None:
            return self._allow
        return bool(self._parser.can_fetch(url, self._user_agent))

    def refusal(self, url: str) -> str | None:
        """Why ``url`` may not be fetched, in words; None when it may."""
        if self.allowed(url):
            return None
        if self._parser is None:
            return f"robots.txt could not be read ({self._unread or 'unreachable'})"
        return "robots.txt disallows it"

    def crawl_delay(self) -> float | None:
        """The Crawl-delay in seconds for our user agent, or None when unset."""
        if self._parser is None:
            return None
        delay = self._parser.crawl_delay(self._user_agent)
        return None if delay is None else max(0.0, float(delay))

    def sitemaps(self) -> list[str]:
        """The Sitemap URLs listed in the file, in file order."""
        if self._parser is None:
            return []
        return [str(s) for s in self._parser.sitemaps]
