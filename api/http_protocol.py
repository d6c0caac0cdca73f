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
"""

from __future__ import annotations

import msgspec
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from api.schemas import ErrorBody

_BODY = msgspec.json.encode(
    ErrorBody(
        status_code=400, detail="invalid HTTP request: the request line or a header is malformed"
    )
)


EVENT_STREAM = "jobstream.event_stream"  # a scope key: the response is an endless stream


class JsonErrorsProtocol(HttpToolsProtocol):
    """httptools' protocol, with a JSON body on the 400 for unparseable requests, and event
    streams closed at shutdown."""

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
