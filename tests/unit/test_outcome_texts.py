"""The words a failed job's error is made of: a page's cause, robots.txt's refusal, a guard
refusal."""

from __future__ import annotations

from engine.crawl.errors import BlockedAddress, FetchFailed
from engine.crawl.models import PageOutcome
from engine.crawl.pages import ALLOW_PRIVATE_HINT, failed_page
from engine.crawl.robots import RobotsPolicy
from engine.handlers import cause_of

URL = "http://site.test/a"


def _failed(error: str | None, status: int | None = None) -> PageOutcome:
    return PageOutcome(url=URL, final_url=URL, depth=0, status=status, ok=False, error=error)


def test_a_cause_names_the_url_once() -> None:
    assert cause_of(_failed("HTTP 404", 404)) == f"{URL}: HTTP 404"
    named = f"timeout fetching {URL}"
    assert cause_of(_failed(named)) == named
    assert cause_of(_failed(None, 500)) == f"{URL}: HTTP 500"
    assert cause_of(_failed(None)) == f"{URL}: failed"


def test_a_guard_refusal_says_how_to_allow_it() -> None:
    page = failed_page(URL, 0, BlockedAddress("address 10.0.0.1 is not public"))
    assert page.error == f"{URL} refused: address 10.0.0.1 is not public; {ALLOW_PRIVATE_HINT}"
    assert "--allow-private-networks" in ALLOW_PRIVATE_HINT
    assert cause_of(page) == page.error
    other = failed_page(URL, 1, FetchFailed(f"DNS lookup failed for {URL}", permanent=True))
    assert other.error == f"DNS lookup failed for {URL}"


def test_robots_refusal_says_whether_rules_or_an_unreadable_file_refused() -> None:
    rules = RobotsPolicy.parse("User-agent: *\nDisallow: /private\n", "jobstream")
    assert rules.refusal("http://site.test/private/x") == "robots.txt disallows it"
    assert rules.refusal("http://site.test/public") is None
    assert RobotsPolicy.allow_all().refusal(URL) is None
    unread = RobotsPolicy.disallow_all("HTTP 503 after 4 attempts")
    assert unread.refusal(URL) == "robots.txt could not be read (HTTP 503 after 4 attempts)"
    assert RobotsPolicy.disallow_all().refusal(URL) == "robots.txt could not be read (unreachable)"
