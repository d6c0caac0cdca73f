"""`jobstream serve`'s embedded NATS admits only the credentials kept in its data dir, and
every command run against that data dir uses them: real processes, the installed command."""

from __future__ import annotations

import stat
from pathlib import Path

import nats.errors
import pytest
from nats.aio.client import Client as NATS

from api.stream_tokens import open_config, shared_secret
from engine.jetstream.embedded import AUTH_CONF, CREDENTIALS_FILE, Credentials, read_credentials
from engine.jetstream.nats_access import parse_access
from engine.jetstream.store import wait_for_jetstream
from tests.e2e.processes import Served, serve_process
from tests.support import cli_env, nats_pids, run_cli


async def refusal(url: str) -> str:
    """The error a raw nats-py client without credentials gets from `url`."""
    nc = NATS()
    with pytest.raises(nats.errors.Error) as e:
        await nc.connect(url, allow_reconnect=False, connect_timeout=5)
    await nc.close()
    return str(e.value)


async def stream_secret(credentials: Credentials, url: str) -> bytes:
    """The stream-token signing secret in the `config` bucket, read with `credentials`."""
    nc = await wait_for_jetstream(credentials.access(url))
    try:
        return await shared_secret(await open_config(nc.jetstream()))
    finally:
        await nc.close()


def plain_url(served: Served) -> tuple[str, str]:
    """The embedded server's URL without credentials, and its port."""
    access = parse_access(served.nats_url)
    return access.url, str(access.address[1])


async def test_serve_requires_the_data_dir_credentials_and_the_cli_uses_them(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    async with serve_process(tmp_path) as served:
        credentials = read_credentials(data)
        assert stat.S_IMODE((data / CREDENTIALS_FILE).stat().st_mode) == 0o600
        assert stat.S_IMODE((data / "nats" / AUTH_CONF).stat().st_mode) == 0o600
        (pid,) = nats_pids(data / "nats")
        secret = credentials.password
        assert secret.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()  # ps shows it

        url, port = plain_url(served)
        assert "Authorization Violation" in await refusal(url)
        before = await stream_secret(credentials, url)

        # a user made against the same data dir, no NATS_URL: the API knows its token
        at_data = ("--data-dir", str(data), "--nats-port", port)
        code, out, err = await run_cli("user", "add", "bob", *at_data, env=cli_env())
        assert code == 0, err
        bob = served.client.as_user(out.strip())
        assert (await bob.call("GET", "/api/jobs"))[0] == 200

        # a command without the credentials is refused, and says so without a secret
        code, out, err = await run_cli("user", "add", "eve", env=cli_env(NATS_URL=url))
        assert code == 2 and "refused the credentials" in err, err
        code, _, err = await run_cli("worker", "--burst", *at_data, env=cli_env())
        assert code == 0, err
    logs = (tmp_path / "serve.log").read_text() + (data / "nats" / "nats-server.log").read_text()
    assert secret not in logs

    await _restart_reuses_them(tmp_path, credentials, before, bob.token)


async def _restart_reuses_them(
    tmp_path: Path, credentials: Credentials, secret: bytes, bob_token: str | None
) -> None:
    """A second serve on the same data dir keeps the credentials, and with them the buckets."""
    data = tmp_path / "data"
    async with serve_process(tmp_path) as served:
        assert read_credentials(data) == credentials
        url, port = plain_url(served)
        assert "Authorization Violation" in await refusal(url)
        assert await stream_secret(credentials, url) == secret
        assert (await served.client.as_user(bob_token).call("GET", "/api/jobs"))[0] == 200
        # last, as it replaces the running server's read model file
        rebuild = ("projections", "rebuild", "--data-dir", str(data), "--nats-port", port)
        code, out, err = await run_cli(*rebuild, env=cli_env())
        assert code == 0 and "rebuilt" in out, err
