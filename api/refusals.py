"""The API's own refusals of a request, apart from the engine's refusals of a command.

The caller is not authenticated, is over a per-user limit, or asks for a name taken already;
api/errors.py answers each with its status.
"""


class ApiRefusal(Exception):
    """Root of the errors the API layer raises to refuse a request."""


class Unauthorized(ApiRefusal):
    """The token is missing or unknown."""
