"""The library's content store on a real JetStream: chapter bodies, files, listings."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from nats.aio.client import Client as NATS
from ulid import ULID

from engine.domain.errors import InvalidCommand
from engine.jetstream.errors import StoreUnavailable
from engine.jetstream.library import (
    INLINE_IMAGE_BYTES,
    Blob,
    Chapter,
    LibraryStore,
    artifact_object,
    chapter_subject,
    cover_object,
    image_object,
)

NOVEL = "0123456789abcdef"


async def test_chapters_are_stored_whole_replaced_and_listed(nc: NATS) -> None:
    store = await LibraryStore.open(nc)
    again = await LibraryStore.open(nc)  # opening twice changes nothing
    ids = [f"{i:016x}" for i in range(1, 1203)]  # more than two pages of direct gets
    for i, cid in enumerate(ids):
        await store.put_chapter(NOVEL, cid, Chapter(title=f"Chapter {i}", html=f"<p>{i}</p>"))
    room = store.max_chapter_bytes - 100
    big = "<p>" + "é" * (room // 2 - 10) + "</p>"  # multi-byte text, as large as a message holds
    assert await store.put_chapter(NOVEL, ids[0], Chapter(title="Re", html=big)) > room - 100
    assert await again.stored_chapter_ids(NOVEL) == set(ids)
    assert await store.get_chapter(NOVEL, ids[0]) == Chapter(title="Re", html=big)
    # the bodies of some chapters only: more than one request's subjects, some not stored
    asked = [*ids[:600], "0000000000ffffff", "fedcba9876543210"]
    found = await store.stored_chapters(NOVEL, asked)
    assert set(found) == set(ids[:600]) and found[ids[0]].title == "Re"
    assert found[ids[599]] == Chapter(title="Chapter 599", html="<p>599</p>")
    assert await store.stored_chapters(NOVEL, []) == {}
    too_big = Chapter(title="X", html="a" * store.max_chapter_bytes)
    with pytest.raises(InvalidCommand, match="message limit"):  # refused whole, never cut
        await store.put_chapter(NOVEL, ids[1], too_big)
    assert (await store.get_chapter(NOVEL, ids[1])) == Chapter(title="Chapter 1", html="<p>1</p>")
    assert await store.get_chapter(NOVEL, "ffffffffffffffff") is None
    everything = await store.chapters(NOVEL)
    assert set(everything) == set(ids) and everything[ids[5]].html == "<p>5</p>"
    assert await store.chapters("fedcba9876543210") == {}


async def test_files_keep_their_bytes_and_content_type(nc: NATS) -> None:
    store = await LibraryStore.open(nc)
    data = bytes(range(256)) * 20_000  # about 5 MB: more chunks than one read fetches
    name = image_object(NOVEL, "00112233445566aa")
    assert await store.put_file(name, data, "image/png") == len(data)
    blob = await store.get_file(name)
    assert blob is not None and blob.data == data and blob.content_type == "image/png"
    assert await store.get_file(cover_object(NOVEL)) is None
    artifact = artifact_object(NOVEL, str(ULID()))
    await store.put_file(artifact, b"PK", "application/epub+zip")
    assert (await store.get_file(artifact)) is not None


async def test_a_new_file_is_added_without_a_second_lookup_and_read_back_whole(nc: NATS) -> None:
    store = await LibraryStore.open(nc)
    data = bytes(range(256)) * 1_500  # 384,000 bytes: three chunks and a part
    name = image_object(NOVEL, "00112233445566bb")
    assert await store.file_info(name) is None
    assert await store.add_file(name, data, "image/webp") == len(data)
    info = await store.file_info(name)
    assert info is not None and (info.size, info.content_type) == (len(data), "image/webp")
    blob = await store.get_file(name)  # chunks, order and digest check out
    assert blob is not None and blob.data == data and blob.content_type == "image/webp"
    empty = image_object(NOVEL, "00112233445566bc")
    assert await store.add_file(empty, b"", "image/gif") == 0
    assert await store.get_file(empty) == Blob(data=b"", content_type="image/gif")
    await store._files.delete(name)  # a deleted object's description says so: none held
    assert await store.file_info(name) is None and await store.get_file(name) is None


async def test_adding_a_file_someone_stored_meanwhile_replaces_it_and_leaves_one_copy(
    nc: NATS,
) -> None:
    store = await LibraryStore.open(nc)
    name = image_object(NOVEL, "00112233445566cc")
    await store.put_file(name, b"first" * 1000, "image/png")  # stored after a lookup found none
    chunks_before = await _chunk_messages(nc)
    assert await store.add_file(name, b"second", "image/jpeg") == len(b"second")
    assert await store.get_file(name) == Blob(data=b"second", content_type="image/jpeg")
    # the refused write's chunk was dropped and the first file's replaced: one chunk each
    assert await _chunk_messages(nc) == chunks_before


async def test_a_file_of_several_chunks_added_over_another_leaves_only_its_own_chunks(
    nc: NATS,
) -> None:
    store = await LibraryStore.open(nc)
    name = image_object(NOVEL, "00112233445566dd")
    data = bytes(range(256)) * 600  # two chunks
    chunks_before = await _chunk_messages(nc)
    assert await store.add_file(name, data, "image/png") == len(data)
    assert await store.get_file(name) == Blob(data=data, content_type="image/png")
    assert await _chunk_messages(nc) == chunks_before + 2
    assert await store.add_file(name, b"again", "image/gif") == len(b"again")
    assert await store.get_file(name) == Blob(data=b"again", content_type="image/gif")
    assert await _chunk_messages(nc) == chunks_before + 1  # two chunks out, one in


async def test_a_thousand_reads_in_a_burst_all_succeed_and_leave_no_consumer(nc: NATS) -> None:
    # nats-py's own reader made a consumer per read, which the server kept for seconds:
    # from the 1,000th read on, every read failed with "maximum consumers limit reached"
    store = await LibraryStore.open(nc)
    names = [image_object(NOVEL, f"{i:016x}") for i in range(1_100)]
    lanes = asyncio.Semaphore(16)

    async def add(name: str) -> None:
        async with lanes:
            await store.add_file(name, name.encode(), "image/png")

    async def read(name: str) -> Blob | None:
        async with lanes:
            return await store.get_file(name)

    await asyncio.gather(*(add(n) for n in names))
    blobs = await asyncio.gather(*(read(n) for n in names))
    assert [b.data if b else None for b in blobs] == [n.encode() for n in names]
    info = await nc.jetstream().stream_info("OBJ_library")
    assert info.state.consumer_count == 0


async def test_a_file_whose_chunks_do_not_match_its_description_is_not_served(nc: NATS) -> None:
    store = await LibraryStore.open(nc)
    name = image_object(NOVEL, "00112233445566ee")
    await store.add_file(name, b"real bytes", "image/png")
    js = nc.jetstream()
    subject = "$O.library.M." + base64.urlsafe_b64encode(name.encode()).decode()
    said = json.loads((await js.get_last_msg("OBJ_library", subject)).data)
    said["digest"] = "SHA-256=" + base64.urlsafe_b64encode(b"x" * 32).decode()
    await js.publish(subject, json.dumps(said).encode())  # same size, another digest
    with pytest.raises(StoreUnavailable, match="do not match"):
        await store.get_file(name)
    said["size"] = 3  # a size that the chunks do not have
    await js.publish(subject, json.dumps(said).encode())
    with pytest.raises(StoreUnavailable, match="do not match"):
        await store.get_file(name)


async def test_a_chapters_image_is_stored_with_the_bodies_or_as_a_file_when_large(
    nc: NATS,
) -> None:
    store = await LibraryStore.open(nc)
    small, large, filed = "00112233445566f1", "00112233445566f2", "00112233445566f3"
    body = store.chapter_message(NOVEL, "00112233445566f0", Chapter(title="c", html="<p>c</p>"))
    message = store.image_message(NOVEL, small, b"GIF89a", "image/gif")
    assert message is not None
    assert store.image_message(NOVEL, large, b"x" * (INLINE_IMAGE_BYTES + 1), "image/png") is None
    await store.put_chapters([body], [message])  # one write: the body and the image
    assert await store.get_image(NOVEL, small) == Blob(data=b"GIF89a", content_type="image/gif")
    info = await store.image_info(NOVEL, small)
    assert info is not None and (info.size, info.content_type) == (6, "image/gif")
    assert await store.file_info(image_object(NOVEL, small)) is None  # not a file
    await store.put_file(image_object(NOVEL, filed), b"\x89PNG", "image/png")
    assert await store.get_image(NOVEL, filed) == Blob(data=b"\x89PNG", content_type="image/png")
    assert await store.inline_image_ids(NOVEL) == {small}
    assert (
        await store.get_image(NOVEL, large) is None and await store.image_info(NOVEL, large) is None
    )
    # stored again as a file (a refresh of a larger one): the copy in LIBRARY goes
    await store.put_file(image_object(NOVEL, small), b"\x89PNG2", "image/png")
    await store.drop_inline_image(NOVEL, small)
    assert await store.get_image(NOVEL, small) == Blob(data=b"\x89PNG2", content_type="image/png")
    assert await store.inline_image_ids(NOVEL) == set()
    assert await store.stored_chapter_ids(NOVEL) == {"00112233445566f0"}  # images apart


async def _chunk_messages(nc: NATS) -> int:
    info = await nc.jetstream().stream_info("OBJ_library", subjects_filter="$O.library.C.>")
    return sum((info.state.subjects or {}).values())


@pytest.mark.parametrize("bad", ["*", ">", "a.b", "0123456789ABCDEF", "0123", "g" * 16, ""])
def test_ids_are_checked_before_they_become_subjects_or_names(bad: str) -> None:
    for build in (lambda: chapter_subject(bad, NOVEL), lambda: chapter_subject(NOVEL, bad),
                  lambda: image_object(NOVEL, bad), lambda: cover_object(bad),
                  lambda: artifact_object(NOVEL, bad)):  # fmt: skip
        with pytest.raises(InvalidCommand):
            build()
