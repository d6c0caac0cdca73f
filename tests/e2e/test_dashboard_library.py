"""The dashboard's library view in headless Chromium: a novel put in the library directly, its
cover, a chapter read, unsafe chapter HTML kept inert, and an e-book downloaded through the page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.jetstream.library import Chapter, cover_object, image_object
from tests.e2e.test_dashboard import Page, browser
from tests.integration.api.library_seed import EPUB, Shelf, append, seed_novel
from tests.library_facts import stored
from tests.support import Service, wait_until
from tests.unit.artifacts.books import png

TITLE = "The Glass Tower"
# What a hostile page could try, were the server's cleaning ever to let it through.
UNSAFE = (
    "<p>Safe words stay.</p><script>window.pwned = 'script'</script>"
    '<img src="x" onerror="window.pwned = \'onerror\'">'
    "<a href=\"javascript:window.pwned='link'\">a link</a>"
    "<iframe srcdoc=\"<script>parent.pwned='frame'</script>\"></iframe>"
    "<p onclick=\"window.pwned='click'\">Clickable text.</p>"
)


async def _shelved(service: Service) -> Shelf:
    """The seeded novel, with decodable images of known sizes and a hostile second chapter."""
    shelf = await seed_novel(service, service.admin, title=TITLE, chapters=3)
    library = service.runtime.library
    await library.put_file(cover_object(shelf.novel_id), png(30, 45, (200, 30, 30)), "image/png")
    await library.put_file(image_object(shelf.novel_id, shelf.image_id), png(8, 4, (0, 90, 9)),
                           "image/png")  # fmt: skip
    second = shelf.chapter_ids[1]
    size = await library.put_chapter(shelf.novel_id, second, Chapter(title="Two", html=UNSAFE))
    await append(service, stored(shelf.job_id, shelf.novel_id, second, size=size))
    return shelf


async def _signed_in(page: Page, service: Service) -> None:
    admin = service.admin
    await page.call("Runtime.enable")
    await page.call("Page.navigate", url=f"{admin.base}/#token={admin.token}")
    await page.until("document.getElementById('conn').dataset.state === 'live'")


def _image_size(selector: str) -> str:
    """A page expression: `WxH` of the decoded image once it has loaded from a blob: URL."""
    img = f"document.querySelector({selector!r})"
    loaded = f"{img} && {img}.src.startsWith('blob:') && {img}.complete"
    return f"{loaded} && `${{{img}.naturalWidth}}x${{{img}.naturalHeight}}`"


async def test_the_library_shows_the_novel_with_its_cover_and_reads_a_chapter(
    service: Service, tmp_path: Path
) -> None:
    shelf = await _shelved(service)
    async with browser(tmp_path / "chromium") as page:
        await _signed_in(page, service)
        await page.eval("document.getElementById('tab-library').click()")
        card = f"#novels li[data-novel-id='{shelf.novel_id}']"
        await page.until(f"!!document.querySelector({card!r})")
        assert TITLE in await page.eval(f"document.querySelector({card!r}).textContent")
        assert await page.eval("document.getElementById('jobs-view').hidden") is True
        await page.until(f"{_image_size(card + ' img.cover')} === '30x45'")  # the cover, shown

        await page.eval(f"document.querySelector({card!r}).click()")
        await page.until("document.getElementById('novel').dataset.loaded === 'true'")
        assert await page.eval("document.getElementById('n-title').textContent") == TITLE
        await page.until(f"{_image_size('#n-cover img')} === '30x45'")
        chapters = "[...document.querySelectorAll('#n-volumes li')].map(li => li.dataset.chapterId)"
        assert await page.eval(chapters) == shelf.chapter_ids

        first = f"#n-volumes li[data-chapter-id='{shelf.fetched_id}'] button"
        await page.eval(f"document.querySelector({first!r}).click()")
        await page.until(f"document.getElementById('reader').dataset.chapterId === "
                         f"'{shelf.fetched_id}' && document.getElementById('reader')"
                         f".dataset.loaded === 'true'")  # fmt: skip
        text = await page.eval("document.getElementById('r-body').textContent")
        assert "Text of chapter 1." in text
        await page.until(f"{_image_size('#r-body img[alt=art]')} === '8x4'")  # via the token
        # The image that failed to download is not fetched from its site: it has no source.
        assert await page.eval("document.querySelectorAll('#r-body img[src]').length") == 1
        assert page.exceptions == []


async def test_unsafe_chapter_html_is_shown_as_text_and_never_runs(
    service: Service, tmp_path: Path
) -> None:
    shelf = await _shelved(service)
    async with browser(tmp_path / "chromium") as page:
        await _signed_in(page, service)
        await page.eval("document.getElementById('tab-library').click()")
        card = f"#novels li[data-novel-id='{shelf.novel_id}']"
        await page.until(f"!!document.querySelector({card!r})")
        await page.eval(f"document.querySelector({card!r}).click()")
        await page.until("document.getElementById('novel').dataset.loaded === 'true'")
        second = f"#n-volumes li[data-chapter-id='{shelf.chapter_ids[1]}'] button"
        await page.eval(f"document.querySelector({second!r}).click()")
        reader = "document.getElementById('reader')"
        await page.until(f"{reader}.dataset.chapterId === '{shelf.chapter_ids[1]}' && "
                         f"{reader}.dataset.loaded === 'true'")  # fmt: skip
        body = "document.getElementById('r-body')"
        text = await page.eval(f"{body}.textContent")
        assert "Safe words stay." in text and "Clickable text." in text
        names = "n => [n.localName, ...n.getAttributeNames()]"
        found = await page.eval(f"[...{body}.querySelectorAll('*')].flatMap({names})")
        assert not {"script", "iframe", "onerror", "onclick", "href", "src"} & set(found), found
        await page.eval(f"[...{body}.querySelectorAll('a, p')].forEach(n => n.click())")
        assert await page.eval("window.pwned === undefined") is True
        assert page.exceptions == []


async def test_an_artifact_link_downloads_the_file_with_the_token(
    service: Service, tmp_path: Path
) -> None:
    shelf = await _shelved(service)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    async with browser(tmp_path / "chromium") as page:
        await page.call("Browser.setDownloadBehavior", behavior="allow",
                        downloadPath=str(downloads))  # fmt: skip
        await _signed_in(page, service)
        await page.eval("document.getElementById('tab-library').click()")
        card = f"#novels li[data-novel-id='{shelf.novel_id}']"
        await page.until(f"!!document.querySelector({card!r})")
        await page.eval(f"document.querySelector({card!r}).click()")
        await page.until("document.getElementById('novel').dataset.loaded === 'true'")
        link = f"document.querySelector('#n-artifacts a[data-artifact-id=\"{shelf.artifact_id}\"]')"
        assert shelf.file_name in await page.eval(f"{link}.textContent")
        await page.eval(f"{link}.click()")
        await page.until(f"{link}.dataset.state === 'saved'")
        assert await page.eval(f"{link}.dataset.bytes") == str(len(EPUB))

        saved = downloads / shelf.file_name
        await wait_until(lambda: saved.exists() and saved.read_bytes() == EPUB, timeout=20)
        assert page.exceptions == []


async def test_the_job_views_still_work_beside_the_library(
    service: Service, tmp_path: Path
) -> None:
    shelf = await _shelved(service)
    async with browser(tmp_path / "chromium") as page:
        await _signed_in(page, service)
        row = f"#jobs tr[data-job-id='{shelf.job_id}']"
        await page.until(f"!!document.querySelector({row!r})")  # the seeding NOVEL job
        await page.eval("document.getElementById('tab-library').click()")
        await page.until("document.getElementById('novels').dataset.loaded === 'true'")
        await page.eval("document.getElementById('tab-jobs').click()")
        visible: Any = await page.eval(
            "[getComputedStyle(document.getElementById('list')).display,"
            " document.getElementById('library-view').hidden]"
        )
        assert visible[0] != "none" and visible[1] is True
        await page.eval(f"document.querySelector({row!r}).click()")
        await page.until("document.getElementById('detail').dataset.loaded === 'true'")
        assert await page.eval("document.getElementById('d-id').textContent") == shelf.job_id
        assert page.exceptions == []
