"""Errors of the event store's machinery: JetStream out of reach, or another writer first.

None is a refusal of the command: a caller retries (after a pause for an outage, after a
reload for a conflict) or reports the store as unavailable.
"""


class StoreError(Exception):
    """Root of the errors the NATS plumbing raises on purpose."""


class StoreUnavailable(StoreError):
    """The event store (NATS JetStream) did not answer."""


class ConcurrencyConflict(StoreError):
    """Another writer appended to the job first; reload and decide again."""
