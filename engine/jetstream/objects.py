"""Reading files of a JetStream object store with direct gets: no consumer per read.

nats-py's `ObjectStore.get` makes an ordered consumer for every read, and the server keeps
each one for seconds after the read is done. A thousand reads within those seconds (the
images of a long novel's e-book, a burst of image downloads) meet the server's consumer
limit, and every further read fails ("maximum consumers limit reached") until the old ones
expire. A file is its description, the last message on `$O.<bucket>.M.<name in base64>`, and
its chunks, in order on `$O.<bucket>.C.<nuid>`: one direct get reads the first and batched
direct gets the rest, and nothing is left behind on the server.
"""

from __future__ import annotations

import base64
import hashlib

import msgspec
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from engine.jetstream.errors import StoreUnavailable
from engine.jetstream.store import direct_batch, sequence_of

CHUNKS_PER_READ = 32  # chunks of at most 128 KiB each: 4 MiB per answer at most
_DIGEST = "SHA-256="


class Description(msgspec.Struct):
    """What a file's description says (nats-py's ObjectInfo as JSON; fields it lacks keep
    these defaults)."""

    size: int = 0
    description: str | None = None
    deleted: bool = False
    nuid: str = ""
    chunks: int = 0
    digest: str = ""


_decode = msgspec.json.Decoder(Description).decode


def described_at(bucket: str, name: str) -> str:
    """The subject of the description of the file `name` (nats-py's object format)."""
    return f"$O.{bucket}.M.{base64.urlsafe_b64encode(name.encode()).decode()}"


async def read_description(js: JetStreamContext, stream: str, subject: str) -> Description | None:
    """The description stored on `subject`; None when there is none or it marks the file
    deleted. StoreUnavailable when the stream does not answer or the description is not
    readable."""
    try:
        msg = await js.get_last_msg(stream, subject, direct=True)
    except nats.js.errors.NotFoundError:
        return None
    except (nats.errors.Error, nats.js.errors.Error) as e:
        raise StoreUnavailable(f"cannot read {subject}: {e!r}") from e
    try:
        said = _decode(msg.data or b"")
    except msgspec.DecodeError as e:
        raise StoreUnavailable(f"cannot read {subject}: the description is malformed") from e
    return None if said.deleted else said


async def read_file(
    nc: NATS, js: JetStreamContext, bucket: str, name: str, timeout: float
) -> tuple[Description, bytes] | None:
    """The description and content of the file `name` in `bucket`; None when there is none.

    The content is checked against the description's size and digest. A file replaced
    while it is read (its old chunks purged) is read once more from its new description;
    StoreUnavailable when it still does not match, or the stream does not answer."""
    stream = f"OBJ_{bucket}"
    for _ in range(2):
        said = await read_description(js, stream, described_at(bucket, name))
        if said is None:
            return None
        data = await _chunks(nc, stream, f"$O.{bucket}.C.{said.nuid}", said.chunks, timeout)
        if _matches(said, data):
            return said, data
    raise StoreUnavailable(f"cannot read {name}: its chunks do not match its description")


async def _chunks(nc: NATS, stream: str, subject: str, count: int, timeout: float) -> bytes:
    """Up to `count` messages on `subject`, joined in order."""
    parts: list[bytes] = []
    seq = 1
    while len(parts) < count:
        msgs = await direct_batch(nc, stream, subject, seq, timeout, batch=CHUNKS_PER_READ)
        if not msgs:
            break
        parts.extend(m.data for m in msgs)
        seq = sequence_of(msgs[-1]) + 1
    return b"".join(parts)


def _matches(said: Description, data: bytes) -> bool:
    if len(data) != said.size:
        return False
    if not said.digest.upper().startswith(_DIGEST):
        return not said.digest  # a description without a digest has only its size to check
    try:
        expected = base64.urlsafe_b64decode(said.digest[len(_DIGEST) :])
    except ValueError:
        return False
    return hashlib.sha256(data).digest() == expected
