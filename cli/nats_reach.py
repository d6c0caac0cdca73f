"""How the server-side commands reach NATS: within `--wait` seconds, or one clear line.

`worker`, `api`, `user add` and `projections rebuild` connect through `reach_nats`: with no
server listening it gives up at once (or after `--wait SECONDS`), and a server that listens
but does not answer as JetStream gets `ANSWER_S` more. While it connects, the
connection errors nats-py reports (a traceback each, every few seconds) are kept back; only
the last one's text reaches the message.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import os
import sys
from collections.abc import Iterator

from nats.aio.client import Client as NATS

from engine.jetstream.errors import StoreUnavailable
from engine.jetstream.nats_access import NatsAccess
from engine.jetstream.store import wait_for_jetstream

# Once the port answers, how long a server gets to answer as JetStream.
ANSWER_S = 5.0
# One TCP connection attempt (a host that drops packets never refuses).
ATTEMPT_S = 3.0
RETRY_S = 0.25
_NATS_LOGGERS = ("engine.jetstream.nats_access", "nats", "nats.aio.client")


class NatsUnreachable(StoreUnavailable):
    """No NATS answered in time; the message is one line, fit to print."""


def add_wait_option(p: argparse.ArgumentParser) -> None:
    """`--wait SECONDS`: how long a command waits for NATS to come up (default: not at all)."""
    p.add_argument(
        "--wait", type=float, default=0.0, metavar="SECONDS",
        help="wait up to this long for NATS to accept connections (default 0: fail at once)",
    )  # fmt: skip


async def reach_nats(access: NatsAccess, wait_s: float) -> NATS:
    """A connection to `access`' server, JetStream answering. NatsUnreachable when its port
    does not accept a connection within `wait_s` (one attempt when 0), or JetStream does not
    answer `ANSWER_S` after that; NatsAccessError (from `wait_for_jetstream`) when the
    server refuses the credentials."""
    await _port_open(access, wait_s)
    with _kept_back() as errors:
        try:
            async with asyncio.timeout(ANSWER_S + 1):
                return await wait_for_jetstream(access, deadline_s=ANSWER_S)
        except (TimeoutError, StoreUnavailable) as e:
            last = errors[-1] if errors else e
            raise NatsUnreachable(
                f"NATS at {access.url} accepts connections but does not answer as JetStream"
                f" ({_reason(last)})"
            ) from None


async def probe_nats(access: NatsAccess, wait_s: float) -> None:
    """`reach_nats`, the connection closed again: NATS is there now."""
    nc = await reach_nats(access, wait_s)
    await nc.close()


async def _port_open(access: NatsAccess, wait_s: float) -> None:
    """Return once one of `access`' servers accepts a TCP connection; NatsUnreachable after
    `wait_s`. A wait says so on stderr once, so that a script's log shows what it waits for."""
    loop = asyncio.get_running_loop()
    end, noted = loop.time() + wait_s, False
    while True:
        try:
            await _any_accepts(access.addresses)
            return
        except (OSError, TimeoutError) as e:
            if loop.time() + RETRY_S > end:
                raise _unreachable(access, wait_s, e) from None
        if not noted:
            print(f"waiting up to {wait_s:g} s for NATS at {access.url}", file=sys.stderr)
            noted = True
        await asyncio.sleep(RETRY_S)  # a retry's pause, not a synchronisation


async def _any_accepts(addresses: list[tuple[str, int]]) -> None:
    """Return if one of `addresses` accepts a TCP connection; else the last one's error."""
    failure: OSError | TimeoutError = ConnectionRefusedError(errno.ECONNREFUSED, "refused")
    for host, port in addresses:
        try:
            async with asyncio.timeout(ATTEMPT_S):
                _, writer = await asyncio.open_connection(host, port)
        except (OSError, TimeoutError) as e:
            failure = e
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return
    raise failure


def _unreachable(access: NatsAccess, wait_s: float, e: BaseException) -> NatsUnreachable:
    waited = f"waited {wait_s:g} s" if wait_s > 0 else "--wait SECONDS to wait for it"
    if os.environ.get("NATS_URL", "").strip():
        ask = "is the server NATS_URL names running?"
    else:  # the embedded server of a `serve` on this machine, or NATS_URL forgotten
        ask = "is `jobstream serve` running with that --nats-port, or should NATS_URL be set?"
    return NatsUnreachable(f"cannot reach NATS at {access.url} ({_reason(e)}): {ask} ({waited})")


def _reason(e: BaseException) -> str:
    if isinstance(e, TimeoutError):
        return "timed out"
    if isinstance(e, OSError) and e.errno:
        return os.strerror(e.errno).lower()  # asyncio's own text repeats the address
    return str(e).splitlines()[0] if str(e) else type(e).__name__


class _KeepBack(logging.Filter):
    """Drops every record, keeping the exceptions they carried."""

    def __init__(self) -> None:
        super().__init__()
        self.errors: list[BaseException] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            self.errors.append(record.exc_info[1])
        return False


@contextlib.contextmanager
def _kept_back() -> Iterator[list[BaseException]]:
    """While inside, the NATS client's log records are dropped; yields their exceptions."""
    keep = _KeepBack()
    loggers = [logging.getLogger(name) for name in _NATS_LOGGERS]
    for logger in loggers:
        logger.addFilter(keep)
    try:
        yield keep.errors
    finally:
        for logger in loggers:
            logger.removeFilter(keep)
