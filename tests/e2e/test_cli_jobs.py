"""`jobstream results`, `cancel`, `retry`, `replay`, `rm`, `ls --json` and `completion`, each
run under a pseudo-terminal against the real API over HTTP."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from tests.e2e.pty_cli import Ran, run_pty
from tests.sites.testsite import SiteHandle
from tests.support import Client, Service, cli_env, finished, get_job


async def jobstream(client: Client, *args: str, columns: int = 120) -> Ran:
    conn = ["--url", client.base, "--token", str(client.token)]
    return await run_pty(*args, *conn, env=cli_env(), columns=columns)


def one_error(ran: Ran, status: int) -> str:
    lines = ran.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {status}: "), ran
    assert "Traceback" not in ran.err, ran
    return lines[0]


async def create(client: Client, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    status, job = await client.call("POST", f"/api/job/create/{kind}", json=body)
    assert status == 201, job
    return dict(job)


async def crawled(working: Service, site: SiteHandle) -> tuple[str, list[dict[str, Any]]]:
    """A finished crawl of the site, and its results as the API pages them."""
    job = await create(working.admin, "crawl", {"url": site.base_url, "max_pages": 12})
    assert (await finished(working.admin, job["id"]))["status"] == 2
    return job["id"], await working.admin.all_items(f"/api/job/{job['id']}/results")


async def test_results_in_jsonl_csv_and_markdown(
    working: Service, site: SiteHandle, tmp_path: Path
) -> None:
    admin = working.admin
    job_id, items = await crawled(working, site)
    urls = sorted(item["url"] for item in items)
    assert urls

    ran = await jobstream(admin, "results", job_id)  # jsonl to the terminal
    assert ran.code == 0, ran
    assert sorted(json.loads(line)["url"] for line in ran.lines) == urls

    target = tmp_path / "all.csv"
    ran = await jobstream(admin, "results", job_id, "--format", "csv", "-o", str(target))
    assert ran.code == 0, ran
    assert ran.lines == [f"saved {target} ({target.stat().st_size:,} bytes)"], ran
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert sorted(row["url"] for row in rows) == urls

    ran = await jobstream(admin, "results", job_id, "--format", "md", "-o", str(tmp_path))
    assert ran.code == 0, ran
    text = (tmp_path / f"job-{job_id}-results.md").read_text()
    for item in items:
        assert f"<!-- {item['final_url'] or item['url']} · {item['status_code']} -->" in text
        if item["markdown"]:
            assert item["markdown"].strip() in text
    assert text.count("<!-- ") == len(items)

    alice = await working.add_user("alice")
    ran = await jobstream(alice, "results", job_id, "-o", str(tmp_path / "theirs.jsonl"))
    assert ran.code == 1, ran
    one_error(ran, 404)
    assert not list(tmp_path.glob("*theirs*"))  # no file, not even a partial one


async def test_cancel_replay_and_rm_of_a_pending_job(service: Service) -> None:
    admin = service.admin  # no worker runs: the jobs stay pending
    job = await create(admin, "scrape", {"urls": ["https://example.com/a"]})

    ran = await jobstream(admin, "cancel", job["id"])
    assert ran.code == 0 and ran.lines == [f"job {job['id']} canceled"], ran
    assert (await get_job(admin, job["id"]))["status"] == 4
    again = await jobstream(admin, "cancel", job["id"])
    assert again.code == 1, again
    assert "finished" in one_error(again, 409)

    ran = await jobstream(admin, "replay", job["id"])
    assert ran.code == 0 and len(ran.lines) == 1, ran
    new_id = ran.lines[0].strip()
    replayed = await get_job(admin, new_id)
    assert replayed["extra"]["replay_of"] == job["id"] and replayed["status"] == 0

    ran = await jobstream(admin, "rm", new_id)
    assert ran.code == 0 and ran.lines == [f"job {new_id} deleted (its history stays in the log)"]
    assert (await get_job(admin, new_id))["deleted"] is True  # an admin still reads it

    ran = await jobstream(admin, "rm", job["id"], "--purge")
    assert ran.code == 0, ran
    assert ran.lines[0].startswith(f"job {job['id']} purged: 1 job, "), ran
    status, _ = await admin.call("GET", f"/api/job/{job['id']}")
    assert status == 404


async def test_retry_watches_a_failed_scrape_again(working: Service, site: SiteHandle) -> None:
    admin = working.admin
    urls = [site.url("/page/1"), site.url("/missing/0")]
    job = await create(admin, "scrape", {"urls": urls})
    assert (await finished(admin, job["id"]))["status"] == 3

    ran = await jobstream(admin, "retry", job["id"], "--watch")
    assert ran.code == 1, ran  # the missing page is missing still
    assert ran.lines[0].startswith(f"job {job['id']} queued again: scrape_batch "), ran
    assert ran.lines[-1].startswith(f"✗ job {job['id']} failed: "), ran
    ok = await create(admin, "scrape", {"urls": [site.url("/page/1")]})
    assert (await finished(admin, ok["id"]))["status"] == 2
    nothing = await jobstream(admin, "retry", ok["id"])
    assert nothing.code == 1, nothing
    one_error(nothing, 400)


async def test_ls_json_and_a_narrow_ls_give_whole_ids(service: Service) -> None:
    admin = service.admin
    made = [await create(admin, "scrape", {"urls": [f"https://example.com/{i}"]}) for i in range(3)]
    ids = {job["id"] for job in made}

    ran = await jobstream(admin, "ls", "--json", "--type", "scrape", "--status", "pending")
    assert ran.code == 0, ran
    page = json.loads(ran.screen)
    assert {job["id"] for job in page["items"]} == ids and page["total"] == 3

    narrow = await jobstream(admin, "ls", "--priority", "low", columns=50)
    assert narrow.code == 0, narrow
    assert all(any(job_id in line for line in narrow.lines) for job_id in ids), narrow
    row = next(line for line in narrow.lines if made[0]["id"] in line)
    assert "scrape" in row and "pending" in row and "low" in row, narrow
    none = await jobstream(admin, "ls", "--priority", "high")
    assert none.code == 0 and not any(job_id in none.screen for job_id in ids), none


async def test_completion_prints_a_bash_script() -> None:
    ran = await run_pty("completion", "bash", env=cli_env())
    assert ran.code == 0, ran
    assert ran.lines[-1] == "complete -o default -F _jobstream jobstream", ran
    assert "pending running success failed canceled" in ran.screen
