"""Helpers of the novel job tests: a local novel site that can hold chapters back and counts
what it answered, and jobs made as the create routes would make them."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from typing import Any

from aiohttp import web

from engine.domain.commands import CreateJob
from engine.domain.envelope import command_envelope, new_id
from engine.domain.events import (
    ChapterInfo,
    ChaptersListed,
    ChaptersStored,
    ChapterStored,
    Event,
    ImageStored,
    PageRecorded,
    StoredChapter,
    StoredImage,
)
from engine.domain.model import JobType
from engine.jetstream.library import LIBRARY_STREAM
from tests.integration.api.helpers import log_of, run
from tests.sites.novelsite import Faults, NovelSite, build_novel_app, novel_site
from tests.support import Service, finished, serve_app

NO_FAULTS = Faults(unavailable_once=frozenset(), rate_limited_once=frozenset(), missing=frozenset())
_CHAPTER = re.compile(r"/chapter-(\d+)")


class Watched:
    """A served novel site and what it saw: requests held back (chapters whose serial is in
    `hold`, and paths in `hold_paths`, until `release` is set), requests in flight at once
    (`most_in_flight`), and `answered` (requests per path whose handler completed: a held
    request whose client went away is not answered, but `abandoned`). The site's own log
    counts the requests it served."""

    def __init__(self, site: NovelSite, hold: set[int], hold_paths: set[str]) -> None:
        self.site = site
        self.hold = hold
        self.hold_paths = hold_paths
        self.release = asyncio.Event()
        self.held = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self.answered: Counter[str] = Counter()
        self.abandoned: Counter[str] = Counter()  # held requests whose client went away

    def chapter_path(self, serial: int) -> str:
        return self.site.chapter_url(serial).removeprefix(self.site.origin)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self._held_back(request.path):
                self.held += 1
                try:
                    await self.release.wait()
                except asyncio.CancelledError:
                    self.abandoned[request.path] += 1
                    raise
                finally:
                    self.held -= 1
            response: web.StreamResponse = await handler(request)
        finally:
            self.in_flight -= 1
        self.answered[request.path] += 1
        return response

    def _held_back(self, path: str) -> bool:
        match = _CHAPTER.search(path)
        return path in self.hold_paths or (match is not None and int(match.group(1)) in self.hold)


@contextlib.asynccontextmanager
async def watched_site(
    layout: str, *, faults: Faults | None = None, hold: set[int] | None = None,
    hold_paths: set[str] | None = None,
) -> AsyncIterator[Watched]:  # fmt: skip
    """The novel site of `layout` on 127.0.0.1, watched (see Watched): chapters whose
    serial is in `hold`, and requests of `hold_paths`, held back; a held request is
    cancelled when its client goes away."""
    site = novel_site(layout, faults=faults)
    watched = Watched(site, hold or set(), hold_paths or set())
    app = build_novel_app(site)
    app.middlewares.append(watched.middleware)
    async with serve_app(app, handler_cancellation=True, shutdown_timeout=0.5) as origin:
        site.origin = origin
        try:
            yield watched
        finally:
            watched.release.set()


async def create_job(
    svc: Service, job_type: JobType, params: dict[str, Any], *, total: int = 1
) -> str:
    """A job of the admin's, created as a create route would after resolving its params."""
    user = await svc.runtime.users.resolve(svc.admin.token or "")
    job_id = new_id()
    command = CreateJob(
        **command_envelope(job_id, user.id), user_id=user.id, type=int(job_type), priority=1,
        params=params, title=f"{job_type.name} job", total=total,
    )  # fmt: skip
    await run(svc, command)
    return job_id


async def read_novel(svc: Service, site: NovelSite, slug: str | None = None) -> list[ChapterInfo]:
    """Run a NOVEL job on the site's novel; its table of contents."""
    url = site.novel_url(slug) if slug else site.novel_url()
    body = {"url": url, "source": site.layout.name}
    status, job = await svc.admin.call("POST", "/api/job/create/fetch-novel", json=body)
    assert status == 201, job
    job = await finished(svc.admin, job["id"])
    assert job["status"] == 2, job
    events = [s.event for s in await log_of(svc, job["id"])]
    return [c for e in events if isinstance(e, ChaptersListed) for c in e.chapters]


def chapter_params(
    chapters: Sequence[ChapterInfo], source: str, *, refresh: bool = False
) -> dict[str, Any]:
    """VOLUME (or, with one chapter, CHAPTER) params for `chapters` of one novel."""
    novel_id = chapters[0].volume_id.split("-v")[0]
    items = [{"id": c.id, "url": c.url, "title": c.title, "serial": c.serial} for c in chapters]
    return {
        "novel_id": novel_id, "volume_id": chapters[0].volume_id, "source": source,
        "chapters": items, "refresh": refresh,
    }  # fmt: skip


async def events_of(svc: Service, job_id: str) -> list[Event]:
    return [s.event for s in await log_of(svc, job_id)]


async def library_writes(svc: Service) -> tuple[int, int]:
    """The chapter bodies the LIBRARY stream holds, and the writes of chapter bodies it took
    (its last sequence less the images it holds, each image stored once with its chapter):
    equal, and the number of chapters, when every chapter body was stored once."""
    js = svc.runtime.nc.jetstream()
    info = await js.stream_info(LIBRARY_STREAM, subjects_filter="library.*.img.*")
    images = sum((info.state.subjects or {}).values())
    return int(info.state.messages) - images, int(info.state.last_seq) - images


def chapter_facts(events: Sequence[Event]) -> list[tuple[str, ChapterStored | StoredChapter]]:
    """Each chapter a job's log says is stored, with its novel id, in log order: its
    `chapter_stored` facts and the chapters of its `chapters_stored` groups."""
    found: list[tuple[str, ChapterStored | StoredChapter]] = []
    for e in events:
        if isinstance(e, ChapterStored):
            found.append((e.novel_id, e))
        elif isinstance(e, ChaptersStored):
            found += [(e.novel_id, c) for c in e.chapters]
    return found


def image_facts(events: Sequence[Event]) -> list[ImageStored | StoredImage]:
    """What the log says of each image a job stored (or failed to), in log order: its
    `image_stored` facts (covers, IMAGE jobs) and the images of its `chapters_stored`."""
    found: list[ImageStored | StoredImage] = []
    for e in events:
        if isinstance(e, ImageStored):
            found.append(e)
        elif isinstance(e, ChaptersStored):
            found += e.images
    return found


def stored_ids(events: Sequence[Event]) -> Counter[str]:
    """How often the log names each chapter id stored."""
    return Counter(fact.chapter_id for _, fact in chapter_facts(events))


def page_urls(events: Sequence[Event]) -> list[str]:
    """The URLs of the job's pages in log order: `page` events and grouped chapters (each an
    OK page)."""
    urls: list[str] = []
    for e in events:
        if isinstance(e, PageRecorded):
            urls.append(e.url)
        elif isinstance(e, ChaptersStored):
            urls += [c.url for c in e.chapters]
    return urls
