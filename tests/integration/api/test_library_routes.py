"""The library endpoints over HTTP, against libraries of two users put in place through the
engine (jobs, library facts in the log, content in the LIBRARY stream and object store)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote

from api.library import ARTIFACT_TYPES
from engine.domain.events import Codec
from projections.library import library_dump
from projections.projector import rebuild
from projections.schema import open_db
from tests.integration.api.helpers import assert_error, finish, raw, start
from tests.integration.api.library_seed import EPUB, JPEG, PNG, Shelf, seed_novel
from tests.support import Client, Service

NOVEL_ITEM = {
    "id", "title", "url", "source", "authors", "cover", "volume_count", "chapter_count",
    "updated_at",
}  # fmt: skip
NOVEL_VIEW = {
    "id", "title", "url", "source", "authors", "synopsis", "tags", "cover", "volumes",
    "chapter_count", "artifacts",
}  # fmt: skip
PAGE = {"total", "offset", "limit", "has_more", "items"}


async def ok(client: Client, path: str, **params: Any) -> Any:
    status, body = await client.call("GET", path, params=params or None)
    assert status == 200, (path, body)
    return body


async def fetch(client: Client, path: str) -> tuple[int, dict[str, str], bytes]:
    async with client.session.get(client.base + path, headers=client._headers(None)) as resp:
        return resp.status, dict(resp.headers), await resp.read()


def owned_paths(shelf: Shelf) -> list[str]:
    return [
        f"/api/novel/{shelf.novel_id}",
        f"/api/novel/{shelf.novel_id}/chapters",
        f"/api/chapter/{shelf.fetched_id}",
        f"/api/image/{shelf.image_id}",
        f"/api/image/{shelf.cover_id}",
        f"/api/artifact/{shelf.artifact_id}",
        f"/api/artifact/{shelf.artifact_id}/download",
    ]


async def test_a_novel_its_chapters_images_and_artifact(api: Service) -> None:
    alice = await api.add_user("alice")
    shelf = await seed_novel(api, alice, title="Moon Tale", chapters=3)

    page = await ok(alice, "/api/novels")
    assert set(page) == PAGE and (page["total"], page["has_more"]) == (1, False)
    [item] = page["items"]
    assert set(item) == NOVEL_ITEM
    assert (item["id"], item["title"], item["chapter_count"]) == (shelf.novel_id, "Moon Tale", 3)
    assert (item["cover"], item["volume_count"], item["source"]) == (shelf.cover_id, 1, "novelfull")

    novel = await ok(alice, f"/api/novel/{shelf.novel_id}")
    assert set(novel) == NOVEL_VIEW
    assert (novel["authors"], novel["tags"], novel["cover"]) == (
        ["A. Writer"],
        ["Fantasy"],
        shelf.cover_id,
    )
    assert novel["volumes"] == [
        {"id": f"{shelf.novel_id}-v1", "serial": 1, "title": "Volume 1", "chapter_count": 3}
    ]
    [made] = novel["artifacts"]
    assert set(made) == {"id", "format", "file_name", "bytes", "created_at"}
    assert (made["id"], made["format"], made["bytes"]) == (shelf.artifact_id, "epub", len(EPUB))

    chapters = await ok(alice, f"/api/novel/{shelf.novel_id}/chapters", limit=2)
    assert (chapters["total"], chapters["limit"], chapters["has_more"]) == (3, 2, True)
    assert [c["id"] for c in chapters["items"]] == shelf.chapter_ids[:2]
    first = chapters["items"][0]
    assert set(first) == {"id", "volume_id", "serial", "title", "url", "fetched"}
    assert (first["serial"], first["fetched"], first["volume_id"]) == (
        1,
        True,
        f"{shelf.novel_id}-v1",
    )
    rest = await ok(alice, f"/api/novel/{shelf.novel_id}/chapters", offset=2, limit=2)
    assert [c["id"] for c in rest["items"]] == shelf.chapter_ids[2:] and not rest["has_more"]
    assert [c["fetched"] for c in rest["items"]] == [False]


async def test_chapter_content_points_stored_images_at_the_api(api: Service) -> None:
    alice = await api.add_user("alice")
    shelf = await seed_novel(api, alice, title="Moon Tale")
    chapter = await ok(alice, f"/api/chapter/{shelf.fetched_id}")
    assert chapter["novel_id"] == shelf.novel_id and chapter["fetched"] is True
    shown, broken = chapter["images"]
    assert (shown["id"], shown["fetched"]) == (shelf.image_id, True)
    assert (broken["id"], broken["fetched"]) == (shelf.missing_image_id, False)
    content = chapter["content"]
    assert content.startswith("<p>Text of chapter 1.</p>")
    assert f'<img src="/api/image/{shelf.image_id}" alt="art"/>' in content
    assert f'<img src="{broken["url"]}" alt=""/>' in content  # not stored: the original
    later = await ok(alice, f"/api/chapter/{shelf.chapter_ids[1]}")
    assert (later["fetched"], later["content"], later["images"]) == (False, None, [])


async def test_images_and_downloads_are_the_stored_bytes(api: Service) -> None:
    alice = await api.add_user("alice")
    shelf = await seed_novel(api, alice, title="Moon Tale")
    status, headers, body = await fetch(alice, f"/api/image/{shelf.image_id}")
    assert (status, headers["Content-Type"], body) == (200, "image/png", PNG)
    status, headers, body = await fetch(alice, f"/api/image/{shelf.cover_id}")
    assert (status, headers["Content-Type"], body) == (200, "image/jpeg", JPEG)
    status, _, body = await raw(alice, "GET", f"/api/image/{shelf.missing_image_id}")
    assert_error(status, body, 404)

    artifact = await ok(alice, f"/api/artifact/{shelf.artifact_id}")
    assert artifact == {
        "id": shelf.artifact_id, "novel_id": shelf.novel_id, "job_id": shelf.artifact_id,
        "format": "epub", "file_name": "Novel.epub", "content_type": "application/epub+zip",
        "bytes": len(EPUB), "created_at": artifact["created_at"],
        "download": f"/api/artifact/{shelf.artifact_id}/download",
    }  # fmt: skip
    status, headers, body = await fetch(alice, artifact["download"])
    assert (status, body) == (200, EPUB)
    assert headers["Content-Type"] == "application/epub+zip"
    assert headers["Content-Disposition"] == 'attachment; filename="Novel.epub"'


async def test_a_non_ascii_file_name_is_sent_as_rfc_5987(api: Service) -> None:
    alice = await api.add_user("alice")
    name = 'Ünïcode "小说".epub'
    shelf = await seed_novel(api, alice, title="Wide", file_name=name)
    status, headers, _ = await fetch(alice, f"/api/artifact/{shelf.artifact_id}/download")
    assert status == 200
    disposition = headers["Content-Disposition"]
    assert disposition.isascii()
    plain, extended = disposition.removeprefix("attachment; ").split("; ")
    assert plain == 'filename="_n_code ____.epub"'  # quotes too
    assert extended.startswith("filename*=UTF-8''")
    assert unquote(extended.removeprefix("filename*=UTF-8''")) == name


async def test_others_get_404_admins_see_everything(api: Service) -> None:
    alice, bob = await api.add_user("alice"), await api.add_user("bob")
    mine = await seed_novel(api, alice, title="Moon Tale")
    theirs = await seed_novel(api, bob, title="Star Song")
    for path in owned_paths(mine):
        status, _, body = await raw(bob, "GET", path)
        assert_error(status, body, 404)
        assert mine.novel_id not in body["detail"] or "not found" in body["detail"]
        assert (await fetch(api.admin, path))[0] == 200, path
        assert (await fetch(alice, path))[0] == 200, path
    assert [n["id"] for n in (await ok(bob, "/api/novels"))["items"]] == [theirs.novel_id]
    everything = await ok(api.admin, "/api/novels")
    assert [n["title"] for n in everything["items"]] == ["Moon Tale", "Star Song"]
    # the admin sees every artifact of a novel; its owner only their own
    assert [a["id"] for a in (await ok(api.admin, f"/api/novel/{mine.novel_id}"))["artifacts"]] == [
        mine.artifact_id
    ]


async def test_a_second_reader_sees_the_novel_but_not_the_others_artifacts(api: Service) -> None:
    alice, bob = await api.add_user("alice"), await api.add_user("bob")
    shelf = await seed_novel(api, alice, title="Moon Tale")
    again = await seed_novel(api, bob, title="Moon Tale")  # the same novel, fetched by Bob
    assert again.novel_id == shelf.novel_id
    novel = await ok(bob, f"/api/novel/{shelf.novel_id}")
    assert [a["id"] for a in novel["artifacts"]] == [again.artifact_id]
    assert (await fetch(bob, f"/api/artifact/{shelf.artifact_id}"))[0] == 404
    assert (await fetch(bob, f"/api/chapter/{shelf.fetched_id}"))[0] == 200
    admin_view = await ok(api.admin, f"/api/novel/{shelf.novel_id}")
    assert {a["id"] for a in admin_view["artifacts"]} == {shelf.artifact_id, again.artifact_id}


async def test_search_and_paging_of_the_library(api: Service) -> None:
    alice = await api.add_user("alice")
    for title in ("The Moon", "moonlight", "Sun 50% off", "Stars"):
        await seed_novel(api, alice, title=title, chapters=1)
    found = await ok(alice, "/api/novels", q="MOON")
    assert [n["title"] for n in found["items"]] == ["moonlight", "The Moon"]
    assert (await ok(alice, "/api/novels", q="50%"))["total"] == 1
    assert (await ok(alice, "/api/novels", q="%"))["total"] == 1
    first = await ok(alice, "/api/novels", limit=3)
    assert (first["total"], first["has_more"], len(first["items"])) == (4, True, 3)
    last = await ok(alice, "/api/novels", offset=3, limit=3)
    assert [n["title"] for n in last["items"]] == ["The Moon"] and not last["has_more"]
    beyond = await ok(alice, "/api/novels", offset=10)
    assert (beyond["total"], beyond["items"], beyond["has_more"]) == (4, [], False)


async def test_malformed_ids_and_bad_queries(api: Service) -> None:
    alice = await api.add_user("alice")
    for path in (
        "/api/novel/NOTHEX0123456789", "/api/novel/0123", "/api/novel/0123456789abcdef0",
        "/api/chapter/0123456789abcdeg", "/api/image/0123456789ABCDEF", "/api/artifact/nope",
        "/api/artifact/0123456789abcdef/download", "/api/novel/0123456789abcdef",
    ):  # fmt: skip
        status, _, body = await raw(alice, "GET", path)
        assert_error(status, body, 404)
    status, _, body = await raw(alice, "GET", "/api/novels", params={"limit": "101"})
    assert_error(status, body, 422, "limit")
    status, _, body = await raw(alice, "GET", "/api/novels", params={"q": "x" * 201})
    assert_error(status, body, 422, "q")


async def test_the_file_routes_are_documented_as_files(api: Service) -> None:
    status, doc = await api.admin.call("GET", "/schema/openapi.json")
    assert status == 200
    image = doc["paths"]["/api/image/{image_id}"]["get"]["responses"]["200"]
    assert set(image["content"]) == {"image/*", "application/octet-stream"}
    download = doc["paths"]["/api/artifact/{artifact_id}/download"]["get"]["responses"]["200"]
    assert set(download["content"]) == set(ARTIFACT_TYPES)
    assert {"application/epub+zip", "application/pdf", "text/plain"} <= set(ARTIFACT_TYPES)
    assert download["headers"]["Content-Disposition"]["required"] is True
    for path in ("/api/novel/{novel_id}", "/api/chapter/{chapter_id}", "/api/image/{image_id}"):
        [param] = doc["paths"][path]["get"]["parameters"]
        assert param["schema"]["pattern"] == "^[0-9a-f]{16}$"
        assert "404" in doc["paths"][path]["get"]["responses"]


async def test_a_purged_novel_job_takes_its_facts_out_live_and_rebuilt(
    api: Service, tmp_path: Path
) -> None:
    """Purging the NOVEL job that put a novel in Alice's library (the only job that parsed it)
    removes the novel from every read; her ARTIFACT job's artifact stays hers. A read model
    rebuilt from the log as the purge left it holds the same library."""
    alice = await api.add_user("alice")
    shelf = await seed_novel(api, alice, title="Moon Tale")
    kept = await seed_novel(api, alice, title="Star Song")
    await start(api, shelf.job_id)
    await finish(api, shelf.job_id, ok=True)
    assert (await ok(alice, "/api/novels"))["total"] == 2
    status, body = await api.admin.call("DELETE", f"/api/job/{shelf.job_id}?purge=true")
    assert status == 200, body
    for path in owned_paths(shelf)[:5]:  # the novel, its chapters, chapter and images
        assert (await fetch(api.admin, path))[0] == 404, path
    assert [n["id"] for n in (await ok(alice, "/api/novels"))["items"]] == [kept.novel_id]
    assert (await ok(alice, f"/api/artifact/{shelf.artifact_id}"))["novel_id"] == shelf.novel_id

    live = await library_dump(api.runtime.jobs.db)
    fresh = await open_db(tmp_path / "rebuilt.sqlite3")
    try:
        await rebuild(fresh, api.runtime.nc, Codec())
        assert await library_dump(fresh) == live
    finally:
        await fresh.close()
    assert [row[0] for row in live["novels"]] == [kept.novel_id]
