"""The embedded nats-server with credentials (a real server): refused without them or with
wrong ones, everything works with them, and the project's nats.conf still applies."""

from __future__ import annotations

import asyncio
import contextlib
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import nats.errors
import pytest
from nats.aio.client import Client as NATS

from api.stream_tokens import open_config, shared_secret
from api.users import UserStore
from engine.jetstream.embedded import (
    AUTH_CONF,
    Credentials,
    default_conf,
    embedded_nats,
    ensure_credentials,
    nats_server_binary,
)
from engine.jetstream.nats_access import NatsAccess, NatsAccessError
from engine.jetstream.store import wait_for_jetstream
from tests.support import free_port


@contextlib.asynccontextmanager
async def secured(tmp_path: Path, credentials: Credentials) -> AsyncIterator[str]:
    async with embedded_nats(tmp_path / "nats", free_port(), default_conf(), credentials) as url:
        yield url


async def refusal(url: str, user: str | None = None, password: str | None = None) -> str:
    """The error a raw nats-py client gets connecting to `url` as `user` with `password`."""
    nc = NATS()
    with pytest.raises(nats.errors.Error) as e:
        await nc.connect(
            url, allow_reconnect=False, connect_timeout=5, user=user, password=password
        )
    await nc.close()
    return str(e.value)


async def test_only_the_credentials_get_in(tmp_path: Path) -> None:
    credentials = ensure_credentials(tmp_path / "data")
    async with secured(tmp_path, credentials) as url:
        assert "Authorization Violation" in await refusal(url)
        wrong = credentials.password[::-1]
        assert "Authorization Violation" in await refusal(url, user="jobstream", password=wrong)
        with pytest.raises(NatsAccessError, match="refused the credentials"):
            await wait_for_jetstream(url)
        with pytest.raises(NatsAccessError, match="user jobstream") as e:
            await wait_for_jetstream(NatsAccess(url=url, user="jobstream", password=wrong))
        assert wrong not in str(e.value)

        nc = await wait_for_jetstream(credentials.access(url))
        try:
            js = nc.jetstream()
            assert len(await shared_secret(await open_config(js))) == 32
            token = await (await UserStore.open(js)).add("bob")
            assert token.startswith("js_")
            await nc.publish("jobs.x.probe", b"{}")  # core publishes are allowed too
            await nc.flush()
            assert nc.max_payload == 8 * 1024 * 1024  # nats.conf's max_payload: included
        finally:
            await nc.close()


async def test_the_config_is_private_and_valid_for_any_credentials(tmp_path: Path) -> None:
    odd = Credentials(user='o"dd$user', password='p\\"w $x {y} ü')
    async with secured(tmp_path, odd) as url:
        auth_conf = tmp_path / "nats" / AUTH_CONF
        assert stat.S_IMODE(auth_conf.stat().st_mode) == 0o600
        nc = await wait_for_jetstream(odd.access(url))
        await nc.close()
        assert "Authorization Violation" in await refusal(url, user=odd.user, password="p")
    # nats-server reads the include relative to the config, from any working directory
    checked = await asyncio.create_subprocess_exec(
        nats_server_binary(), "-t", "-c", str(auth_conf), cwd="/",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await checked.communicate()
    assert checked.returncode == 0, out.decode()
    assert auth_conf.read_text().startswith('include "../')  # relative: absolute fails
