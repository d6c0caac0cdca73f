"""fetch-novel resolves each novel's source when the job is made (a 422 naming the field
when none reads a URL), and GET /api/sources lists the sources."""

from __future__ import annotations

from tests.integration.api.helpers import NOVEL, assert_error, list_all
from tests.support import Service


async def test_a_url_no_source_reads_is_a_422_saying_how_to_add_one(api: Service) -> None:
    user = await api.add_user("u")
    status, body = await user.call("POST", NOVEL, json={"url": "https://nowhere.test/n.html"})
    assert_error(status, body, 422, "url")
    assert "no source for host 'nowhere.test'" in body["detail"]
    assert "jobstream.sources" in body["detail"] and "novelfull" in body["detail"]

    api.runtime.sources.bind("madara", ["novels.test"])
    urls = ["http://novels.test/novel/a/", "https://www.other.test/b", "http://novels.test/c"]
    status, body = await user.call("POST", NOVEL, json={"urls": urls})
    assert_error(status, body, 422, "urls")
    assert body["detail"].startswith("urls[1]: no source for host 'other.test'")

    status, body = await user.call("POST", NOVEL, json={"url": urls[0], "source": "nope"})
    assert_error(status, body, 422, "source")
    assert "no source is named 'nope' (known sources: madara, novelfull)" in body["detail"]
    assert await list_all(user) == []


async def test_bad_shapes_are_422_naming_the_field(api: Service) -> None:
    user = await api.add_user("u")
    url = "https://x.test/n"
    cases = [
        ({"url": url, "urls": [url], "source": "novelfull"}, "url"),  # both
        ({"source": "novelfull"}, "url"),  # neither
        ({"urls": [], "source": "novelfull"}, "urls"),
        ({"urls": [url, "ftp://x.test/n"], "source": "novelfull"}, "urls[1]"),
        ({"urls": [url, "http://x.test:99999/"], "source": "novelfull"}, "urls"),
        ({"url": url, "source": ""}, "source"),
        ({"url": url, "source": 7}, "source"),
    ]
    for body, field in cases:
        status, error = await user.call("POST", NOVEL, json=body)
        assert_error(status, error, 422, field)
    assert await list_all(user) == []


async def test_the_source_is_resolved_by_host_and_put_in_the_params(api: Service) -> None:
    api.runtime.sources.bind("novelfull", ["novels.test"])
    api.runtime.sources.bind("madara", ["manga.test:8080"])
    user = await api.add_user("u")
    status, job = await user.call("POST", NOVEL, json={"url": "http://www.Novels.test/a.html"})
    assert status == 201, job
    status, created = await user.call("GET", f"/api/job/{job['id']}/events")
    params = created["items"][0]["data"]["params"]
    assert params == {"url": "http://www.Novels.test/a.html", "full": False, "source": "novelfull"}

    urls = ["http://novels.test/b.html", "http://manga.test:8080/novel/c/"]
    status, batch = await user.call("POST", NOVEL, json={"urls": urls, "full": True})
    assert status == 201 and (batch["type"], batch["total"]) == (6, 2), batch
    status, created = await user.call("GET", f"/api/job/{batch['id']}/events")
    params = created["items"][0]["data"]["params"]
    assert params["sources"] == {urls[0]: "novelfull", urls[1]: "madara"}


async def test_sources_are_listed_with_their_hosts(api: Service) -> None:
    api.runtime.sources.bind("novelfull", ["www.novels.test", "b.test:81"])
    user = await api.add_user("u")
    status, sources = await user.call("GET", "/api/sources")
    assert status == 200, sources
    assert sources == [
        {"name": "madara", "hosts": [], "origin": "builtin"},
        {"name": "novelfull", "hosts": ["b.test:81", "novels.test"], "origin": "builtin"},
    ]
    status, body = await user.as_user(None).call("GET", "/api/sources")
    assert_error(status, body, 401)
