from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.crawl.errors import InvalidUrl
from engine.crawl.frontier import Frontier, FrontierItem
from engine.crawl.urls import in_scope, normalize_url

ROOT = "https://example.com/"


def drain(frontier: Frontier) -> list[FrontierItem]:
    """Hand out and complete everything currently available (level by level)."""
    out: list[FrontierItem] = []
    while (item := frontier.next()) is not None:
        out.append(item)
        frontier.mark_done(item.url)
    return out


def test_add_normalises_and_dedups() -> None:
    f = Frontier(ROOT)
    assert f.add("https://EXAMPLE.com/a/", 1)
    assert not f.add("https://example.com/a#x", 1)
    assert not f.add("https://example.com/a", 2)
    assert f.seen == 1
    assert f.skipped == {}
    assert [i.url for i in drain(f)] == ["https://example.com/a"]


def test_invalid_root() -> None:
    with pytest.raises(InvalidUrl):
        Frontier("mailto:x@example.com")


def test_shallowest_first_then_fifo() -> None:
    f = Frontier(ROOT)
    f.add("https://example.com/deep", 3)
    f.add("https://example.com/b", 1)
    f.add("https://example.com/a", 1)
    f.add(ROOT, 0)
    assert [i.url for i in drain(f)] == [
        ROOT,
        "https://example.com/b",
        "https://example.com/a",
        "https://example.com/deep",
    ]


def test_skip_reasons_are_recorded_once() -> None:
    f = Frontier(
        ROOT,
        exclude_paths=["/admin/*"],
        robots_allowed=lambda url: "/private/" not in url,
    )
    assert not f.add("https://other.org/", 1)
    assert not f.add("https://other.org/#again", 1)
    assert not f.add("https://example.com/admin/x", 1)
    assert not f.add("https://example.com/private/x", 1)
    assert not f.add("mailto:x@example.com", 1)
    assert f.skipped == {"out_of_scope": 1, "excluded": 1, "robots": 1}
    assert f.drain_skipped() == [
        ("https://other.org/", "out_of_scope"),
        ("https://example.com/admin/x", "excluded"),
        ("https://example.com/private/x", "robots"),
    ]
    assert f.drain_skipped() == []


def test_include_paths() -> None:
    f = Frontier(ROOT, include_paths=["/blog/*"])
    assert f.add("https://example.com/blog/1", 1)
    assert not f.add("https://example.com/shop/1", 1)
    assert f.skipped == {"excluded": 1}


def test_subdomains_and_www() -> None:
    f = Frontier(ROOT, include_subdomains=False)
    assert f.add("https://www.example.com/x", 1)
    assert not f.add("https://blog.example.com/x", 1)
    g = Frontier(ROOT, include_subdomains=True)
    assert g.add("https://blog.example.com/x", 1)


def test_max_pages_bounds_hand_out() -> None:
    f = Frontier(ROOT, max_pages=3)
    for i in range(10):
        f.add(f"https://example.com/{i}", 1)
    assert f.remaining == 3
    assert len(drain(f)) == 3
    assert f.next() is None
    assert f.finished
    assert f.remaining == 0


def test_max_depth_skips_reported_when_finished() -> None:
    f = Frontier(ROOT, max_depth=1)
    f.add(ROOT, 0)
    f.add("https://example.com/a", 1)
    assert not f.add("https://example.com/too-deep", 2)
    assert f.drain_skipped() == []  # not final while the crawl is running
    drain(f)
    assert f.finished
    assert f.drain_skipped() == [("https://example.com/too-deep", "depth")]
    assert f.skipped == {"depth": 1}


def test_too_deep_url_accepted_via_shorter_path() -> None:
    f = Frontier(ROOT, max_depth=1)
    assert not f.add("https://example.com/x", 2)
    assert f.add("https://example.com/x", 1)
    drain(f)
    assert f.drain_skipped() == []


def test_level_barrier_with_max_depth() -> None:
    f = Frontier(ROOT, max_depth=5)
    f.add("https://example.com/a", 1)
    f.add("https://example.com/b", 1)
    a = f.next()
    b = f.next()
    assert a is not None and b is not None
    f.add("https://example.com/c", 2)
    f.mark_done(a.url)
    assert f.next() is None  # b (depth 1) still in flight
    assert not f.finished
    f.mark_done(b.url)
    item = f.next()
    assert item is not None and item.url == "https://example.com/c"


def test_no_barrier_without_max_depth() -> None:
    f = Frontier(ROOT)
    f.add("https://example.com/a", 1)
    assert f.next() is not None
    f.add("https://example.com/c", 2)
    assert f.next() is not None


def test_pending_depth_is_lowered() -> None:
    f = Frontier(ROOT)
    f.add("https://example.com/x", 4)
    f.add("https://example.com/y", 2)
    f.add("https://example.com/x", 1)
    items = drain(f)
    assert [(i.url, i.depth) for i in items] == [
        ("https://example.com/x", 1),
        ("https://example.com/y", 2),
    ]


def test_seed_done_is_not_handed_out_and_counts_budget() -> None:
    f = Frontier(ROOT, max_pages=3)
    f.seed_done(["https://example.com/a/", "https://example.com/b"])
    assert not f.add("https://example.com/a", 1)
    assert f.is_done("https://example.com/a")
    f.add("https://example.com/c", 1)
    f.add("https://example.com/d", 1)
    assert [i.url for i in drain(f)] == ["https://example.com/c"]
    assert f.handed_out == 3


def test_mark_skipped_refunds_budget() -> None:
    f = Frontier(ROOT, max_pages=1)
    f.add("https://example.com/a", 1)
    f.add("https://example.com/b", 1)
    item = f.next()
    assert item is not None
    f.mark_skipped(item.url, "robots")
    assert f.drain_skipped() == [("https://example.com/a", "robots")]
    nxt = f.next()
    assert nxt is not None and nxt.url == "https://example.com/b"


def test_counts() -> None:
    f = Frontier(ROOT)
    f.add("https://example.com/a", 1)
    f.add("https://example.com/b", 1)
    item = f.next()
    assert (f.seen, f.remaining, f.in_flight) == (2, 1, 1)
    assert item is not None
    f.mark_done(item.url)
    assert (f.seen, f.remaining, f.in_flight) == (2, 1, 0)


# -- properties ---------------------------------------------------------------

_paths = st.sampled_from(["", "a", "a/", "b", "c/d", "A", "x?q=1", "x#f", "deep/1/2"])
_hosts = st.sampled_from(["example.com", "www.example.com", "blog.example.com", "other.org"])
_urls = st.builds(lambda h, p: f"https://{h}/{p}", _hosts, _paths)
_ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), _urls, st.integers(0, 4)),
        st.tuples(st.just("next"), st.just(""), st.just(0)),
        st.tuples(st.just("done"), st.just(""), st.just(0)),
        st.tuples(st.just("seed"), _urls, st.just(0)),
    ),
    max_size=60,
)


@settings(max_examples=300)
@given(
    ops=_ops,
    max_pages=st.integers(0, 6),
    max_depth=st.none() | st.integers(0, 3),
    subdomains=st.booleans(),
)
def test_frontier_invariants(
    ops: list[tuple[str, str, int]], max_pages: int, max_depth: int | None, subdomains: bool
) -> None:
    f = Frontier(ROOT, subdomains, max_pages, max_depth)
    handed: list[FrontierItem] = []
    in_flight: list[str] = []
    seeded: set[str] = set()
    for op, url, depth in ops:
        if op == "add":
            f.add(url, depth)
        elif op == "seed":
            f.seed_done([url])
            seeded.add(str(normalize_url(url)))
        elif op == "next" and (item := f.next()) is not None:
            assert item.url not in seeded, "a URL seeded as done was handed out"
            handed.append(item)
            in_flight.append(item.url)
        elif op == "done" and in_flight:
            f.mark_done(in_flight.pop(0))
    for url in in_flight:
        f.mark_done(url)
    handed += drain(f)
    urls = [i.url for i in handed]
    assert len(urls) == len(set(urls)), "a URL was handed out twice"
    assert all(in_scope(u, "example.com", subdomains) for u in urls)
    assert max_depth is None or all(i.depth <= max_depth for i in handed)
    if max_pages:
        assert len(urls) <= max_pages
    assert f.finished


@settings(max_examples=200)
@given(
    edges=st.lists(st.tuples(st.integers(0, 15), st.integers(0, 15)), max_size=60),
    max_pages=st.integers(0, 8),
)
def test_crawl_simulation_visits_each_reachable_page_once(
    edges: list[tuple[int, int]], max_pages: int
) -> None:
    graph: dict[int, list[int]] = {}
    for a, b in edges:
        graph.setdefault(a, []).append(b)
    f = Frontier(ROOT, max_pages=max_pages)
    f.add("https://example.com/p/0", 0)
    visited: list[str] = []
    while (item := f.next()) is not None:
        visited.append(item.url)
        node = int(item.url.rsplit("/", 1)[1])
        for target in graph.get(node, []):
            f.add(f"https://example.com/p/{target}/", item.depth + 1)
        f.mark_done(item.url)
    reachable = _reachable(graph, 0)
    assert len(visited) == len(set(visited))
    expected = len(reachable) if max_pages == 0 else min(max_pages, len(reachable))
    assert len(visited) == expected
    assert f.finished


def _reachable(graph: dict[int, list[int]], start: int) -> set[int]:
    seen, stack = {start}, [start]
    while stack:
        for nxt in graph.get(stack.pop(), []):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def test_root_is_exempt_from_path_globs() -> None:
    f = Frontier(ROOT, include_paths=["/blog/*"], exclude_paths=["/"])
    assert f.add("https://example.com", 0)
    assert not f.add("https://example.com/other", 1)
