"""JSON request bodies nested deeper than `MAX_DEPTH` are refused with 400 before decoding.

msgspec decodes JSON recursively and raises RecursionError (not a decode error) near
Python's recursion limit, which Litestar lets through as a 500; and no body of this API
nests more than a few levels. So the depth is measured on the raw bytes first.
"""

from __future__ import annotations

from itertools import accumulate
from typing import Any

from litestar import Request
from litestar.exceptions import ClientException

MAX_DEPTH = 64

_KEPT = b'"[]{}'
_DROPPED = bytes(b for b in range(256) if b not in _KEPT)
_STEP = [0] * 256  # +1 for an opening bracket, -1 for a closing one, 0 for anything else
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1
_CHUNK = 1 << 16


class BodyTooDeep(ClientException):
    """A JSON body nested deeper than `MAX_DEPTH` arrays and objects (400)."""


def nesting_depth_exceeds(body: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether the JSON text `body` nests arrays and objects more than `limit` deep.

    Brackets inside strings do not count. Malformed JSON gets an answer too (the decoder
    refuses it either way). Runs at C speed, chunk by chunk, stopping at the first chunk
    that goes too deep: about 0.1 s per million brackets in the worst case.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False  # the common case: too few brackets to nest that deep
    brackets = _outside_strings(body)
    depth = 0
    for start in range(0, len(brackets), _CHUNK):
        chunk = brackets[start : start + _CHUNK]
        if max(accumulate(map(_STEP.__getitem__, chunk), initial=depth)) > limit:
            return True
        depth += 2 * (chunk.count(b"[") + chunk.count(b"{")) - len(chunk)
    return False


def _outside_strings(body: bytes) -> bytes:
    """The brackets of `body` that are not inside a string, in order."""
    # Escaped backslashes first, so that `\\"` ends a string while `\"` does not.
    unescaped = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    return b"".join(unescaped.translate(None, _DROPPED).split(b'"')[::2])


class BoundedRequest(Request[Any, Any, Any]):
    """Litestar's request, refusing JSON bodies nested too deep (BodyTooDeep) before they
    are decoded."""

    async def json(self) -> Any:
        if nesting_depth_exceeds(await self.body()):
            raise BodyTooDeep(
                f"request body is nested deeper than {MAX_DEPTH} levels of arrays and objects"
            )
        return await super().json()
