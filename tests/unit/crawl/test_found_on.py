"""The frontier remembers on which page each URL was found first."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from engine.crawl.frontier import Frontier

ROOT = "https://example.com/"


def _page(n: int) -> str:
    return f"https://example.com/p/{n}"


@given(edges=st.lists(st.tuples(st.integers(0, 12), st.integers(0, 12)), max_size=50))
def test_every_url_but_the_start_was_found_on_an_earlier_page_linking_to_it(
    edges: list[tuple[int, int]],
) -> None:
    graph: dict[int, list[int]] = {}
    for a, b in edges:
        graph.setdefault(a, []).append(b)
    f = Frontier(ROOT)
    f.add(_page(0), 0)
    visited: list[str] = []
    while (item := f.next()) is not None:
        node = int(item.url.rsplit("/", 1)[1])
        if item.url == _page(0):
            assert item.found_on is None
        else:
            assert item.found_on in visited  # fetched before it
            parent = int(str(item.found_on).rsplit("/", 1)[1])
            assert node in graph[parent]  # and links to it
            first = next(u for u in visited if node in graph.get(int(u.rsplit("/", 1)[1]), []))
            assert item.found_on == first  # the first fetched page linking to it
        visited.append(item.url)
        for target in graph.get(node, []):
            f.add(_page(target), item.depth + 1, found_on=item.url)
        f.mark_done(item.url)


def test_a_lowered_depth_keeps_the_page_it_was_found_on_first() -> None:
    f = Frontier(ROOT)
    f.add("https://example.com/x", 4, found_on="https://example.com/deep")
    f.add("https://example.com/x", 1, found_on=ROOT)
    [item] = [f.next()]
    assert item is not None and (item.depth, item.found_on) == (1, "https://example.com/deep")
