"""Frontier cases that once went wrong: double skip reports and IPv6 roots."""

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


def test_ipv6_root_is_in_scope_and_enqueued() -> None:
    f = Frontier("http://[::1]:8080/")
    assert f.in_scope("http://[::1]:8080/")
    assert f.in_scope("http://[::1]:8080/a")
    assert not f.in_scope("http://[::1]:8081/a")
    assert not f.in_scope("http://[::2]:8080/a")
    assert f.add("http://[::1]:8080/", 0)
    assert f.add("http://[::1]:8080/a", 1)
    handed = [f.next(), f.next()]
    assert [item.url if item else None for item in handed] == [
        "http://[::1]:8080/",
        "http://[::1]:8080/a",
    ]
    assert f.drain_skipped() == []


def test_ipv6_root_without_port_matches_its_host_only() -> None:
    f = Frontier("http://[2001:db8::1]/", include_subdomains=True)
    assert f.in_scope("http://[2001:db8::1]/x")
    assert f.in_scope("http://[2001:db8::1]:8080/x")  # no root port: any port, as for names
    assert not f.in_scope("http://[2001:db8::2]/x")
    assert not f.in_scope("http://example.com/x")


def test_path_globs_apply_to_ipv6_root_pages() -> None:
    f = Frontier("http://[::1]:8080/", include_paths=["blog/*"], exclude_paths=["*.png"])
    assert f.add("http://[::1]:8080/", 0)  # the root is exempt from the globs
    assert f.add("http://[::1]:8080/blog/a", 1)
    assert not f.add("http://[::1]:8080/blog/a.png", 1)
    assert not f.add("http://[::1]:8080/docs", 1)
    assert f.skipped == {"excluded": 2}
