"""The dashboard as a console in headless Chromium: jobs created from its forms, steered with its
buttons (each confirmed in a dialog), their results downloaded, deep links, a narrow window."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.e2e.test_dashboard import Page, browser
from tests.sites.testsite import SiteHandle
from tests.support import Client, Service, finished, get_job, wait_until

DETAIL = "document.getElementById('detail')"


async def signed_in(page: Page, admin: Client, hash_rest: str = "") -> None:
    """The dashboard open with the admin's token (and `hash_rest` after it), its list live."""
    await page.call("Runtime.enable")
    await page.call("Page.navigate", url=f"{admin.base}/#token={admin.token}{hash_rest}")
    await page.until("document.getElementById('conn').dataset.state === 'live'")
    await page.until("document.querySelector('#jobs tbody') !== null")


async def fill(page: Page, form: str, values: dict[str, str]) -> None:
    """Types `values` into the fields of `form` (an id) by name."""
    for name, value in values.items():
        field = f"document.querySelector('#{form} [name={name}]')"
        await page.eval(f"{field}.value = {json.dumps(value)}")


async def submitted_job(page: Page, form: str) -> str:
    """Submits `form` and returns the id of the job it made, once the page opened it."""
    await page.eval(f"document.querySelector('#{form} button[type=submit]').click()")
    await page.until(f"document.getElementById('{form}').dataset.state === 'created'")
    job_id = str(await page.eval(f"document.getElementById('{form}').dataset.jobId"))
    await page.until(loaded(job_id))
    return job_id


async def confirmed(page: Page, action: str, answer: str = "yes") -> None:
    """Presses the open job's `action` button and answers its dialog."""
    button = f"document.querySelector('#d-actions [data-action={action}]')"
    await page.until(f"!{button}.disabled")
    await page.eval(f"{button}.click()")
    await page.until("document.getElementById('confirm').open")
    await page.eval(f"document.getElementById('confirm-{answer}').click()")
    await page.until("!document.getElementById('confirm').open")


def row(job_id: str) -> str:
    return f"document.querySelector('#jobs tr[data-job-id=\"{job_id}\"]')"


def loaded(job_id: str) -> str:
    """A page expression: the open job is `job_id`, loaded."""
    return f"{DETAIL}.dataset.jobId === '{job_id}' && {DETAIL}.dataset.loaded === 'true'"


def q(selector: str) -> str:
    return f"document.querySelector({selector!r})"


async def test_a_crawl_from_the_form_runs_to_100_is_downloaded_replayed_and_deleted(
    working: Service, site: SiteHandle, tmp_path: Path
) -> None:
    admin = working.admin
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    async with browser(tmp_path / "chromium") as page:
        await page.call("Browser.setDownloadBehavior", behavior="allow",
                        downloadPath=str(downloads))  # fmt: skip
        await signed_in(page, admin)
        await page.eval("document.getElementById('new-open').click()")
        await page.until("!document.getElementById('new-crawl').hidden")
        await fill(page, "new-crawl", {"url": site.base_url, "concurrency": "4"})
        job_id = await submitted_job(page, "new-crawl")
        assert await page.eval("location.hash") == f"#job={job_id}"

        await page.until(f"{row(job_id)} && {row(job_id)}.dataset.percentage === '100'", timeout=30)
        await page.until(f"{row(job_id)}.dataset.status === '2'")
        job = await finished(admin, job_id)
        assert job["type"] == 60 and job["job_title"] == site.base_url and job["status"] == 2
        await page.until("document.getElementById('d-status').textContent === 'success'")
        assert await page.eval(f"{row(job_id)}.querySelector('.type').textContent") == "crawl"

        lines = await _downloaded_jsonl(page, downloads)
        expected = await _result_urls(admin, job_id)
        assert sorted(line["url"] for line in lines) == sorted(expected)

        await _retried(page, admin, job_id)

        await confirmed(page, "replay")
        await page.until(f"{DETAIL}.dataset.jobId !== '{job_id}' && "
                         f"{DETAIL}.dataset.loaded === 'true'")  # fmt: skip
        replay_id = str(await page.eval(f"{DETAIL}.dataset.jobId"))
        replay = await get_job(admin, replay_id)
        assert replay["extra"]["replay_of"] == job_id and replay["type"] == 60
        await page.until(f"{row(replay_id)} && {row(replay_id)}.dataset.status === '2'", timeout=30)

        await page.eval(f"{row(job_id)}.click()")
        await page.until(loaded(job_id))
        await confirmed(page, "delete")
        await page.until(f"{DETAIL}.hidden && !{row(job_id)}")
        _, listed = await admin.call("GET", "/api/jobs", params={"limit": 100})
        assert [j["id"] for j in listed["items"]] == [replay_id]
        assert await page.eval("location.hash") == ""
        assert page.exceptions == []


async def _retried(page: Page, admin: Client, job_id: str) -> None:
    """Retries the open job's failed pages from its button; returns once it ended again."""
    assert (await get_job(admin, job_id))["failed"] > 0  # the site has broken pages
    await confirmed(page, "retry")
    kinds = "[...document.querySelectorAll('#d-events .kind')].map(k => k.textContent.trim())"
    await page.until(f"{loaded(job_id)} && {kinds}.includes('retry_requested')")
    await page.until(f"{kinds}.at(-1) === 'succeeded'", timeout=30)  # the retry's end
    assert (await finished(admin, job_id))["status"] == 2
    await page.until("document.getElementById('d-status').textContent === 'success'")


async def _downloaded_jsonl(page: Page, downloads: Path) -> list[dict[str, Any]]:
    """Clicks the open job's JSON Lines download and reads the saved file."""
    link = "document.querySelector('#d-downloads a[data-download=jsonl]')"
    await page.until(f"!!{link}")
    await page.eval(f"{link}.click()")
    await page.until(f"{link}.dataset.state === 'saved'", timeout=30)
    size = int(await page.eval(f"{link}.dataset.bytes"))

    def saved() -> Path | None:
        done = [p for p in downloads.iterdir() if not p.name.endswith(".crdownload")]
        return done[0] if len(done) == 1 and done[0].stat().st_size == size else None

    await wait_until(lambda: saved() is not None, timeout=20)
    path = saved()
    assert path is not None and path.suffix == ".jsonl", path
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def _result_urls(client: Client, job_id: str) -> list[str]:
    urls: list[str] = []
    while True:
        params = {"offset": len(urls), "limit": 100}
        status, page = await client.call("GET", f"/api/job/{job_id}/results", params=params)
        assert status == 200, page
        urls += [item["url"] for item in page["items"]]
        if not page["has_more"]:
            return urls


async def test_cancel_asks_first_and_stops_a_running_crawl(
    working: Service, site: SiteHandle, tmp_path: Path
) -> None:
    admin = working.admin
    async with browser(tmp_path / "chromium") as page:
        await signed_in(page, admin)
        await page.eval("document.getElementById('new-open').click()")
        # one page at a time, ten minutes apart: the crawl runs until it is canceled
        await fill(page, "new-crawl", {"url": site.base_url, "concurrency": "1",
                                       "delay_ms": "600000"})  # fmt: skip
        job_id = await submitted_job(page, "new-crawl")
        await page.until("document.getElementById('d-status').textContent === 'running'")
        colour = "getComputedStyle(document.getElementById('d-status')).color"
        running_colour = await page.eval(colour)
        replay = "document.querySelector('#d-actions [data-action=retry]').disabled"
        assert await page.eval(replay) is True  # nothing to retry while it runs

        await confirmed(page, "cancel", answer="no")
        assert (await get_job(admin, job_id))["status"] == 1
        assert await page.eval("document.getElementById('d-status').textContent") == "running"

        await confirmed(page, "cancel")
        await page.until("document.getElementById('d-status').textContent === 'canceled'")
        assert await page.eval(colour) != running_colour  # each status has its colour
        await page.until(f"{row(job_id)}.querySelector('.status').textContent === 'canceled'")
        assert (await finished(admin, job_id))["status"] == 4
        cancel = "document.querySelector('#d-actions [data-action=cancel]').disabled"
        await page.until(cancel)  # a finished job cannot be canceled
        assert page.exceptions == []


async def test_a_refused_field_shows_its_message_next_to_it(
    working: Service, site: SiteHandle, tmp_path: Path
) -> None:
    admin = working.admin
    async with browser(tmp_path / "chromium") as page:
        await signed_in(page, admin)
        await page.eval("document.getElementById('new-open').click()")
        await fill(page, "new-crawl", {"url": site.base_url, "concurrency": "1000"})
        await page.eval("document.querySelector('#new-crawl button[type=submit]').click()")
        await page.until("document.getElementById('new-crawl').dataset.state === 'refused'")
        error = q("#new-crawl [data-error-for=concurrency]")
        assert "concurrency" in await page.eval(f"{error}.textContent")
        invalid = q("#new-crawl [name=concurrency]")
        assert await page.eval(f"{invalid}.getAttribute('aria-invalid')") == "true"
        assert await page.eval(f"getComputedStyle({error}).display") != "none"
        assert await page.eval(f"{q('#new-crawl .form-error')}.textContent") == ""

        await page.eval("document.querySelector('#new-kinds [data-kind=scrape]').click()")
        await fill(page, "new-scrape", {"urls": "https://ok.example/\nnot a url"})
        await page.eval("document.querySelector('#new-scrape button[type=submit]').click()")
        await page.until("document.getElementById('new-scrape').dataset.state === 'refused'")
        urls_error = "document.querySelector('#new-scrape [data-error-for=urls]').textContent"
        assert "urls" in await page.eval(urls_error), await page.eval(
            "document.querySelector('#new-scrape .form-error').textContent"
        )

        await page.eval("document.querySelector('#new-kinds [data-kind=artifacts]').click()")
        await page.until("document.getElementById('new-artifacts').dataset.loaded === 'true'")
        await page.eval("document.querySelector('#new-artifacts button[type=submit]').click()")
        await page.until("document.getElementById('new-artifacts').dataset.state === 'refused'")
        novel_error = q("#new-artifacts [data-error-for=novel_id]")
        assert "novel_id" in await page.eval(f"{novel_error}.textContent")

        _, listed = await admin.call("GET", "/api/jobs")
        assert listed["total"] == 0  # nothing was created
        # the spider form is a live one now (tests/e2e/test_dashboard_spiders.py)
        spider = "document.getElementById('new-spider').dataset.path"
        assert await page.eval(spider) == "/api/job/create/spider"
        assert page.exceptions == []


async def test_a_deep_link_opens_its_job_and_follows_the_open_one(
    working: Service, site: SiteHandle, tmp_path: Path
) -> None:
    admin = working.admin
    ids = []
    for n in range(2):
        body = {"urls": [f"{site.base_url}page/{n}"]}
        status, job = await admin.call("POST", "/api/job/create/scrape", json=body)
        assert status == 201, job
        ids.append(job["id"])
    async with browser(tmp_path / "chromium") as page:
        await signed_in(page, admin, f"&job={ids[0]}")
        await page.until(loaded(ids[0]))
        assert await page.eval("document.getElementById('d-id').textContent") == ids[0]
        assert await page.eval("location.hash") == f"#job={ids[0]}"  # the token left, the job stays
        assert await page.eval(f"{row(ids[0])}.classList.contains('open')") is True

        await page.until(f"!!{row(ids[1])}")
        await page.eval(f"{row(ids[1])}.click()")
        await page.until(f"{DETAIL}.dataset.jobId === '{ids[1]}'")
        assert await page.eval("location.hash") == f"#job={ids[1]}"

        await page.eval(f"location.hash = 'job={ids[0]}'")  # a link pasted into the open tab
        await page.until(loaded(ids[0]))

        await page.eval("location.hash = 'job=not-a-job'")
        await page.until("document.getElementById('d-error').textContent.includes('not a job id')")
        await page.eval("document.getElementById('d-close').click()")
        assert await page.eval("location.hash") == ""
        assert page.exceptions == []


async def test_a_narrow_window_keeps_the_list_usable_beside_an_open_job(
    working: Service, site: SiteHandle, tmp_path: Path
) -> None:
    admin = working.admin
    ids = []
    for n in range(3):
        body = {"url": f"{site.base_url}page/{n}", "max_pages": 1}
        status, job = await admin.call("POST", "/api/job/create/crawl", json=body)
        assert status == 201, job
        ids.append(job["id"])
    async with browser(tmp_path / "chromium") as page:
        await signed_in(page, admin)
        for width in (420, 1280):
            await page.call("Emulation.setDeviceMetricsOverride", width=width, height=800,
                            deviceScaleFactor=1, mobile=False)  # fmt: skip
            await page.until(f"window.innerWidth === {width}")
            await page.until(f"!!{row(ids[0])}")
            await page.eval(f"{row(ids[0])}.click()")
            await page.until(f"{DETAIL}.dataset.loaded === 'true'")
            assert await _fits(page, width), width
            # the list is still there to pick another job: by its status, in view
            status_cell = f"{row(ids[2])}.querySelector('.status')"
            await page.eval(f"{status_cell}.scrollIntoView()")
            box = await page.eval(f"(() => {{ const r = {status_cell}.getBoundingClientRect();"
                                  f" return [r.left, r.right, r.width]; }})()")  # fmt: skip
            assert box[2] > 0 and box[0] >= 0 and box[1] <= width, (width, box)
            await page.eval(f"{status_cell}.click()")
            await page.until(f"{DETAIL}.dataset.jobId === '{ids[2]}'")
        assert page.exceptions == []


async def _fits(page: Page, width: int) -> bool:
    """Whether neither the page nor the job list scrolls sideways at `width`."""
    sizes = await page.eval(
        "[document.documentElement.scrollWidth,"
        " document.querySelector('#list .table-wrap').scrollWidth,"
        " document.querySelector('#list .table-wrap').clientWidth]"
    )
    return bool(sizes[0] <= width and sizes[1] <= sizes[2])
