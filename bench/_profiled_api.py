"""The API as `jobstream api` serves it, under cProfile, for `bench/commands.py --profile`.

SIGUSR1 starts measuring, SIGUSR2 stops and writes the report to `--out`:
wall time awaited per step of a create (where a request's latency goes) and the top
functions by cumulative and by own CPU time in the event-loop thread (where the CPU goes).
aiosqlite runs SQLite in its own thread, which cProfile does not see: its cost shows up
only as time awaited in the steps below.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import pstats
import signal
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn

import projections.projector
from api.app import create_app
from api.jobs import JobsApi
from api.settings import Settings, access_from_env
from api.users import UserStore
from bench._support import StepTimes
from cli.serving import uvicorn_config
from engine.dispatcher import Dispatcher
from engine.jetstream.store import EventStore
from engine.service import JobService
from projections.projector import Projector

ROOT = Path(__file__).resolve().parent.parent
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]


class Phases(StepTimes):
    """Wall-clock seconds spent awaiting each wrapped coroutine while measuring."""

    def __init__(self) -> None:
        super().__init__(active=False)
        self.items: dict[str, int] = defaultdict(int)

    def add(self, label: str, t0: float, args: tuple[Any, ...]) -> None:
        super().add(label, t0, args)
        if label.startswith("projector apply_batch"):
            self.items[label] += len(args[1])

    def asgi(self, app: ASGIApp, label: str) -> ASGIApp:
        self.order.insert(0, label)

        async def timed_app(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http" or not self.active:
                return await app(scope, receive, send)
            t0 = time.perf_counter()
            try:
                return await app(scope, receive, send)
            finally:
                self.add(label, t0, ())

        return timed_app

    def report(self) -> str:
        total = self.seconds.get(self.order[0], 0.0) or 1.0
        out = [f"{'step (wall time awaited)':<52} {'calls':>7} {'ms/call':>8} {'% of app':>8}"]
        for label in self.order:
            calls = self.calls.get(label, 0)
            secs = self.seconds.get(label, 0.0)
            per = 1000 * secs / calls if calls else 0.0
            line = f"{label:<52} {calls:>7} {per:>8.2f} {100 * secs / total:>7.0f}%"
            if self.items.get(label):
                line += f"   (avg batch {self.items[label] / calls:.1f} events)"
            out.append(line)
        out.append("(steps nest: create > execute > js.publish; % of app = share of the summed")
        out.append(" per-request time in the ASGI app; background steps can exceed 100%)")
        return "\n".join(out)


def package_of(filename: str, func: str) -> str:
    """A coarse owner of a profiled function: library, jobstream folder or C builtin."""
    if filename == "~":  # e.g. "<method 'send' of '_socket.socket' objects>"
        return "C: " + func.removeprefix("<").removesuffix(">").removesuffix(" objects")
    parts = Path(filename).parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].removesuffix(".py")
    if ROOT in Path(filename).parents:
        return "jobstream: " + Path(filename).relative_to(ROOT).parts[0]
    lib = next((i for i, part in enumerate(parts) if part.startswith("python3")), None)
    if lib is not None and lib + 1 < len(parts):
        return "stdlib: " + parts[lib + 1].removesuffix(".py")
    return filename


def by_package(stats: pstats.Stats) -> str:
    """Own CPU time of the event-loop thread summed per package: the CPU budget by owner."""
    own: dict[str, float] = defaultdict(float)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (filename, _line, func), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        own[package_of(filename, func)] += tottime
    total = sum(own.values()) or 1.0
    out = [f"{'own time by package (event-loop thread)':<52} {'s':>7} {'share':>6}"]
    for name, secs in sorted(own.items(), key=lambda kv: -kv[1])[:20]:
        out.append(f"{name:<52} {secs:>7.3f} {100 * secs / total:>5.0f}%")
    return "\n".join(out)


def instrument(phases: Phases) -> None:
    phases.wrap(UserStore, "resolve", "auth: UserStore.resolve (cached KV get)")
    phases.wrap(JobsApi, "create", "JobsApi.create (whole command + read)")
    phases.wrap(JobsApi, "_check_refs", "  _check_refs (SQLite, only with refs)")
    phases.wrap(JobService, "execute", "  JobService.execute (decide + append)")
    phases.wrap(EventStore, "_publish", "    EventStore._publish (js.publish ack)")
    phases.wrap(Projector, "wait_for", "  Projector.wait_for (read-your-write)")
    phases.wrap(JobsApi, "get", "  JobsApi.get (SQLite read via aiosqlite)")
    phases.wrap(Projector, "_on_msg", "bg: Projector._on_msg (decode + queue put)")
    phases.wrap(projections.projector, "apply_batch", "projector apply_batch (bg, SQLite txn)")
    phases.wrap(Dispatcher, "react", "bg: Dispatcher.react (load + enqueue work)")


class Session:
    """Toggled by signals: the profiler, the phase timers and the process CPU clock."""

    def __init__(self, phases: Phases, out: Path) -> None:
        self.phases = phases
        self.out = out
        self.profiler = cProfile.Profile()
        self.wall = 0.0
        self.cpu = 0.0
        self._t0 = (0.0, 0.0)

    def start(self, _sig: int, _frame: FrameType | None) -> None:
        self._t0 = (time.perf_counter(), time.process_time())
        self.phases.active = True
        self.profiler.enable()

    def stop(self, _sig: int, _frame: FrameType | None) -> None:
        self.profiler.disable()
        self.phases.active = False
        self.wall += time.perf_counter() - self._t0[0]
        self.cpu += time.process_time() - self._t0[1]
        # Written now, not at exit: a server that hangs in shutdown gets killed.
        self.write(self.out)

    def write(self, out: Path) -> None:
        text = io.StringIO()
        cpu = 100 * self.cpu / self.wall if self.wall else 0.0
        text.write(f"API process while measured: {self.wall:.2f}s wall, {self.cpu:.2f}s CPU ")
        text.write(f"({cpu:.0f}% of one core, all threads)\n\n")
        text.write(self.phases.report() + "\n\n")
        try:
            stats = pstats.Stats(self.profiler, stream=text)
        except TypeError:  # nothing was profiled
            stats = None
        if stats is not None:
            text.write(by_package(stats) + "\n\n")
            stats.strip_dirs()
            text.write("== top 25 by cumulative time (event-loop thread) ==\n")
            stats.sort_stats(pstats.SortKey.CUMULATIVE).print_stats(25)
            text.write("== top 25 by own time (event-loop thread) ==\n")
            stats.sort_stats(pstats.SortKey.TIME).print_stats(25)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(text.getvalue())
        tmp.replace(out)  # the bench waits for `out` to appear


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    # As `jobstream api --workers 0` (cli/main.py): same logging, settings and uvicorn config.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = Settings(
        data_dir=args.data_dir, host=args.host, port=args.port,
        nats_url=access_from_env(args.data_dir, 4222), workers=0,
    )  # fmt: skip
    phases = Phases()
    instrument(phases)
    session = Session(phases, args.out)
    signal.signal(signal.SIGUSR1, session.start)
    signal.signal(signal.SIGUSR2, session.stop)
    app = phases.asgi(create_app(settings), "ASGI app call (per HTTP request)")
    uvicorn.Server(uvicorn_config(app, settings)).run()


if __name__ == "__main__":
    main()
