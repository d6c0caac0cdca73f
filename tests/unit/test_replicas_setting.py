"""The replicas setting: --replicas, else JOBSTREAM_REPLICAS, else 1; anything else named."""

from __future__ import annotations

import pytest

from api.settings import MAX_REPLICAS, SettingError, replicas_from


def test_the_flag_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBSTREAM_REPLICAS", "5")
    assert replicas_from(3) == 3
    assert replicas_from(None) == 5


def test_one_replica_when_nothing_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JOBSTREAM_REPLICAS", raising=False)
    assert replicas_from(None) == 1
    monkeypatch.setenv("JOBSTREAM_REPLICAS", " ")
    assert replicas_from(None) == 1


@pytest.mark.parametrize("bad", ["0", "6", "-1", "three", "2.5"])
def test_a_bad_environment_value_is_named(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv("JOBSTREAM_REPLICAS", bad)
    with pytest.raises(SettingError, match=f"JOBSTREAM_REPLICAS .* 1 to {MAX_REPLICAS}.*{bad}"):
        replicas_from(None)


@pytest.mark.parametrize("bad", [0, MAX_REPLICAS + 1, -3])
def test_a_bad_flag_is_named(bad: int) -> None:
    with pytest.raises(SettingError, match="--replicas"):
        replicas_from(bad)
