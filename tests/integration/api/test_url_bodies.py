"""Crawl and scrape bodies: URLs parsed by the crawler's parser, bounds, strict JSON types.

Every refusal is a 422 `{status_code, detail, field}` naming the field, and creates no job.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.api.helpers import assert_error, list_all
from tests.support import Client, Service

SCRAPE = "/api/job/create/scrape"
CRAWL = "/api/job/create/crawl"
NOVEL = "/api/job/create/fetch-novel"
GOOD = "https://example.com/a"

# URLs of the shape the schema allows that the crawler's parser refuses, and why.
BAD_URLS = [
    ("http://example.com:99999/", "port '99999'"),
    ("http://example.com:-1/", "port '-1'"),
    ("http://example.com:0/", "port '0'"),
    ("http://[::1/", "malformed host"),
    ("http://exa\x00mple.com/", "control character in the host"),
    ("http://:80/", "no host"),
    ("http://@/x", "no host"),
    ("http://" + "a" * 64 + ".com/", "longer than 63"),
    ("http://" + ".".join(["a" * 60] * 5) + "/", "longer than 253"),
    ("http://a..example.com/", "empty label"),
    ("http://ex%41mple.com/", "'%' is not allowed"),
    ("http://ex!ample.com/", "'!' is not allowed"),
]
BAD_DOMAINS = [
    ("example.com:99999", "port '99999'"),
    ("example.com:0", "port '0'"),
    ("a" * 64 + ".com", "longer than 63"),
    ("a..b", "empty label"),
    (".", "empty label"),
]


async def refused(client: Client, path: str, body: dict[str, Any], field: str) -> str:
    """Post `body`: a 422 for `field` (an item of it, `field[i]`, for some list errors of
    the framework's own), the detail naming it; the detail."""
    status, error = await client.call("POST", path, json=body)
    assert_error(status, error, 422)
    assert error["field"] in (field, *(f"{field}[{i}]" for i in range(200))), (body, error)
    assert field in error["detail"], (body, error)
    return str(error["detail"])


@pytest.mark.parametrize(("url", "why"), BAD_URLS)
async def test_each_url_the_parser_refuses_is_422_for_its_field(
    api: Service, url: str, why: str
) -> None:
    user = await api.add_user("u")
    detail = await refused(user, SCRAPE, {"urls": [GOOD, GOOD, url]}, "urls")
    assert "urls[2]" in detail and why in detail, detail
    detail = await refused(user, SCRAPE, {"urls": [url]}, "urls")
    assert "urls[0]" in detail and why in detail, detail
    assert why in await refused(user, CRAWL, {"url": url}, "url")
    assert why in await refused(user, NOVEL, {"url": url}, "url")
    assert await list_all(user) == [], "a refused request created a job"


@pytest.mark.parametrize(("domain", "why"), BAD_DOMAINS)
async def test_each_domain_the_parser_refuses_is_422_for_domain(
    api: Service, domain: str, why: str
) -> None:
    user = await api.add_user("u")
    assert why in await refused(user, CRAWL, {"domain": domain}, "domain")
    assert await list_all(user) == []


async def test_urls_the_parser_takes_are_accepted_as_given(api: Service) -> None:
    user = await api.add_user("u")
    urls = ["http://例え.テスト/x/", "https://Example.COM:8080/a?b=1#c", "http://[::1]:8000/"]
    status, job = await user.call("POST", SCRAPE, json={"urls": urls})
    assert status == 201, job
    assert job["total"] == 3
    status, job = await user.call("POST", CRAWL, json={"domain": "xn--r8jz45g.example:8443"})
    assert status == 201, job
    assert job["job_title"] == "https://xn--r8jz45g.example:8443/"


# Values of the right JSON type out of their bounds, and values of the wrong JSON type that
# msgspec's lax mode would have converted.
CRAWL_BAD: list[tuple[dict[str, Any], str]] = [
    ({"max_pages": -1}, "max_pages"),
    ({"max_pages": 1_000_001}, "max_pages"),
    ({"max_pages": "5"}, "max_pages"),
    ({"max_pages": 5.0}, "max_pages"),
    ({"max_depth": -1}, "max_depth"),
    ({"max_depth": 1_001}, "max_depth"),
    ({"max_depth": "2"}, "max_depth"),
    ({"concurrency": 0}, "concurrency"),
    ({"concurrency": 101}, "concurrency"),
    ({"concurrency": "4"}, "concurrency"),
    ({"delay_ms": -1}, "delay_ms"),
    ({"delay_ms": 600_001}, "delay_ms"),
    ({"delay_ms": "100"}, "delay_ms"),
    ({"respect_robots": "false"}, "respect_robots"),
    ({"use_sitemap": 0}, "use_sitemap"),
    ({"find_links": "true"}, "find_links"),
    ({"include_subdomains": 1}, "include_subdomains"),
    ({"include_paths": ["/a"] * 101}, "include_paths"),
    ({"exclude_paths": ["/x" * 300]}, "exclude_paths"),
    ({"formats": ["markdown"] * 5}, "formats"),
    ({"priority": "1"}, "priority"),
]


async def test_crawl_numbers_are_bounded_and_strictly_typed(api: Service) -> None:
    user = await api.add_user("u")
    for bad, field in CRAWL_BAD:
        await refused(user, CRAWL, {"domain": "example.com", **bad}, field)
    assert await list_all(user) == []
    most = {"max_pages": 1_000_000, "max_depth": 1_000, "concurrency": 100, "delay_ms": 600_000}
    status, job = await user.call("POST", CRAWL, json={"domain": "example.com", **most})
    assert status == 201, job


async def test_scrape_fields_are_strictly_typed(api: Service) -> None:
    user = await api.add_user("u")
    await refused(user, SCRAPE, {"urls": [GOOD], "priority": "2"}, "priority")
    await refused(user, SCRAPE, {"urls": [GOOD], "priority": 1.0}, "priority")
    await refused(user, SCRAPE, {"urls": [GOOD], "formats": ["text"] * 5}, "formats")
    assert await list_all(user) == []


async def test_results_paging_is_bounded(api: Service) -> None:
    user = await api.add_user("u")
    status, job = await user.call("POST", SCRAPE, json={"urls": [GOOD]})
    assert status == 201, job
    path = f"/api/job/{job['id']}/results"
    for params, field in [({"limit": "0"}, "limit"), ({"limit": "101"}, "limit"),
                          ({"limit": "x"}, "limit"), ({"offset": "-1"}, "offset")]:  # fmt: skip
        status, error = await user.call("GET", path, params=params)
        assert_error(status, error, 422)
        assert error["field"] == field, error
    status, page = await user.call("GET", path, params={"limit": "100", "offset": "0"})
    assert status == 200 and page["limit"] == 100, page
