"""Crawl library: URL rules, robots, sitemaps, extraction, guarded fetching and a crawl loop.

A leaf package: it imports nothing from the rest of jobstream and keeps no
global state. The names below are the public API; submodules hold the details.
"""

from engine.crawl.crawler import crawl_site
from engine.crawl.errors import (
    BlockedAddress,
    CrawlError,
    FetchFailed,
    InvalidOptions,
    InvalidUrl,
    TooLarge,
)
from engine.crawl.extract import Extracted, decode_html, extract
from engine.crawl.fetcher import FetchResult, FetchSettings, fetch, is_html, make_session
from engine.crawl.frontier import Frontier, FrontierItem, HostPacer
from engine.crawl.models import CrawlOptions, CrawlSummary, PageOutcome
from engine.crawl.netguard import GuardedResolver, check_public
from engine.crawl.robots import RobotsPolicy
from engine.crawl.sitemap import SitemapResult, parse_sitemap
from engine.crawl.urls import in_scope, normalize_url, path_allowed

__all__ = [
    "BlockedAddress",
    "CrawlError",
    "CrawlOptions",
    "CrawlSummary",
    "Extracted",
    "FetchFailed",
    "FetchResult",
    "FetchSettings",
    "Frontier",
    "FrontierItem",
    "GuardedResolver",
    "HostPacer",
    "InvalidOptions",
    "InvalidUrl",
    "PageOutcome",
    "RobotsPolicy",
    "SitemapResult",
    "TooLarge",
    "check_public",
    "crawl_site",
    "decode_html",
    "extract",
    "fetch",
    "in_scope",
    "is_html",
    "make_session",
    "normalize_url",
    "parse_sitemap",
    "path_allowed",
]
