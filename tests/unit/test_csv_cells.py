"""CSV exports keep a scraped page's text as text: no cell opens as a spreadsheet formula."""

from __future__ import annotations

import csv
import io

from hypothesis import given
from hypothesis import strategies as st

from api.exports import PageResult, encode_rows

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _page(title: str, links: list[str]) -> PageResult:
    return PageResult(
        url="https://a.test/", final_url=None, status_code=200, ok=True, error=None,
        title=title, description=None, markdown=None, html=None, text=None, links=links,
        duration_ms=-3, bytes=10, content_type=None, scraped_at=1,
    )  # fmt: skip


def _row(page: PageResult) -> dict[str, str]:
    text = encode_rows([page], "csv").decode()
    (row,) = csv.reader(io.StringIO(text))
    return dict(zip(PageResult.__struct_fields__, row, strict=True))


@given(st.text(st.characters(exclude_categories=("Cs",)), max_size=30))
def test_a_title_reads_back_as_itself_or_quoted_when_it_would_be_a_formula(title: str) -> None:
    cell = _row(_page(title, []))["title"]
    if title.startswith(FORMULA_STARTS):
        assert cell == "'" + title
    else:
        assert cell == title
    assert not cell.startswith(FORMULA_STARTS)


def test_formula_text_links_and_numbers_in_cells() -> None:
    row = _row(_page('=HYPERLINK("https://evil.test","x")', ["@SUM(A1)", "https://b.test/"]))
    assert row["title"] == '\'=HYPERLINK("https://evil.test","x")'
    assert row["links"] == "'@SUM(A1)\nhttps://b.test/"
    assert row["duration_ms"] == "-3"  # numbers are numbers, not text to escape
    assert row["ok"] == "true" and row["description"] == ""
