"""The library's routes: novels, their chapters, images and e-book artifacts.

Reads of the read model (projections.library) and of the library's content (LibraryStore).
A user sees the novels their NOVEL or FULL_NOVEL jobs parsed, and the artifacts their jobs
made; admins see everything; anything else is a 404, as is an id of the wrong shape.
"""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get
from litestar.params import QueryParameter

from api.deps import RuntimeDep
from api.jobs import viewer_of
from api.library import (
    BINARY,
    ArtifactIdPath,
    ArtifactView,
    ChapterIdPath,
    ChapterItem,
    ChapterView,
    ImageIdPath,
    LibraryPage,
    NovelIdPath,
    NovelItem,
    NovelView,
    VolumeItem,
    artifact_item,
    artifact_type,
    content_disposition,
    found,
    image_file,
    image_type,
    page_of,
    with_api_images,
)
from api.routes import CurrentUser, Limit, Offset
from engine.jetstream.library import artifact_object
from projections import library

Search = Annotated[
    str | None,
    QueryParameter(max_length=200, description="Only novels whose title contains this text."),
]


class LibraryController(Controller):
    path = "/api"
    tags = ["library"]

    @get("/novels")
    async def list_novels(
        self, user: CurrentUser, runtime: RuntimeDep, q: Search = None, offset: Offset = 0,
        limit: Limit = 20,
    ) -> LibraryPage[NovelItem]:  # fmt: skip
        """The novels the caller fetched (admins: all), by title; `q` searches the titles."""
        db = runtime.jobs.db
        total, rows = await library.list_novels(db, viewer_of(user), q, offset, limit)
        return page_of(total, offset, limit, [NovelItem.of(n) for n in rows])

    @get("/novel/{novel_id:str}")
    async def get_novel(
        self, user: CurrentUser, runtime: RuntimeDep, novel_id: NovelIdPath
    ) -> NovelView:
        """A novel: metadata, `cover` (an image id), volumes, and the caller's artifacts."""
        db, viewer = runtime.jobs.db, viewer_of(user)
        n = found(await library.get_novel(db, novel_id, viewer), "novel", novel_id)
        volumes = await library.novel_volumes(db, novel_id)
        artifacts = await library.novel_artifacts(db, novel_id, viewer)
        return NovelView(
            id=n.id, title=n.title, url=n.url, source=n.source, authors=n.authors,
            synopsis=n.synopsis, tags=n.tags, cover=n.cover_image_id,
            volumes=[
                VolumeItem(id=v.id, serial=v.serial, title=v.title, chapter_count=v.chapter_count)
                for v in volumes
            ],
            chapter_count=n.chapter_count, artifacts=[artifact_item(a) for a in artifacts],
        )  # fmt: skip

    @get("/novel/{novel_id:str}/chapters")
    async def novel_chapters(
        self, user: CurrentUser, runtime: RuntimeDep, novel_id: NovelIdPath,
        offset: Offset = 0, limit: Limit = 20,
    ) -> LibraryPage[ChapterItem]:  # fmt: skip
        """The novel's table of contents in reading order; chapter ids for fetch-chapters."""
        db = runtime.jobs.db
        found(await library.get_novel(db, novel_id, viewer_of(user)), "novel", novel_id)
        total, rows = await library.novel_chapters(db, novel_id, offset, limit)
        return page_of(total, offset, limit, [ChapterItem.of(c) for c in rows])

    @get("/chapter/{chapter_id:str}")
    async def get_chapter(
        self, user: CurrentUser, runtime: RuntimeDep, chapter_id: ChapterIdPath
    ) -> ChapterView:
        """A chapter with its content (null until fetched) and the images it shows."""
        row = await library.get_chapter(runtime.jobs.db, chapter_id, viewer_of(user))
        c = found(row, "chapter", chapter_id)
        stored = await runtime.library.get_chapter(c.novel_id, c.id) if c.fetched else None
        content = with_api_images(stored.html, c.images) if stored is not None else None
        return ChapterView(
            id=c.id, novel_id=c.novel_id, volume_id=c.volume_id, serial=c.serial, title=c.title,
            url=c.url, fetched=c.fetched, content=content, images=c.images,
        )  # fmt: skip

    @get("/image/{image_id:str}", media_type=BINARY)
    async def get_image(
        self, user: CurrentUser, runtime: RuntimeDep, image_id: ImageIdPath
    ) -> Response[bytes]:
        """The image's bytes, with the content type it was served with."""
        row = await library.get_image(runtime.jobs.db, image_id, viewer_of(user))
        image = found(row if row is not None and row.fetched else None, "image", image_id)
        blob = found(await image_file(runtime.library, image), "image", image_id)
        return Response(blob.data, media_type=image_type(image.content_type or blob.content_type))

    @get("/artifact/{artifact_id:str}")
    async def get_artifact(
        self, user: CurrentUser, runtime: RuntimeDep, artifact_id: ArtifactIdPath
    ) -> ArtifactView:
        """An e-book the caller made (admins: any): format, file name, size."""
        row = await library.get_artifact(runtime.jobs.db, artifact_id, viewer_of(user))
        return ArtifactView.of(found(row, "artifact", artifact_id))

    @get("/artifact/{artifact_id:str}/download", media_type=BINARY)
    async def download_artifact(
        self, user: CurrentUser, runtime: RuntimeDep, artifact_id: ArtifactIdPath
    ) -> Response[bytes]:
        """The e-book file, as an attachment named by its file name."""
        row = await library.get_artifact(runtime.jobs.db, artifact_id, viewer_of(user))
        a = found(row, "artifact", artifact_id)
        blob = await runtime.library.get_file(artifact_object(a.novel_id, a.id))
        data = found(blob, "artifact file", artifact_id).data
        headers = {"Content-Disposition": content_disposition(a.file_name)}
        return Response(data, media_type=artifact_type(a.content_type), headers=headers)
