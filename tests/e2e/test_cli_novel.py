"""`jobstream submit novel` as a real process against the running service and a local
NovelFull site on 127.0.0.1: a FULL_NOVEL's bar and final line count chapters."""

from __future__ import annotations

import re

from engine.domain.batches import expansion_child_id
from engine.domain.model import JobStatus, JobType
from tests.e2e.test_cli_live import conn, created_id, jobstream
from tests.sites.novelsite import MAIN_CHAPTERS, Faults, serve_novel_site
from tests.support import Service, finished, get_job

NO_FAULTS = Faults(unavailable_once=frozenset(), rate_limited_once=frozenset(),
                   missing=frozenset())  # fmt: skip


async def test_submit_novel_full_watch_ends_counting_every_chapter(working: Service) -> None:
    async with serve_novel_site("novelfull", faults=NO_FAULTS) as site:
        ran = await jobstream("submit", "novel", site.novel_url(), "--full", "--source",
                              "novelfull", "--watch", *conn(working.admin))  # fmt: skip
    assert ran.code == 0, ran
    job_id = created_id(ran)
    assert ran.lines[0].startswith(f"job {job_id} created: full_novel "), ran
    final = rf"✓ job {job_id} success: {MAIN_CHAPTERS} of {MAIN_CHAPTERS} chapters, 0 failed in \d+\.\d s"  # noqa: E501
    assert re.fullmatch(final, ran.lines[-1]), ran
    job = await finished(working.admin, job_id)
    assert (job["type"], job["status"]) == (JobType.FULL_NOVEL, JobStatus.SUCCESS)
    # the last view: the job's bar in chapters (and the epub), its two children nested below
    units = MAIN_CHAPTERS + 1
    assert any(f"{units} ok · 0 fail / {units}" in line for line in ran.lines), ran
    batch = await get_job(working.admin, expansion_child_id(job_id, 0))
    assert any(f"└ {batch['job_title']}" in line and f"/ {MAIN_CHAPTERS}" in line
               for line in ran.lines), ran  # fmt: skip


async def test_a_missing_chapter_shows_in_the_failed_novels_final_line(working: Service) -> None:
    async with serve_novel_site("novelfull") as site:  # chapter 13 is a 404
        ran = await jobstream("submit", "novel", site.novel_url(), "--full", "--source",
                              "novelfull", "--watch", *conn(working.admin))  # fmt: skip
    assert ran.code == 1, ran
    job_id = created_id(ran)
    assert ran.lines[-1].startswith(f"✗ job {job_id} failed: 1 of 2 children failed ("), ran
    assert f"{MAIN_CHAPTERS - 1} of {MAIN_CHAPTERS} chapters, 1 failed in " in ran.lines[-1], ran


async def test_submit_novel_without_watch_prints_the_id_and_bad_input_exits_2(
    working: Service,
) -> None:
    async with serve_novel_site("novelfull", faults=NO_FAULTS) as site:
        ran = await jobstream("submit", "novel", site.novel_url(), "--source", "novelfull",
                              *conn(working.admin))  # fmt: skip
        assert ran.code == 0, ran
        job = await finished(working.admin, ran.out.strip())
        assert (job["type"], job["status"]) == (JobType.NOVEL, JobStatus.SUCCESS), job
        bad = await jobstream("submit", "novel", site.novel_url(), "--source", "no-such-source",
                              *conn(working.admin))  # fmt: skip
    assert bad.code == 2 and bad.err.startswith("error: "), bad
    assert "source" in bad.err, bad
