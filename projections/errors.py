"""Errors of the read model."""


class ProjectionError(Exception):
    """Root of every error the projections raise on purpose."""


class NotReady(ProjectionError):
    """The projector has not caught up, or did not reach a sequence in time."""
