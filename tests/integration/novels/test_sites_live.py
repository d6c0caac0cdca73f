"""The sources against the local novel sites served on 127.0.0.1, fetched with a plain
aiohttp client: novel page, AJAX chapter list, chapters, images."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator

import aiohttp
import pytest

from engine.novels.model import NovelInfo
from engine.novels.sources.base import Request, Source, gather
from engine.novels.sources.registry import build_registry
from tests.sites.novelsite import MAIN, MAIN_CHAPTERS, VOLUMES, Faults, NovelSite, serve_novel_site
from tests.sites.novelsite_pages import JUNK


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


class Client:
    """Fetches for the sources; retries a 503 or a 429 once, and keeps every status."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session
        self.statuses: dict[str, list[int]] = {}
        self.retry_after: dict[str, str | None] = {}

    async def get(self, url: str) -> str | None:
        return await self.fetch(Request(url=url))

    async def fetch(self, request: Request) -> str | None:
        for _ in range(2):
            data = dict(request.form) if request.method == "POST" else None
            async with self.session.request(request.method, request.url, data=data) as response:
                self.statuses.setdefault(request.url, []).append(response.status)
                if response.status == 429:
                    self.retry_after[request.url] = response.headers.get("Retry-After")
                if response.status == 200:
                    return await response.text()
                if response.status not in (429, 503):
                    return None
        return None


async def _read_novel(
    site: NovelSite, client: Client, slug: str = MAIN
) -> tuple[Source, NovelInfo]:
    registry = build_registry(plugins=[], bindings={site.layout.name: [site.origin]})
    url = site.novel_url(slug)
    source = registry.for_url(url)  # matched on 127.0.0.1:<port>
    page = await client.get(url)
    assert page is not None
    answers = await gather(source, url, page, client.fetch)
    return source, source.parse_novel(url, page, answers)


async def _content_type(session: aiohttp.ClientSession, url: str) -> str | None:
    async with session.get(url) as response:
        return response.content_type if response.status == 200 else None


def _paragraphs(html: str) -> list[str]:
    texts = ["".join(p.itertext()) for p in ET.fromstring(f"<r>{html}</r>").iter("p")]
    return [text for text in texts if text]


@pytest.mark.parametrize("layout", ["novelfull", "madara"])
async def test_a_novel_and_its_chapter_list_are_read(
    layout: str, session: aiohttp.ClientSession
) -> None:
    async with serve_novel_site(layout) as site:
        source, novel = await _read_novel(site, Client(session))
    model = site.novels[MAIN]
    assert source.name == layout
    assert (novel.title, novel.authors, novel.tags) == (model.title, model.authors, model.genres)
    assert len(novel.chapters) == MAIN_CHAPTERS >= 250
    assert [c.serial for c in novel.chapters] == list(range(1, MAIN_CHAPTERS + 1))
    assert [c.title for c in novel.chapters] == [c.title for c in model.chapters]
    assert [c.url for c in novel.chapters] == [site.chapter_url(c.serial) for c in model.chapters]
    assert [c.volume for c in novel.chapters[99:101]] == [1, 2]
    list_path = (
        "/ajax/chapter-archive" if layout == "novelfull" else f"/novel/{MAIN}/ajax/chapters/"
    )
    assert site.log == {site.layout.novel_path(model): 1, list_path: 1}


@pytest.mark.parametrize("layout", ["novelfull", "madara"])
async def test_chapters_are_fetched_through_faults_and_come_back_clean(
    layout: str, session: aiohttp.ClientSession
) -> None:
    client = Client(session)
    async with serve_novel_site(layout) as site:
        source, novel = await _read_novel(site, client)
        urls = {n: novel.chapters[n - 1].url for n in (1, 5, 6, 7, 13, 260)}
        pages = {n: await client.get(url) for n, url in urls.items()}
        contents = {
            n: source.parse_chapter(urls[n], page) for n, page in pages.items() if page is not None
        }
        images = [url for content in contents.values() for url in content.image_urls]
        image_types = [await _content_type(session, url) for url in images]
    assert [client.statuses[urls[n]] for n in (1, 5, 6, 13)] == [
        [200],
        [503, 200],
        [429, 200],
        [404],
    ]
    assert client.retry_after[urls[6]] == "1"
    assert sorted(contents) == [1, 5, 6, 7, 260]
    for n, content in contents.items():
        chapter = site.novels[MAIN].chapters[n - 1]
        assert content.title == chapter.title
        assert _paragraphs(content.html) == list(chapter.paragraphs)
        assert JUNK not in content.html
        assert "<script" not in content.html
        assert content.image_urls == tuple(site.origin + path for path in chapter.images)
    assert len(images) == 2
    assert image_types == ["image/png", "image/png"]
    paths = {n: site.layout.chapter_path(site.novels[MAIN], n) for n in urls}
    assert [site.log[paths[n]] for n in (1, 5, 6, 13)] == [1, 2, 2, 1]


async def test_madara_falls_back_to_admin_ajax(session: aiohttp.ClientSession) -> None:
    async with serve_novel_site("madara", faults=Faults(chapters_endpoint=False)) as site:
        _, novel = await _read_novel(site, Client(session))
    assert len(novel.chapters) == MAIN_CHAPTERS
    assert novel.chapters[0].title == site.novels[MAIN].chapters[0].title
    assert site.log[f"/novel/{MAIN}/ajax/chapters/"] == 1
    assert site.log["/wp-admin/admin-ajax.php"] == 1


async def test_madara_volumes_are_read(session: aiohttp.ClientSession) -> None:
    async with serve_novel_site("madara") as site:
        _, novel = await _read_novel(site, Client(session), VOLUMES)
    model = site.novels[VOLUMES]
    assert [v.title for v in novel.volumes] == list(model.volumes)
    assert [c.volume for c in novel.chapters] == [c.volume + 1 for c in model.chapters]
