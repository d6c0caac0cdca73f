"""A webhook receiver on 127.0.0.1 that answers each message's attempts from a script,
and a Standard Webhooks verifier written from the spec, apart from the production signer."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from aiohttp import web

from tests.support import serve_app

PAGE = "<html><head><title>Hooked page</title></head><body><p>hello</p></body></html>"


class Received(msgspec.Struct, frozen=True, kw_only=True):
    """One POST as the receiver saw it, and what it answered (`reset`: no answer)."""

    hook: str
    headers: dict[str, str]
    body: bytes
    answer: str

    @property
    def message_id(self) -> str:
        return self.headers["webhook-id"]

    def json(self) -> Any:
        return msgspec.json.decode(self.body)


class Receiver:
    """`POST /hook/<name>`: the n-th attempt of a message gets the n-th step of the name's
    script (`"500"`, `"429"` with Retry-After: 1, `"reset"`, `"200"`...), then 200s.
    `GET /page` is an HTML page a scrape job can fetch."""

    def __init__(self) -> None:
        self.origin = ""
        self.received: list[Received] = []
        self._scripts: dict[str, list[str]] = {}
        self._tries: Counter[tuple[str, str]] = Counter()

    def hook(self, name: str, *steps: str) -> str:
        """The URL of hook `name`, answering with `steps` first."""
        self._scripts[name] = list(steps)
        return f"{self.origin}/hook/{name}"

    def of(self, name: str) -> list[Received]:
        return [r for r in self.received if r.hook == name]

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes([web.post("/hook/{name}", self._post), web.get("/page", self._page)])
        return app

    async def _page(self, _: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    async def _post(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        key = (name, headers.get("webhook-id", ""))
        self._tries[key] += 1
        script = self._scripts.get(name, [])
        step = script[self._tries[key] - 1] if self._tries[key] <= len(script) else "200"
        self.received.append(Received(hook=name, headers=headers, body=body, answer=step))
        if step == "reset":
            assert request.transport is not None
            request.transport.abort()  # the connection drops with no response at all
            return web.Response()
        extra = {"Retry-After": "1"} if step == "429" else {}
        return web.Response(status=int(step), headers=extra)


@contextlib.asynccontextmanager
async def serve_receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    async with serve_app(receiver.app(), shutdown_timeout=0.5) as origin:
        receiver.origin = origin
        yield receiver


def verify(secret: str, received: Received, now: int, tolerance_s: int = 300) -> bool:
    """Whether a request carries a valid Standard Webhooks signature made with `secret`.

    From the spec: the key is the base64 after `whsec_`; the signed content is
    `id.timestamp.body`; the header holds space-separated `v1,<base64>` entries, any of which
    may match; a timestamp too far from now is refused.
    """
    msg_id = received.headers.get("webhook-id")
    stamp = received.headers.get("webhook-timestamp")
    header = received.headers.get("webhook-signature")
    if not msg_id or not stamp or not header or abs(now - int(stamp)) > tolerance_s:
        return False
    key = base64.b64decode(secret.split("_", 1)[1])
    signed = msg_id.encode() + b"." + stamp.encode() + b"." + received.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    for entry in header.split(" "):
        version, _, signature = entry.partition(",")
        if version == "v1" and hmac.compare_digest(signature.encode(), expected):
            return True
    return False
