"""Source plugins for the registry's entry-point loading tests: a package an operator
installs would declare these in the ``jobstream.sources`` group."""

from __future__ import annotations

from engine.novels.model import ChapterContent, NovelInfo
from engine.novels.sources.base import Answers, Request
from engine.novels.sources.novelfull import NovelFullSource


class TalesSource:
    """A hand-written source for one site."""

    name = "tales"
    hosts: tuple[str, ...] = ("tales.test", "www.tales-mirror.test:8443")

    def novel_requests(self, url: str, html: str, answers: Answers) -> list[Request]:
        return []

    def parse_novel(self, url: str, html: str, answers: Answers) -> NovelInfo:
        return NovelInfo(url=url, title="Tales")

    def parse_chapter(self, url: str, html: str) -> ChapterContent:
        return ChapterContent(title="", html=html)


def mirror_factory() -> NovelFullSource:
    """A factory: the NovelFull theme under another name, for the sites of one family."""
    source = NovelFullSource(hosts=("novels-mirror.test",))
    source.name = "mirror"
    return source


instance = TalesSource()


def exploding_factory() -> TalesSource:
    raise RuntimeError("this plugin is broken")


class NotASource:
    name = "nothing"


class BadHosts(TalesSource):
    name = "bad-hosts"
    hosts = ("a..b",)
