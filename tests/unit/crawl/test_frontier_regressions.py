"""Frontier cases that once went wrong."""

from __future__ import annotations

from engine.crawl.frontier import Frontier

ROOT = "https://example.com/"
SUB_PAGE = "https://blog.example.com/post"


class RobotsOfSub:
    """A robots predicate for blog.example.com: allows all until its robots.txt is 'loaded'."""

    def __init__(self) -> None:
        self.loaded = False

    def __call__(self, url: str) -> bool:
        return not (self.loaded and url.startswith("https://blog.example.com/"))


def _reported(frontier: Frontier) -> list[tuple[str, str]]:
    assert frontier.finished
    return frontier.drain_skipped()


def test_too_deep_url_later_refused_by_robots_at_an_allowed_depth_is_reported_once() -> None:
    robots = RobotsOfSub()
    f = Frontier(ROOT, include_subdomains=True, max_depth=1, robots_allowed=robots)
    assert not f.add(SUB_PAGE, 2)  # too deep; its robots.txt is not known yet
    robots.loaded = True
    assert not f.add(SUB_PAGE, 1)  # within depth now, but refused by robots
    assert _reported(f) == [(SUB_PAGE, "robots")]
    assert f.skipped == {"robots": 1}


def test_too_deep_url_offered_too_deep_again_after_robots_load_is_reported_once() -> None:
    robots = RobotsOfSub()
    f = Frontier(ROOT, include_subdomains=True, max_depth=1, robots_allowed=robots)
    assert not f.add(SUB_PAGE, 2)
    robots.loaded = True
    assert not f.add(SUB_PAGE, 2)
    reported = _reported(f)
    assert [url for url, _ in reported] == [SUB_PAGE]
    assert sum(f.skipped.values()) == 1
