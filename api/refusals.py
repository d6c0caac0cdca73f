"""The API's own refusals of a request, apart from the engine's refusals of a command.

The caller is not authenticated, is over a per-user limit, asks for a name taken already,
wants to change what cannot be changed or gives none of two fields it must choose from;
api/errors.py answers each with its status.
"""


class ApiRefusal(Exception):
    """Root of the errors the API layer raises to refuse a request."""


class Unauthorized(ApiRefusal):
    """The token is missing or unknown."""


class ReadOnly(ApiRefusal):
    """The thing exists but cannot be changed over HTTP (an installed spider)."""


class MissingChoice(ApiRefusal):
    """The body names none of the fields one of which it must give; `field`, the first."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field
