"""Job ids: only a canonical ULID ever becomes a subject token."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ulid import ULID

from engine.domain.events import JobCreated, subject_of
from engine.domain.ids import InvalidId, is_job_id, job_token

SUBJECT_SPECIALS = set(".*> \t\r\n\x00")


@given(st.text(max_size=40))
def test_a_token_is_a_whole_ulid_and_never_holds_a_subject_special(value: str) -> None:
    if is_job_id(value):
        assert job_token(value) == value
        assert len(value) == 26 and not SUBJECT_SPECIALS & set(value)
        assert str(ULID.from_str(value)) == value  # canonical: it reads back to itself
    else:
        with pytest.raises(InvalidId) as caught:
            job_token(value)
        assert caught.value.field == "job_id"


@given(st.binary(min_size=16, max_size=16))
def test_every_ulid_is_a_job_id(raw: bytes) -> None:
    value = str(ULID.from_bytes(raw))
    assert is_job_id(value) and job_token(value) == value
    assert is_job_id(value.lower()) == (value.lower() == value)  # only digits: no letters


@given(st.sampled_from(["*", ">", ".", " ", "\n"]), st.integers(min_value=0, max_value=25))
def test_a_ulid_with_any_subject_special_is_refused(special: str, at: int) -> None:
    value = str(ULID())
    for bad in (value[:at] + special + value[at + 1 :], value[:at] + special + value[at:]):
        with pytest.raises(InvalidId):
            job_token(bad)


def test_an_event_of_a_bad_job_id_has_no_subject() -> None:
    env = {"event_id": str(ULID()), "at": 1, "actor": "u1"}
    for bad in ("*", ">", "a.b", "01J0000000000000000000000*", ""):
        event = JobCreated(**env, job_id=bad, user_id="u1", type=50, priority=1)
        with pytest.raises(InvalidId):
            subject_of(event)
