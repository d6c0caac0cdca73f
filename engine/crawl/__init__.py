"""Crawl library: URL rules, robots, sitemaps, extraction, guarded fetching and a crawl loop.

A leaf package: it imports nothing from the rest of jobstream and keeps no
global state. Callers import from the submodules (``crawler.crawl_site``,
``fetcher.fetch``, ``urls.normalize_url``, ...); the package itself re-exports
nothing, so importing one submodule loads only what that submodule needs.
"""
