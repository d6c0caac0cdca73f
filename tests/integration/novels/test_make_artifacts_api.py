"""`POST /api/job/create/make-artifacts`: a novel of the caller's library and formats this
server can make at the caller's tier; anything else is a 4xx naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.artifacts import calibre
from engine.domain.model import JobType, Tier
from engine.jetstream.library import LibraryStore
from tests.integration.api.helpers import assert_error
from tests.integration.novels.shelf import NOVEL_ID, TITLE, Shelved, shelve
from tests.support import Client, Service

ARTIFACTS = "/api/job/create/make-artifacts"


async def shelved_for(svc: Service, client: Client) -> Shelved:
    """The novel in `client`'s library, once the read model shows it."""
    assert client.token is not None
    user = await svc.runtime.users.resolve(client.token)
    library = await LibraryStore.open(svc.runtime.nc)
    shelf = await shelve(svc.runtime.store, library, user.id)
    await svc.runtime.projector.wait_for(shelf.seq)
    return shelf


async def test_the_job_names_the_novel_its_formats_and_its_table_of_contents(
    service: Service,
) -> None:
    owner = await service.add_user("owner", tier=Tier.BASIC)
    shelf = await shelved_for(service, owner)
    status, job = await owner.call(
        "POST", ARTIFACTS, json={"novel_id": NOVEL_ID, "formats": ["epub", "txt", "epub"]}
    )
    assert status == 201, job
    assert (job["type"], job["total"], job["job_title"]) == (
        JobType.ARTIFACT_BATCH, 2, f"{TITLE} · epub, txt",
    )  # fmt: skip
    state = await service.runtime.store.load(job["id"])
    assert state is not None
    assert state.params == {
        "novel_id": NOVEL_ID, "formats": ["epub", "txt"], "toc_job_id": shelf.toc_job_id,
    }  # fmt: skip


async def test_a_novel_not_in_the_callers_library_is_a_422_naming_novel_id(
    service: Service,
) -> None:
    owner = await service.add_user("owner")
    other = await service.add_user("other", tier=Tier.VIP)
    await shelved_for(service, owner)
    for novel_id in (NOVEL_ID, "0123456789abcdef", "../../x", "*"):
        status, body = await other.call(
            "POST", ARTIFACTS, json={"novel_id": novel_id, "formats": ["epub"]}
        )
        assert_error(status, body, 422, "novel_id")
    # an admin sees every novel
    status, job = await service.admin.call(
        "POST", ARTIFACTS, json={"novel_id": NOVEL_ID, "formats": ["epub"]}
    )
    assert status == 201 and job["type"] == JobType.ARTIFACT, job


async def test_an_unknown_format_is_a_422_and_one_above_the_tier_a_403(service: Service) -> None:
    basic = await service.add_user("basic", tier=Tier.BASIC)
    await shelved_for(service, basic)
    status, body = await basic.call(
        "POST", ARTIFACTS, json={"novel_id": NOVEL_ID, "formats": ["epub", "cbz"]}
    )
    assert_error(status, body, 422, "formats")
    assert "'cbz'" in body["detail"]
    for fmt in ("pdf", "tcr"):
        status, body = await basic.call(
            "POST", ARTIFACTS, json={"novel_id": NOVEL_ID, "formats": ["txt", fmt]}
        )
        assert_error(status, body, 403)
        assert f"'{fmt}'" in body["detail"]


async def test_a_format_this_server_cannot_make_is_a_422_that_says_why(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vip = await service.add_user("vip", tier=Tier.VIP)
    await shelved_for(service, vip)
    bare = tmp_path / "bin"  # a PATH without Calibre's ebook-convert
    bare.mkdir()
    monkeypatch.setenv("PATH", str(bare))
    assert not calibre.available()
    for formats in (["pdf"], ["epub", "mobi"]):
        status, body = await vip.call(
            "POST", ARTIFACTS, json={"novel_id": NOVEL_ID, "formats": formats}
        )
        assert_error(status, body, 422, "formats")
        assert f"cannot make '{formats[-1]}'" in body["detail"]
        assert "ebook-convert" in body["detail"]
    # the formats written natively are still made
    for fmt in ("epub", "json", "txt", "tcr"):
        status, job = await vip.call(
            "POST", ARTIFACTS, json={"novel_id": NOVEL_ID, "formats": [fmt]}
        )
        assert status == 201, job
