"""Many SSE clients of one job stream in one process, for bench/sse.py (run as a child).

Each client is a bare HTTP/1.1 connection that scans what arrives for the benchmark's log
lines (`"message":"bench <ns>"`) and records `now - <ns>`: the latency from just before the
event's append to its arrival at this client. Prints `ready` once every client has its
snapshot, then one JSON line of results once every client has seen `--events` events.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time

from bench._support import percentile

MARK = re.compile(rb'"message":"bench (\d+)"')


class Client:
    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.latencies_ms: list[float] = []
        self.snapshot = asyncio.Event()
        self.finished = asyncio.Event()

    async def run(self, host: str, port: int, path: str, token: str) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
            "Accept: text/event-stream\r\n\r\n"
        )
        writer.write(request.encode())
        pending = b""
        while not self.finished.is_set():
            chunk = await reader.read(65536)
            if not chunk:
                break
            now = time.time_ns()
            pending += chunk
            cut = pending.rfind(b"\n") + 1  # scan whole lines only
            lines, pending = pending[:cut], pending[cut:]
            if not self.snapshot.is_set() and b"event: snapshot" in lines:
                self.snapshot.set()
            for match in MARK.finditer(lines):
                self.latencies_ms.append((now - int(match.group(1))) / 1e6)
            if len(self.latencies_ms) >= self.expected:
                self.finished.set()
        writer.close()


async def main(args: argparse.Namespace) -> None:
    clients = [Client(args.events) for _ in range(args.n)]
    tasks = []
    for c in clients:
        tasks.append(asyncio.create_task(c.run(args.host, args.port, args.path, args.token)))
        await asyncio.sleep(0)  # let connections open progressively, not all in one burst
    await asyncio.gather(*(c.snapshot.wait() for c in clients))
    print("ready", flush=True)
    await asyncio.wait_for(asyncio.gather(*(c.finished.wait() for c in clients)), args.timeout)
    latencies = sorted(x for c in clients for x in c.latencies_ms)
    summary = {f"p{q}": percentile(latencies, q) for q in (50, 90, 99)}
    print(json.dumps({"count": len(latencies), **summary}), flush=True)
    for t in tasks:
        t.cancel()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--events", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--timeout", type=float, default=120)
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(p.parse_args()))
    else:
        uvloop.run(main(p.parse_args()))
    sys.exit(0)
