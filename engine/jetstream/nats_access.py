"""How a process reaches NATS: the URLs of one server or of several servers of a cluster, and
the credentials for them, held apart so the URLs can be printed and the credentials never
are."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

import msgspec
from nats.aio.client import Client as NATS

from engine.jetstream.errors import StoreError

log = logging.getLogger(__name__)

DEFAULT_PORT = 4222
_SCHEMES = ("nats", "tls", "ws", "wss")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_NEXT_SERVER = re.compile(r",(?=\s*[A-Za-z][A-Za-z0-9+.-]*://)")
_REFUSALS = ("authorization violation", "authentication")


class NatsAccessError(StoreError):
    """NATS cannot be used as configured: a malformed URL, missing credentials, or credentials
    the server refuses. The message never holds a secret."""


class NatsAccess(msgspec.Struct, frozen=True, kw_only=True):
    """A NATS server (or the servers of one cluster) and how to authenticate to it. `url` is
    one server URL or several, comma-separated, and never carries credentials: they are
    `user` and `password`, or `token`, and/or `creds_file` (a NATS `.creds` file: JWT and
    nkey seed), the same for every server. Its repr shows which kind, never their values."""

    url: str
    user: str | None = None
    password: str | None = None
    token: str | None = None
    creds_file: Path | None = None

    def __repr__(self) -> str:
        return f"NatsAccess(url={self.url!r}, auth={self.auth!r})"

    @property
    def auth(self) -> str:
        """What authenticates this access, for messages: no secret in it."""
        kinds = [f"user {self.user}"] if self.password is not None else []
        kinds += ["token"] if self.token is not None else []
        kinds += [f"creds file {self.creds_file}"] if self.creds_file is not None else []
        return ", ".join(kinds) or "none"

    @property
    def servers(self) -> list[str]:
        """Each server's URL."""
        return self.url.split(",")

    @property
    def address(self) -> tuple[str, int]:
        """The first server's host and port."""
        return self.addresses[0]

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """Each server's host and port."""
        found = []
        for server in self.servers:
            parts = urlsplit(server)
            found.append((parts.hostname or "127.0.0.1", parts.port or DEFAULT_PORT))
        return found

    def connect_options(self) -> dict[str, Any]:
        """Keyword arguments for nats-py's `Client.connect`: the server and the credentials."""
        options: dict[str, Any] = {
            "servers": self.servers, "user": self.user, "password": self.password,
            "token": self.token,
        }  # fmt: skip
        if self.creds_file is not None:
            options["user_credentials"] = str(self.creds_file)
        return options


def mask_url(url: str) -> str:
    """`url` (or each of a comma-separated list) with whatever stands before its host (a
    user and password, a token) replaced by `***`: the form for logs and error messages."""
    if "://" not in url and "@" in url:
        return _mask_one(url)  # no scheme to tell servers apart: hide up to the last @
    return ",".join(_mask_one(part) for part in split_servers(url))


def split_servers(url: str) -> list[str]:
    """The server URLs of a comma-separated list. With schemes, a comma starts a new server
    only before a scheme (`,nats://`), so a comma in a password stays in its URL."""
    url = url.strip().strip(",")  # a list's stray commas at its ends name no server
    if "://" in url:
        return _NEXT_SERVER.split(url)
    return url.split(",")


def _mask_one(url: str) -> str:
    before, at, host = url.rpartition("@")
    if not at:
        return url
    scheme = _SCHEME.match(before)
    return f"{scheme.group(0) if scheme else ''}***@{host}"


def parse_access(url: str, creds_file: Path | None = None) -> NatsAccess:
    """The access `url` spells, as NATS_URL does: `nats://host:port`,
    `nats://user:password@host:port` (percent-encoded) or `nats://token@host:port`; without a
    scheme, nats://. Several servers of one cluster are comma-separated
    (`nats://a:4222,nats://b:4222`): the client connects to any and fails over to the others;
    credentials written in any of them are used for all, and two different ones are an
    error. `creds_file` (NATS_CREDS) may add a `.creds` file, but not to a user and password.
    NatsAccessError, the URL masked in its message, when any of it is malformed."""
    each = [_parse_one(part, creds_file) for part in split_servers(url) if part.strip()]
    if not each:
        raise NatsAccessError("the NATS URL names no server")
    with_auth = [a for a in each if a.user is not None or a.token is not None]
    if len({(a.user, a.password, a.token) for a in with_auth}) > 1:
        raise NatsAccessError(f"{mask_url(url)}: the servers carry different credentials")
    chosen = with_auth[0] if with_auth else each[0]
    return msgspec.structs.replace(chosen, url=",".join(a.url for a in each))


def _parse_one(url: str, creds_file: Path | None) -> NatsAccess:
    raw = url.strip()
    parts = _split(raw if "://" in raw else f"nats://{raw}")
    user, password = _userinfo(parts)
    if creds_file is not None and password is not None:
        raise NatsAccessError(f"{mask_url(url)}: a user and password, and a creds file: use one")
    if creds_file is not None and not creds_file.is_file():
        raise NatsAccessError(f"NATS creds file {creds_file} does not exist")
    plain = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
    if password is None:
        return NatsAccess(url=plain, token=user, creds_file=creds_file)
    return NatsAccess(url=plain, user=user, password=password, creds_file=creds_file)


def _split(url: str) -> SplitResult:
    parts = urlsplit(url)
    problem = None
    if parts.scheme not in _SCHEMES:
        problem = f"the scheme must be one of {', '.join(_SCHEMES)}"
    elif "," in parts.netloc.rpartition("@")[2]:
        problem = "each server of a list needs its scheme: nats://a:4222,nats://b:4222"
    elif not parts.hostname:
        problem = "no host"
    else:
        try:
            parts.port  # noqa: B018 - urlsplit checks the port only when it is read
        except ValueError:
            problem = "the port must be a number below 65536"
    if problem is not None:
        raise NatsAccessError(f"bad NATS URL {mask_url(url)}: {problem}")
    return parts


def _userinfo(parts: SplitResult) -> tuple[str | None, str | None]:
    """(user, password) from the URL, decoded; a lone user is a token: (token, None)."""
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if password is not None and not user:
        raise NatsAccessError(f"bad NATS URL {mask_url(parts.geturl())}: a password with no user")
    return user, password


def refused(error: BaseException) -> bool:
    """Whether a nats-py error is the server refusing the credentials (it is known by its text
    only: nats-py raises a plain `nats.errors.Error`)."""
    text = str(error).lower()
    return any(refusal in text for refusal in _REFUSALS)


async def connect(nc: NATS, access: NatsAccess, **options: Any) -> None:
    """`nc.connect` to `access`' server with its credentials and `options`. While it connects,
    a refusal of the credentials ends it at once with NatsAccessError (nats-py would retry
    them for ever); any other error, then and later, is logged as nats-py's default does."""
    connecting = True

    async def on_error(error: Exception) -> None:
        if connecting and refused(error):
            where, auth = access.url, access.auth
            message = f"NATS at {where} refused the credentials ({auth}): {error}"
            raise NatsAccessError(message) from error
        log.error("nats: encountered error", exc_info=error)

    await nc.connect(**access.connect_options(), error_cb=on_error, **options)
    connecting = False
