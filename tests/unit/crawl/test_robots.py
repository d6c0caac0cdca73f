from __future__ import annotations

from engine.crawl.robots import RobotsPolicy

UA = "jobstream/0.1 (+https://github.com/jobstream)"

ROBOTS = """
User-agent: *
Disallow: /private/
Allow: /private/open
Crawl-delay: 2.5

User-agent: jobstream
Disallow: /no-bots/

Sitemap: https://example.com/sitemap_index.xml
Sitemap: https://example.com/other.xml
"""


def test_generic_rules_apply_to_unknown_agent() -> None:
    policy = RobotsPolicy.parse(ROBOTS, "SomeOtherBot/1.0")
    assert not policy.allowed("https://example.com/private/x")
    assert policy.allowed("https://example.com/private/open")
    assert policy.allowed("https://example.com/no-bots/x")
    assert policy.crawl_delay() == 2.5


def test_specific_group_wins_for_our_agent() -> None:
    policy = RobotsPolicy.parse(ROBOTS, UA)
    assert not policy.allowed("https://example.com/no-bots/x")
    # Our group replaces the * group entirely (RFC 9309 §2.2.1).
    assert policy.allowed("https://example.com/private/x")
    assert policy.crawl_delay() is None


def test_sitemaps_in_file_order() -> None:
    policy = RobotsPolicy.parse(ROBOTS, UA)
    assert policy.sitemaps() == [
        "https://example.com/sitemap_index.xml",
        "https://example.com/other.xml",
    ]


def test_empty_file_allows_everything() -> None:
    policy = RobotsPolicy.parse("", UA)
    assert policy.allowed("https://example.com/anything")
    assert policy.crawl_delay() is None
    assert policy.sitemaps() == []


def test_allow_all_and_disallow_all() -> None:
    assert RobotsPolicy.allow_all().allowed("https://example.com/private/x")
    assert not RobotsPolicy.disallow_all().allowed("https://example.com/")
    assert RobotsPolicy.disallow_all().sitemaps() == []
    assert RobotsPolicy.allow_all().crawl_delay() is None


def test_garbage_is_tolerated() -> None:
    policy = RobotsPolicy.parse("\x00\x01 not robots <html>\nDisallow /x", UA)
    assert policy.allowed("https://example.com/x")
