"""The `jobstream` command: serve, api, user add, projections rebuild."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from api.limits import limits_from_env
from api.settings import (
    SettingError,
    Settings,
    access_from_env,
    env_flag,
    nats_url_set,
    replicas_from,
    sources_file_from_env,
    webhooks_from_env,
    work_from_env,
)
from api.users import UserExists, UserStore
from cli.completion import add_completion_command, bash_script
from cli.events import add_events_command, run_events
from cli.jobs import JOB_COMMANDS, add_job_commands, run_jobs
from cli.library import LIBRARY_COMMANDS, add_library_commands, run_library
from cli.live import LIVE_COMMANDS, add_live_commands, run_live
from cli.nats_reach import add_wait_option, reach_nats
from cli.serving import on_uvloop, serve
from cli.spiders import SPIDER_COMMANDS, add_spider_commands, run_spiders
from cli.worker import run_worker
from engine.domain.events import Codec
from engine.domain.model import Tier
from engine.jetstream.errors import StoreUnavailable
from engine.jetstream.nats_access import NatsAccessError
from engine.jetstream.store import EventStore
from engine.novels.sources.config import SourcesFileError, load_registry
from engine.worker import CONCURRENCY as WORKER_CONCURRENCY
from projections.projector import rebuild
from projections.schema import open_db


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="jobstream", description="Event-sourced crawl job engine.")
    sub = p.add_subparsers(dest="command", required=True)
    for name, text in (("serve", "API, projector and embedded NATS"), ("api", "API only")):
        s = sub.add_parser(name, help=text)
        s.add_argument("--host", default="127.0.0.1")
        s.add_argument("--port", type=int, default=8080)
        _add_nats_options(s)
        s.add_argument(
            "--workers", type=int, default=1 if name == "serve" else 0,
            help="in-process workers (0 = none); more job slots: --worker-concurrency",
        )  # fmt: skip
        s.add_argument(
            "--worker-concurrency", type=int, default=WORKER_CONCURRENCY,
            help=f"jobs each in-process worker runs at once (default {WORKER_CONCURRENCY})",
        )  # fmt: skip
        s.add_argument("--allow-private-networks", action="store_true")
        _add_sources_option(s)
    wk = sub.add_parser("worker", help="run workers against NATS_URL")
    wk.add_argument(
        "--concurrency", type=int, default=WORKER_CONCURRENCY,
        help=f"jobs run at once (default {WORKER_CONCURRENCY}); a crawl has its own concurrency",
    )  # fmt: skip
    wk.add_argument("--burst", action="store_true", help="exit once the queue is empty")
    wk.add_argument(
        "--metrics-port", type=int, default=_env_port("JOBSTREAM_METRICS_PORT"),
        help="serve this worker's Prometheus metrics at /metrics on this port (default: none)",
    )  # fmt: skip
    wk.add_argument(
        "--metrics-host", default="127.0.0.1", help="the address --metrics-port listens on"
    )
    wk.add_argument("--allow-private-networks", action="store_true")
    _add_sources_option(wk)
    _add_nats_options(wk)
    user = sub.add_parser("user", help="manage users").add_subparsers(dest="action", required=True)
    add = user.add_parser("add", help="create a user and print its token")
    add.add_argument("name")
    add.add_argument("--admin", action="store_true")
    add.add_argument("--tier", choices=[t.value for t in Tier], default=Tier.BASIC.value)
    _add_nats_options(add)
    proj = sub.add_parser("projections", help="read model maintenance")
    proj_sub = proj.add_subparsers(dest="action", required=True)
    rb = proj_sub.add_parser("rebuild", help="rebuild the read model from sequence 1")
    _add_nats_options(rb)
    add_events_command(sub)
    add_live_commands(sub)
    add_library_commands(sub)
    add_job_commands(sub)
    add_spider_commands(sub)
    add_completion_command(sub)
    return p


def _add_nats_options(p: argparse.ArgumentParser) -> None:
    """--data-dir and --nats-port: without NATS_URL, a command uses the embedded server of
    `serve` with these, and the credentials it keeps in that data dir."""
    p.add_argument("--data-dir", type=Path, default=Path("data"))
    p.add_argument(
        "--nats-port", type=int, default=4222,
        help="the embedded NATS server's port (without NATS_URL)",
    )  # fmt: skip
    p.add_argument(
        "--replicas", type=int, default=None,
        help="copies of each stream and bucket this command creates: 1 on one server, 3 on a "
        "three-node cluster (default: JOBSTREAM_REPLICAS, else 1); existing ones keep theirs",
    )  # fmt: skip
    add_wait_option(p)


def _add_sources_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--sources-file", type=Path, default=None,
        help="JSON file binding hosts to novel sources and declaring selectors sources "
        "(default: JOBSTREAM_SOURCES_FILE)",
    )  # fmt: skip


def _sources_file(args: argparse.Namespace) -> Path | None:
    """The sources file asked for, checked now: a bad one stops the start with one line
    (SourcesFileError) before anything is opened."""
    path: Path | None = args.sources_file or sources_file_from_env()
    load_registry(path)
    return path


def _serve(args: argparse.Namespace) -> int:
    sources_file = _sources_file(args)  # before anything is opened
    embedded = args.command == "serve" and not nats_url_set()
    settings = Settings(
        data_dir=args.data_dir,
        host=args.host,
        port=args.port,
        nats_url=None if embedded else access_from_env(args.data_dir, args.nats_port),
        nats_port=args.nats_port,
        replicas=replicas_from(args.replicas),
        workers=args.workers,
        worker_concurrency=args.worker_concurrency,
        allow_private_networks=args.allow_private_networks or env_flag("JOBSTREAM_ALLOW_PRIVATE"),
        sources_file=sources_file,
        metrics_public=env_flag("JOBSTREAM_METRICS_PUBLIC"),
        **work_from_env(),
        **webhooks_from_env(),
        limits=limits_from_env(),
    )
    return serve(settings, embedded=embedded, wait_s=args.wait)


def _env_port(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() else None


async def _worker(args: argparse.Namespace) -> int:
    sources_file = _sources_file(args)  # before anything is opened
    settings = Settings(
        replicas=replicas_from(args.replicas),
        worker_concurrency=args.concurrency,
        allow_private_networks=args.allow_private_networks or env_flag("JOBSTREAM_ALLOW_PRIVATE"),
        sources_file=sources_file,
        **work_from_env(),
    )
    access = access_from_env(args.data_dir, args.nats_port)
    metrics_at = None if args.metrics_port is None else (args.metrics_host, args.metrics_port)
    return await run_worker(
        access, settings, burst=args.burst, wait_s=args.wait, metrics_at=metrics_at
    )


async def _user_add(args: argparse.Namespace) -> int:
    replicas = replicas_from(args.replicas)
    nc = await reach_nats(access_from_env(args.data_dir, args.nats_port), args.wait)
    try:
        users = await UserStore.open(nc.jetstream(), replicas)
        token = await users.add(args.name, admin=args.admin, tier=Tier(args.tier))
    except UserExists as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        await nc.close()
    print(token)
    return 0


async def _rebuild(args: argparse.Namespace) -> int:
    target = Settings(data_dir=args.data_dir).db_path
    fresh = target.with_suffix(".rebuild")
    for path in (fresh, Path(f"{fresh}-wal"), Path(f"{fresh}-shm")):
        path.unlink(missing_ok=True)
    replicas = replicas_from(args.replicas)
    nc = await reach_nats(access_from_env(args.data_dir, args.nats_port), args.wait)
    try:
        await EventStore(nc, Codec()).ensure(replicas)
        db = await open_db(fresh)
        try:
            checkpoint = await rebuild(db, nc, Codec())
        finally:
            await db.close()
    finally:
        await nc.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    fresh.replace(target)
    print(f"rebuilt {target} up to sequence {checkpoint}")
    return 0


# Commands that are clients of the API over HTTP, and what runs each group.
_API_CLIENTS: tuple[tuple[frozenset[str], Callable[[argparse.Namespace], int]], ...] = (
    (LIVE_COMMANDS, run_live),
    (LIBRARY_COMMANDS, run_library),
    (JOB_COMMANDS, run_jobs),
    (SPIDER_COMMANDS, run_spiders),
)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = _parser().parse_args(argv)
    try:
        if args.command in ("serve", "api"):
            return _serve(args)
        if args.command == "events":
            return run_events(args)
        for names, run in _API_CLIENTS:
            if args.command in names:
                return run(args)
        if args.command == "completion":
            print(bash_script(_parser()), end="")
            return 0
        if args.command == "worker":
            return on_uvloop(_worker(args))
        if args.command == "user":
            return asyncio.run(_user_add(args))
        return asyncio.run(_rebuild(args))
    except (StoreUnavailable, NatsAccessError, SourcesFileError, SettingError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
