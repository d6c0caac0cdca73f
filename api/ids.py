"""Id parameters of the routes: each checked against its own format before a handler runs.

A malformed id is a 422 naming the parameter; a well-formed id of a thing the caller may not
see is a 404. Job ids are ULIDs (`engine.domain.ids`); webhook ids are `wh_` and a ULID.
"""

from __future__ import annotations

from typing import Annotated

from litestar.params import Parameter

from engine.domain.ids import JOB_ID_PATTERN

WEBHOOK_ID_PATTERN = "^wh_" + JOB_ID_PATTERN.removeprefix("^")

JobIdPath = Annotated[
    str,
    Parameter(
        pattern=JOB_ID_PATTERN, min_length=26, max_length=26,
        description="A job id: a ULID (26 characters, upper case).",
    ),
]  # fmt: skip
WebhookIdPath = Annotated[
    str,
    Parameter(
        pattern=WEBHOOK_ID_PATTERN, min_length=29, max_length=29,
        description="A webhook id: `wh_` and a ULID.",
    ),
]  # fmt: skip
