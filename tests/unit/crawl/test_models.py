from __future__ import annotations

import msgspec
import pytest

from engine.crawl.errors import InvalidOptions
from engine.crawl.models import CrawlOptions


def test_defaults() -> None:
    options = CrawlOptions(url="https://example.com")
    assert options.formats == {"markdown", "links"}
    assert (options.use_sitemap, options.find_links, options.respect_robots) == (True, True, True)
    assert (options.max_pages, options.max_depth, options.concurrency) == (0, None, 20)
    assert options.include_paths == [] and options.exclude_paths == []
    options.validate()


@pytest.mark.parametrize(
    "kwargs",
    [{"concurrency": 0}, {"concurrency": 101}, {"max_depth": -1}, {"formats": {"pdf"}}],
)
def test_validate_rejects(kwargs: dict[str, object]) -> None:
    options = msgspec.structs.replace(CrawlOptions(url="https://e.com"), **kwargs)
    with pytest.raises(InvalidOptions):
        options.validate()


def test_decoding_applies_constraints() -> None:
    raw = b'{"url": "https://e.com", "concurrency": 500}'
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(raw, type=CrawlOptions)
    ok = msgspec.json.decode(b'{"url": "https://e.com", "formats": ["html"]}', type=CrawlOptions)
    assert ok.formats == {"html"}
