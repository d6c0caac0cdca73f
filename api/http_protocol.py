"""uvicorn's HTTP protocol: JSON for what it cannot parse, and event streams ended at shutdown.

uvicorn answers a request it cannot parse (a malformed request line or header, invalid
HTTP) itself, before any ASGI app sees it, with a `text/plain` 400. Its protocol class is a
documented setting (`uvicorn.Config(http=...)`), so this subclass of the httptools protocol
sends `{status_code, detail, field}` as every other error, and still closes the connection
(the parser cannot tell where the next request would start).

At shutdown uvicorn lets every response in progress finish before it stops; an event stream
never finishes, so the server would wait for ever. A stream marks its scope
(:data:`EVENT_STREAM`), and shutdown closes its connection: the stream's app hears
`http.disconnect` and ends, and its client resumes elsewhere with `Last-Event-ID`.

An event stream may also write its body chunks straight to the connection
(:func:`direct_body` of its scope): a frame delivered to a thousand
readers then costs a thousand socket writes, without a thousand task switches and ASGI
`send` calls before them. It writes only what `send` would write at that point (one chunk
of the chunked body of a started response), and refuses, so that the stream goes through
`send` and its flow control, whenever `send` would have to wait or could not write.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from api.schemas import ErrorBody

_BODY = msgspec.json.encode(
    ErrorBody(
        status_code=400, detail="invalid HTTP request: the request line or a header is malformed"
    )
)


EVENT_STREAM = "jobstream.event_stream"  # a scope key: the response is an endless stream
_CYCLE = "jobstream.cycle"  # a scope key: uvicorn's cycle of the request (see direct_body)


def direct_body(scope: Mapping[str, Any]) -> DirectBody | None:
    """The direct writer of the request `scope` describes, when it came through this
    protocol (None under another server)."""
    cycle = scope.get(_CYCLE)
    return DirectBody(cycle) if isinstance(cycle, RequestResponseCycle) else None


class DirectBody:
    """Writes a chunk of the response body to the connection at once, when that is what
    uvicorn's `send` would do without waiting (see the module's docstring)."""

    __slots__ = ("_cycle",)

    def __init__(self, cycle: RequestResponseCycle) -> None:
        self._cycle = cycle

    def __call__(self, data: bytes) -> bool:
        """Whether `data` was written (as one chunk of the chunked body)."""
        cycle = self._cycle
        if (
            not data or cycle.disconnected or cycle.flow.write_paused
            or not cycle.response_started or cycle.response_complete
            or not cycle.chunked_encoding
        ):  # fmt: skip
            return False
        cycle.transport.write(b"%x\r\n%b\r\n" % (len(data), data))
        return True


class JsonErrorsProtocol(HttpToolsProtocol):
    """httptools' protocol, with a JSON body on the 400 for unparseable requests, and event
    streams closed at shutdown."""

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self.cycle is not None:
            self.cycle.scope[_CYCLE] = self.cycle  # type: ignore[literal-required]

    def shutdown(self) -> None:
        cycle = self.cycle
        streaming = cycle is not None and cycle.scope.get(EVENT_STREAM) is True
        if streaming and not cycle.response_complete:
            self.transport.close()
            return
        super().shutdown()

    def send_400_response(self, msg: str) -> None:
        head = [STATUS_LINE[400]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(_BODY)).encode("ascii") + b"\r\n",
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + _BODY)
        self.transport.close()
