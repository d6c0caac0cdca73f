"""A user's library, put in place directly: jobs created through the engine, their library
facts appended to the log as the novel jobs append them, content stored with LibraryStore."""

from __future__ import annotations

from typing import Any

import msgspec

from engine.domain.commands import CreateJob
from engine.domain.envelope import command_envelope, new_id
from engine.domain.events import AnyEvent
from engine.domain.model import JobType
from engine.jetstream.library import (
    Chapter,
    LibraryStore,
    artifact_object,
    cover_object,
    image_object,
)
from tests.library_facts import (
    artifact,
    chapter_infos,
    hex_id,
    image,
    image_info,
    listed,
    parsed,
    stored,
)
from tests.support import Client, Service

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
JPEG = b"\xff\xd8\xff\xe0" + b"jpeg" * 16
EPUB = b"PK\x03\x04mimetypeapplication/epub+zip" + bytes(200)


class Shelf(msgspec.Struct, frozen=True, kw_only=True):
    """What `seed_novel` put in place: ids to ask the API for."""

    user_id: str
    job_id: str
    novel_id: str
    chapter_ids: list[str]
    fetched_id: str
    image_id: str
    missing_image_id: str
    cover_id: str
    artifact_id: str
    file_name: str


async def user_id_of(svc: Service, client: Client) -> str:
    assert client.token is not None
    return (await svc.runtime.users.resolve(client.token)).id


async def create_job(svc: Service, user_id: str, job_type: JobType, **params: Any) -> str:
    """A pending job of `user_id`, created as the API creates one (no worker takes it)."""
    job_id = new_id()
    command = CreateJob(
        **command_envelope(job_id, user_id), user_id=user_id, type=job_type, priority=1,
        params=params, title="seeded",
    )  # fmt: skip
    outcome = await svc.runtime.jobs.service.execute(command)
    await svc.runtime.projector.wait_for(outcome.seq)
    return job_id


async def append(svc: Service, *events: AnyEvent) -> None:
    """Append `events` unchecked, as a worker's recorder does, and wait for the read model."""
    seq = 0
    for event in events:
        seq = await svc.runtime.store.append_unchecked(event)
    await svc.runtime.projector.wait_for(seq)


def chapter_html(serial: int, image_url: str) -> str:
    return f'<p>Text of chapter {serial}.</p><img src="{image_url}" alt="art"/>'


async def seed_novel(
    svc: Service, client: Client, *, title: str, chapters: int = 3, key: str = "n",
    file_name: str = "Novel.epub",
) -> Shelf:  # fmt: skip
    """A novel parsed by a NOVEL job of `client`'s user, with `chapters` chapters of which the
    first is fetched (showing one stored and one failed image), a stored cover and an epub
    made by an ARTIFACT job of theirs."""
    user_id = await user_id_of(svc, client)
    novel_id = hex_id(f"{key}:{title}")
    job = await create_job(svc, user_id, JobType.NOVEL, url=f"https://novels.test/{novel_id}/")
    infos = chapter_infos(novel_id, chapters)
    shown = image_info(f"https://img.test/{novel_id}/1.png?a=1&b=2")
    broken = image_info(f"https://img.test/{novel_id}/2.png")
    cover = image_info(f"https://img.test/{novel_id}/cover.jpg")
    library: LibraryStore = svc.runtime.library
    html = chapter_html(1, shown.url.replace("&", "&amp;")) + f'<img src="{broken.url}" alt=""/>'
    size = await library.put_chapter(novel_id, infos[0].id, Chapter(title="Chapter 1", html=html))
    await library.put_file(image_object(novel_id, shown.id), PNG, "image/png")
    await library.put_file(cover_object(novel_id), JPEG, "image/jpeg")
    maker = await create_job(svc, user_id, JobType.ARTIFACT, novel_id=novel_id, formats=["epub"])
    await library.put_file(artifact_object(novel_id, maker), EPUB, "application/epub+zip")
    await append(
        svc,
        parsed(job, novel_id, title=title, chapters=chapters, cover_url=cover.url),
        listed(job, novel_id, infos),
        image(job, novel_id, cover, cover=True, content_type="image/jpeg", size=len(JPEG)),
        stored(job, novel_id, infos[0].id, size=size, images=[shown, broken]),
        image(job, novel_id, shown, chapter_id=infos[0].id, size=len(PNG)),
        image(job, novel_id, broken, ok=False, chapter_id=infos[0].id),
        artifact(maker, novel_id, file_name=file_name, size=len(EPUB)),
    )
    return Shelf(
        user_id=user_id, job_id=job, novel_id=novel_id, chapter_ids=[c.id for c in infos],
        fetched_id=infos[0].id, image_id=shown.id, missing_image_id=broken.id,
        cover_id=cover.id, artifact_id=maker, file_name=file_name,
    )  # fmt: skip
