"""Spiders in the dashboard, in headless Chromium: the spider form lists the caller's spiders
and starts one with its arguments (a refusal shown at the arguments field), and a SPIDER
job's items fill a table that holds exactly the shop's items and download as JSON Lines."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from engine.domain.model import JobStatus, JobType
from tests.e2e.test_dashboard import Page, browser
from tests.e2e.test_dashboard_console import fill, q, signed_in, submitted_job
from tests.sites.shop import ShopHandle, item_key, load_definition, serve_shop
from tests.support import Client, Service, finished, get_job, wait_until

FORM = "new-spider"
ITEMS_BOX = "document.getElementById('d-items-box')"
# The items table as data: its header names, then per row {header: cell text}.
TABLE = """(() => {
  const table = document.getElementById('d-items');
  const names = [...table.tHead.rows[0].cells].map((c) => c.textContent);
  return {names, rows: [...table.tBodies[0].rows].map(
    (r) => Object.fromEntries([...r.cells].map((c, i) => [names[i], c.textContent])))};
})()"""


@pytest.fixture
async def shop() -> AsyncIterator[ShopHandle]:
    async with serve_shop(30, per_page=10, seed=4) as handle:
        yield handle


async def added(client: Client, **changes: Any) -> dict[str, Any]:
    status, spider = await client.call(
        "POST", "/api/spiders", json={**load_definition(), **changes}
    )
    assert status == 201, spider
    return dict(spider)


async def spider_form(page: Page) -> None:
    """The new-job panel open on its spider form, the spiders loaded."""
    await page.eval("document.getElementById('new-open').click()")
    await page.eval("document.querySelector('#new-kinds [data-kind=spider]').click()")
    await page.until(f"!document.getElementById('{FORM}').hidden")
    await page.until(f"document.getElementById('{FORM}').dataset.loaded === 'true'")


def cell_text(value: Any) -> str:
    """How the table shows a field's value: a string as it is, others as JSON (JavaScript's:
    12.0 is 12), null empty."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


async def test_the_spider_form_lists_spiders_and_a_refused_argument_shows_at_its_field(
    working: Service, shop: ShopHandle, tmp_path: Path
) -> None:
    admin = working.admin
    spider = await added(admin)
    other = await added(
        admin, name="second", description="Another one", arguments={}, start_urls=[shop.start_url]
    )
    async with browser(tmp_path / "chromium") as page:
        await signed_in(page, admin)
        await spider_form(page)
        rows = "document.querySelectorAll('#spiders tbody tr')"
        assert await page.eval(f"[...{rows}].map((r) => r.dataset.spiderId).sort()") == sorted(
            [spider["id"], other["id"]]
        )
        assert await page.eval("document.getElementById('spiders-count').textContent") == "(2)"
        assert await page.eval(f"{q('#' + FORM + ' [name=spider_id]')}.value") == ""

        pick = f"document.querySelector('#spiders tr[data-spider-id=\"{spider['id']}\"]')"
        await page.eval(f"{pick}.click()")
        assert await page.eval(f"{q('#' + FORM + ' [name=spider_id]')}.value") == spider["id"]
        hint = await page.eval(f"{q('#' + FORM + ' [name=arguments]')}.placeholder")
        assert "start=  (url, required)" in hint and 'lang=  (string, default "en")' in hint
        assert await page.eval(f"{pick}.classList.contains('open')")

        # no start argument: the API's 422 names arguments.start, shown at that field
        await page.eval(f"{q('#' + FORM + ' button[type=submit]')}.click()")
        await page.until(f"document.getElementById('{FORM}').dataset.state === 'refused'")
        error = q(f"#{FORM} [data-error-for=arguments]")
        assert "start" in await page.eval(f"{error}.textContent")
        textarea = q(f"#{FORM} [name=arguments]")
        assert await page.eval(f"{textarea}.getAttribute('aria-invalid')") == "true"
        _, jobs = await admin.call("GET", "/api/jobs")
        assert jobs["total"] == 0, jobs
        assert page.exceptions == []


async def test_a_spider_job_from_the_form_shows_every_item_in_a_table_and_downloads_them(
    working: Service, shop: ShopHandle, tmp_path: Path
) -> None:
    admin = working.admin
    spider = await added(admin)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    async with browser(tmp_path / "chromium") as page:
        await page.call("Browser.setDownloadBehavior", behavior="allow",
                        downloadPath=str(downloads))  # fmt: skip
        await signed_in(page, admin)
        await spider_form(page)
        select = q(f"#{FORM} [name=spider_id]")
        await page.eval(f"{select}.value = {json.dumps(spider['id'])}")
        await fill(
            page, FORM, {"arguments": f"start={shop.start_url}\nlang=fr", "concurrency": "4"}
        )
        job_id = await submitted_job(page, FORM)
        job = await finished(admin, job_id)
        assert (job["type"], job["status"]) == (JobType.SPIDER, JobStatus.SUCCESS), job
        await page.until(
            f"!{ITEMS_BOX}.hidden && {ITEMS_BOX}.dataset.settled === 'true'", timeout=30
        )

        expected = shop.expected_items()
        table = await page.eval(TABLE)
        assert table["names"] == ["title", "price", "sku", "tags", "cover", "name", "page"], table
        want = Counter(
            json.dumps({n: cell_text(i["data"].get(n)) for n in table["names"][:-1]} | {
                "page": i["url"]}, sort_keys=True)
            for i in expected
        )  # fmt: skip
        got = Counter(json.dumps(row, sort_keys=True) for row in table["rows"])
        assert got == want
        count = await page.eval("document.getElementById('d-items-count').textContent")
        assert count == f"({len(expected)})"

        await page.eval("document.getElementById('d-items-export').click()")
        button = "document.getElementById('d-items-export')"
        await page.until(f"{button}.dataset.state === 'saved'", timeout=30)
        size = int(await page.eval(f"{button}.dataset.bytes"))

        def saved() -> Path | None:
            done = [p for p in downloads.iterdir() if not p.name.endswith(".crdownload")]
            return done[0] if len(done) == 1 and done[0].stat().st_size == size else None

        await wait_until(lambda: saved() is not None, timeout=20)
        path = saved()
        assert path is not None and path.suffix == ".jsonl", path
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        assert Counter(map(item_key, lines)) == Counter(map(item_key, expected))
        assert page.exceptions == []


async def test_a_job_of_another_type_shows_no_items_table(
    working: Service, shop: ShopHandle, tmp_path: Path
) -> None:
    admin = working.admin
    status, job = await admin.call(
        "POST", "/api/job/create/scrape", json={"urls": [shop.start_url]}
    )
    assert status == 201, job
    await finished(admin, job["id"])
    async with browser(tmp_path / "chromium") as page:
        await signed_in(page, admin, f"&job={job['id']}")
        detail = "document.getElementById('detail')"
        await page.until(
            f"{detail}.dataset.jobId === '{job['id']}' && {detail}.dataset.loaded === 'true'"
        )
        assert await page.eval(f"{ITEMS_BOX}.hidden") is True
        assert await page.eval("document.querySelectorAll('#d-items tbody tr').length") == 0
        assert page.exceptions == []


async def test_items_fill_the_table_while_the_job_runs(
    working: Service, shop: ShopHandle, tmp_path: Path
) -> None:
    admin = working.admin
    spider = await added(admin)
    gate = shop.hold("/catalogue/page-2.html")  # the job cannot get past catalogue page 1
    body = {"spider_id": spider["id"], "arguments": {"start": shop.start_url}, "concurrency": 4}
    status, job = await admin.call("POST", "/api/job/create/spider", json=body)
    assert status == 201, job
    first = [i for i in shop.expected_items() if i["url"] in page_one_products(shop)]
    async with browser(tmp_path / "chromium") as page:
        await signed_in(page, admin, f"&job={job['id']}")
        detail = "document.getElementById('detail')"
        await page.until(f"{detail}.dataset.jobId === '{job['id']}' && !{ITEMS_BOX}.hidden")
        await page.until(f"{ITEMS_BOX}.dataset.rows === '{len(first)}'", timeout=30)
        assert (await get_job(admin, job["id"]))["is_done"] is False  # still held on page 2
        table = await page.eval(TABLE)
        assert sorted(r["page"] for r in table["rows"]) == sorted(i["url"] for i in first)

        gate.set()
        await page.until(f"{ITEMS_BOX}.dataset.settled === 'true'", timeout=30)
        expected = shop.expected_items()
        assert await page.eval(f"{ITEMS_BOX}.dataset.rows") == str(len(expected))
        table = await page.eval(TABLE)
        assert Counter(r["page"] for r in table["rows"]) == Counter(i["url"] for i in expected)
        assert page.exceptions == []


def page_one_products(shop: ShopHandle) -> set[str]:
    """The pages catalogue page 1 leads to: its products and the list page."""
    return {shop.url(p.path) for p in shop.shop.page_products(1)} | {shop.url("/list/")}


async def test_a_finished_spider_job_opened_by_its_link_shows_every_item(
    working: Service, shop: ShopHandle, tmp_path: Path
) -> None:
    admin = working.admin
    spider = await added(admin)
    body = {"spider_name": spider["name"], "arguments": {"start": shop.start_url}}
    status, job = await admin.call("POST", "/api/job/create/spider", json=body)
    assert status == 201, job
    assert (await finished(admin, job["id"]))["status"] == JobStatus.SUCCESS
    async with browser(tmp_path / "chromium") as page:
        await signed_in(page, admin, f"&job={job['id']}")
        await page.until(
            f"!{ITEMS_BOX}.hidden && {ITEMS_BOX}.dataset.settled === 'true'", timeout=30
        )
        expected = shop.expected_items()
        table = await page.eval(TABLE)
        assert Counter(r["page"] for r in table["rows"]) == Counter(i["url"] for i in expected)
        count = await page.eval("document.getElementById('d-items-count').textContent")
        assert count == f"({len(expected)})"
        assert page.exceptions == []
