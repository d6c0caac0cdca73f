"""`--replicas` and JOBSTREAM_REPLICAS out of range stop a command before it reaches NATS,
with one line naming the setting."""

from __future__ import annotations

import pytest

from tests.support import cli_env, free_port, run_cli


@pytest.mark.parametrize(
    ("args", "extra", "named", "value"),
    [
        (("api", "--replicas", "9"), {}, "--replicas", "9"),
        (("worker",), {"JOBSTREAM_REPLICAS": "0"}, "JOBSTREAM_REPLICAS", "0"),
    ],
)
async def test_a_bad_replicas_setting_is_one_line(
    args: tuple[str, ...], extra: dict[str, str], named: str, value: str
) -> None:
    env = cli_env(NATS_URL=f"nats://127.0.0.1:{free_port()}", **extra)  # nothing listens there
    code, out, err = await run_cli(*args, env=env)
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        f"error: {named} must be a whole number from 1 to 5, not {value!r}"
    ]
