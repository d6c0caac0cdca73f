"""Pure parts of webhooks: the Standard Webhooks signer, the retry schedule, message ids,
payloads and field checks."""

from __future__ import annotations

import base64
import hashlib
import hmac

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.domain.events import (
    JobCanceled,
    JobCreated,
    JobFailed,
    JobStarted,
    JobSucceeded,
    LogWritten,
    PageRecorded,
)
from streams.signing import InvalidSecret, new_secret, secret_key, sign
from streams.webhook_http import payload
from streams.webhook_store import InvalidWebhook, check_events, check_url
from streams.webhooks import DeliverySettings, message_id


def test_signature_matches_the_published_test_vector() -> None:
    # The Standard Webhooks reference libraries' own test case.
    signature = sign(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        b'{"test": 2432232314}',
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def _verify(secret: str, msg_id: str, timestamp: int, body: bytes, header: str) -> bool:
    """Written from the spec, independently of streams.signing."""
    key = base64.b64decode(secret[len("whsec_") :])
    mac = hmac.new(key, b"%s.%d.%s" % (msg_id.encode(), timestamp, body), hashlib.sha256)
    expected = base64.b64encode(mac.digest()).decode()
    return any(
        version == "v1" and hmac.compare_digest(sig, expected)
        for version, _, sig in (part.partition(",") for part in header.split())
    )


@given(
    msg_id=st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1),
    timestamp=st.integers(0, 2**40),
    body=st.binary(),
)
def test_every_signature_verifies_and_only_for_its_own_content(
    msg_id: str, timestamp: int, body: bytes
) -> None:
    secret = new_secret()
    header = sign(secret, msg_id, timestamp, body)
    assert _verify(secret, msg_id, timestamp, body, header)
    assert not _verify(secret, msg_id, timestamp + 1, body, header)
    assert not _verify(secret, msg_id, timestamp, body + b" ", header)
    assert not _verify(new_secret(), msg_id, timestamp, body, header)


def test_secrets_are_whsec_and_32_random_bytes() -> None:
    secrets = {new_secret() for _ in range(50)}
    assert len(secrets) == 50
    assert all(s.startswith("whsec_") and len(secret_key(s)) == 32 for s in secrets)
    with pytest.raises(InvalidSecret):
        secret_key("whsec_not*base64")


def test_retries_back_off_exponentially_and_honour_retry_after_up_to_the_cap() -> None:
    s = DeliverySettings(backoff_s=1.0, retry_after_cap_s=60.0)
    assert [s.delay_s(n, None) for n in range(1, 6)] == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert s.delay_s(1, 30.0) == 30.0  # the receiver asks for longer: granted
    assert s.delay_s(1, 3600.0) == 60.0  # ... up to the cap
    assert s.delay_s(4, 0.0) == 8.0  # never sooner than the backoff


@given(st.lists(st.text(min_size=1, max_size=30), min_size=2, max_size=2, unique=True))
def test_message_ids_are_stable_distinct_and_subject_safe(ids: list[str]) -> None:
    event_id, other = ids
    assert message_id(event_id, "wh_1") == message_id(event_id, "wh_1")
    assert message_id(event_id, "wh_1") != message_id(event_id, "wh_2")
    assert message_id(event_id, "wh_1") != message_id(other, "wh_1")
    assert message_id(event_id, "wh_1").replace("_", "").isalnum()


ENV = {"event_id": "E1", "job_id": "J1", "at": 1_700_000_000_123, "actor": "w1"}
JOB = JobCreated(**ENV, user_id="u1", type=50, priority=1, title="Scrape", parent_job_id="P1")


@pytest.mark.parametrize(
    ("event", "type_", "status", "extra"),
    [
        (JobStarted(**ENV, worker_id="w1", attempt=2), "job.started", "running", {"attempt": 2}),
        (JobSucceeded(**ENV), "job.completed", "completed", {}),
        (JobFailed(**ENV, error="boom"), "job.failed", "failed", {"error": "boom"}),
        (JobCanceled(**ENV, reason="asked"), "job.canceled", "canceled", {"reason": "asked"}),
    ],
)
def test_payload_names_the_event_and_the_job(
    event: JobStarted, type_: str, status: str, extra: dict[str, object]
) -> None:
    body = msgspec.json.decode(payload(event, JOB))
    assert body["type"] == type_
    assert body["timestamp"] == "2023-11-14T22:13:20.123Z"
    assert body["data"] == {
        "job_id": "J1", "status": status, "job_type": 50, "title": "Scrape",
        "parent_job_id": "P1", **extra,
    }  # fmt: skip


def test_page_payload_carries_the_page_metadata() -> None:
    meta = {"status": 200, "title": "Home", "bytes": 10, "links": 3}
    event = PageRecorded(**ENV, url="https://a.test/", ok=True, status=200, meta=meta)
    page = msgspec.json.decode(payload(event, JOB))["data"]["page"]
    assert page == {
        "url": "https://a.test/", "ok": True, "status_code": 200, "error": None,
        "title": "Home", "bytes": 10, "links": 3,
    }  # fmt: skip


def test_events_without_a_webhook_type_have_no_payload() -> None:
    with pytest.raises(KeyError):
        payload(LogWritten(**ENV, message="x"), JOB)


def test_event_names_are_checked_and_deduplicated() -> None:
    assert check_events(["job.page", "job.failed", "job.page"]) == ["job.page", "job.failed"]
    for bad in ([], ["job.page", "job.finished"], ["JOB.PAGE"]):
        with pytest.raises(InvalidWebhook) as err:
            check_events(bad)
        assert err.value.field == "events"


def test_urls_need_http_or_https_and_a_host() -> None:
    assert check_url("https://hooks.example.com/x?y=1") == ("hooks.example.com", 443)
    assert check_url("http://[::1]:8080/") == ("::1", 8080)
    for bad in ("", "example.com/x", "mailto:a@b.c", "https://", "http://h:0x/", "http://a b/"):
        with pytest.raises(InvalidWebhook) as err:
            check_url(bad)
        assert err.value.field == "url"
