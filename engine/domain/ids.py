"""Ids that become NATS subject tokens: what a valid one looks like, checked before any use.

A job id is a ULID in its canonical form: 26 characters of Crockford's base32 alphabet in
upper case, the first at most `7` (a ULID is 128 bits). That alphabet has no `.`, `*`, `>` or
white space, so a valid id is always exactly one subject token: `jobs.<id>.>` can never match
another job's events. Ids from the API are checked at the boundary (422 naming the field); the
engine checks again wherever it builds a subject, so nothing else can slip one through.
"""

from __future__ import annotations

import re

from engine.domain.errors import InvalidCommand

JOB_ID_PATTERN = r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$"
_JOB_ID = re.compile(JOB_ID_PATTERN.removeprefix("^").removesuffix("$"))


class InvalidId(InvalidCommand):
    """A value that should be an id is not one of the expected format."""


def is_job_id(value: object) -> bool:
    """Whether `value` is a job id (a canonical, upper-case ULID)."""
    return isinstance(value, str) and _JOB_ID.fullmatch(value) is not None


def job_token(job_id: str, field: str = "job_id") -> str:
    """`job_id` itself, once checked to be a job id: the only way a job id enters a subject.

    Raises InvalidId (naming `field`) for anything else.
    """
    if not is_job_id(job_id):
        shown = job_id[:40] if isinstance(job_id, str) else type(job_id).__name__
        raise InvalidId(f"{field}: {shown!r} is not a job id (a 26-character ULID)", field=field)
    return job_id
