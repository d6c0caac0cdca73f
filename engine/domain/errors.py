"""Errors raised by the engine; the API maps each subclass to a status code."""


class EngineError(Exception):
    """Root of every error the engine raises on purpose."""


class JobNotFound(EngineError):
    """The job does not exist, was deleted, or belongs to someone else."""


class JobConflict(EngineError):
    """The command does not fit the job's current state."""


class InvalidCommand(EngineError):
    """The command's content is invalid; `field` names the offending input."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class Forbidden(EngineError):
    """The caller may not do this (for example a format above their tier)."""


class NothingToRetry(EngineError):
    """A retry was asked for a job with no failed work."""


class InvalidHistory(EngineError):
    """An event history cannot be folded (out of order, or no creation first)."""


class ConcurrencyConflict(EngineError):
    """Another writer appended to the job first; reload and decide again."""


class StoreUnavailable(EngineError):
    """The event store (NATS JetStream) did not answer."""


class Unauthorized(EngineError):
    """The token is missing or unknown."""
