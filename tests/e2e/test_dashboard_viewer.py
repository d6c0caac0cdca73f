"""The dashboard's result viewer and a job's children in headless Chromium: a hostile page
scraped from the form shown as rendered markdown, raw HTML and links with nothing of it run;
the markdown renderer's output kept to safe elements for any input; a full novel from the form
with its children, one of which downloads its e-book."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from tests.e2e.test_dashboard import Page, browser
from tests.e2e.test_dashboard_console import DETAIL, fill, loaded, q, signed_in, submitted_job
from tests.sites.novelsite import Faults, serve_novel_site
from tests.sites.testsite import serve_site
from tests.support import Service, finished, serve_app, wait_until

HOSTILE = """<!doctype html><html><head><title>Hostile page</title></head><body>
<h1>Main heading</h1>
<p>Plain words with <a href="/next">a relative link</a> and
<a href="javascript:window.pwned='link'">a script link</a>.</p>
<ul><li>first item</li><li>second item</li></ul>
<p>Looks like markup: &lt;img src=x onerror="window.pwned='text'"&gt;</p>
<script>window.pwned = 'script'</script>
<img src="x" onerror="window.pwned='img'">
<iframe srcdoc="<script>parent.pwned='frame'</script>"></iframe>
</body></html>"""


@pytest.fixture
async def hostile() -> AsyncIterator[str]:
    """A site on 127.0.0.1 whose one page tries to run code wherever it is shown."""

    async def page(_: web.Request) -> web.Response:
        return web.Response(text=HOSTILE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/hostile", page)
    async with serve_app(app) as origin:
        yield f"{origin}/hostile"


async def test_a_scraped_page_shows_as_markdown_raw_html_and_links_and_nothing_runs(
    working: Service, hostile: str, tmp_path: Path
) -> None:
    admin = working.admin
    async with browser(tmp_path / "chromium") as page:
        await signed_in(page, admin)
        await page.eval("document.getElementById('new-open').click()")
        await page.eval(f"{q('#new-kinds [data-kind=scrape]')}.click()")
        await fill(page, "new-scrape", {"urls": hostile})
        for fmt in ("html", "text"):  # markdown and links are checked already
            await page.eval(f"{q(f'#new-scrape [data-field=formats] [value={fmt}]')}.click()")
        job_id = await submitted_job(page, "new-scrape")
        job = await finished(admin, job_id)
        assert (job["type"], job["status"]) == (50, 2), job
        _, results = await admin.call("GET", f"/api/job/{job_id}/results")
        result = results["items"][0]

        result_row = "document.querySelector('#d-results tbody tr')"
        await page.until(f"!!{result_row}")
        await page.eval(f"{result_row}.click()")
        viewer = "document.getElementById('viewer')"
        await page.until(f"!{viewer}.hidden && {viewer}.dataset.mode === 'markdown'")
        body = "document.getElementById('v-body')"
        await page.until(f"!!{body}.querySelector('h1')")
        assert await page.eval(f"{body}.querySelector('h1').textContent") == "Main heading"
        items = await page.eval(f"[...{body}.querySelectorAll('li')].map(n => n.textContent)")
        assert items == ["first item", "second item"]
        hrefs = await page.eval(f"[...{body}.querySelectorAll('a')].map(a => a.href)")
        origin = hostile.removesuffix("/hostile")
        # relative links resolved, the image as a link to it, the script link as text only
        assert hrefs == [f"{origin}/next", f"{origin}/x"], result["markdown"]
        assert "a script link" in await page.eval(f"{body}.textContent")  # its text stays
        await _nothing_ran(page, body)

        await page.eval(f"{q('#v-modes [data-mode=html]')}.click()")
        await page.until(f"{viewer}.dataset.mode === 'html'")
        assert await page.eval(f"{body}.querySelector('pre').textContent") == result["html"]
        assert "onerror=" in result["html"] and "<iframe" in result["html"]  # kept, as text
        await _nothing_ran(page, body)

        await page.eval(f"{q('#v-modes [data-mode=links]')}.click()")
        await page.until(f"{viewer}.dataset.mode === 'links'")
        listed = await page.eval(f"[...{body}.querySelectorAll('li')].map(n => n.textContent)")
        assert listed == result["links"] and listed
        link_hrefs = await page.eval(f"[...{body}.querySelectorAll('a')].map(a => a.href)")
        assert all(h.startswith("http://127.0.0.1:") for h in link_hrefs), link_hrefs
        assert page.exceptions == []


async def _nothing_ran(page: Page, body: str) -> None:
    tags = await page.eval(f"[...{body}.querySelectorAll('*')].map(n => n.localName)")
    assert not {"script", "img", "iframe", "object", "embed"} & set(tags), tags
    handlers = f"[...{body}.querySelectorAll('*')].flatMap(n => n.getAttributeNames())"
    assert not [a for a in await page.eval(handlers) if a.startswith("on") or a == "src"]
    assert await page.eval("window.pwned === undefined") is True


SAFE_TAGS = {"h1", "h2", "h3", "h4", "h5", "h6", "p", "ul", "ol", "li", "blockquote", "pre",
             "code", "hr", "a", "strong", "em"}  # fmt: skip
PIECES = ["#", "## ", "- ", "1. ", "> ", "```", "*", "**", "_", "`", "[", "]", "(", ")", "!",
          "<script>window.pwned=1</script>", "<img src=x onerror=window.pwned=2>",
          "javascript:window.pwned=3", "data:text/html,<b>x</b>", "http://a.example/p?q=1",
          "/rel/path", "\n", "\n\n", "  ", "word", "&amp;", "'", "    code", "---"]  # fmt: skip


def _markdowns(seed: int, n: int) -> list[str]:
    """Random markdown-ish texts: markup characters, hostile fragments and words mixed."""
    rng = random.Random(seed)
    texts = ["[x](javascript:window.pwned=4)", "![i](http://a.example/i.png)",
             "[ok](https://b.example/(nested))", "<https://c.example/>"]  # fmt: skip
    for _ in range(n):
        texts.append("".join(rng.choice(PIECES) for _ in range(rng.randint(1, 40))))
    return texts


async def test_the_markdown_renderer_makes_only_safe_elements_for_any_text(
    service: Service, tmp_path: Path
) -> None:
    texts = _markdowns(seed=15, n=400)
    async with browser(tmp_path / "chromium") as page:
        await page.call("Runtime.enable")
        await page.call("Page.navigate", url=f"{service.admin.base}/")
        await page.until("!!window.jobstreamMarkdown")
        found = await page.eval(
            f"""{json.dumps(texts)}.map(t => {{
                const box = document.createElement('div');
                box.append(window.jobstreamMarkdown.render(t, 'http://base.example/dir/'));
                const nodes = [...box.querySelectorAll('*')];
                return {{
                    tags: nodes.map(n => n.localName),
                    attrs: nodes.flatMap(n => n.getAttributeNames()),
                    hrefs: nodes.filter(n => n.localName === 'a').map(a => a.href),
                    words: (t.match(/word/g) || []).length,
                    shown: (box.textContent.match(/word/g) || []).length,
                }};
            }})"""
        )
        assert await page.eval("window.pwned === undefined") is True
    for text, out in zip(texts, found, strict=True):
        assert set(out["tags"]) <= SAFE_TAGS, (text, out)
        assert set(out["attrs"]) <= {"href", "target", "rel"}, (text, out)
        assert all(h.startswith(("http://", "https://")) for h in out["hrefs"]), (text, out)
        assert out["shown"] == out["words"], (text, out)  # no text is lost
    assert found[0]["hrefs"] == [] and found[1]["tags"] == ["p", "a"]
    assert found[1]["hrefs"] == ["http://a.example/i.png"]  # an image: a link, never loaded
    assert found[2]["hrefs"] == ["https://b.example/(nested)"]
    assert found[3]["hrefs"] == ["https://c.example/"]


NO_FAULTS = Faults(unavailable_once=frozenset(), rate_limited_once=frozenset(),
                   missing=frozenset())  # fmt: skip


async def test_a_full_novel_from_the_form_shows_its_children_and_downloads_its_ebook(
    working: Service, tmp_path: Path
) -> None:
    admin = working.admin
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    async with (
        serve_novel_site("novelfull", faults=NO_FAULTS) as site,
        browser(tmp_path / "chromium") as page,
    ):
        await page.call("Browser.setDownloadBehavior", behavior="allow",
                        downloadPath=str(downloads))  # fmt: skip
        await signed_in(page, admin)
        await page.eval("document.getElementById('new-open').click()")
        await page.eval(f"{q('#new-kinds [data-kind=novel]')}.click()")
        await page.until("document.getElementById('new-novel').dataset.loaded === 'true'")
        await fill(page, "new-novel", {"url": site.novel_url(), "source": "novelfull"})
        await page.eval(f"{q('#new-novel [name=full]')}.click()")
        job_id = await submitted_job(page, "new-novel")
        job = await finished(admin, job_id, timeout=60)
        assert (job["type"], job["status"]) == (5, 2), job

        _, children = await admin.call("GET", "/api/jobs", params={"parent_job_id": job_id})
        assert children["total"] >= 2, children
        rows = "[...document.querySelectorAll('#d-children tbody tr')]"
        await page.until(f"{rows}.length === {children['total']} && "
                         f"{rows}.every(r => r.dataset.status === '2')", timeout=30)  # fmt: skip
        assert not await page.eval("document.getElementById('d-children-box').hidden")
        shown = await page.eval(f"{rows}.map(r => r.dataset.jobId)")
        assert sorted(shown) == sorted(c["id"] for c in children["items"])

        artifact = next(c for c in children["items"] if c["type"] == 40)
        child_row = q(f"#d-children tr[data-job-id='{artifact['id']}']")
        await page.eval(f"{child_row}.click()")
        await page.until(loaded(artifact["id"]))
        assert await page.eval("document.getElementById('d-parent').hidden") is False
        link = q("#d-downloads a[data-download=artifact]")
        await page.until(f"!!{link}")
        await page.eval(f"{link}.click()")
        await page.until(f"{link}.dataset.state === 'saved'", timeout=30)
        file_id = artifact["extra"]["artifact_id"]
        status, meta = await admin.call("GET", f"/api/artifact/{file_id}")
        assert status == 200, meta
        saved = downloads / meta["file_name"]
        await wait_until(lambda: saved.exists() and saved.stat().st_size == meta["bytes"],
                         timeout=20)  # fmt: skip

        await page.eval("document.getElementById('d-parent').click()")
        await page.until(loaded(job_id))
        assert await page.eval(f"{DETAIL}.dataset.jobId") == job_id
        novel = q(f"#d-downloads button[data-novel-id='{job['extra']['novel_id']}']")
        await page.until(f"!!{novel}")
        await page.eval(f"{novel}.click()")  # the novel it fetched, in the library view
        await page.until("document.getElementById('novel').dataset.loaded === 'true'")
        title = await page.eval("document.getElementById('n-title').textContent")
        assert title == job["extra"]["novel_title"]
        assert await page.eval("document.getElementById('jobs-view').hidden") is True
        assert page.exceptions == []


async def test_a_result_past_the_first_page_opens_in_the_viewer_and_more_loads_the_rest(
    working: Service, tmp_path: Path
) -> None:
    admin = working.admin
    async with serve_site(120, seed=5) as site, browser(tmp_path / "chromium") as page:
        await signed_in(page, admin)
        await page.eval("document.getElementById('new-open').click()")
        await fill(page, "new-crawl", {"url": site.base_url, "concurrency": "8"})
        job_id = await submitted_job(page, "new-crawl")  # open while it runs: rows stream in
        await finished(admin, job_id, timeout=60)
        path = f"/api/job/{job_id}/results"
        total = (await admin.call("GET", path, params={"limit": 1}))[1]["total"]
        assert total - 20 >= 100, total  # the last 20 results lie past the first page
        _, last = await admin.call("GET", path, params={"offset": total - 20, "limit": 20})
        late = next(r for r in reversed(last["items"]) if r["ok"])
        rows = "document.querySelectorAll('#d-results tbody tr').length"
        more = "document.getElementById('d-more')"
        # every row came from the stream, metadata only; one page of results has bodies
        await page.until(f"{rows} === {total} && !{more}.hidden")

        url = json.dumps(late["url"])
        results = "[...document.querySelectorAll('#d-results tr')]"
        await page.eval(f"{results}.find(r => r.dataset.url === {url}).click()")  # read its page
        viewer = "document.getElementById('viewer')"
        await page.until(f"{viewer}.dataset.url === {url} && "
                         "!!document.querySelector('#v-body h1')")  # fmt: skip
        heading = await page.eval("document.querySelector('#v-body h1').textContent")
        assert heading == late["title"]

        # opened again once it ended: one page of results, then the rest on demand
        await page.eval(f"document.querySelector('#jobs tr[data-job-id=\"{job_id}\"]').click()")
        await page.until(f"{loaded(job_id)} && {rows} === 100 && !{more}.hidden")
        await page.eval(f"{more}.click()")
        await page.until(f"{rows} === {total} && {more}.hidden")
        assert page.exceptions == []
