"""The local shop (tests/sites/shop.py) says what it serves: its expected item set matches
what a plain reading of its pages with the shop definition's selectors finds.

The reading below is a deliberately small, independent oracle (aiohttp + selectolax, the
definition's selectors spelled out), so a wrong expectation in the shop model fails here
rather than in the spider tests that trust it."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st
from selectolax.lexbor import LexborHTMLParser, LexborNode

from tests.sites.shop import (
    BROKEN_PATH,
    PRIVATE_PATH,
    Shop,
    item_key,
    load_definition,
    make_product,
    serve_shop,
)
from tests.support import wait_until


def _text(node: LexborNode | None) -> str | None:
    return " ".join(node.text(deep=True).split()) if node is not None else None


def _number(text: str | None) -> float | None:
    found = re.search(r"\d+(?:\.\d+)?", text or "")
    return float(found.group()) if found else None


def _product(tree: LexborHTMLParser, url: str) -> dict[str, Any]:
    cover = tree.css_first("img.cover")
    src = cover.attributes.get("src") if cover is not None else None
    return {
        "title": _text(tree.css_first("div.product_main h1")),
        "price": _number(_text(tree.css_first("p.price"))),
        "sku": _text(tree.css_first("td.sku")),
        "tags": [_text(li) for li in tree.css("ul.tags li")],
        "cover": urljoin(url, src) if src else None,
    }


def _links(tree: LexborHTMLParser, url: str) -> list[str]:
    selectors = ("article.product_pod h3 a", "li.next a", "aside.promo a")
    hrefs = [a.attributes.get("href") or "" for s in selectors for a in tree.css(s)]
    host = urlsplit(url).netloc
    return [u for u in (urljoin(url, h) for h in hrefs) if urlsplit(u).netloc == host]


async def _crawl(start: str) -> tuple[list[dict[str, Any]], Counter[int]]:
    """Items and response statuses of a BFS from ``start`` (robots.txt's one rule obeyed)."""
    items: list[dict[str, Any]] = []
    statuses: Counter[int] = Counter()
    seen, queue = {start}, [start]
    async with aiohttp.ClientSession() as http:
        while queue:
            url = queue.pop(0)
            async with http.get(url) as resp:
                statuses[resp.status] += 1
                tree = LexborHTMLParser(await resp.text())
            if resp.status != 200:
                continue
            path = urlsplit(url).path
            if "/catalogue/page-" in path:
                new = [u for u in _links(tree, url) if u not in seen and "/private/" not in u]
                seen.update(new)
                queue += new
            elif "/catalogue/product-" in path:
                data = _product(tree, url)
                items += [{"url": url, "data": data}] if data["sku"] else []
            elif path == "/list/":
                rows = tree.css("article.row")
                items += [{"url": url, "data": {"name": _text(r.css_first("h2"))}} for r in rows]
    return items, statuses


@pytest.mark.parametrize(("n", "per_page", "seed"), [(45, 10, 0), (23, 20, 7)])
async def test_the_expected_items_are_what_the_pages_show(n: int, per_page: int, seed: int) -> None:
    async with serve_shop(n, per_page=per_page, seed=seed) as shop:
        items, statuses = await _crawl(shop.start_url)
        expected = shop.expected_items()
        assert Counter(map(item_key, items)) == Counter(map(item_key, expected))
        ok, failed = shop.expected_pages()
        assert statuses == Counter({200: len(ok), 404: len(failed)})
        assert shop.requested(BROKEN_PATH) == 1
        assert shop.requested(PRIVATE_PATH) == 0
        assert len(shop.access) == len(ok) + len(failed)
        async with aiohttp.ClientSession() as http, http.get(shop.url("/list")) as resp:
            assert (resp.status, resp.url.path) == (200, "/list/")
    # every kind of gap is in the set: dropped (no sku), null price, empty tags, no cover
    assert shop.shop.dropped() >= 1
    datas = [i["data"] for i in expected if "sku" in i["data"]]
    assert {None} <= {d["price"] for d in datas} and [] in [d["tags"] for d in datas]
    assert None in {d["cover"] for d in datas}
    assert None in {i["data"].get("name", "") for i in expected}


def test_the_definition_names_the_selectors_the_shop_renders() -> None:
    definition = load_definition()
    rules = definition["rules"]
    assert definition["start_urls"] == ["{start}"]
    assert rules[0]["follow"] == ["article.product_pod h3 a", "li.next a", "aside.promo a"]
    assert set(rules[1]["item"]) == {"title", "price", "sku", "tags", "cover"}
    assert rules[2]["items"] == {"each": "article.row", "fields": {"name": "h2"}}


@given(number=st.integers(1, 10_000), seed=st.integers(0, 2**32))
def test_a_product_is_a_pure_function_of_its_number_and_seed(number: int, seed: int) -> None:
    product = make_product(number, seed)
    assert product == make_product(number, seed)
    assert product.title.endswith(f" {number}") and "  " not in product.title
    item = product.item("http://shop.test")
    assert (
        item["price"] is None
        or f"{item['price']:.2f}" in (product.price_text or "")
        or (product.price_text == f"£{int(item['price'])}")
    )


def test_catalogue_pages_cover_every_product_once() -> None:
    shop = Shop(101, per_page=20, seed=1)
    assert shop.pages == 6
    numbers = [p.number for page in range(1, 7) for p in shop.page_products(page)]
    assert numbers == list(range(1, 102))


async def test_a_held_page_answers_only_once_released() -> None:
    async with serve_shop(5, per_page=5) as shop, aiohttp.ClientSession() as http:
        gate = shop.hold("/list/")

        async def get(path: str) -> int:
            async with http.get(shop.url(path)) as resp:
                return resp.status

        held = asyncio.create_task(get("/list/"))
        await wait_until(lambda: shop.requested("/list/") == 1)
        assert await get("/catalogue/page-1.html") == 200  # others are served meanwhile
        assert not held.done()
        gate.set()
        assert await held == 200
