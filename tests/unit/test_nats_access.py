"""NATS access from NATS_URL / NATS_CREDS or the data dir: credentials taken out of the URL,
never shown in a repr, a masked URL or an error message."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import nats.errors
import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.settings import Settings, access_from_env
from engine.jetstream.embedded import CREDENTIALS_FILE, ensure_credentials, read_credentials
from engine.jetstream.nats_access import (
    NatsAccess,
    NatsAccessError,
    mask_url,
    parse_access,
    refused,
)

SECRET = "s3cr/t:p@ss w0rd"  # needs percent-encoding in a URL


def test_a_plain_url_has_no_credentials() -> None:
    access = parse_access("nats://10.0.0.5:4333")
    assert access == NatsAccess(url="nats://10.0.0.5:4333")
    assert access.address == ("10.0.0.5", 4333)
    assert access.auth == "none"
    assert parse_access("10.0.0.5").url == "nats://10.0.0.5"  # nats:// when there is no scheme
    assert parse_access("nats://h").address == ("h", 4222)


def test_user_and_password_leave_the_url() -> None:
    access = parse_access(f"nats://alice:{quote(SECRET, safe='')}@nats.example:4333")
    assert (access.url, access.user, access.password) == (
        "nats://nats.example:4333",
        "alice",
        SECRET,
    )
    assert access.token is None and access.creds_file is None
    options = access.connect_options()
    assert options["servers"] == ["nats://nats.example:4333"]
    assert (options["user"], options["password"], options["token"]) == ("alice", SECRET, None)
    assert "user_credentials" not in options
    assert SECRET not in repr(access) and "alice" in repr(access)


def test_a_lone_user_is_a_token() -> None:
    access = parse_access("tls://t0ken-abc@nats.example:4222")
    assert (access.url, access.token, access.user, access.password) == (
        "tls://nats.example:4222", "t0ken-abc", None, None,
    )  # fmt: skip
    assert access.connect_options()["token"] == "t0ken-abc"
    assert "t0ken-abc" not in repr(access)


def test_a_creds_file_goes_to_user_credentials(tmp_path: Path) -> None:
    creds = tmp_path / "app.creds"
    creds.write_text("-----BEGIN NATS USER JWT-----\n")
    access = parse_access("nats://nats.example:4222", creds)
    assert access.creds_file == creds
    assert access.connect_options()["user_credentials"] == str(creds)
    assert str(creds) in access.auth


def test_a_creds_file_must_exist_and_not_come_with_a_password(tmp_path: Path) -> None:
    with pytest.raises(NatsAccessError, match="does not exist"):
        parse_access("nats://h:4222", tmp_path / "missing.creds")
    creds = tmp_path / "app.creds"
    creds.write_text("x")
    with pytest.raises(NatsAccessError, match="use one") as e:
        parse_access(f"nats://u:{SECRET.replace('/', '%2F')}@h:4222", creds)
    assert "s3cr" not in str(e.value)


def test_a_list_of_servers_shares_one_set_of_credentials() -> None:
    access = parse_access(f"nats://a:4222, nats://alice:{quote(SECRET, safe='')}@b:4223,nats://c,")
    assert access.url == "nats://a:4222,nats://b:4223,nats://c"
    assert access.addresses == [("a", 4222), ("b", 4223), ("c", 4222)]
    assert access.address == ("a", 4222)
    options = access.connect_options()
    assert options["servers"] == ["nats://a:4222", "nats://b:4223", "nats://c"]
    assert (options["user"], options["password"]) == ("alice", SECRET)
    assert parse_access("nats://t0k@a:1,nats://t0k@b:2").token == "t0k"
    assert SECRET not in repr(access)
    with pytest.raises(NatsAccessError, match="no server"):
        parse_access(" , ")


def test_a_comma_in_a_password_stays_in_its_server() -> None:
    access = parse_access("nats://u:p,w@a:1,nats://b:2")
    assert (access.servers, access.password) == (["nats://a:1", "nats://b:2"], "p,w")
    assert mask_url("nats://u:p,w@a:1,nats://b:2") == "nats://***@a:1,nats://b:2"
    assert mask_url("u:p,w@a:1") == "***@a:1"


def test_a_list_is_masked_server_by_server() -> None:
    masked = mask_url("nats://u:pw@a:1,tls://tok@b:2,nats://c:3")
    assert masked == "nats://***@a:1,tls://***@b:2,nats://c:3"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://u:hunter22@h:4222", "scheme"),
        ("nats://u:hunter22@h:99999", "port"),
        ("nats://u:hunter22@h:42x", "port"),
        ("nats://u:hunter22@a:4222,nats://v:hunter22@b:4222", "different credentials"),
        ("nats://u:hunter22@a:4222,b:4222", "its scheme"),
        ("nats://:hunter22@h:4222", "no user"),
        ("nats://u:hunter22@:4222", "no host"),
    ],
)
def test_a_malformed_url_is_named_masked(url: str, problem: str) -> None:
    with pytest.raises(NatsAccessError, match=problem) as e:
        parse_access(url)
    assert "hunter22" not in str(e.value)
    assert "***@" in str(e.value)


_userinfo = st.text(min_size=1, max_size=40)


@given(user=_userinfo, password=st.text(max_size=40))
def test_any_percent_encoded_user_and_password_come_back_exactly(user: str, password: str) -> None:
    url = f"nats://{quote(user, safe='')}:{quote(password, safe='')}@127.0.0.1:4222"
    access = parse_access(url)
    assert (access.user, access.password, access.url) == (user, password, "nats://127.0.0.1:4222")


@given(info=_userinfo, scheme=st.sampled_from(["nats", "tls", "ws", "wss"]))
def test_masking_hides_everything_before_the_host(info: str, scheme: str) -> None:
    assert mask_url(f"{scheme}://{info}@db.example:4222") == f"{scheme}://***@db.example:4222"


def test_masking_leaves_a_url_without_credentials_alone() -> None:
    assert mask_url("nats://127.0.0.1:4222") == "nats://127.0.0.1:4222"
    assert mask_url("u:pw@127.0.0.1:4222") == "***@127.0.0.1:4222"


def test_refusals_are_told_from_other_errors() -> None:
    assert refused(nats.errors.Error("nats: 'Authorization Violation'"))
    assert refused(nats.errors.Error("nats: 'User Authentication Expired'"))
    assert not refused(nats.errors.Error("nats: 'Maximum Connections Exceeded'"))
    assert not refused(ConnectionRefusedError(111, "Connect call failed"))


def test_settings_take_a_url_or_an_access() -> None:
    assert Settings().nats_access is None  # the embedded server
    access = Settings(nats_url="nats://u:pw@h:4222").nats_access
    assert access == NatsAccess(url="nats://h:4222", user="u", password="pw")
    assert Settings(nats_url=access).nats_access is access


def test_the_environment_wins_over_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure_credentials(tmp_path)
    monkeypatch.setenv("NATS_URL", "nats://app:pw@nats.example:4333")
    monkeypatch.delenv("NATS_CREDS", raising=False)
    assert access_from_env(tmp_path, 5000) == parse_access("nats://app:pw@nats.example:4333")
    creds = tmp_path / "app.creds"
    creds.write_text("x")
    monkeypatch.setenv("NATS_URL", "nats://nats.example:4333")
    monkeypatch.setenv("NATS_CREDS", str(creds))
    assert access_from_env(tmp_path, 5000).creds_file == creds


def test_without_nats_url_a_command_uses_the_data_dir_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NATS_URL", raising=False)
    monkeypatch.setenv("NATS_CREDS", str(tmp_path / "ignored.creds"))  # only with NATS_URL
    with pytest.raises(NatsAccessError, match="jobstream serve --data-dir"):
        access_from_env(tmp_path, 5000)
    made = ensure_credentials(tmp_path)
    access = access_from_env(tmp_path, 5000)
    assert access == NatsAccess(
        url="nats://127.0.0.1:5000", user="jobstream", password=made.password
    )


def test_credentials_are_made_once_private_and_strong(tmp_path: Path) -> None:
    data = tmp_path / "data"
    made = ensure_credentials(data)
    path = data / CREDENTIALS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert made.user == "jobstream" and len(made.password) >= 43  # 256 random bits, base64
    assert ensure_credentials(data) == made == read_credentials(data)
    assert ensure_credentials(tmp_path / "other") != made
    assert made.password not in repr(made)
    assert made.access("nats://127.0.0.1:1").password == made.password


def test_processes_starting_at_once_agree_on_one_set(tmp_path: Path) -> None:
    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(lambda _: ensure_credentials(tmp_path), range(16)))
    assert len(set(made)) == 1
    assert [p.name for p in tmp_path.iterdir()] == [CREDENTIALS_FILE]  # no temporary left


def test_a_damaged_credentials_file_is_an_access_error(tmp_path: Path) -> None:
    (tmp_path / CREDENTIALS_FILE).write_text('{"user": "jobstream"')
    with pytest.raises(NatsAccessError, match="cannot read"):
        read_credentials(tmp_path)
    (tmp_path / CREDENTIALS_FILE).write_text('{"user": "jobstream", "password": 7}')
    with pytest.raises(NatsAccessError, match="cannot read"):
        ensure_credentials(tmp_path)
