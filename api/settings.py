"""Settings of one jobstream process, built once and passed explicitly."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import msgspec

from api.limits import Limits
from engine.drain import DRAIN_S
from engine.jetstream.embedded import read_credentials
from engine.jetstream.nats_access import NatsAccess, parse_access
from engine.novels.politeness import Politeness
from engine.worker import CONCURRENCY, MAX_ATTEMPTS


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a process needs to know; `nats_url` None means: start an embedded server."""

    data_dir: Path = Path("data")
    host: str = "127.0.0.1"
    port: int = 8080
    nats_url: str | NatsAccess | None = None  # a server: URL (credentials in it) or access
    nats_port: int = 4222
    nats_conf: Path | None = None
    # num_replicas of every stream and bucket this process creates (an existing one keeps its
    # own): 1 on a single server, 3 on a three-node cluster
    replicas: int = 1
    workers: int = 0
    worker_concurrency: int = CONCURRENCY  # jobs each in-process worker runs at once
    allow_private_networks: bool = False
    work_ack_wait_s: float | None = None  # None: keep the WORK consumers' (10 s when new)
    max_attempts: int = MAX_ATTEMPTS
    # at a stop, how long a worker's jobs in hand may run on before they are left for
    # redelivery (engine/drain.py)
    worker_drain_s: float = DRAIN_S
    sse_ping_s: float = 15.0
    sse_send_timeout_s: float | None = None  # None: slow readers are bounded by sse_max_pending
    sse_max_pending: int = 10_000  # events queued for one slow client before it is dropped
    sse_progress_interval_s: float = 0.25
    stream_token_ttl_s: float = 3600.0
    webhook_timeout_s: float = 10.0
    webhook_max_attempts: int = 6
    webhook_backoff_s: float = 1.0  # retry n waits backoff * 2**(n-1), or Retry-After if longer
    webhook_retry_after_cap_s: float = 300.0
    webhook_concurrency: int = 32  # events in delivery at once in this process
    limits: Limits = Limits()  # per-user limits (api/limits.py), JOBSTREAM_* via limits_from_env
    novel_politeness: Politeness = Politeness()  # per host, for the novel jobs of each process
    # the operator's sources file (engine/novels/sources/config.py): hosts bound to sources,
    # declarative sources; None: the built-ins and installed plugins only
    sources_file: Path | None = None
    metrics_public: bool = False  # GET /metrics without a token (else admins only)
    create_admin: bool = True
    print_admin_token: bool = True

    @property
    def db_path(self) -> Path:
        return self.data_dir / "jobs.sqlite3"

    @property
    def admin_token_path(self) -> Path:
        return self.data_dir / "admin-token"

    @property
    def nats_access(self) -> NatsAccess | None:
        """The server `nats_url` names, credentials apart; None: start the embedded one."""
        return parse_access(self.nats_url) if isinstance(self.nats_url, str) else self.nats_url


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _overrides(names: tuple[tuple[str, str, type[float] | type[int]], ...]) -> dict[str, Any]:
    """Settings fields from the environment variables that are set: (variable, field, type)."""
    out: dict[str, Any] = {}
    for env, field, kind in names:
        if value := os.environ.get(env, "").strip():
            out[field] = kind(value)
    return out


def work_from_env() -> dict[str, Any]:
    """Work-queue overrides: JOBSTREAM_WORK_ACK_WAIT (seconds), JOBSTREAM_MAX_ATTEMPTS,
    JOBSTREAM_WORKER_DRAIN (seconds)."""
    return _overrides((
        ("JOBSTREAM_WORK_ACK_WAIT", "work_ack_wait_s", float),
        ("JOBSTREAM_MAX_ATTEMPTS", "max_attempts", int),
        ("JOBSTREAM_WORKER_DRAIN", "worker_drain_s", float),
    ))  # fmt: skip


def webhooks_from_env() -> dict[str, Any]:
    """Webhook overrides: JOBSTREAM_WEBHOOK_TIMEOUT and JOBSTREAM_WEBHOOK_BACKOFF (seconds),
    JOBSTREAM_WEBHOOK_MAX_ATTEMPTS."""
    return _overrides((
        ("JOBSTREAM_WEBHOOK_TIMEOUT", "webhook_timeout_s", float),
        ("JOBSTREAM_WEBHOOK_BACKOFF", "webhook_backoff_s", float),
        ("JOBSTREAM_WEBHOOK_MAX_ATTEMPTS", "webhook_max_attempts", int),
    ))  # fmt: skip


def sources_file_from_env() -> Path | None:
    """JOBSTREAM_SOURCES_FILE, the operator's sources file, when set."""
    value = os.environ.get("JOBSTREAM_SOURCES_FILE", "").strip()
    return Path(value) if value else None


MAX_REPLICAS = 5  # JetStream keeps at most five copies of a stream


class SettingError(ValueError):
    """A setting given on the command line or in the environment is malformed; the message
    names it."""


def replicas_from(flag: int | None) -> int:
    """The replicas setting: `--replicas` when given, else JOBSTREAM_REPLICAS, else 1.
    SettingError unless it is a whole number from 1 to MAX_REPLICAS."""
    raw = str(flag) if flag is not None else os.environ.get("JOBSTREAM_REPLICAS", "").strip()
    name = "--replicas" if flag is not None else "JOBSTREAM_REPLICAS"
    if not raw:
        return 1
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_REPLICAS:
        raise SettingError(f"{name} must be a whole number from 1 to {MAX_REPLICAS}, not {raw!r}")
    return int(raw)


def nats_url_set() -> bool:
    """Whether NATS_URL names a server (else `serve` embeds one)."""
    return bool(os.environ.get("NATS_URL", "").strip())


def access_from_env(data_dir: Path, nats_port: int) -> NatsAccess:
    """NATS_URL (credentials in it, or in the NATS_CREDS file) when set; else the embedded
    server of `jobstream serve --data-dir data_dir --nats-port nats_port`, as the user whose
    credentials it keeps in `data_dir`. NatsAccessError when either is unusable."""
    if url := os.environ.get("NATS_URL", "").strip():
        creds = os.environ.get("NATS_CREDS", "").strip()
        return parse_access(url, Path(creds) if creds else None)
    return read_credentials(data_dir).access(f"nats://127.0.0.1:{nats_port}")
