"""Creating the streams, buckets and object stores the project uses, on one server or a cluster.

Two rules hold for every start-up, however many processes start at once:
- a stream is created with the caller's `num_replicas`; an existing one keeps the replicas and
  placement it has (an operator may have changed them) and only the fields the code sets are
  brought to the code's values;
- creation returns once the stream has a leader, so the first write to it does not meet "no
  responders" while the cluster is still electing one.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import StreamConfig, StreamInfo

from engine.jetstream.errors import StoreUnavailable

# Kept as found on an existing stream: how many copies and where is the operator's choice.
_KEPT = frozenset({"num_replicas", "placement"})
_DEFAULTS = StreamConfig().as_dict()
T = TypeVar("T")
LEADER_WAIT_S = 30.0  # a cluster elects a new stream's leader in well under a second
_POLL_S = 0.05
# A probe write's header: a last sequence no stream reaches, so the stream refuses it.
_REFUSED = {"Nats-Expected-Last-Sequence": str(2**63 - 1)}
STREAM_NAME_IN_USE = 10058  # "stream name already in use with a different configuration"
# What a JetStream API request meets while the stream, or the cluster's meta layer (for a
# create), has no leader.
_NO_LEADER = (
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.js.errors.ServiceUnavailableError,
)


class SetupRefused(StoreUnavailable):
    """JetStream refused to create a stream or bucket the project needs: the message says
    why, in the server's words (e.g. replicas above the number of servers)."""


def owned_fields(config: StreamConfig) -> frozenset[str]:
    """The fields `config` sets: those differing from a blank StreamConfig's, and its name;
    never the replicas or placement."""
    wanted = config.as_dict()
    return frozenset(k for k, v in wanted.items() if k == "name" or v != _DEFAULTS.get(k)) - _KEPT


def reconciled(existing: StreamConfig, config: StreamConfig) -> StreamConfig:
    """`existing` with the fields `config` owns replaced by `config`'s values."""
    changes = {k: getattr(config, k) for k in owned_fields(config)}
    return dataclasses.replace(existing, **changes)


def differs(existing: StreamConfig, config: StreamConfig) -> bool:
    """Whether any field `config` owns has another value in `existing`."""
    have, want = existing.as_dict(), config.as_dict()
    return any(_value(have.get(k)) != _value(want.get(k)) for k in owned_fields(config))


def _value(v: Any) -> Any:
    return getattr(v, "value", v)  # an enum as the server spells it


async def ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    """Create `config.name` as `config` says (its `num_replicas` included), or bring an
    existing stream's owned fields to `config`, keeping its replicas and placement. Safe to
    run from any number of processes at once. Returns once the stream has a leader."""
    info = await settled_info(js, str(config.name)) or await _create(js, config)
    if differs(info.config, config):
        await js.update_stream(reconciled(info.config, config))
        info = await wait_for_leader(js, str(config.name))
    await answers_writes(js, info, LEADER_WAIT_S)


async def _create(js: JetStreamContext, config: StreamConfig) -> StreamInfo:
    """The new stream's info; if another process created it first (with other replicas,
    say), the info of that one. SetupRefused for any other refusal."""
    await create_once(str(config.name), lambda: js.add_stream(config))
    return await wait_for_leader(js, str(config.name))


async def create_once(
    name: str, create: Callable[[], Awaitable[object]], timeout: float = LEADER_WAIT_S
) -> None:
    """Run `create` (making stream, bucket or object store `name`) until JetStream answers.
    A cluster electing its meta leader answers nothing (a timeout) or 503, and a create is
    idempotent, so it is asked again. "Name in use with another configuration" means
    another process created it first: done. Any other refusal is SetupRefused (more
    replicas than servers, say); no answer for `timeout` seconds, StoreUnavailable."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        try:
            await create()
            return
        except _NO_LEADER:
            if loop.time() > end:
                raise StoreUnavailable(f"JetStream did not answer creating {name}") from None
        except nats.js.errors.APIError as e:
            if e.err_code != STREAM_NAME_IN_USE:
                raise SetupRefused(f"JetStream refused to create {name}: {e.description}") from e
            return
        await asyncio.sleep(_POLL_S)  # an election has no notification a client can await


async def answered(
    call: Callable[[], Awaitable[T]], what: str, timeout: float = LEADER_WAIT_S
) -> T:
    """`call`'s answer (a JetStream API request: a consumer's info or creation, say), asked
    again while no leader answers it (an election: a timeout, no responders, 503), as a
    stream just created by several processes at once may for a moment; StoreUnavailable
    after `timeout` seconds. Any other error passes through."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        try:
            return await call()
        except _NO_LEADER:
            if loop.time() > end:
                raise StoreUnavailable(f"JetStream did not answer {what}") from None
        await asyncio.sleep(_POLL_S)  # an election has no notification a client can await


async def settled_info(
    js: JetStreamContext, stream: str, timeout: float = LEADER_WAIT_S, *, known: bool = False
) -> StreamInfo | None:
    """`stream`'s info once it has a leader that answers (at once on a single server); None
    if there is no such stream. Waits out an election: a stream another process has just
    created answers nothing (a timeout) until its leader is elected. With `known` (this
    process just created it, or saw it created) a "not found" is such an answer too: a new
    stream may read as missing until its leader is elected. StoreUnavailable after `timeout`
    seconds."""
    try:
        return await _settled(js, stream, timeout, known=known)
    except TimeoutError:
        raise StoreUnavailable(f"stream {stream} has no leader after {timeout:g} s") from None


async def _settled(
    js: JetStreamContext, stream: str, timeout: float, *, known: bool
) -> StreamInfo | None:
    async with asyncio.timeout(timeout):
        while True:
            try:
                info = await js.stream_info(stream)
            except nats.js.errors.NotFoundError:
                if not known:
                    return None
                info = None
            except _NO_LEADER:
                info = None
            if info is not None and (info.cluster is None or info.cluster.leader):
                return info
            await asyncio.sleep(_POLL_S)  # an election has no notification a client can await


async def wait_for_leader(
    js: JetStreamContext, stream: str, timeout: float = LEADER_WAIT_S
) -> StreamInfo:
    """`stream`'s info once, just created, it has a leader that answers; StoreUnavailable
    after `timeout` seconds."""
    info = await settled_info(js, stream, timeout, known=True)
    if info is None:  # not with `known`; for the type checker
        raise SetupRefused(f"stream {stream} was created but cannot be found")
    await answers_writes(js, info, timeout)
    return info


async def answers_writes(js: JetStreamContext, info: StreamInfo, timeout: float) -> None:
    """Return once a write to the stream of `info` reaches it. For a moment after a new
    stream's leader is elected, its subjects may have no listener yet on the server this
    client uses, and a write meets "no responders". The probe is a write the stream always
    refuses (it expects a last sequence no stream reaches), so nothing is stored.
    StoreUnavailable after `timeout` seconds."""
    name, subjects = str(info.config.name), info.config.subjects or []
    if not subjects:
        return
    subject = ".".join("_probe" if t in ("*", ">") else t for t in subjects[0].split("."))
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        try:
            await js.publish(subject, b"", timeout=1.0, stream=name, headers=dict(_REFUSED))
        except (*_NO_LEADER, nats.js.errors.NoStreamResponseError):
            if loop.time() > end:
                raise StoreUnavailable(f"writes to {name} find no stream") from None
        except nats.js.errors.APIError:
            return  # refused: the stream answered
        else:
            return  # unreachable: no stream has that many messages
        await asyncio.sleep(_POLL_S)  # interest spreading has no notification either
