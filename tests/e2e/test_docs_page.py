"""The API docs page in headless Chromium, with no network but 127.0.0.1: it lists every
operation of the OpenAPI document from the server's own files."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from tests.e2e.test_dashboard import FLAGS, Page, _chromium, _has_port
from tests.support import Service, stopped, wait_until

# Every host name fails to resolve: a page asking a CDN for its script gets nothing.
OFFLINE = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"


@contextlib.asynccontextmanager
async def offline_browser(profile: Path) -> AsyncIterator[Page]:
    """Headless Chromium that resolves no host name, and its first tab."""
    port_file = profile / "DevToolsActivePort"
    proc = await asyncio.create_subprocess_exec(
        _chromium(), *FLAGS, OFFLINE, f"--user-data-dir={profile}", "about:blank",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        await wait_until(lambda: _has_port(port_file, proc), timeout=90, interval=0.05)
        port = port_file.read_text().split()[0]
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/json/list") as resp:
                tabs = await resp.json()
            tab = next(t for t in tabs if t["type"] == "page")
            async with session.ws_connect(tab["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                yield Page(ws)
    finally:
        with contextlib.suppress(TimeoutError):
            await stopped(proc, 10)


async def test_the_docs_page_lists_every_operation_offline(
    service: Service, tmp_path: Path
) -> None:
    status, doc = await service.admin.call("GET", "/schema/openapi.json")
    assert status == 200, doc
    methods = ("get", "post", "put", "patch", "delete")
    expected = sorted(
        f"{m.upper()} {path}" for path, item in doc["paths"].items() for m in item if m in methods
    )
    async with offline_browser(tmp_path / "chromium") as page:
        await page.call("Runtime.enable")
        await page.call("Page.navigate", url="https://cdn.jsdelivr.net/")  # offline indeed
        await page.until("location.href.startsWith('chrome-error:')")
        await page.call("Page.navigate", url=f"{service.admin.base}/schema")
        await page.until("document.body && document.body.dataset.ready === 'true'")
        listed = await page.eval(
            "[...document.querySelectorAll('details.op')]"
            ".map(op => `${op.dataset.method} ${op.dataset.path}`).sort()"
        )
        assert listed == expected
        export = await page.eval(
            "(() => { const op = document.getElementById('get-/api/job/{job_id}/export');"
            " op.open = true; return op.innerText; })()"
        )
        assert "type" in export and "format" in export and "jsonl" in export
        assert "422" in export and "404" in export
        fetched = await page.eval(
            "performance.getEntriesByType('resource').map(e => e.name).concat([location.href])"
        )
        assert fetched and all(u.startswith(service.admin.base + "/") for u in fetched), fetched
        await page.eval(
            "(() => { const f = document.getElementById('filter'); f.value = 'export';"
            " f.dispatchEvent(new Event('input')); })()"
        )
        shown = await page.eval(
            "[...document.querySelectorAll('details.op')].filter(o => !o.hidden)"
            ".map(o => o.dataset.path)"
        )
        assert "/api/job/{job_id}/export" in shown and "/api/jobs" not in shown, shown
        assert page.exceptions == []
