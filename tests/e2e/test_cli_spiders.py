"""`jobstream spiders`, `spider add|test|items` and `submit spider` under a pseudo-terminal,
against the real API over HTTP and the local shop on 127.0.0.1."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.domain.model import JobStatus, JobType
from tests.e2e.pty_cli import Ran, run_pty
from tests.sites.shop import ShopHandle, item_key, load_definition, serve_shop
from tests.support import Client, Service, cli_env, finished


@pytest.fixture
async def shop() -> AsyncIterator[ShopHandle]:
    async with serve_shop(24, per_page=10, seed=2) as handle:
        yield handle


async def jobstream(client: Client, *args: str, columns: int = 160) -> Ran:
    conn = ["--url", client.base, "--token", str(client.token)]
    return await run_pty(*args, *conn, env=cli_env(), columns=columns)


def definition_file(tmp_path: Path, **changes: object) -> Path:
    path = tmp_path / "spider.json"
    path.write_text(json.dumps({**load_definition(), **changes}))
    return path


def one_error(ran: Ran) -> str:
    lines = ran.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), ran
    assert "Traceback" not in ran.err, ran
    return lines[0]


async def test_a_spider_is_added_listed_updated_and_refused_twice(
    working: Service, tmp_path: Path
) -> None:
    admin = working.admin
    path = definition_file(tmp_path)
    added = await jobstream(admin, "spider", "add", str(path))
    assert added.code == 0, added
    found = re.fullmatch(r"spider shop (sp_\w+) version 1", added.lines[-1])
    assert found, added
    spider_id = found.group(1)

    listed = await jobstream(admin, "spiders")
    assert listed.code == 0, listed
    row = next(line for line in listed.lines if spider_id in line)
    assert "shop" in row and "user" in row, listed
    assert "start: url (required)" in listed.screen and 'lang: string = "en"' in listed.screen
    assert "1 spider" in listed.screen, listed

    again = await jobstream(admin, "spider", "add", str(path))
    assert again.code == 1 and one_error(again).startswith("error: 409: "), again
    path = definition_file(tmp_path, description="Second version")
    updated = await jobstream(admin, "spider", "add", str(path), "--update")
    assert updated.code == 0 and updated.lines[-1] == f"spider shop {spider_id} version 2", updated
    status, spider = await admin.call("GET", f"/api/spiders/{spider_id}")
    assert status == 200 and spider["description"] == "Second version", spider


async def test_a_bad_definition_exits_1_naming_the_field_or_the_file(
    working: Service, tmp_path: Path
) -> None:
    rules = load_definition()["rules"]
    bad_rules = [rules[0], {**rules[1], "item": {**rules[1]["item"], "price": {"css": "p[["}}}]
    path = definition_file(tmp_path, rules=bad_rules)
    refused = await jobstream(working.admin, "spider", "add", str(path))
    assert refused.code == 1, refused
    assert "rules[1].item.price.css" in one_error(refused), refused

    not_json = tmp_path / "broken.json"
    not_json.write_text('{"name": "shop",')
    broken = await jobstream(working.admin, "spider", "add", str(not_json))
    assert broken.code == 1 and f"{not_json} is not JSON" in one_error(broken), broken
    missing = await jobstream(working.admin, "spider", "add", str(tmp_path / "nowhere.json"))
    assert missing.code == 1 and "cannot read" in one_error(missing), missing
    status, page = await working.admin.call("GET", "/api/spiders")
    assert status == 200 and page["total"] == 0, page


async def test_spider_test_shows_the_rule_the_items_and_the_links(
    working: Service, shop: ShopHandle, tmp_path: Path
) -> None:
    admin = working.admin
    assert (await jobstream(admin, "spider", "add", str(definition_file(tmp_path)))).code == 0
    product = shop.shop.products[6]  # product 7: every field there
    url = shop.url(product.path)
    ran = await jobstream(admin, "spider", "test", "shop", url, "--arg", f"start={shop.start_url}")
    assert ran.code == 0, ran
    assert ran.lines[0] == f"{url}: HTTP 200, rule 1, 1 item, 0 dropped, 0 links", ran
    assert product.title in ran.screen and str(product.sku) in ran.screen, ran

    page = await jobstream(admin, "spider", "test", "shop", shop.start_url, "--json",
                           "--arg", f"start={shop.start_url}")  # fmt: skip
    assert page.code == 0, page
    answer = json.loads(page.screen)
    assert answer["rule"] == 0 and answer["items"] == [], answer
    assert shop.url("/catalogue/product-1.html") in answer["links"], answer
    assert shop.url("/list/") in answer["links"], answer

    unknown = await jobstream(admin, "spider", "test", "nope", url)
    assert unknown.code == 1 and "no spider named 'nope'" in one_error(unknown), unknown


async def test_submit_spider_watch_ends_with_its_counts_and_its_items_are_the_shops(
    working: Service, shop: ShopHandle, tmp_path: Path
) -> None:
    admin = working.admin
    assert (await jobstream(admin, "spider", "add", str(definition_file(tmp_path)))).code == 0
    ran = await jobstream(admin, "submit", "spider", "shop", "--arg", f"start={shop.start_url}",
                          "--concurrency", "4", "--watch")  # fmt: skip
    assert ran.code == 0, ran
    found = re.match(r"job (\S+) created: spider ", ran.lines[0])
    assert found, ran
    job_id = found.group(1)
    job = await finished(admin, job_id)
    assert (job["type"], job["status"]) == (JobType.SPIDER, JobStatus.SUCCESS), job
    ok, failed = shop.expected_pages()
    assert (job["done"], job["failed"]) == (len(ok), len(failed)), job
    final = rf"✓ job {job_id} success: {len(ok)} ok, {len(failed)} failed in \d+\.\d s"
    assert re.fullmatch(final, ran.lines[-2]), ran
    expected = shop.expected_items()
    assert ran.lines[-1] == f"{len(expected)} items (jobstream spider items {job_id})", ran

    items = await jobstream(admin, "spider", "items", job_id, "--json")
    assert items.code == 0, items
    got = [json.loads(line) for line in items.lines]
    assert Counter(map(item_key, got)) == Counter(map(item_key, expected)), items
    table = await jobstream(admin, "spider", "items", job_id, "--limit", "5")
    assert table.code == 0, table
    assert f"{len(expected)} items, the first 5 shown" in table.screen, table
    for name in ("title", "price", "sku", "tags", "cover", "page"):
        assert name in table.screen, table


async def test_submit_spider_refusals_exit_2_with_one_line(
    working: Service, shop: ShopHandle, tmp_path: Path
) -> None:
    admin = working.admin
    assert (await jobstream(admin, "spider", "add", str(definition_file(tmp_path)))).code == 0
    missing = await jobstream(admin, "submit", "spider", "shop")
    assert missing.code == 2 and "arguments.start" in one_error(missing), missing
    bad = await jobstream(admin, "submit", "spider", "shop", "--arg", "start=not a url")
    assert bad.code == 2 and "arguments.start" in one_error(bad), bad
    other = await working.add_user("bob")
    hidden = await jobstream(other, "submit", "spider", "shop", "--arg", f"start={shop.start_url}")
    assert hidden.code == 2 and one_error(hidden).startswith("error: 404: "), hidden
    status, page = await admin.call("GET", "/api/jobs")
    assert status == 200 and page["total"] == 0, page
