"""Chapters fetched by a run, recorded in groups: one `chapters_stored` per group.

A chapter used to cost a `chapter_stored` fact, a `page` event and the page's body in
RESULTS, each stored, delivered to the API's consumers and folded there: per chapter as much
work again as fetching and cleaning it. A :class:`ChapterGroups` instead collects the
chapters a run fetched and, every :data:`GROUP_EVERY_S` or once :data:`GROUP_MOST` chapters
(or :data:`GROUP_BODY_BYTES` of bodies and images) are waiting, stores their bodies and the
images fetched with them (those small enough; larger ones are files, stored before their
chapter is added) in LIBRARY as one atomic batch (one fsync), and then records one
`chapters_stored` event saying, for each, what the fact and the OK page said, and what its
images' `image_stored` facts would. The bodies and images are stored before the event is
queued, so a recorded chapter always has its body and images.

Each group's message id is ``<job>:chapters:<first chapter id>:<attempt>``: within an
attempt every chapter is in one group, so the ids differ, and a group the recorder sends
again is stored once. A group not recorded when the run dies is fetched again by the next
attempt (its chapters are not OK pages of the job yet), or restated from the library if its
bodies were stored.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from engine.domain.events import ChaptersStored, StoredChapter, StoredImage
from engine.jetstream.atomic import Message
from engine.novels.common import envelope, msg_id

if TYPE_CHECKING:  # the run's protocol lives with the handlers, which build on this module
    from engine.novels.handlers import NovelRun

GROUP_EVERY_S = 0.2  # a fetched chapter waits at most this long to be recorded
GROUP_MOST = 100  # chapters in one group at most
GROUP_BODY_BYTES = 4 * 1024 * 1024  # a group's bodies and images together, at most (about)


class _Added(NamedTuple):
    chapter: StoredChapter
    message: tuple[str, bytes]  # its body's
    images: list[StoredImage]  # its images' facts
    files: list[Message]  # the messages storing its images fetched now (small ones)


class ChapterGroups:
    """Chapters of novel `novel_id` fetched by `run`, recorded in groups (module docstring).

    Contract: `add` queues a fetched chapter and its body message, and counts its URL as an
    OK page of the run at once (as `run.page` would); it records a group itself when one is
    full. `close` records what is left and returns once every group is queued in the run's
    recorder, raising the first error met storing one (StoreUnavailable). `discard` drops
    what is not recorded yet (the run failed). After either, `add` may not be called.
    """

    def __init__(self, run: NovelRun, novel_id: str) -> None:
        self._run = run
        self._novel_id = novel_id
        self._pending: list[_Added] = []
        self._bytes = 0
        self._timer: asyncio.TimerHandle | None = None
        self._writes: set[asyncio.Task[None]] = set()
        self._error: BaseException | None = None

    async def add(
        self, chapter: StoredChapter, message: tuple[str, bytes],
        images: Sequence[StoredImage] = (), files: Sequence[Message] = (),
    ) -> None:  # fmt: skip
        """Queue `chapter` with its body's (subject, payload), the facts of its images and
        the messages storing those not stored before (`LibraryStore.image_message`), which
        go with its body; raises an earlier group's error."""
        self._raise_if_failed()
        self._pending.append(_Added(chapter, message, list(images), list(files)))
        self._bytes += len(message[1]) + sum(len(data) for _, data, _ in files)
        self._run.ok_urls.add(chapter.url)
        self._run.failed_urls.discard(chapter.url)
        if len(self._pending) >= GROUP_MOST or self._bytes >= GROUP_BODY_BYTES:
            await self._record(self._take())
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(GROUP_EVERY_S, self._due)

    async def close(self) -> None:
        """Record every chapter added; StoreUnavailable (or the error met) if one cannot be."""
        group = self._take()
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)
        self._raise_if_failed()
        await self._record(group)

    async def discard(self) -> None:
        """Drop the chapters not recorded yet and stop the groups being written."""
        self._take()
        for task in list(self._writes):
            task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.gather(*self._writes, return_exceptions=True)

    def _take(self) -> list[_Added]:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        group, self._pending, self._bytes = self._pending, [], 0
        return group

    def _due(self) -> None:
        """The timer: record the waiting group in a task of its own (errors kept)."""
        self._timer = None
        task = asyncio.create_task(self._record(self._take()), name="chapter-group")
        self._writes.add(task)
        task.add_done_callback(self._written)

    def _written(self, task: asyncio.Task[None]) -> None:
        self._writes.discard(task)
        if not task.cancelled() and task.exception() is not None and self._error is None:
            self._error = task.exception()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    async def _record(self, group: list[_Added]) -> None:
        """Store the group's bodies and images (one atomic batch), then queue its event."""
        if not group:
            return
        files = [file for added in group for file in added.files]
        await self._run.library.put_chapters([a.message for a in group], files)
        chapters = [a.chapter for a in group]
        images = [image for a in group for image in a.images]
        event = ChaptersStored(
            **envelope(self._run), novel_id=self._novel_id, chapters=chapters, images=images
        )
        await self._run.record(event, msg_id(self._run, "chapters", chapters[0].chapter_id))
