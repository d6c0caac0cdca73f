"""Spider definitions: versioned, per user, in the `spiders` KV bucket.

- `spider.<id>` holds one spider: its owner, name, version and definition (a validated
  definition as plain JSON). A PUT replaces it with `version` + 1, by compare-and-set on
  the key's revision, so two concurrent updates cannot both win from the same version.
- `index.<user_id>` maps each of the user's spider names to its id. A name is claimed by a
  compare-and-set of that key, which makes names unique per user; listing a user's
  spiders reads it and then each spider.

A spider is configuration, like a webhook: the bucket keeps only its current version. What a
job ran is in the log, in the job's params (a snapshot of the definition), so a replay runs
that definition whatever the spider became since.

Writes are ordered so a crash between two of them leaves nothing visible that is wrong: a
create writes the spider before claiming its name (an unclaimed spider is never listed and
its id was never returned), and a delete removes the spider before its name (a name whose
spider is gone reads as free).
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

import msgspec
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.kv import KeyValue
from ulid import ULID

from engine.domain.errors import InvalidCommand, JobConflict, Refusal
from engine.jetstream.errors import StoreUnavailable
from engine.jetstream.kv import CREATE_REFUSED, key_tokens, open_bucket

BUCKET = "spiders"
MAX_PER_USER = 100
SPIDER_PREFIX = "sp_"
_ULID = r"[0-7][0-9A-HJKMNP-TV-Z]{25}"
SPIDER_ID_PATTERN = rf"^{SPIDER_PREFIX}{_ULID}$"
_SPIDER_ID = re.compile(SPIDER_ID_PATTERN)
_USER_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")
_CAS_TRIES = 20


class SpiderNotFound(Refusal):
    """No spider with that id (or name) the caller may see."""


class SpiderNameTaken(JobConflict):
    """The owner has another spider of that name."""

    field = "definition.name"


class TooManySpiders(JobConflict):
    """The owner has as many spiders as one user may have."""


class SpiderRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One stored spider; `version` counts its definitions from 1, times are ms."""

    id: str
    user_id: str
    name: str
    version: int
    created_at: int
    updated_at: int
    definition: dict[str, Any]


_encode = msgspec.json.Encoder().encode
_decode_record = msgspec.json.Decoder(SpiderRecord).decode
_decode_index = msgspec.json.Decoder(dict[str, str]).decode


def new_spider_id() -> str:
    return SPIDER_PREFIX + str(ULID())


def is_spider_id(value: str) -> bool:
    return _SPIDER_ID.fullmatch(value) is not None


class SpiderStore:
    """Every user's spiders. Reads always go to the bucket, so a change shows at once."""

    def __init__(self, js: JetStreamContext, kv: KeyValue) -> None:
        self._js = js
        self._kv = kv

    @classmethod
    async def open(cls, js: JetStreamContext, replicas: int = 1) -> SpiderStore:
        return cls(js, await open_bucket(js, BUCKET, history=1, replicas=replicas))

    async def get(self, spider_id: str) -> SpiderRecord:
        """The spider with that id; SpiderNotFound when there is none."""
        found = await self._read(spider_id)
        if found is None:
            raise SpiderNotFound(f"spider {spider_id[:40]} not found")
        return found[0]

    async def add(
        self, user_id: str, name: str, definition: dict[str, Any], now: int
    ) -> SpiderRecord:
        """Store a new spider (version 1); SpiderNameTaken or TooManySpiders refuse it."""
        record = SpiderRecord(
            id=new_spider_id(), user_id=user_id, name=name, version=1, created_at=now,
            updated_at=now, definition=definition,
        )  # fmt: skip
        await self._kv.create(_spider_key(record.id), _encode(record))
        try:
            await self._claim(user_id, record.id, name, new=True)
        except Refusal:
            await self._kv.delete(_spider_key(record.id))
            raise
        return record

    async def replace(
        self, spider_id: str, name: str, definition: dict[str, Any], now: int
    ) -> SpiderRecord:
        """The spider's next version; a new name is claimed first (SpiderNameTaken)."""
        for _ in range(_CAS_TRIES):
            found = await self._read(spider_id)
            if found is None:
                raise SpiderNotFound(f"spider {spider_id[:40]} not found")
            old, revision = found
            await self._claim(old.user_id, spider_id, name, new=False)
            record = msgspec.structs.replace(
                old, name=name, version=old.version + 1, updated_at=now, definition=definition
            )
            with contextlib.suppress(nats.js.errors.KeyWrongLastSequenceError):
                await self._kv.update(_spider_key(spider_id), _encode(record), last=revision)
                return record
        raise StoreUnavailable(f"spider {spider_id} kept changing; try again")

    async def remove(self, record: SpiderRecord) -> None:
        """Delete the spider, then free its name."""
        await self._kv.delete(_spider_key(record.id))
        for _ in range(_CAS_TRIES):
            index, revision = await self._index(record.user_id)
            kept = {n: i for n, i in index.items() if i != record.id}
            if await self._write_index(record.user_id, kept, revision):
                return
        raise StoreUnavailable(f"spiders of user {record.user_id} kept changing; try again")

    async def of_user(self, user_id: str) -> list[SpiderRecord]:
        """The user's spiders, by name."""
        index, _ = await self._index(user_id)
        found = [await self._read(i) for _, i in sorted(index.items())]
        return [f[0] for f in found if f is not None]

    async def by_name(self, user_id: str, name: str) -> SpiderRecord | None:
        index, _ = await self._index(user_id)
        spider_id = index.get(name)
        found = await self._read(spider_id) if spider_id else None
        return found[0] if found is not None else None

    async def owners(self) -> list[str]:
        """Every user with an index (admins list all spiders)."""
        return await key_tokens(self._js, BUCKET, "index.")

    async def _claim(self, user_id: str, spider_id: str, name: str, *, new: bool) -> None:
        """Make `name` the spider's one name in its owner's index."""
        for _ in range(_CAS_TRIES):
            index, revision = await self._index(user_id)
            holder = index.get(name)
            if holder not in (None, spider_id) and await self._read(holder or "") is not None:
                raise SpiderNameTaken(f"definition.name: you have a spider named {name!r}")
            if new and len(index) >= MAX_PER_USER:
                raise TooManySpiders(f"a user may have at most {MAX_PER_USER} spiders")
            kept = {n: i for n, i in index.items() if i != spider_id and n != name}
            if await self._write_index(user_id, {**kept, name: spider_id}, revision):
                return
        raise StoreUnavailable(f"spiders of user {user_id} kept changing; try again")

    async def _read(self, spider_id: str) -> tuple[SpiderRecord, int] | None:
        if not is_spider_id(spider_id):
            return None
        try:
            entry = await self._kv.get(_spider_key(spider_id))
        except nats.js.errors.KeyNotFoundError:
            return None
        return _decode_record(entry.value or b""), entry.revision or 0

    async def _index(self, user_id: str) -> tuple[dict[str, str], int | None]:
        try:
            entry = await self._kv.get(_index_key(user_id))
        except nats.js.errors.KeyNotFoundError:
            return {}, None
        return _decode_index(entry.value or b"{}"), entry.revision

    async def _write_index(self, user_id: str, index: dict[str, str], revision: int | None) -> bool:
        """Compare-and-set: False when someone else changed the index since `revision`."""
        value = _encode(index)
        with contextlib.suppress(*CREATE_REFUSED):
            if revision is None:
                await self._kv.create(_index_key(user_id), value)
            else:
                await self._kv.update(_index_key(user_id), value, last=revision)
            return True
        return False


def _spider_key(spider_id: str) -> str:
    if not is_spider_id(spider_id):
        raise InvalidCommand(f"spider_id: {spider_id[:40]!r} is not a spider id", field="spider_id")
    return f"spider.{spider_id}"


def _index_key(user_id: str) -> str:
    if _USER_ID.fullmatch(user_id) is None:
        raise InvalidCommand(f"user_id: {user_id[:40]!r} is not a user id", field="user_id")
    return f"index.{user_id}"
