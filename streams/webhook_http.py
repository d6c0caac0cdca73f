"""One webhook POST and what it says about retrying; the JSON body sent for an event.

Retried: network errors, timeouts, 429 and 5xx (with the receiver's Retry-After).
Final: 2xx (delivered), redirects and other 4xx (the receiver refuses), an address the
private-network guard refuses (checked on every connection, since DNS can change, and for
IP literals in any spelling before aiohttp sees the URL), a URL without a valid host.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import aiohttp
import msgspec
from yarl import URL

from engine.domain.events import (
    AnyEvent,
    JobCanceled,
    JobCreated,
    JobFailed,
    JobStarted,
    PageRecorded,
    kind_of,
)
from engine.net.errors import BlockedAddress, InvalidUrl
from engine.net.netguard import GuardedConnector, NetPolicy, guard_url, require_guarded
from engine.net.retry import parse_retry_after, transient_status
from streams.signing import sign
from streams.webhook_store import EVENT_TYPES

USER_AGENT = "jobstream-webhooks/0.1"
_STATUS_OF = {
    "started": "running",
    "page": "running",
    "succeeded": "completed",
    "failed": "failed",
    "canceled": "canceled",
}


class Sent(msgspec.Struct, frozen=True, kw_only=True):
    """How one POST went. `retryable` is meaningful only when not `delivered`."""

    delivered: bool
    retryable: bool
    status_code: int | None = None
    error: str | None = None
    retry_after_s: float | None = None
    duration_ms: int = 0


def make_session(*, allow_private: bool, limit: int) -> aiohttp.ClientSession:
    """A session whose every connection goes through the private-network guard."""
    connector = GuardedConnector(policy=NetPolicy(allow_private=allow_private), limit=limit)
    return aiohttp.ClientSession(
        connector=connector,
        headers={"User-Agent": USER_AGENT},
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
    )


async def post(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str], *,
    timeout_s: float, allow_private: bool,
) -> Sent:  # fmt: skip
    """POST `body` to `url` once, without following redirects, within `timeout_s`."""
    started = time.monotonic()
    try:
        result = await _post(session, url, body, headers, timeout_s, allow_private)
    except BlockedAddress as e:
        result = Sent(delivered=False, retryable=False, error=f"refused: {e}")
    except TimeoutError:
        result = Sent(delivered=False, retryable=True, error=f"timeout after {timeout_s:g} s")
    except (aiohttp.InvalidURL, ValueError, InvalidUrl) as e:
        result = Sent(delivered=False, retryable=False, error=f"invalid URL: {e}")
    except (aiohttp.ClientError, OSError) as e:
        result = Sent(delivered=False, retryable=True, error=f"{type(e).__name__}: {e}")
    elapsed = int((time.monotonic() - started) * 1000)
    return msgspec.structs.replace(result, duration_ms=elapsed)


async def _post(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str],
    timeout_s: float, allow_private: bool,
) -> Sent:  # fmt: skip
    policy = NetPolicy(allow_private=allow_private)
    target = guard_url(URL(url), policy)  # IP literals, in any spelling, are checked here
    require_guarded(session, policy)  # names are checked by the session's resolver
    async with session.post(
        target, data=body, headers=headers, allow_redirects=False,
        timeout=aiohttp.ClientTimeout(total=timeout_s),
    ) as resp:  # fmt: skip
        status = resp.status
        retry_after = parse_retry_after(resp.headers.get("Retry-After"))
    if 200 <= status < 300:
        return Sent(delivered=True, retryable=False, status_code=status)
    transient = transient_status(status)
    error = f"HTTP {status}" + (": redirects are not followed" if 300 <= status < 400 else "")
    return Sent(
        delivered=False, retryable=transient, status_code=status, error=error,
        retry_after_s=retry_after if transient else None,
    )  # fmt: skip


def headers_for(secret: str, message_id: str, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt, signed at the attempt's own time."""
    timestamp = int(time.time())
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
    }


def payload(event: AnyEvent, job: JobCreated) -> bytes:
    """`{type, timestamp, data}` for `event`: the same bytes on every attempt."""
    kind = kind_of(event)
    data: dict[str, Any] = {
        "job_id": event.job_id,
        "status": _STATUS_OF[kind],
        "job_type": job.type,
        "title": job.title,
        "parent_job_id": job.parent_job_id,
    }
    match event:
        case JobStarted():
            data["attempt"] = event.attempt
        case PageRecorded():
            meta = {k: v for k, v in event.meta.items() if k != "status"}
            data["page"] = {
                **meta, "url": event.url, "ok": event.ok, "status_code": event.status or None,
                "error": event.error,
            }  # fmt: skip
        case JobFailed():
            data["error"] = event.error
        case JobCanceled():
            data["reason"] = event.reason
    return msgspec.json.encode(
        {"type": EVENT_TYPES[kind], "timestamp": _iso(event.at), "data": data}
    )


def _iso(ms: int) -> str:
    when = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
