"""Images of a novel (its cover, its chapters' images): fetched, stored, recorded.

An image is fetched with the page that shows it as its ``Referer`` (a chapter's image with
the chapter's URL, a cover with the novel page's), as a browser would send it: sites that
protect their images from hotlinking refuse a request without one.

An image the library already holds (an object of the same name) is not fetched again unless
the job refreshes: its `image_stored` fact is restated from the stored object (its size and
content type). So a run after a crash between storing an image and recording it, a replay,
or a later VOLUME or IMAGE job of the same novel records the image without a request.
That lookup reads the object's description only (one request); an image it found missing is
stored without the object store's own second lookup (:meth:`LibraryStore.add_file`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from engine.crawl.errors import CrawlError
from engine.crawl.fetcher import FetchResult
from engine.crawl.models import PageOutcome
from engine.domain.events import ImageStored
from engine.jetstream.library import cover_object, image_object
from engine.novels.common import Stopped, envelope, gated_fetch, msg_id, outcome
from engine.novels.errors import NovelError
from engine.novels.model import url_id

if TYPE_CHECKING:  # the run's protocol lives with the handlers, which build on this module
    from engine.novels.handlers import NovelRun

RESTATED = "already in the library"


class Kept(NamedTuple):
    """What became of an image: stored or found stored (its content type and size), or
    failed (`error`)."""

    content_type: str = ""
    size: int = 0
    error: str | None = None


async def store_image(
    run: NovelRun, novel_id: str, url: str, *, chapter_id: str | None,
    image_id: str | None = None, page: bool = False, referer: str | None = None,
    refresh: bool | None = None, rank: int = 0,
) -> ImageStored:  # fmt: skip
    """Fetch an image (the cover when ``chapter_id`` is None), store it and record it, with
    its `page` event if ``page``; a failure is recorded too (`ok` false), never raised.

    An image already stored is restated instead (counted skipped with ``page``) unless
    ``refresh`` (None: the job's ``refresh`` param). ``referer`` is the page showing the
    image (None: found in the job's params, see :func:`shown_on`); ``rank`` its place at the
    host's gate (its chapter's serial). Stopped passes through.
    """
    image_id = image_id or url_id(url)
    kept, result = await keep_image(
        run, novel_id, url, chapter_id=chapter_id, image_id=image_id, referer=referer,
        refresh=refresh, rank=rank,
    )  # fmt: skip
    fact = ImageStored(
        **envelope(run), novel_id=novel_id, image_id=image_id, url=url,
        ok=kept.error is None, chapter_id=chapter_id, cover=chapter_id is None,
        content_type=kept.content_type, bytes=kept.size, error=kept.error,
    )  # fmt: skip
    await run.record(fact, msg_id(run, "image", image_id))
    if page and result is None and fact.ok:
        await run.skipped(url, RESTATED)
    elif page:
        await run.page(_image_page(url, result, fact))
    return fact


async def keep_image(
    run: NovelRun,
    novel_id: str,
    url: str,
    *,
    chapter_id: str | None,
    image_id: str | None = None,
    referer: str | None = None,
    refresh: bool | None = None,
    rank: int = 0,
) -> tuple[Kept, FetchResult | None]:
    """What `store_image` does but record: what became of the image, for the caller to
    record, and the answer it was fetched with (None: found stored, or not fetched at all)."""
    image_id = image_id or url_id(url)
    name = cover_object(novel_id) if chapter_id is None else image_object(novel_id, image_id)
    refreshing = _refreshing(run, refresh)
    if not refreshing:
        stored = await run.library.file_info(name)
        if stored is not None:
            return Kept(stored.content_type, stored.size), None
    referer = referer or shown_on(run.job.params, image_id, chapter_id)
    result: FetchResult | None = None
    try:
        sent = {"Referer": referer} if referer else None
        result = await gated_fetch(run, url, headers=sent, rank=rank)
        content_type = _image_type(result)
    except (CrawlError, NovelError) as e:
        if isinstance(e, Stopped):
            raise
        return Kept(error=str(e)), result
    # not refreshing, the name was just found free: no second lookup to replace a file
    put = run.library.put_file if refreshing else run.library.add_file
    return Kept(content_type, await put(name, result.body, content_type)), result


def _refreshing(run: NovelRun, refresh: bool | None) -> bool:
    return bool(run.job.params.get("refresh", False)) if refresh is None else refresh


def shown_on(params: dict[str, Any], image_id: str, chapter_id: str | None) -> str | None:
    """The page an image is shown on, from a job's params: an IMAGE's item's ``referer``
    (resolved when the job was made), else the URL of the chapter ``chapter_id`` among a
    VOLUME's or CHAPTER's ``chapters``; None when the params name none."""
    for item in _dicts(params.get("images")):
        if item.get("id") == image_id and isinstance(item.get("referer"), str):
            return str(item["referer"])
    if chapter_id is None:
        return None
    for item in _dicts(params.get("chapters")):
        if item.get("id") == chapter_id and isinstance(item.get("url"), str):
            return str(item["url"])
    return None


def _dicts(items: Any) -> list[dict[str, Any]]:
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _image_page(url: str, result: FetchResult | None, fact: ImageStored) -> PageOutcome:
    if result is None:
        return PageOutcome(url=url, final_url=url, depth=0, status=None, ok=False, error=fact.error)
    return outcome(url, result, fact.error)


def _image_type(result: FetchResult) -> str:
    """The image's content type; NovelError when the answer is not a whole image."""
    content_type = (result.content_type or "").split(";", 1)[0].strip().lower()
    if not 200 <= result.status < 300:
        raise NovelError(f"{result.url}: HTTP {result.status}")
    if not content_type.startswith("image/"):
        raise NovelError(f"{result.url}: not an image ({content_type or 'no content type'})")
    if result.truncated:
        raise NovelError(f"{result.url}: larger than {result.bytes} bytes")
    return content_type
