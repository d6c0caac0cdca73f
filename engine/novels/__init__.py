"""Novel sources: pure parsing of novel sites into :mod:`engine.novels.model` records.

Nothing here fetches: a source says which requests it needs (:mod:`.sources.base`) and the
caller makes them. The package imports only the standard library, msgspec, selectolax and
:mod:`engine.crawl.urls`.
"""
