"""The spider routes over real HTTP: definitions (versioned, per user), dry runs against the
local shop on 127.0.0.1, and the errors of a SPIDER job's create."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from api.settings import Settings
from engine.jetstream.spiders import MAX_PER_USER
from engine.spiders.model import parse_definition
from tests.integration.api.helpers import assert_error, raw
from tests.sites.shop import BROKEN_PATH, ShopHandle, load_definition, serve_shop
from tests.support import Client, Service, run_service

SPIDERS = "/api/spiders"
CREATE = "/api/job/create/spider"
SUMMARY_FIELDS = {
    "id", "name", "version", "description", "arguments", "created_at", "updated_at",
    "user_id", "origin",
}  # fmt: skip


@pytest.fixture
async def api(tmp_path: Path, nats_url: str) -> AsyncIterator[Service]:
    """The service without workers, allowed to fetch 127.0.0.1 (dry runs on the shop)."""
    settings = Settings(data_dir=tmp_path / "data", nats_url=nats_url, allow_private_networks=True)
    async with run_service(settings) as svc:
        yield svc


@pytest.fixture
async def shop() -> AsyncIterator[ShopHandle]:
    async with serve_shop(12, per_page=5) as handle:
        yield handle


def definition(**changes: Any) -> dict[str, Any]:
    return {**load_definition(), **changes}


async def add(client: Client, body: dict[str, Any] | None = None) -> dict[str, Any]:
    status, spider = await client.call("POST", SPIDERS, json=body or definition())
    assert status == 201, spider
    assert isinstance(spider, dict)
    return spider


async def test_a_spider_is_created_read_listed_versioned_and_deleted(api: Service) -> None:
    user = await api.add_user("ann")
    made = await add(user)
    assert set(made) == SUMMARY_FIELDS | {"definition"}
    assert made["id"].startswith("sp_") and made["version"] == 1
    assert made["name"] == "shop" and made["origin"] == "user"
    assert made["created_at"] == made["updated_at"] > 0
    assert made["definition"]["rules"][0]["match"] == load_definition()["rules"][0]["match"]
    assert made["arguments"]["start"] == {"type": "url", "required": True, "default": None}
    assert (await user.call("GET", f"{SPIDERS}/{made['id']}")) == (200, made)

    changed = definition(name="shop-v2", description="Only the catalogue")
    status, second = await user.call("PUT", f"{SPIDERS}/{made['id']}", json=changed)
    assert status == 200, second
    assert (second["id"], second["version"], second["name"]) == (made["id"], 2, "shop-v2")
    assert second["created_at"] == made["created_at"] <= second["updated_at"]
    assert second["definition"]["description"] == "Only the catalogue"

    status, page = await user.call("GET", SPIDERS)
    assert status == 200, page
    assert (page["total"], page["has_more"]) == (1, False)
    [listed] = page["items"]
    assert set(listed) == SUMMARY_FIELDS and listed["version"] == 2

    assert (await user.call("DELETE", f"{SPIDERS}/{made['id']}")) == (200, True)
    status, body = await user.call("GET", f"{SPIDERS}/{made['id']}")
    assert_error(status, body, 404)
    assert (await user.call("GET", SPIDERS))[1]["items"] == []
    assert (await add(user))["name"] == "shop"  # the name is free again


async def test_names_are_unique_per_user(api: Service) -> None:
    ann, bob = await api.add_user("ann"), await api.add_user("bob")
    first = await add(ann)
    status, body = await ann.call("POST", SPIDERS, json=definition())
    assert_error(status, body, 409, "definition.name")
    assert (await add(bob))["name"] == "shop"  # another user's names are theirs
    other = await add(ann, definition(name="other"))
    status, body = await ann.call("PUT", f"{SPIDERS}/{other['id']}", json=definition())
    assert_error(status, body, 409, "definition.name")
    status, kept = await ann.call("GET", f"{SPIDERS}/{other['id']}")
    assert (kept["name"], kept["version"]) == ("other", 1)
    status, same = await ann.call("PUT", f"{SPIDERS}/{first['id']}", json=definition())
    assert (status, same["version"]) == (200, 2)  # keeping its own name is no conflict
    names = [s["name"] for s in (await ann.call("GET", SPIDERS))[1]["items"]]
    assert names == ["other", "shop"]


async def test_another_user_gets_404_and_admins_see_every_spider(api: Service) -> None:
    ann, bob = await api.add_user("ann"), await api.add_user("bob")
    spider = await add(ann)
    path = f"{SPIDERS}/{spider['id']}"
    calls = [
        ("GET", path, None), ("PUT", path, definition(name="stolen")), ("DELETE", path, None),
        ("POST", f"{path}/test", {"url": "http://127.0.0.1:9/"}),
        ("POST", CREATE, {"spider_id": spider["id"], "arguments": {"start": "http://a.test/"}}),
    ]  # fmt: skip
    for method, where, body in calls:
        status, answer = await bob.call(method, where, json=body)
        assert_error(status, answer, 404)
        assert spider["id"] not in answer["detail"] or "not found" in answer["detail"]
    assert (await bob.call("GET", SPIDERS))[1]["items"] == []
    assert (await ann.call("GET", path)) == (200, spider)  # untouched

    status, seen = await api.admin.call("GET", path)
    assert (status, seen) == (200, spider)
    status, page = await api.admin.call("GET", SPIDERS)
    assert [s["id"] for s in page["items"]] == [spider["id"]]
    status, changed = await api.admin.call("PUT", path, json=definition(description="by admin"))
    assert (status, changed["version"], changed["user_id"]) == (200, 2, spider["user_id"])


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "Not A Name"}, "definition.name"),
        ({"rules": [{"match": "(unclosed"}]}, "definition.rules[0].match"),
        ({"start_urls": ["{nowhere}"]}, "definition.start_urls[0]"),
        (
            {"rules": [{"match": "/", "item": {"t": {"css": "h1", "type": "date"}}}]},
            "definition.rules[0].item.t.type",
        ),
        ({"surprise": 1}, "definition"),  # msgspec names the object with the unknown key
    ],
)
async def test_an_invalid_definition_is_a_422_naming_its_path(
    api: Service, change: dict[str, Any], field: str
) -> None:
    status, body = await api.admin.call("POST", SPIDERS, json=definition(**change))
    assert_error(status, body, 422, field)
    assert (await api.admin.call("GET", SPIDERS))[1]["total"] == 0


async def test_a_bad_selector_deep_in_a_rule_is_named_and_a_put_keeps_the_old_version(
    api: Service,
) -> None:
    spider = await add(api.admin)
    bad = copy.deepcopy(load_definition())
    bad["rules"][1]["item"]["price"]["css"] = "p.price[[["
    status, body = await api.admin.call("PUT", f"{SPIDERS}/{spider['id']}", json=bad)
    assert_error(status, body, 422, "definition.rules[1].item.price.css")
    assert (await api.admin.call("GET", f"{SPIDERS}/{spider['id']}")) == (200, spider)
    status, body = await api.admin.call("POST", SPIDERS, json=["not", "an", "object"])
    assert 400 <= status < 500 and status != 404, body


async def test_malformed_spider_ids_are_404s(api: Service) -> None:
    for bad in ("sp_nope", "x" * 30, "pl_Upper", "sp_" + "U" * 26):
        status, body = await api.admin.call("GET", f"{SPIDERS}/{bad}")
        assert_error(status, body, 404)
    status, body = await api.admin.call("PUT", f"{SPIDERS}/pl_not-installed", json=definition())
    assert_error(status, body, 404)


async def test_a_dry_run_extracts_one_page_of_the_shop(api: Service, shop: ShopHandle) -> None:
    spider = await add(api.admin)
    product = shop.shop.products[0]
    body = {"url": shop.url(product.path)}
    status, run = await api.admin.call("POST", f"{SPIDERS}/{spider['id']}/test", json=body)
    assert status == 200, run
    assert (run["url"], run["status_code"], run["rule"]) == (shop.url(product.path), 200, 1)
    assert run["items"] == [{"url": shop.url(product.path), "data": product.item(shop.origin)}]
    assert (run["links"], run["dropped"]) == ([], 0)
    assert shop.requested(product.path) == 1

    page = {"url": shop.start_url, "arguments": {"start": shop.start_url}}
    status, run = await api.admin.call("POST", f"{SPIDERS}/{spider['id']}/test", json=page)
    assert status == 200, run
    assert (run["rule"], run["items"]) == (0, [])
    first = {shop.url(p.path) for p in shop.shop.page_products(1)}
    assert first <= set(run["links"])
    assert shop.url(shop.shop.catalogue_path(2)) in run["links"]
    assert not any("elsewhere.invalid" in link for link in run["links"])


async def test_a_dry_run_reports_a_page_no_rule_matches_and_refuses_bad_input(
    api: Service, shop: ShopHandle
) -> None:
    spider = await add(api.admin)
    test = f"{SPIDERS}/{spider['id']}/test"
    status, run = await api.admin.call("POST", test, json={"url": shop.url("/")})
    assert (status, run["rule"], run["items"], run["links"]) == (200, None, [], [])
    status, run = await api.admin.call("POST", test, json={"url": shop.url(BROKEN_PATH)})
    assert (status, run["status_code"], run["rule"], run["items"]) == (200, 404, 1, [])
    bad_argument = {"url": shop.start_url, "arguments": {"start": "not a url"}}
    status, body = await api.admin.call("POST", test, json=bad_argument)
    assert_error(status, body, 422, "arguments.start")
    unknown = {"url": shop.start_url, "arguments": {"start": shop.start_url, "color": "red"}}
    status, body = await api.admin.call("POST", test, json=unknown)
    assert_error(status, body, 422, "arguments.color")
    status, body = await api.admin.call("POST", test, json={"url": "ftp://example.com/"})
    assert_error(status, body, 422, "url")


async def test_a_dry_run_goes_through_the_private_network_guard(
    service: Service, shop: ShopHandle
) -> None:
    """The default settings refuse 127.0.0.1: a 422 naming `url`, and the shop never hit."""
    spider = await add(service.admin)
    body = {"url": shop.start_url}
    status, answer = await service.admin.call("POST", f"{SPIDERS}/{spider['id']}/test", json=body)
    assert_error(status, answer, 422, "url")
    assert "--allow-private-networks" in answer["detail"]
    assert shop.access == []


async def test_a_spider_job_create_refuses_what_names_no_spider_or_bad_arguments(
    api: Service,
) -> None:
    ann, bob = await api.add_user("ann"), await api.add_user("bob")
    spider = await add(ann)
    start = {"start": "https://shop.example/catalogue/page-1.html"}
    cases: list[tuple[Client, dict[str, Any], int, str | None]] = [
        (ann, {"arguments": start}, 400, "spider_id"),
        (ann, {"spider_id": "sp_01J0000000000000000000000Z", "arguments": start}, 404, None),
        (ann, {"spider_name": "nothing-here", "arguments": start}, 404, None),
        (bob, {"spider_id": spider["id"], "arguments": start}, 404, None),
        (bob, {"spider_name": "shop", "arguments": start}, 404, None),
        (ann, {"spider_id": spider["id"]}, 422, "arguments.start"),
        (ann, {"spider_name": "shop", "arguments": {"start": 5}}, 422, "arguments.start"),
        (ann, {"spider_name": "shop", "arguments": {**start, "x": 1}}, 422, "arguments.x"),
        (ann, {"spider_id": spider["id"], "spider_name": "shop", "arguments": start}, 422,
         "spider_id"),
        (ann, {"spider_name": "shop", "arguments": start, "max_pages": "5"}, 422, "max_pages"),
    ]  # fmt: skip
    for client, body, expected, field in cases:
        status, answer = await client.call("POST", CREATE, json=body)
        assert_error(status, answer, expected, field)
    for client in (ann, bob):
        status, page = await client.call("GET", "/api/jobs")
        assert page["total"] == 0, page


async def test_spider_routes_need_a_token(api: Service) -> None:
    anonymous = api.admin.as_user(None)
    for method, path in (("GET", SPIDERS), ("POST", SPIDERS), ("POST", CREATE)):
        status, _, body = await raw(anonymous, method, path, json=definition())
        assert_error(status, body, 401)


async def test_a_spider_job_keeps_the_definition_it_was_made_with(api: Service) -> None:
    """The job's params snapshot the definition: a replay after a PUT runs the old one."""
    user = await api.add_user("ann")
    spider = await add(user)
    start = "https://shop.example/catalogue/page-1.html"
    body = {"spider_name": "shop", "arguments": {"start": start}, "max_pages": 50}
    status, job = await user.call("POST", CREATE, json=body)
    assert status == 201, job
    status, stored = await user.call("GET", f"/api/job/{job['id']}/events")
    params = stored["items"][0]["data"]["params"]
    assert params == {
        "spider": {"id": spider["id"], "name": "shop", "version": 1},
        "definition": spider["definition"], "arguments": {"start": start, "lang": "en"},
        "max_pages": 50, "concurrency": 8, "respect_robots": True, "delay_ms": 0,
    }  # fmt: skip
    assert job["type"] == 70 and job["job_title"] == f"shop · {start}"

    changed = copy.deepcopy(load_definition())
    changed["rules"] = changed["rules"][:1]
    status, second = await user.call("PUT", f"{SPIDERS}/{spider['id']}", json=changed)
    assert (status, second["version"]) == (200, 2)
    status, replayed = await user.call("POST", f"/api/job/{job['id']}/replay")
    assert status == 201, replayed
    status, stored = await user.call("GET", f"/api/job/{replayed['id']}/events")
    assert stored["items"][0]["data"]["params"] == params  # version 1, three rules
    status, fresh = await user.call("POST", CREATE, json={**body, "spider_id": spider["id"],
                                                         "spider_name": None})  # fmt: skip
    assert status == 201, fresh
    status, stored = await user.call("GET", f"/api/job/{fresh['id']}/events")
    new_params = stored["items"][0]["data"]["params"]
    assert new_params["spider"]["version"] == 2 and len(new_params["definition"]["rules"]) == 1


async def test_installed_spiders_are_listed_to_everyone_and_read_only(api: Service) -> None:
    """An installed spider (as the `jobstream.spiders` entry points give them): `pl_<name>`,
    seen and run by every user, never changed over HTTP; a user's own spider of the same
    name comes first for `spider_name`."""
    installed = parse_definition(definition(name="books", description="installed"))
    api.runtime.spiders.plugins = {"books": installed}
    ann = await api.add_user("ann")
    status, page = await ann.call("GET", SPIDERS)
    assert status == 200, page
    [listed] = page["items"]
    assert listed == {
        "id": "pl_books", "name": "books", "version": 1, "description": "installed",
        "arguments": {
            "start": {"type": "url", "required": True, "default": None},
            "lang": {"type": "string", "required": False, "default": "en"},
        },
        "created_at": None, "updated_at": None, "user_id": None, "origin": "plugin",
    }  # fmt: skip
    status, spider = await ann.call("GET", f"{SPIDERS}/pl_books")
    assert (status, spider["definition"]["description"]) == (200, "installed")
    for method, body in (("PUT", definition(name="books")), ("DELETE", None)):
        status, answer = await ann.call(method, f"{SPIDERS}/pl_books", json=body)
        assert_error(status, answer, 405)

    start = {"start": "https://shop.example/catalogue/page-1.html"}
    status, job = await ann.call("POST", CREATE, json={"spider_name": "books", "arguments": start})
    assert status == 201, job
    assert job["spider"] == {"id": "pl_books", "name": "books"}
    own = await add(ann, definition(name="books", description="mine"))
    status, job = await ann.call("POST", CREATE, json={"spider_name": "books", "arguments": start})
    assert job["spider"] == {"id": own["id"], "name": "books"}
    status, page = await ann.call("GET", SPIDERS)
    assert [(s["id"], s["origin"]) for s in page["items"]] == [
        (own["id"], "user"), ("pl_books", "plugin"),
    ]  # fmt: skip


async def test_concurrent_writes_keep_names_unique_and_versions_distinct(api: Service) -> None:
    """Compare-and-set on the user's index and on the spider: of concurrent creates of one
    name exactly one wins; concurrent PUTs each make their own version."""
    user = await api.add_user("ann")
    answers = await asyncio.gather(
        *(user.call("POST", SPIDERS, json=definition()) for _ in range(6))
    )
    assert sorted(status for status, _ in answers) == [201] + [409] * 5
    [spider] = [body for status, body in answers if status == 201]
    path = f"{SPIDERS}/{spider['id']}"
    bodies = [definition(description=f"edit {i}") for i in range(6)]
    answers = await asyncio.gather(*(user.call("PUT", path, json=b) for b in bodies))
    assert all(status == 200 for status, _ in answers), answers
    assert sorted(body["version"] for _, body in answers) == [2, 3, 4, 5, 6, 7]
    latest = max((body for _, body in answers), key=lambda b: b["version"])
    assert (await user.call("GET", path)) == (200, latest)
    assert (await user.call("GET", SPIDERS))[1]["total"] == 1


async def test_a_user_has_at_most_100_spiders(api: Service) -> None:
    user = await api.add_user("ann")
    for i in range(MAX_PER_USER):
        await add(user, definition(name=f"s{i}"))
    status, body = await user.call("POST", SPIDERS, json=definition(name="one-more"))
    assert_error(status, body, 409)
    assert "100" in body["detail"]
    status, page = await user.call("GET", SPIDERS, params={"offset": 95, "limit": 100})
    assert (page["total"], len(page["items"]), page["has_more"]) == (100, 5, False)
    others = await api.add_user("bob")
    assert (await add(others, definition(name="one-more")))["version"] == 1
