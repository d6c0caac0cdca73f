"""A SPIDER job's params: what the API's create route accepts, the worker runs."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.spider_schemas import MAX_DELAY_MS, MAX_SPIDER_PAGES
from engine.crawl.models import MAX_CONCURRENCY
from engine.spiders.job import SpiderFailed, plan_of
from tests.sites.shop import load_definition

START = "http://127.0.0.1:8123/catalogue/page-1.html"


def _params(**over: Any) -> dict[str, Any]:
    return {"spider": {"id": "s", "name": "shop", "version": 1}, "definition": load_definition(),
            "arguments": {"start": START}, **over}  # fmt: skip


@given(st.integers(1, MAX_SPIDER_PAGES), st.integers(1, MAX_CONCURRENCY),
       st.integers(0, MAX_DELAY_MS), st.booleans())  # fmt: skip
def test_every_bound_the_api_accepts_is_run(
    pages: int, slots: int, delay: int, robots: bool
) -> None:
    p = _params(max_pages=pages, concurrency=slots, delay_ms=delay, respect_robots=robots)
    d, plan = plan_of(p)
    assert d.name == "shop" and plan.start == [START]
    assert (plan.max_pages, plan.concurrency, plan.delay_ms) == (pages, slots, delay)
    assert plan.respect_robots is robots


@pytest.mark.parametrize(
    ("over", "named"),
    [
        ({"concurrency": 0}, "concurrency"),
        ({"max_pages": MAX_SPIDER_PAGES + 1}, "max_pages"),
        ({"arguments": {}}, "arguments.start"),
        ({"definition": {"name": "x"}}, "definition.start_urls"),
    ],
)
def test_params_it_cannot_run_fail_the_job_naming_the_field(
    over: dict[str, Any], named: str
) -> None:
    with pytest.raises(SpiderFailed) as caught:
        plan_of(_params(**over))
    assert str(caught.value).startswith("invalid spider parameters:") and named in str(caught.value)
