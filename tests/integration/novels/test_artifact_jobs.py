"""ARTIFACT jobs through the API with a real worker: e-books made from a library put in place
directly (tests/integration/novels/shelf.py), stored in the object store, checked with
epubcheck and read back with Calibre."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from typing import Any

from ulid import ULID

from api.jobs import NewJob
from api.users import User
from engine.domain.events import ArtifactStored, kind_of
from engine.domain.model import JobStatus, JobType, Tier
from engine.jetstream.library import Blob, LibraryStore, artifact_object
from engine.novels.model import url_id
from tests.integration.artifacts.test_converter import group_members, pids_running
from tests.integration.artifacts.tools import (
    assert_valid_epub,
    needs_calibre,
    needs_epubcheck,
    read_back,
)
from tests.integration.novels.shelf import MAP_URL, NOVEL_ID, TITLE, Shelved, marker, shelve
from tests.support import Client, Service, finished, wait_until

ARTIFACTS = "/api/job/create/make-artifacts"


async def member(svc: Service, name: str, tier: Tier = Tier.VIP) -> tuple[Client, User]:
    client = await svc.add_user(name, tier=tier)
    assert client.token is not None
    return client, await svc.runtime.users.resolve(client.token)


async def library_of(svc: Service) -> LibraryStore:
    return await LibraryStore.open(svc.runtime.nc)


async def shelved(svc: Service, user: User, **options: Any) -> Shelved:
    """The novel in `user`'s library, once the read model shows it."""
    shelf = await shelve(svc.runtime.store, await library_of(svc), user.id, **options)
    await svc.runtime.projector.wait_for(shelf.seq)
    return shelf


async def make(client: Client, *formats: str) -> dict[str, Any]:
    status, job = await client.call(
        "POST", ARTIFACTS, json={"novel_id": NOVEL_ID, "formats": list(formats)}
    )
    assert status == 201, job
    return dict(job)


async def stored(svc: Service, job_id: str) -> tuple[ArtifactStored, Blob]:
    """The job's `artifact_stored` fact and the file it names."""
    facts = [s.event for s in await svc.runtime.store.history(job_id)]
    (fact,) = [e for e in facts if isinstance(e, ArtifactStored)]
    blob = await (await library_of(svc)).get_file(artifact_object(NOVEL_ID, fact.artifact_id))
    assert blob is not None
    assert (fact.bytes, fact.content_type) == (len(blob.data), blob.content_type)
    return fact, blob


async def succeeded(client: Client, job: dict[str, Any]) -> dict[str, Any]:
    done = await finished(client, job["id"], timeout=100)
    assert done["status"] == JobStatus.SUCCESS, done
    assert done["extra"]["artifact_id"] == job["id"]
    return done


@needs_epubcheck
async def test_an_epub_is_made_from_the_library_and_passes_epubcheck(
    working: Service, tmp_path: Path
) -> None:
    client, user = await member(working, "reader")
    shelf = await shelved(working, user, volumes=2, per_volume=3, part_size=4)
    job = await make(client, "epub")
    assert job["job_title"] == f"{TITLE} · epub"
    await succeeded(client, job)
    fact, blob = await stored(working, job["id"])
    assert (fact.format, fact.chapters_missing) == ("epub", 0)
    assert fact.content_type == "application/epub+zip" and fact.file_name.endswith(".epub")
    epub = tmp_path / fact.file_name
    epub.write_bytes(blob.data)
    assert_valid_epub(epub)
    with zipfile.ZipFile(io.BytesIO(blob.data)) as z:
        names = z.namelist()
        text = "".join(z.read(n).decode() for n in names if n.endswith(".xhtml"))
    assert all(marker(c.serial) in text for c in shelf.chapters)
    # the PNG the first chapter shows is in the book, the WebP is not
    assert any(n.endswith(f"images/{url_id(MAP_URL)}.png") for n in names), names
    assert not any(".webp" in n for n in names), names


async def test_a_txt_has_every_chapter_and_a_placeholder_for_a_missing_one(
    working: Service,
) -> None:
    client, user = await member(working, "reader", Tier.BASIC)
    shelf = await shelved(working, user, missing={2})
    job = await make(client, "txt")
    await succeeded(client, job)
    fact, blob = await stored(working, job["id"])
    assert (fact.format, fact.chapters_missing, fact.content_type) == (
        "txt", 1, "text/plain; charset=utf-8",
    )  # fmt: skip
    text = blob.data.decode("utf-8")
    for chapter in shelf.chapters:
        assert (marker(chapter.serial) in text) is (chapter.serial != 2)
    assert "This chapter has not been downloaded yet" in text and shelf.chapters[1].url in text
    status, logs = await client.call("GET", f"/api/job/{job['id']}/logs")
    assert status == 200, logs
    assert any("1 of 6 chapters are not in the library" in str(line) for line in logs), logs


@needs_calibre
async def test_a_calibre_format_reads_back_with_the_chapters_text(
    working: Service, tmp_path: Path
) -> None:
    client, user = await member(working, "reader")
    shelf = await shelved(working, user)
    job = await make(client, "docx")
    await succeeded(client, job)
    fact, blob = await stored(working, job["id"])
    assert fact.file_name.endswith(".docx") and fact.format == "docx"
    path = tmp_path / fact.file_name
    path.write_bytes(blob.data)
    text = read_back(path, tmp_path)
    assert all(marker(c.serial) in text for c in shelf.chapters)


async def test_a_batch_makes_one_artifact_per_format(working: Service) -> None:
    client, user = await member(working, "reader", Tier.BASIC)
    await shelved(working, user)
    batch = await make(client, "json", "txt")
    assert batch["total"] == 2
    done = await finished(client, batch["id"], timeout=100)
    assert done["status"] == JobStatus.SUCCESS, done
    children = await client.all_items(f"/api/jobs?parent_job_id={batch['id']}")
    formats = set()
    for child in children:
        fact, _ = await stored(working, child["id"])
        assert fact.artifact_id == child["id"] == child["extra"]["artifact_id"]
        formats.add(fact.format)
    assert formats == {"json", "txt"}


async def test_a_job_whose_table_of_contents_is_not_in_the_log_fails_saying_so(
    working: Service,
) -> None:
    client, user = await member(working, "reader")
    await shelved(working, user)
    nowhere = str(ULID())  # params as the API would never make them: no such NOVEL job
    params = {"novel_id": NOVEL_ID, "formats": ["epub"], "toc_job_id": nowhere}
    row = await working.runtime.jobs.create(
        user, NewJob(type=JobType.ARTIFACT, params=params, title=TITLE)
    )
    done = await finished(client, row.id, timeout=100)
    assert done["status"] == JobStatus.FAILED
    assert done["error"] == f"job {nowhere} holds no table of contents of novel {NOVEL_ID}"


async def logged(client: Client, job_id: str, text: str) -> bool:
    status, logs = await client.call("GET", f"/api/job/{job_id}/logs")
    assert status == 200, logs
    return any(text in str(line) for line in logs)


async def nothing_stored(svc: Service, job_id: str) -> None:
    kinds = [kind_of(s.event) for s in await svc.runtime.store.history(job_id)]
    assert "artifact_stored" not in kinds, kinds
    library = await library_of(svc)
    assert await library.get_file(artifact_object(NOVEL_ID, job_id)) is None


@needs_calibre
async def test_one_build_at_a_time_and_a_cancel_kills_the_converter(working: Service) -> None:
    client, user = await member(working, "reader")
    await shelved(working, user, volumes=4, per_volume=50)  # a pdf of minutes
    converting = await make(client, "pdf")
    scratch = f"artifact-{converting['id']}"  # the build's directory: in the converter's args
    await wait_until(lambda: bool(pids_running(scratch)), timeout=60)
    group = os.getpgid(pids_running(scratch)[0])
    # a second build of the same worker waits for the first, and a cancel ends the wait
    waiting = await make(client, "epub")
    await wait_until(lambda: logged(client, waiting["id"], "waiting for another e-book build"))
    assert (await client.call("POST", f"/api/job/{waiting['id']}/cancel"))[0] == 200
    done = await finished(client, waiting["id"], timeout=30)
    assert done["status"] == JobStatus.CANCELED, done
    assert group_members(group), "the first build went on converting"
    await nothing_stored(working, waiting["id"])
    # canceling the first kills its converter's whole process group
    assert (await client.call("POST", f"/api/job/{converting['id']}/cancel"))[0] == 200
    done = await finished(client, converting["id"], timeout=60)
    assert done["status"] == JobStatus.CANCELED, done
    assert group_members(group) == [] and pids_running(scratch) == []
    await nothing_stored(working, converting["id"])
