"""Errors of the pure core: refusals of a command, and a history that cannot be folded.

A `Refusal` is an answer, not a failure: the command may not be carried out on the job as it
is (the API maps each to a 4xx). `InvalidHistory` is apart: a log that breaks the state
machine's rules is corrupt data, never the caller's doing. The event store's own errors are in
engine/jetstream/errors.py.
"""


class Refusal(Exception):
    """Root of the refusals: `decide` (or a check before it) will not carry out the command."""


class JobNotFound(Refusal):
    """The job does not exist, was deleted, or belongs to someone else."""


class JobConflict(Refusal):
    """The command does not fit the job's current state."""


class InvalidCommand(Refusal):
    """The command's content is invalid; `field` names the offending input."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class Forbidden(Refusal):
    """The caller may not do this (for example a format above their tier)."""


class NothingToRetry(Refusal):
    """A retry was asked for a job with no failed work."""


class InvalidHistory(Exception):
    """An event history cannot be folded (out of order, or no creation first)."""
