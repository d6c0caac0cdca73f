"""Standard Webhooks signing: `whsec_` secrets and `v1,<base64>` HMAC-SHA256 signatures.

The signed content is `<webhook-id>.<webhook-timestamp>.<body>`: the id and the Unix-seconds
timestamp travel in their own headers, so a receiver rejects replays and altered bodies alike.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from streams.errors import StreamsError

SECRET_PREFIX = "whsec_"
_KEY_BYTES = 32


class InvalidSecret(StreamsError):
    """A signing secret that is not `whsec_` followed by base64."""


def new_secret() -> str:
    """A fresh random signing secret in the spec's `whsec_<base64 key>` form."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_KEY_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key a `whsec_` secret encodes (the prefix is optional, as the spec allows)."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(encoded, validate=True)
    except ValueError as e:
        raise InvalidSecret("a webhook secret is base64 after the whsec_ prefix") from e


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value for one delivery attempt: `v1,<base64 HMAC-SHA256>`."""
    content = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()
