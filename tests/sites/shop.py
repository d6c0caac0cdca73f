"""A local shop on 127.0.0.1 for spider tests and bench/spider.py, with its exact item set.

Layout (after the "books to scrape" kind of shop the spider definitions are written for):

- ``/catalogue/page-N.html``: ``per_page`` products each as ``article.product_pod h3 a``
  (relative hrefs), a pager ``li.previous a`` / ``li.next a`` and an ``aside.promo`` linking
  to ``/list/`` and to ``/private/clearance.html`` (disallowed by robots.txt). Page 1 also
  lists a broken link (``product-0.html``, a 404) and a product on another host (never
  followed: not the start URL's host).
- ``/catalogue/product-N.html`` (N = 1..n): ``div.product_main h1`` (messy whitespace, an
  escaped ``&``), ``p.price`` (``£33.75``), ``td.sku``, ``ul.tags li``, ``img.cover`` (a
  relative ``src``). Some products miss fields: products 2, 3, 4, 5 and 6 always (no sku; no
  price element; a price without a number; no tags; no cover), others at random by seed.
- ``/list/``: ``article.row`` items with an ``h2`` (one row has none); ``/list`` answers a
  301 to ``/list/``, as most servers do for a folder (a spider must keep the slash the
  page's links have: the issue's example rule matches ``/list/``).
- ``/`` links to the catalogue and the list; ``/robots.txt`` disallows ``/private/``.

Everything is a pure function of (n, per_page, seed), so :func:`expected_items` says exactly
which items the definition in ``tests/sites/shop_spider.json`` must yield, computed without
any spider code. The app's ``ACCESS_KEY`` list logs each request's path (with its query);
``ShopHandle.hold(path)`` keeps requests of a path waiting until the test releases them.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.support import serve_app

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

DEFINITION_PATH = Path(__file__).with_name("shop_spider.json")
ACCESS_KEY = web.AppKey("access", list[str])
HOLDS_KEY = web.AppKey("holds", dict[str, asyncio.Event])
BROKEN_PATH = "/catalogue/product-0.html"
PRIVATE_PATH = "/private/clearance.html"
EXTERNAL_URL = "http://elsewhere.invalid/catalogue/product-1.html"
LIST_ROWS = 12
LIST_ROW_WITHOUT_NAME = 7
WORDS = (
    "tea", "biscuit", "atlas", "river", "lantern", "orchard", "winter", "copper", "harbour",
    "meadow", "cipher", "velvet", "garden", "thunder", "marble", "falcon",
)  # fmt: skip
TAGS = ("fiction", "poetry", "history", "travel", "science", "classic", "mystery")
ROBOTS = "User-agent: *\nDisallow: /private/\n"


@dataclass(frozen=True)
class Product:
    """One product as the site shows it; ``None`` fields are absent from its page."""

    number: int
    title: str
    price_text: str | None  # the p.price text; None: no p.price element
    sku: str | None
    tags: tuple[str, ...]
    cover: bool

    @property
    def path(self) -> str:
        return f"/catalogue/product-{self.number}.html"

    def item(self, origin: str) -> dict[str, Any]:
        """The item the shop definition's product rule must extract from this page."""
        return {
            "title": self.title,
            "price": _first_number(self.price_text),
            "sku": self.sku,
            "tags": list(self.tags),
            "cover": f"{origin}/media/cover-{self.number}.jpg" if self.cover else None,
        }


def _first_number(text: str | None) -> float | None:
    if text is None:
        return None
    digits = "".join(c if c.isdigit() or c == "." else " " for c in text).split()
    return float(digits[0]) if digits else None


def make_product(number: int, seed: int) -> Product:
    """Product ``number`` of a shop with ``seed``: deterministic, some fields missing."""
    rng = random.Random(f"{seed}:{number}")
    words = [rng.choice(WORDS).capitalize() for _ in range(rng.randint(1, 3))]
    if rng.random() < 0.2:
        words.insert(1, "&")
    title = " ".join([*words, str(number)])
    price: str | None = f"£{rng.randint(1, 99)}.{rng.randint(0, 99):02d}"
    if rng.random() < 0.05:
        price = f"£{rng.randint(1, 99)}"  # a whole number: 12.0
    sku: str | None = f"SKU-{seed % 1000:03d}-{number:05d}"
    tags = tuple(rng.sample(TAGS, rng.randint(1, 3)))
    cover = True
    roll = rng.random()
    forced = {2: "sku", 3: "price", 4: "no-number", 5: "tags", 6: "cover"}
    missing = forced.get(number) or (
        rng.choice(["sku", "price", "no-number", "tags", "cover"]) if roll < 0.15 else None
    )
    if missing == "sku":
        sku = None
    elif missing == "price":
        price = None
    elif missing == "no-number":
        price = "Price on request"
    elif missing == "tags":
        tags = ()
    elif missing == "cover":
        cover = False
    return Product(number=number, title=title, price_text=price, sku=sku, tags=tags, cover=cover)


class Shop:
    """The shop's content: ``n`` products, ``per_page`` per catalogue page, ``seed``."""

    def __init__(self, n: int = 60, per_page: int = 20, seed: int = 0) -> None:
        if n < 1 or per_page < 1:
            raise ValueError("a shop has at least one product and one product per page")
        self.n, self.per_page, self.seed = n, per_page, seed
        self.products = [make_product(i, seed) for i in range(1, n + 1)]
        self.pages = -(-n // per_page)

    def catalogue_path(self, page: int) -> str:
        return f"/catalogue/page-{page}.html"

    def page_products(self, page: int) -> list[Product]:
        return self.products[(page - 1) * self.per_page : page * self.per_page]

    def list_names(self) -> list[str | None]:
        """The ``h2`` text of each ``article.row`` of /list/ (None: a row without one)."""
        rng = random.Random(f"{self.seed}:list")
        names = [f"Staff pick {i + 1}: {rng.choice(WORDS).capitalize()}" for i in range(LIST_ROWS)]
        return [None if i == LIST_ROW_WITHOUT_NAME else name for i, name in enumerate(names)]

    # -- ground truth, computed from the model alone -------------------------------------

    def expected_items(self, origin: str) -> list[dict[str, Any]]:
        """Every item (``{url, data}``) shop_spider.json yields from ``origin``'s page 1,
        in no particular order: one per product with a sku, one per /list/ row."""
        items = [{"url": origin + p.path, "data": p.item(origin)} for p in self.products if p.sku]
        items += [{"url": origin + "/list/", "data": {"name": n}} for n in self.list_names()]
        return items

    def dropped(self) -> int:
        """Items not emitted because their required sku is missing."""
        return sum(1 for p in self.products if p.sku is None)

    def expected_pages(self, origin: str) -> tuple[set[str], set[str]]:
        """(URLs fetched with success, URLs that fail) by a robots-respecting crawl."""
        ok = {origin + self.catalogue_path(k) for k in range(1, self.pages + 1)}
        ok |= {origin + p.path for p in self.products} | {origin + "/list/"}
        return ok, {origin + BROKEN_PATH}


SHOP_KEY = web.AppKey("shop", Shop)


def item_key(item: dict[str, Any]) -> str:
    """A hashable form of an ``{url, data}`` item, to compare item sets as multisets."""
    return json.dumps({"url": item["url"], "data": item["data"]}, sort_keys=True)


def load_definition() -> dict[str, Any]:
    """The shop's spider definition (tests/sites/shop_spider.json) as a dict."""
    data: dict[str, Any] = json.loads(DEFINITION_PATH.read_text())
    return data


# -- rendering ---------------------------------------------------------------------------

HEAD = '<!doctype html><html><head><meta charset="utf-8"><title>{}</title></head><body>'
HEADER = '<header><h1 class="site">The Local Shop</h1></header>'
FOOT = "</body></html>"


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _pod(href: str, title: str, price: str | None) -> str:
    price_html = f'<p class="price_color">{_e(price)}</p>' if price else ""
    return (
        f'<article class="product_pod"><h3><a href="{_e(href)}" title="{_e(title)}">'
        f"{_e(title[:20])}</a></h3>{price_html}</article>"
    )


def render_catalogue(shop: Shop, page: int) -> str:
    pods = [
        _pod(f"product-{p.number}.html", p.title, p.price_text) for p in shop.page_products(page)
    ]
    if page == 1:
        pods += [_pod("product-0.html", "Gone", "£1.00"), _pod(EXTERNAL_URL, "Elsewhere", None)]
    pager = []
    if page > 1:
        pager.append(f'<li class="previous"><a href="page-{page - 1}.html">previous</a></li>')
    pager.append(f'<li class="current">Page {page} of {shop.pages}</li>')
    if page < shop.pages:
        pager.append(f'<li class="next"><a href="page-{page + 1}.html">next</a></li>')
    promo = (
        '<aside class="promo"><a href="../list/">Staff picks</a> '
        f'<a href="..{PRIVATE_PATH}">Clearance</a></aside>'
    )
    return (
        HEAD.format(f"Catalogue, page {page}")
        + HEADER
        + '<nav class="breadcrumb"><a href="/">Home</a></nav>'
        + f'<section><ol class="products">{"".join(pods)}</ol>'
        + f'<ul class="pager">{"".join(pager)}</ul></section>{promo}{FOOT}'
    )


def render_product(shop: Shop, product: Product) -> str:
    back = (product.number - 1) // shop.per_page + 1
    title = _e(product.title).replace(" ", "  ")
    parts = [f'<div class="product_main">\n  <h1>\n   {title}\n  </h1>']
    if product.price_text is not None:
        parts.append(f'<p class="price">{_e(product.price_text)}</p>')
    parts.append('<p class="instock availability">In stock</p></div>')
    if product.cover:
        parts.append(f'<img class="cover" src="../media/cover-{product.number}.jpg" alt="cover">')
    rows = [f'<tr><th>SKU</th><td class="sku">{_e(product.sku)}</td></tr>'] if product.sku else []
    rows.append("<tr><th>Availability</th><td>In stock (5 available)</td></tr>")
    parts.append(f'<table class="product_info">{"".join(rows)}</table>')
    if product.tags:
        lis = "".join(f"<li>\n  {_e(t)} </li>" for t in product.tags)
        parts.append(f'<ul class="tags">{lis}</ul>')
    crumbs = (
        f'<nav class="breadcrumb"><a href="/">Home</a> <a href="page-{back}.html">Catalogue</a>'
        "</nav>"
    )
    return HEAD.format(_e(product.title)) + HEADER + crumbs + "".join(parts) + FOOT


def render_list(shop: Shop) -> str:
    rows = []
    for i, name in enumerate(shop.list_names()):
        heading = f"<h2> {_e(name)}\n</h2>" if name is not None else ""
        rows.append(
            f'<article class="row">{heading}<p>Row {i + 1} of the staff picks.</p></article>'
        )
    return HEAD.format("Staff picks") + HEADER + "".join(rows) + FOOT


def render_home() -> str:
    links = '<a href="/catalogue/page-1.html">Catalogue</a> <a href="/list/">Staff picks</a>'
    return HEAD.format("The Local Shop") + HEADER + f'<nav class="site">{links}</nav>' + FOOT


# -- the app -----------------------------------------------------------------------------


def _number(name: str, prefix: str) -> int | None:
    """N of ``<prefix>N.html`` (no leading zeros, no sign), else None."""
    if not (name.startswith(prefix) and name.endswith(".html")):
        return None
    digits = name[len(prefix) : -len(".html")]
    if not digits.isdigit() or (len(digits) > 1 and digits[0] == "0"):
        return None
    return int(digits)


def _html(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/html")


def _routes(shop: Shop) -> list[web.RouteDef]:
    async def catalogue(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        page = _number(name, "page-")
        if page is not None and 1 <= page <= shop.pages:
            return _html(render_catalogue(shop, page))
        number = _number(name, "product-")
        if number is not None and 1 <= number <= shop.n:
            return _html(render_product(shop, shop.products[number - 1]))
        raise web.HTTPNotFound()

    async def listing(request: web.Request) -> web.StreamResponse:
        return _html(render_list(shop))

    async def to_list(request: web.Request) -> web.StreamResponse:
        raise web.HTTPMovedPermanently(location="/list/")

    async def home(request: web.Request) -> web.StreamResponse:
        return _html(render_home())

    async def robots(request: web.Request) -> web.StreamResponse:
        return web.Response(text=ROBOTS, content_type="text/plain")

    async def private(request: web.Request) -> web.StreamResponse:
        return _html(
            HEAD.format("Clearance") + '<article class="row"><h2>Secret</h2></article>' + FOOT
        )

    return [
        web.get("/", home),
        web.get("/robots.txt", robots),
        web.get("/list/", listing),
        web.get("/list", to_list),
        web.get(PRIVATE_PATH, private),
        web.get("/catalogue/{name}", catalogue),
    ]


def build_shop(
    n: int = 60, *, per_page: int = 20, seed: int = 0, log: bool = True
) -> web.Application:
    """The shop as an aiohttp app; ``app[ACCESS_KEY]`` lists requested paths (if ``log``)."""
    shop = Shop(n, per_page, seed)
    access: list[str] = []
    holds: dict[str, asyncio.Event] = {}

    @web.middleware
    async def log_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
        access.append(request.path_qs)
        if (held := holds.get(request.path)) is not None:
            await held.wait()
        return await handler(request)

    app = web.Application(middlewares=[log_requests] if log else [])
    app[ACCESS_KEY] = access
    app[HOLDS_KEY] = holds
    app[SHOP_KEY] = shop
    app.add_routes(_routes(shop))
    return app


@dataclass
class ShopHandle:
    """A running shop: its origin, model and access log (grows as it is hit)."""

    origin: str
    shop: Shop
    access: list[str]
    holds: dict[str, asyncio.Event]

    @property
    def start_url(self) -> str:
        """The URL the shop definition's ``start`` argument takes: catalogue page 1."""
        return self.origin + "/catalogue/page-1.html"

    def url(self, path: str) -> str:
        return self.origin + path

    def expected_items(self) -> list[dict[str, Any]]:
        return self.shop.expected_items(self.origin)

    def expected_pages(self) -> tuple[set[str], set[str]]:
        return self.shop.expected_pages(self.origin)

    def hold(self, path: str) -> asyncio.Event:
        """Requests of ``path`` wait until the returned event is set (a test's way to keep a
        crawl running at a known point); every hold is released when the shop stops."""
        return self.holds.setdefault(path, asyncio.Event())

    def requested(self, path: str) -> int:
        """How many times ``path`` (with its query, if any) was requested."""
        return self.access.count(path)


@contextlib.asynccontextmanager
async def serve_shop(
    n: int = 60, *, per_page: int = 20, seed: int = 0
) -> AsyncIterator[ShopHandle]:
    """Serve :func:`build_shop` on 127.0.0.1 (a free port) for the duration of the block."""
    app = build_shop(n, per_page=per_page, seed=seed)
    async with serve_app(app, shutdown_timeout=0.5) as origin:
        handle = ShopHandle(origin, app[SHOP_KEY], app[ACCESS_KEY], app[HOLDS_KEY])
        try:
            yield handle
        finally:
            for held in handle.holds.values():
                held.set()
