"""Benchmark helpers: free ports, child processes that die with us, CPU accounting, step timers.

Only the benchmarks import this; the product never imports anything from `bench/`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import os
import socket
import sys
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import aiohttp

from engine.jetstream.embedded import die_with_parent, stop_process
from engine.jetstream.store import wait_for_jetstream
from engine.jetstream.work import LANES, WORK_STREAM, consumer_name

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PROFILED_API = Path(__file__).resolve().with_name("_profiled_api.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of `pid` so far (Linux /proc), None when unavailable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def child_pid(name: str) -> int | None:
    """The pid of our direct child process called `name` (e.g. the nats-server), if any."""
    me = str(os.getpid())
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, IndexError):
            stat = (entry / "stat").read_text()
            comm = stat[stat.index("(") + 1 : stat.rindex(")")]
            if comm == name and stat[stat.rindex(")") + 2 :].split()[1] == me:
                return int(entry.name)
    return None


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an ascending sequence (0 for an empty one)."""
    if not ordered:
        return 0.0
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


class StepTimes:
    """Wall-clock seconds spent in wrapped callables, summed per label while `active`.

    For a coroutine function that is the time awaited in it, other tasks' turns included.
    """

    def __init__(self, *, active: bool = True) -> None:
        self.active = active
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self.order: list[str] = []  # labels in wrapping order, for reports

    def wrap(self, owner: Any, name: str, label: str) -> None:
        """Replace `owner.name` (function, coroutine function or method) by a timed self."""
        fn = getattr(owner, name)
        self.order.append(label)
        if inspect.iscoroutinefunction(fn):

            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                if not self.active:
                    return await fn(*args, **kwargs)
                t0 = time.perf_counter()
                try:
                    return await fn(*args, **kwargs)
                finally:
                    self.add(label, t0, args)

            setattr(owner, name, functools.wraps(fn)(timed_async))
            return

        def timed(*args: Any, **kwargs: Any) -> Any:
            if not self.active:
                return fn(*args, **kwargs)
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.add(label, t0, args)

        setattr(owner, name, functools.wraps(fn)(timed))

    def add(self, label: str, t0: float, args: tuple[Any, ...]) -> None:
        """Book one call of `label` that started at perf_counter() `t0`, made with `args`."""
        self.seconds[label] += time.perf_counter() - t0
        self.calls[label] += 1


@dataclass
class ApiProcess:
    proc: asyncio.subprocess.Process
    base: str
    token: str
    stop_seconds: float = 0.0  # set once stopped: SIGTERM to exit
    killed: bool = False  # it ignored SIGTERM for the whole grace period


def jobstream_cli() -> list[str]:
    """The argv that runs the `jobstream` command of this interpreter's environment."""
    script = Path(sys.executable).with_name("jobstream")
    return [str(script)] if script.exists() else [sys.executable, "-m", "cli.main"]


async def spawn(
    argv: Sequence[str], log: IO[bytes], env: Mapping[str, str] | None = None, *,
    pipe: bool = False, cwd: Path | None = None,
) -> asyncio.subprocess.Process:  # fmt: skip
    """`argv` in a session of its own (Ctrl-C reaches only us; we stop the children in order),
    dying with us; its stderr, and its stdout unless piped, to `log`."""
    return await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE if pipe else log, stderr=log, start_new_session=True,
        preexec_fn=die_with_parent if sys.platform == "linux" else None,
    )  # fmt: skip


def _api_argv(
    data_dir: Path, port: int, profile_out: Path | None, workers: int, options: Sequence[str]
) -> list[str]:
    if profile_out is not None:
        return [sys.executable, str(PROFILED_API), "--data-dir", str(data_dir),
                "--port", str(port), "--out", str(profile_out)]  # fmt: skip
    argv = ["api", "--data-dir", str(data_dir), "--port", str(port), "--workers", str(workers)]
    return [*jobstream_cli(), *argv, *options]


@contextlib.asynccontextmanager
async def api_process(
    nats_url: str, data_dir: Path, *, profile_out: Path | None = None, timeout: float = 60.0,
    workers: int = 0, options: Sequence[str] = (), env: Mapping[str, str] | None = None,
    grace: float = 10.0,
) -> AsyncIterator[ApiProcess]:  # fmt: skip
    """`jobstream api --workers {workers} *options` against `nats_url` (or, with `profile_out`,
    the profiled runner, which takes neither), healthy, with its token; `env` adds to our
    environment. Stopped on exit: SIGTERM, SIGKILL after `grace` seconds."""
    assert profile_out is None or (workers == 0 and not options), "the profiled API takes none"
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = data_dir / "api.log"
    argv = _api_argv(data_dir, port, profile_out, workers, options)
    with log_path.open("ab") as log:
        proc = await spawn(argv, log, {**os.environ, "NATS_URL": nats_url, **(env or {})})
        try:
            base = f"http://127.0.0.1:{port}"
            await wait_healthy(base, proc, log_path, timeout)
            api = ApiProcess(proc, base, (data_dir / "admin-token").read_text().strip())
            yield api
        finally:
            t0 = time.perf_counter()
            killed = await stop_process(proc, grace)
    api.stop_seconds, api.killed = time.perf_counter() - t0, killed


async def wait_healthy(
    base: str, proc: asyncio.subprocess.Process, log_path: Path, timeout: float
) -> None:
    """Until GET /health answers 200 (NATS connected, read model caught up with the log)."""
    try:
        async with asyncio.timeout(timeout), aiohttp.ClientSession() as session:
            while True:
                if proc.returncode is not None:
                    raise RuntimeError(f"API exited ({proc.returncode}):\n{tail(log_path)}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(base + "/health") as resp:
                        if resp.status == 200:
                            return
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise RuntimeError(f"API not healthy after {timeout}s:\n{tail(log_path)}") from None


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


async def wait_for_file(path: Path, timeout: float = 15.0) -> bool:
    """Poll until `path` exists; False after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not path.exists():
        if loop.time() > end:
            return False
        await asyncio.sleep(0.05)
    return True


async def wait_worker_polling(nats_url: str, proc: asyncio.subprocess.Process, log: Path) -> None:
    """Until a worker has a pull request waiting on a WORK lane (it is ready to take a job)."""
    nc = await wait_for_jetstream(nats_url)
    try:
        js = nc.jetstream()
        async with asyncio.timeout(60):
            while True:
                if proc.returncode is not None:
                    raise RuntimeError(f"jobstream exited ({proc.returncode}):\n{tail(log)}")
                for _, lane in LANES:
                    info = await js.consumer_info(WORK_STREAM, consumer_name(lane))
                    if info.num_waiting:
                        return
                await asyncio.sleep(0.05)
    finally:
        await nc.close()
