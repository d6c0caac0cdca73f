"""The epub's structure, read back with zipfile and ElementTree: what readers and epubcheck
rely on (epubcheck itself runs in tests/integration/artifacts)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
import zipfile

import pytest

from engine.artifacts.book import book_identifier
from engine.artifacts.epub import write_epub
from tests.unit.artifacts.books import TITLE, marker, sample_book

NS = {
    "opf": "http://www.idpf.org/2007/opf",
    "dc": "http://purl.org/dc/elements/1.1/",
    "x": "http://www.w3.org/1999/xhtml",
}


@pytest.fixture(scope="module")
def epub(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    path = write_epub(sample_book(), tmp_path_factory.mktemp("epub") / "book.epub")
    return zipfile.ZipFile(path)


def xml(epub: zipfile.ZipFile, name: str) -> ET.Element:
    return ET.fromstring(epub.read(name))


def test_mimetype_comes_first_and_is_stored(epub: zipfile.ZipFile) -> None:
    first = epub.infolist()[0]
    assert (first.filename, first.compress_type) == ("mimetype", zipfile.ZIP_STORED)
    assert epub.read("mimetype") == b"application/epub+zip"


def test_the_package_holds_the_metadata(epub: zipfile.ZipFile) -> None:
    opf = xml(epub, "EPUB/content.opf")
    meta = opf.find("opf:metadata", NS)
    assert meta is not None
    tags = ("title", "creator", "language", "identifier", "subject", "source", "description")
    texts = {tag: [e.text for e in meta.findall(f"dc:{tag}", NS)] for tag in tags}
    assert texts["title"] == [TITLE]
    assert texts["creator"] == ["Zoë Ångström", "李小龙"]
    assert texts["language"] == ["fr"]
    assert texts["identifier"] == [book_identifier(sample_book())]
    assert texts["subject"] == ["fantaisie", "冒険"]
    assert texts["source"] == ["https://novels.example/ca-ira"]
    assert texts["description"] == ["Une histoire.\n\nDeuxième paragraphe, 日本語."]
    modified = meta.find("opf:meta[@property='dcterms:modified']", NS)
    assert modified is not None and (modified.text or "").endswith("Z")


def test_images_and_the_cover_are_in_the_manifest_with_their_types(epub: zipfile.ZipFile) -> None:
    items = {i.get("href"): i for i in xml(epub, "EPUB/content.opf").iterfind(".//opf:item", NS)}
    assert items["images/map.png"].get("media-type") == "image/png"
    assert items["images/dot.gif"].get("media-type") == "image/gif"
    assert items["cover.png"].get("properties") == "cover-image"
    assert items["nav.xhtml"].get("properties") == "nav"
    assert epub.read("EPUB/images/dot.gif").startswith(b"GIF89a")


def test_the_table_of_contents_nests_chapters_under_volumes(epub: zipfile.ZipFile) -> None:
    nav = xml(epub, "EPUB/nav.xhtml").find(".//x:nav", NS)
    assert nav is not None
    volumes = nav.findall("x:ol/x:li", NS)
    assert [v.findtext("x:a", namespaces=NS) for v in volumes] == [
        f"Volume {n} — Tōhoku" for n in (1, 2, 3)
    ]
    chapters = volumes[1].findall("x:ol/x:li/x:a", NS)
    assert (chapters[0].get("href"), chapters[0].text) == ("v002c00001.xhtml", "Chapitre 2.1: Ærø")
    assert len(chapters) == 4


def test_spine_reads_cover_nav_intro_then_volumes_and_chapters(epub: zipfile.ZipFile) -> None:
    spine = [i.get("idref") for i in xml(epub, "EPUB/content.opf").iterfind(".//opf:itemref", NS)]
    assert spine[:4] == ["cover", "nav", "intro", "v001"]
    assert spine[4:6] == ["v001c00001", "v001c00002"]
    assert len(spine) == 3 + 3 * 5


def test_a_chapter_is_xhtml_with_its_images_and_text(epub: zipfile.ZipFile) -> None:
    page = xml(epub, "EPUB/v001c00001.xhtml")
    assert page.findtext(".//x:h2", namespaces=NS) == "Chapitre 1.1: Ærø"
    assert [img.get("src") for img in page.iterfind(".//x:img", NS)] == [
        "images/map.png",
        "images/dot.gif",
    ]
    assert marker(1, 1) in "".join(page.itertext())
