"""The dashboard in headless Chromium, driven over the DevTools protocol, against the service."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.sites.testsite import SiteHandle
from tests.support import Client, Service, stopped, wait_until

CHROMIUM = "/usr/bin/chromium"
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--remote-debugging-port=0",
)  # fmt: skip


class CdpError(Exception):
    """The browser refused a command or the page threw."""


class Page:
    """One browser tab over its DevTools websocket: commands and page-side expressions."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.n = 0
        self.exceptions: list[str] = []  # uncaught in the page, once Runtime is enabled

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.n += 1
        await self.ws.send_json({"id": self.n, "method": method, "params": params})
        async for msg in self.ws:
            reply = json.loads(msg.data)
            if reply.get("method") == "Runtime.exceptionThrown":
                self.exceptions.append(json.dumps(reply["params"]["exceptionDetails"]))
            if reply.get("id") != self.n:
                continue  # an event of the page, not our answer
            if "error" in reply:
                raise CdpError(reply["error"])
            return dict(reply.get("result", {}))
        raise CdpError("the browser closed the connection")

    async def eval(self, expression: str) -> Any:
        got = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in got:
            raise CdpError(got["exceptionDetails"])
        return got["result"].get("value")

    async def until(self, expression: str, timeout: float = 20) -> None:
        """Wait until `expression` is truthy in the page (it may be navigating meanwhile)."""

        async def holds() -> bool:
            with contextlib.suppress(CdpError):
                return bool(await self.eval(expression))
            return False

        await wait_until(holds, timeout=timeout, interval=0.05)


def _chromium() -> str:
    found = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if found is None:
        pytest.skip(f"no Chromium at {CHROMIUM} or on PATH (.ci/run installs it when CI=true)")
    return found


@contextlib.asynccontextmanager
async def browser(profile: Path) -> AsyncIterator[Page]:
    """Headless Chromium on a DevTools port of its choosing, and its first tab."""
    port_file = profile / "DevToolsActivePort"
    proc = await asyncio.create_subprocess_exec(
        _chromium(), *FLAGS, f"--user-data-dir={profile}", "about:blank",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        # a cold first start on a busy machine (fonts, profile, GPU probing) took over 30 s
        await wait_until(lambda: _has_port(port_file, proc), timeout=90, interval=0.05)
        port = port_file.read_text().split()[0]
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/json/list") as resp:
                tabs = await resp.json()
            tab = next(t for t in tabs if t["type"] == "page")
            async with session.ws_connect(tab["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                yield Page(ws)
    finally:
        with contextlib.suppress(TimeoutError):  # killed instead
            await stopped(proc, 10)


def _has_port(port_file: Path, proc: asyncio.subprocess.Process) -> bool:
    assert proc.returncode is None, f"chromium exited with {proc.returncode}"
    return port_file.exists() and bool(port_file.read_text().strip())


async def _all_results(client: Client, job_id: str) -> list[dict[str, Any]]:
    status, page = await client.call("GET", f"/api/job/{job_id}/results", params={"limit": 100})
    assert status == 200 and not page["has_more"], page
    return list(page["items"])


async def test_a_job_started_from_the_test_moves_its_bar_to_100_and_shows_its_results(
    working: Service, site: SiteHandle, tmp_path: Path
) -> None:
    admin = working.admin
    async with browser(tmp_path / "chromium") as page:
        await page.call("Runtime.enable")
        await page.call("Page.navigate", url=f"{admin.base}/")
        await page.until("!document.getElementById('login').hidden")  # no token yet: asks
        await page.call("Page.navigate", url=f"{admin.base}/#token=js_wrong")
        await page.until("document.getElementById('login-error').textContent.includes('rejected')")
        await page.call("Page.navigate", url=f"{admin.base}/#token={admin.token}")
        await page.until("document.getElementById('conn').dataset.state === 'live'")
        assert await page.eval("location.hash") == ""  # the token left the address bar
        login_display = "getComputedStyle(document.getElementById('login')).display"
        assert await page.eval(login_display) == "none"  # not merely flagged hidden
        assert await page.eval("document.querySelectorAll('#jobs tbody tr').length") == 0

        body = {"url": site.base_url, "concurrency": 4}
        status, job = await admin.call("POST", "/api/job/create/crawl", json=body)
        assert status == 201, job
        row = f"document.querySelector('#jobs tr[data-job-id=\"{job['id']}\"]')"
        await page.until(f"{row} && {row}.dataset.percentage === '100'", timeout=30)
        await page.until(f"{row}.dataset.status === '2'")
        assert await page.eval(f"{row}.querySelector('progress').value") == 100

        _, final = await admin.call("GET", f"/api/job/{job['id']}")
        counts = f"{final['done']} / {final['failed']} / {final['total']}"
        await page.until(f"{row}.querySelector('.counts').textContent === '{counts}'")

        results = await _all_results(admin, job["id"])
        await page.eval(f"{row}.click()")
        await page.until("document.getElementById('detail').dataset.loaded === 'true'")
        urls = "[...document.querySelectorAll('#d-results tbody tr td:first-child')]"
        await page.until(f"{urls}.length === {len(results)}")
        shown = await page.eval(f"{urls}.map(td => td.textContent)")
        assert sorted(shown) == sorted(r["url"] for r in results)
        assert await page.eval("document.getElementById('d-status').textContent") == "success"
        logs = await page.eval("document.getElementById('d-logs').textContent")
        assert "crawl finished" in logs
        last_seq = await _last_sequence(admin, job["id"])
        last = "document.querySelector('#d-events li:last-child')"
        assert await page.eval(f"{last}.dataset.seq") == str(last_seq)
        assert "succeeded" in await page.eval(f"{last}.textContent")
        assert page.exceptions == []


async def _last_sequence(client: Client, job_id: str) -> int:
    """The sequence of the job's last event in its audit trail."""
    _, first = await client.call("GET", f"/api/job/{job_id}/events", params={"limit": 1})
    offset = {"offset": first["total"] - 1, "limit": 1}
    _, page = await client.call("GET", f"/api/job/{job_id}/events", params=offset)
    return int(page["items"][-1]["sequence"])
