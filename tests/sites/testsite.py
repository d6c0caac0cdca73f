"""A generated website for crawler tests, with its ground truth computed from the model.

The site is described by a :class:`SiteModel` (canonical link targets per path);
the HTTP handlers render that model with deliberately messy hrefs (fragments,
trailing slashes, upper-case schemes/hosts, relative forms, <base href>), while
:meth:`SiteModel.expectation` walks the same model in plain Python to say what a
correct crawl from "/" must fetch, fail and skip. No crawler code is involved in
computing the expectation.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import html
import random
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from tests.support import serve_app

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CHAIN_LENGTH = 25
ORPHANS = 5
HUGE_BYTES = 3 * 1024 * 1024
SLOW_SECONDS = 1.5
EXTERNAL = ("http://external.invalid/landing", "http://other.localhost:1/")
REDIRECTS = {"/old": "/page/1", "/loop/a": "/loop/b", "/loop/b": "/loop/a"}
# Paths that exist but must never be fetched by a robots-respecting crawler.
PRIVATE = ("/private/area", "/private/secret")
INFRA = ("/robots.txt", "/sitemap_index.xml", "/sitemap-1.xml", "/sitemap-2.xml.gz")

REQUESTS_KEY = web.AppKey("requests", list[str])


@dataclass(frozen=True)
class Expectation:
    """Ground truth for one crawl: absolute normalised URLs and their minimal depths."""

    ok: frozenset[str]
    failed: frozenset[str]
    skipped: dict[str, str]
    depth: dict[str, int]


class SiteModel:
    """Paths, their canonical outgoing links and their behaviour; pure data."""

    def __init__(self, n_pages: int, seed: int) -> None:
        self.n_pages = n_pages
        rng = random.Random(seed)
        self.links: dict[str, list[str]] = {"/": self._index_links()}
        for i in range(n_pages):
            self.links[f"/page/{i}"] = self._page_links(i, rng)
        for k in range(CHAIN_LENGTH):
            self.links[f"/chain/{k}"] = [f"/chain/{k + 1}"] if k + 1 < CHAIN_LENGTH else []
        for k in range(ORPHANS):
            self.links[f"/orphan/{k}"] = [f"/page/{rng.randrange(n_pages)}"]
        for path in ("/ratelimited", "/flaky", "/hidden/1", *PRIVATE):
            self.links[path] = ["/page/2"]
        # A shortcut into the chain that is only discovered late (the page is slow):
        # a crawler that does not keep depths minimal gets the max_depth cut wrong.
        self.links["/slow"] = ["/page/2", "/chain/3"]
        self.binary = {"/huge", "/files/report.pdf"}
        half = n_pages // 2
        listed = [f"/page/{i}" for i in range(0, n_pages, 3)]
        self.sitemap1 = ["/", *(p for p in listed if int(p[6:]) < half), "/private/secret"]
        self.sitemap2 = [p for p in listed if int(p[6:]) >= half]
        self.sitemap2 += [f"/orphan/{k}" for k in range(ORPHANS)]

    def _index_links(self) -> list[str]:
        fixed = ["/old", "/loop/a", "/slow", "/ratelimited", "/flaky", "/huge"]
        extra = ["/files/report.pdf", "/chain/0", "/private/area", "/missing/0", *EXTERNAL]
        return [*(f"/page/{i}" for i in range(min(5, self.n_pages))), *fixed, *extra]

    def _page_links(self, i: int, rng: random.Random) -> list[str]:
        targets = [f"/page/{i + 1}"] if i + 1 < int(self.n_pages * 0.8) else []
        targets += [f"/page/{rng.randrange(self.n_pages)}" for _ in range(rng.randint(1, 3))]
        if i % 10 == 3:
            targets.append(f"/missing/{i}")
        if i % 17 == 5:
            targets.append(f"/private/p{i}")
        if i % 13 == 7:
            targets.append(f"{EXTERNAL[0]}/{i}")
        return list(dict.fromkeys(targets))

    def outcome(self, path: str) -> tuple[bool, list[str]]:
        """(fetched OK?, canonical links followed) for a GET of ``path``, after redirects."""
        seen = {path}
        while path in REDIRECTS:
            path = REDIRECTS[path]
            if path in seen:
                return False, []
            seen.add(path)
        if path in self.binary:
            return True, []
        if path in self.links or path.startswith("/private/"):
            return True, self.links.get(path, ["/page/2"])
        return False, []

    def expectation(self, origin: str, max_depth: int | None = None) -> Expectation:
        """What a crawl from ``origin``/ with default options must do (BFS over the model)."""
        depth: dict[str, int] = {}
        skipped: dict[str, str] = {}
        ok: set[str] = set()
        queue: deque[str] = deque()

        def offer(target: str, level: int) -> None:
            url = target if "://" in target else origin + target
            if url in depth or url in skipped:
                return
            reason = _skip_reason(url, origin, level, max_depth)
            if reason:
                skipped[url] = reason
                return
            depth[url] = level
            queue.append(url)

        offer("/", 0)
        for target in self.sitemap1 + self.sitemap2:
            offer(target, 1)
        while queue:
            url = queue.popleft()
            fetched, links = self.outcome(url[len(origin) :])
            if fetched:
                ok.add(url)
                for link in links:
                    offer(link, depth[url] + 1)
        failed = frozenset(depth) - ok
        return Expectation(ok=frozenset(ok), failed=failed, skipped=skipped, depth=depth)


def _skip_reason(url: str, origin: str, level: int, max_depth: int | None) -> str | None:
    if not url.startswith(origin + "/"):
        return "out_of_scope"
    if url[len(origin) :].startswith("/private/"):
        return "robots"
    if max_depth is not None and level > max_depth:
        return "depth"
    return None


MODEL_KEY = web.AppKey("model", SiteModel)

# -- rendering ----------------------------------------------------------------


def _variant(path: str, request: web.Request, salt: int) -> str:
    """A messy but equivalent href for a canonical target (deterministic per salt)."""
    if "://" in path:
        scheme, rest = path.split("://", 1)
        host, _, tail = rest.partition("/")
        return f"{scheme}://{host.upper()}/{tail}" if salt % 2 else path
    forms = (
        path,
        path + "/",
        path + "#section-2",
        ".." + path,
        f"HTTP://{request.host}{path}",
        f"http://{request.host}{path}/#x",
    )
    return forms[salt % len(forms)]


def _anchor(href: str, text: str) -> str:
    return f'<a href="{html.escape(href)}">{html.escape(text)}</a>'


def _render_page(model: SiteModel, path: str, request: web.Request) -> str:
    links = model.links.get(path, ["/page/2"])
    salt = sum(map(ord, path))
    base = ""
    hrefs = [_variant(t, request, salt + n) for n, t in enumerate(links)]
    if path.startswith("/orphan/"):
        # With <base href="/page/">, "7" means /page/7; without it, /orphan/7 (a 404).
        base = '<base href="/page/">'
        hrefs = [t.rsplit("/", 1)[-1] if t.startswith("/page/") else t for t in links]
    # A fragment-only href resolves against <base href> too, so only base-less pages get one.
    extras = [] if base else ['<a href="#top">top</a>']
    if salt % 7 == 0 or path == "/":
        extras += [_anchor("mailto:info@example.org", "mail"), _anchor("javascript:void(0)", "js")]
    body = "\n".join(_anchor(h, f"link {n}") for n, h in enumerate(hrefs))
    title = "Home" if path == "/" else f"Page {path}"
    return (
        f"<!doctype html><html><head><title>{title}</title>{base}"
        f'<meta name="description" content="Description of {path}"></head>'
        f"<body><h1 id='top'>{title}</h1><p>Text of {path}.</p>{body}{''.join(extras)}"
        "</body></html>"
    )


def _cache_headers(path: str) -> dict[str, str]:
    if not path.startswith("/page/"):
        return {}
    variant = int(path.rsplit("/", 1)[-1]) % 5
    return {0: {"X-Cache": "HIT"}, 1: {"Age": "30"}, 2: {"X-Cache": "MISS"}}.get(variant, {})


def _page_handler(model: SiteModel) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        path = request.path
        if path not in model.links and not path.startswith("/private/"):
            raise web.HTTPNotFound()
        return web.Response(
            text=_render_page(model, path, request),
            content_type="text/html",
            headers=_cache_headers(path),
        )

    return handle


def _origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _robots(request: web.Request, crawl_delay: float | None) -> web.Response:
    delay = "" if crawl_delay is None else f"Crawl-delay: {crawl_delay}\n"
    text = (
        f"User-agent: *\nDisallow: /private/\n{delay}"
        f"Sitemap: {_origin(request)}/sitemap_index.xml\n"
    )
    return web.Response(text=text, content_type="text/plain")


def _urlset(request: web.Request, paths: list[str]) -> str:
    entries = "".join(f"<url><loc>{_origin(request)}{p}</loc></url>" for p in paths)
    ns = "http://www.sitemaps.org/schemas/sitemap/0.9"
    return f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="{ns}">{entries}</urlset>'


def _sitemap_routes(model: SiteModel, crawl_delay: float | None) -> list[web.RouteDef]:
    async def index(request: web.Request) -> web.Response:
        locs = "".join(f"<sitemap><loc>{_origin(request)}{p}</loc></sitemap>" for p in INFRA[2:])
        xml = f'<?xml version="1.0"?><sitemapindex xmlns="x">{locs}</sitemapindex>'
        return web.Response(text=xml, content_type="application/xml")

    async def first(request: web.Request) -> web.Response:
        return web.Response(text=_urlset(request, model.sitemap1), content_type="application/xml")

    async def second(request: web.Request) -> web.Response:
        # One entry in a messy form: the crawler must normalise sitemap URLs too.
        paths = [*model.sitemap2, model.sitemap2[0] + "/"]
        data = gzip.compress(_urlset(request, paths).encode(), mtime=0)
        return web.Response(body=data, content_type="application/gzip")

    async def robots(request: web.Request) -> web.Response:
        return _robots(request, crawl_delay)

    return [
        web.get("/robots.txt", robots),
        web.get("/sitemap_index.xml", index),
        web.get("/sitemap-1.xml", first),
        web.get("/sitemap-2.xml.gz", second),
    ]


def _special_routes(model: SiteModel) -> list[web.RouteDef]:
    page = _page_handler(model)
    attempts = {"/ratelimited": 0, "/flaky": 0}

    async def redirect(request: web.Request) -> web.StreamResponse:
        status = web.HTTPMovedPermanently if request.path == "/old" else web.HTTPFound
        raise status(location=REDIRECTS[request.path])

    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(SLOW_SECONDS)
        return await page(request)

    async def ratelimited(request: web.Request) -> web.StreamResponse:
        attempts["/ratelimited"] += 1
        if attempts["/ratelimited"] == 1:
            return web.Response(status=429, headers={"Retry-After": "1"}, text="slow down")
        return await page(request)

    async def flaky(request: web.Request) -> web.StreamResponse:
        attempts["/flaky"] += 1
        if attempts["/flaky"] <= 2:
            return web.Response(status=503, text="try again")
        return await page(request)

    return [
        *(web.get(p, redirect) for p in REDIRECTS),
        web.get("/slow", slow),
        web.get("/ratelimited", ratelimited),
        web.get("/flaky", flaky),
        web.get("/huge", _huge),
        web.get("/files/report.pdf", _pdf),
        web.get("/{tail:.*}", page),
    ]


async def _huge(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/html"})
    await response.prepare(request)
    chunk = b"<p>" + b"lorem ipsum dolor sit amet " * 2400 + b"</p>\n"
    await response.write(b"<!doctype html><html><head><title>Huge</title></head><body>")
    for _ in range(HUGE_BYTES // len(chunk) + 1):
        await response.write(chunk)
    await response.write(b"</body></html>")
    return response


async def _pdf(request: web.Request) -> web.Response:
    body = b"%PDF-1.4\n% jobstream test file\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
    return web.Response(body=body, content_type="application/pdf")


def build_site(
    n_pages: int = 300, *, seed: int = 0, crawl_delay: float | None = 0.01
) -> web.Application:
    """The test site as an aiohttp app; ``app[REQUESTS_KEY]`` logs requested paths.
    robots.txt asks for ``crawl_delay`` seconds between requests (None: no Crawl-delay)."""
    model = SiteModel(n_pages, seed)
    requests: list[str] = []

    @web.middleware
    async def log_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
        requests.append(request.path)
        return await handler(request)

    app = web.Application(middlewares=[log_requests])
    app[REQUESTS_KEY] = requests
    app[MODEL_KEY] = model
    app.add_routes([*_sitemap_routes(model, crawl_delay), *_special_routes(model)])
    return app


@dataclass
class SiteHandle:
    """A running test site; ``requests`` grows as the server is hit."""

    host: str
    port: int
    model: SiteModel
    requests: list[str]
    expected: Expectation = field(init=False)

    def __post_init__(self) -> None:
        self.expected = self.model.expectation(self.origin)

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.origin + "/"

    def url(self, path: str) -> str:
        return self.origin + path

    def expectation(self, max_depth: int | None = None) -> Expectation:
        return self.model.expectation(self.origin, max_depth)

    def page_requests(self) -> list[str]:
        """Logged paths excluding robots.txt and sitemaps."""
        return [p for p in self.requests if p not in INFRA]


@contextlib.asynccontextmanager
async def serve_site(n_pages: int = 300, *, seed: int = 0) -> AsyncIterator[SiteHandle]:
    """Serve :func:`build_site` on 127.0.0.1 (random port) for the duration of the block."""
    app = build_site(n_pages, seed=seed)
    # handler_cancellation: a client that gives up (timeouts, truncation) must
    # not keep the slow/huge handlers running into shutdown.
    async with serve_app(app, handler_cancellation=True, shutdown_timeout=0.5) as origin:
        port = int(origin.rsplit(":", 1)[1])
        yield SiteHandle("127.0.0.1", port, app[MODEL_KEY], app[REQUESTS_KEY])
