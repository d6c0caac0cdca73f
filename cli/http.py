"""The client side of the API for terminal commands: JSON calls and resilient SSE reads.

Commands reach the API at `--url` (or JOBSTREAM_URL) with a token from `--token`,
JOBSTREAM_TOKEN or the admin token file of `--data-dir` (`connection_options`, `connect`).
Failures become `CliError`s with a message fit to print: a 401 says the token was rejected,
a refused connection says which URL cannot be reached, other refusals carry the API's detail.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
from multidict import CIMultiDict
from rich.console import Console

from cli.sse_client import SseEvent, sse_events

DEFAULT_URL = "http://127.0.0.1:8080"

# Streams send a keep-alive comment every 15 s by default; four missed ones mean a dead link.
STREAM_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=60)
CALL_TIMEOUT = aiohttp.ClientTimeout(total=30)
# A file may be large: no total, but a connection that stops sending for a minute is dead.
DOWNLOAD_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=60)
_DROPPED = (aiohttp.ClientError, TimeoutError)


class CliError(Exception):
    """A command cannot go on; the message is meant for the user."""


class TokenRejected(CliError):
    """The API answered 401."""


class Unreachable(CliError):
    """No connection to the API could be made or kept."""


class NoToken(CliError):
    """No token was given and none could be read from the data dir."""


class RequestFailed(CliError):
    """The API refused a request with a status other than 401, or answered no JSON."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def connection_options() -> argparse.ArgumentParser:
    """`--url`, `--token` and `--data-dir`, as a parent parser for commands that call the API."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help=f"the API (default: JOBSTREAM_URL or {DEFAULT_URL})")
    common.add_argument("--token", help="API token (default: JOBSTREAM_TOKEN or the admin token)")
    common.add_argument("--data-dir", type=Path, default=Path("data"),
                        help="where `serve` saved admin-token (default: data)")  # fmt: skip
    return common


def admin_token_path(data_dir: Path) -> Path:
    """Where `serve` saves the admin token under `data_dir` (the server's own rule)."""
    return data_dir / "admin-token"


def resolve_token(given: str | None, data_dir: Path) -> str:
    """`--token`, else JOBSTREAM_TOKEN, else the admin token saved in the data dir."""
    if given:
        return given
    if env := os.environ.get("JOBSTREAM_TOKEN", "").strip():
        return env
    path = admin_token_path(data_dir)
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        raise NoToken(f"no token: pass --token, set JOBSTREAM_TOKEN or create {path}") from None
    except OSError as e:
        raise NoToken(f"cannot read the token file {path}: {e.strerror}") from e


@contextlib.asynccontextmanager
async def connect(args: argparse.Namespace) -> AsyncIterator[Api]:
    """An `Api` for the `connection_options` in `args`, over a session closed on exit."""
    token = resolve_token(args.token, args.data_dir)
    base = args.url or os.environ.get("JOBSTREAM_URL") or DEFAULT_URL
    async with aiohttp.ClientSession() as session:
        yield Api(session, base, token)


def _detail(body: bytes) -> str:
    try:
        decoded = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return body.decode(errors="replace").strip()[:300] or "no detail"
    if isinstance(decoded, dict) and "detail" in decoded:
        return str(decoded["detail"])
    return str(decoded)[:300]


class Api:
    """One API base URL and bearer token, over one aiohttp session."""

    def __init__(self, session: aiohttp.ClientSession, base: str, token: str) -> None:
        self.session = session
        self.base = base.rstrip("/")
        self.token = token

    def _headers(self, last_id: int | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"}
        if last_id is not None:
            headers["Last-Event-ID"] = str(last_id)
        return headers

    def _check(self, status: int, body: bytes) -> None:
        if status == 401:
            raise TokenRejected(f"token rejected by {self.base}: {_detail(body)}")
        if status >= 400:
            raise RequestFailed(f"{status}: {_detail(body)}", status)

    def unreachable(self, e: BaseException) -> Unreachable:
        errno = getattr(getattr(e, "os_error", None), "errno", None)
        reason = (os.strerror(errno) if errno else str(e)) or type(e).__name__
        return Unreachable(f"cannot reach {self.base} ({reason})")

    async def call(
        self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None
    ) -> Any:
        """The decoded JSON answer; CliError for refusals and connection failures."""
        try:
            async with self.session.request(
                method, self.base + path, json=json, params=params, headers=self._headers(),
                timeout=CALL_TIMEOUT,
            ) as resp:  # fmt: skip
                body = await resp.read()
        except _DROPPED as e:
            raise self.unreachable(e) from e
        self._check(resp.status, body)
        try:
            return msgspec.json.decode(body) if body else None
        except msgspec.DecodeError as e:
            raise RequestFailed(f"{path} answered {resp.status} with no JSON", resp.status) from e

    async def fetch(self, path: str) -> tuple[bytes, Mapping[str, str]]:
        """The raw body of a GET and its headers (case-insensitive); CliError as `call`
        raises it."""
        try:
            async with self.session.get(
                self.base + path, headers=self._headers(), timeout=DOWNLOAD_TIMEOUT
            ) as resp:
                body = await resp.read()
        except _DROPPED as e:
            raise self.unreachable(e) from e
        self._check(resp.status, body)
        return body, CIMultiDict(resp.headers)

    @contextlib.asynccontextmanager
    async def download(
        self, path: str, params: dict[str, str] | None = None
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """An open GET response whose body is read as it comes (`content.iter_chunked`);
        refusals and a connection lost before or while reading raise CliError."""
        try:
            async with self.session.get(
                self.base + path, headers=self._headers(), params=params,
                timeout=DOWNLOAD_TIMEOUT,
            ) as resp:  # fmt: skip
                if resp.status >= 400:
                    self._check(resp.status, await resp.read())
                yield resp
        except _DROPPED as e:
            raise self.unreachable(e) from e

    @contextlib.asynccontextmanager
    async def stream(
        self, path: str, last_id: int | None, params: dict[str, str] | None = None
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """An open SSE response, resumed after `last_id` when given; refusals raise CliError."""
        async with self.session.get(
            self.base + path, headers=self._headers(last_id), params=params,
            timeout=STREAM_TIMEOUT,
        ) as resp:  # fmt: skip
            if resp.status != 200:
                self._check(resp.status, await resp.read())
                raise RequestFailed(f"{resp.status}: not a stream", resp.status)
            yield resp


OnFrame = Callable[[SseEvent], bool]


class Follower:
    """Reads one SSE endpoint until `on_frame` returns True, across dropped connections.

    A dropped connection, a stream closed early or an `error` frame (a reader the server gave
    up on) is followed by a reconnect with `Last-Event-ID`, with backoff. A `reset` frame
    means the server cannot resume: the next connection starts from a fresh snapshot. The
    first connection failing, or `patience_s` without one succeeding, raises `Unreachable`.
    """

    def __init__(
        self, api: Api, path: str, *, params: dict[str, str] | None = None,
        patience_s: float = 60.0,
    ) -> None:  # fmt: skip
        self.api = api
        self.path = path
        self.params = params
        self.patience_s = patience_s
        self.last_id: int | None = None
        self.connected = False

    async def run(self, on_frame: OnFrame) -> None:
        delay, lost_at = 0.2, None
        while True:
            try:
                if await self._read(on_frame):
                    return
                delay, lost_at = 0.2, None
            except _DROPPED as e:
                if not self.connected:
                    raise self.api.unreachable(e) from e
                lost_at = self._patient(lost_at, e)
            except RequestFailed as e:
                if e.status < 500 or not self.connected:
                    raise
                lost_at = self._patient(lost_at, e)  # a restarting server answers 503 a while
            await asyncio.sleep(delay)  # backoff before reconnecting, not a synchronisation
            delay = min(delay * 2, 5.0)

    def _patient(self, lost_at: float | None, e: Exception) -> float:
        """When the connection was lost (`lost_at`, else now); `Unreachable` from `e` once
        that is more than `patience_s` ago."""
        now = time.monotonic()
        lost_at = lost_at or now
        if now - lost_at > self.patience_s:
            raise self.api.unreachable(e) from e
        return lost_at

    async def _read(self, on_frame: OnFrame) -> bool:
        """One connection: True once `on_frame` is satisfied, False to reconnect."""
        async with self.api.stream(self.path, self.last_id, self.params) as resp:
            self.connected = True
            async for event in sse_events(resp):
                if event.event == "error":
                    if "resume" not in event.data:
                        raise CliError(str(event.data.get("reason") or "stream refused"))
                    self.last_id = int(event.data["resume"])
                    on_frame(event)
                    return False
                self.last_id = None if event.event == "reset" else event.seq
                if on_frame(event):
                    return True
                if event.event == "reset":
                    return False
        return False


def run_console_command(
    main: Callable[[Console], Coroutine[Any, Any, int]], code_of: Callable[[CliError], int]
) -> int:
    """Run a command's coroutine with a console (a pipe gets a fixed width, so ids stay whole);
    a CliError is printed on stderr and exits with `code_of(error)`, Ctrl-C with 130."""
    width = None if sys.stdout.isatty() else 160
    console = Console(highlight=False, width=width)
    try:
        return asyncio.run(main(console))
    except CliError as e:
        print(f"error: {e}", file=sys.stderr)
        return code_of(e)
    except KeyboardInterrupt:
        return 130
