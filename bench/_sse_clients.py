"""Many SSE clients of one job stream in one process, for bench/sse.py (run as a child).

Each client is a bare HTTP/1.1 connection that scans what arrives for the benchmark's log
lines (`"message":"bench <ns>"`) and records `now - <ns>`: the latency from just before the
event's append to its arrival at this client. Prints `ready` once every client has its
snapshot, then one JSON line of results once every client has seen `--events` events (with the
process's own CPU seconds over the events, `cpu_s`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import cast

from bench._support import percentile

MARK = b'"message":"bench '


class Client(asyncio.Protocol):
    """One SSE connection, read in `data_received` (no stream reader, no regex): the
    harness shares the machine's cores with the API, so it does as little as it can."""

    def __init__(self, expected: int, request: bytes) -> None:
        self.expected = expected
        self.request = request
        self.latencies_ms: list[float] = []
        self.snapshot = asyncio.Event()
        self.finished = asyncio.Event()
        self.pending = b""  # an unfinished line, kept for the next read

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        cast(asyncio.Transport, transport).write(self.request)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        now = time.time_ns()
        cut = data.rfind(b"\n") + 1  # scan whole lines only
        lines, self.pending = self.pending + data[:cut], data[cut:]
        if not self.snapshot.is_set() and b"event: snapshot" in lines:
            self.snapshot.set()
        at = lines.find(MARK)
        while at >= 0:
            start = at + len(MARK)
            stop = lines.index(b'"', start)
            self.latencies_ms.append((now - int(lines[start:stop])) / 1e6)
            at = lines.find(MARK, stop)
        if len(self.latencies_ms) >= self.expected:
            self.finished.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.snapshot.set()
        self.finished.set()


async def main(args: argparse.Namespace) -> None:
    request = (
        f"GET {args.path} HTTP/1.1\r\nHost: {args.host}\r\nAuthorization: Bearer {args.token}\r\n"
        "Accept: text/event-stream\r\n\r\n"
    ).encode()
    loop = asyncio.get_running_loop()
    clients = [Client(args.events, request) for _ in range(args.n)]
    transports = []
    for c in clients:  # one by one: connections open progressively, not all in one burst
        transport, _ = await loop.create_connection(lambda c=c: c, args.host, args.port)  # type: ignore[misc]
        transports.append(transport)
    await asyncio.gather(*(c.snapshot.wait() for c in clients))
    print("ready", flush=True)
    cpu_before = time.process_time()
    await asyncio.wait_for(asyncio.gather(*(c.finished.wait() for c in clients)), args.timeout)
    latencies = sorted(x for c in clients for x in c.latencies_ms)
    summary = {f"p{q}": percentile(latencies, q) for q in (50, 90, 99)}
    # Its own CPU from "ready" to the last event: read here, since the parent cannot read
    # it from /proc once this process has exited.
    cpu_s = time.process_time() - cpu_before
    print(json.dumps({"count": len(latencies), "cpu_s": cpu_s, **summary}), flush=True)
    for t in transports:
        t.close()


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
