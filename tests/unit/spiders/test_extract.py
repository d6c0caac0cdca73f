"""A page through a spider's rules: every field type, required fields, links in scope."""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import urlsplit

from hypothesis import given
from hypothesis import strategies as st

from engine.crawl.urls import parse_url
from engine.spiders.extract import (
    MAX_ITEM_BYTES,
    MAX_TEXT,
    MAX_VALUES,
    apply_rules,
    first_number,
    rule_for,
)
from engine.spiders.model import SpiderDefinition, parse_definition
from engine.spiders.values import spider_url
from tests.sites.shop import Shop, load_definition, render_catalogue, render_list, render_product

ORIGIN = "http://127.0.0.1:8123"


def _shop_spider() -> SpiderDefinition:
    return parse_definition(load_definition())


def _spider(item: dict[str, Any], **rule: Any) -> SpiderDefinition:
    return parse_definition(
        {"name": "t", "start_urls": [ORIGIN + "/"], "rules": [{"match": "", "item": item, **rule}]}
    )


def test_each_product_page_yields_the_item_the_shop_expects() -> None:
    shop = Shop(n=40, per_page=10, seed=3)
    d = _shop_spider()
    for product in shop.products:
        page = apply_rules(d, ORIGIN + product.path, render_product(shop, product))
        expected = [product.item(ORIGIN)] if product.sku else []
        assert page.items == expected
        assert page.dropped == (0 if product.sku else 1)
        assert page.links == []


def test_a_catalogue_page_follows_products_pager_and_promo_in_scope_only() -> None:
    shop = Shop(n=25, per_page=10)
    page = apply_rules(_shop_spider(), ORIGIN + "/catalogue/page-1.html", render_catalogue(shop, 1))
    products = [f"{ORIGIN}/catalogue/product-{i}.html" for i in range(1, 11)]
    broken = f"{ORIGIN}/catalogue/product-0.html"
    promo = [f"{ORIGIN}/list/", f"{ORIGIN}/private/clearance.html"]
    assert page.links == [*products, broken, f"{ORIGIN}/catalogue/page-2.html", *promo]
    assert page.items == []


def test_the_list_page_yields_one_item_per_row() -> None:
    shop = Shop()
    page = apply_rules(_shop_spider(), ORIGIN + "/list/", render_list(shop))
    assert page.items == [{"name": n} for n in shop.list_names()]


def test_a_page_no_rule_matches_yields_nothing() -> None:
    d = _shop_spider()
    assert rule_for(d, ORIGIN + "/about.html") is None
    assert apply_rules(d, ORIGIN + "/about.html", "<a href='/x'>x</a>").links == []


def test_rules_match_path_and_query_and_the_first_match_wins() -> None:
    d = parse_definition(
        {"name": "t", "start_urls": [ORIGIN], "rules": [
            {"match": r"\?page=\d+$", "follow": ["a"]},
            {"match": "^/p", "item": {"t": "h1"}},
        ]}
    )  # fmt: skip
    doc = "<h1>T</h1><a href='/p?page=2'>n</a>"
    assert apply_rules(d, ORIGIN + "/p?page=1", doc).links == [ORIGIN + "/p?page=2"]
    assert apply_rules(d, ORIGIN + "/p?page=1", doc).items == []
    assert apply_rules(d, ORIGIN + "/p", doc).items == [{"t": "T"}]


@given(st.decimals(min_value=0, max_value=10**9, places=2), st.sampled_from(["£", "$", "€ ", ""]))
def test_number_fields_read_the_first_decimal_number(value: Any, currency: str) -> None:
    text = f"{currency}{value:,.2f} incl. tax, 2 left"
    page = apply_rules(
        _spider({"p": {"css": "p", "type": "number"}}), ORIGIN + "/", f"<p>{text}</p>"
    )
    assert page.items == [{"p": float(value)}]


def test_number_fields_examples() -> None:
    assert first_number("£33.75") == 33.75
    assert first_number("Price on request") is None
    assert first_number("-4 degrees") == -4.0


@given(
    st.lists(
        st.text(
            st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=12
        ),
        max_size=5,
    )
)
def test_all_gives_every_non_blank_match_as_collapsed_text(texts: list[str]) -> None:
    doc = "<ul>" + "".join(f"<li>{html.escape(t)}</li>" for t in texts) + "</ul>"
    page = apply_rules(_spider({"t": {"css": "li", "all": True}}), ORIGIN + "/", doc)
    collapsed = (" ".join(t.split()) for t in texts)
    assert page.items == [{"t": [c for c in collapsed if c]}]  # blank matches left out


@given(st.from_regex(r"[a-z0-9]{1,8}(/[a-z0-9]{1,8}){0,3}", fullmatch=True))
def test_url_fields_are_absolute(path: str) -> None:
    doc = f"<img src='{path}'><a href='/{path}'>x</a>"
    d = _spider({"img": {"css": "img", "attr": "src", "type": "url"},
                 "a": {"css": "a", "attr": "href", "type": "url"}})  # fmt: skip
    page = apply_rules(d, ORIGIN + "/dir/page.html", doc)
    assert page.items == [{"img": f"{ORIGIN}/dir/{path}", "a": f"{ORIGIN}/{path}"}]


@given(st.booleans(), st.booleans(), st.sampled_from(["<p></p>", "", "<p>x</p>"]))
def test_an_item_missing_a_required_field_is_dropped(required: bool, all_: bool, doc: str) -> None:
    d = _spider({"p": {"css": "p", "required": required, "all": all_}, "h": "h1"})
    page = apply_rules(d, ORIGIN + "/", doc)
    present = doc == "<p>x</p>"
    if required and not present:
        assert (page.items, page.dropped) == ([], 1)
    else:
        single = "x" if present else ("" if doc else None)
        value = (["x"] if present else []) if all_ else single
        assert (page.items, page.dropped) == ([{"p": value, "h": None}], 0)


def test_a_missing_attribute_is_null_and_links_leave_only_to_allowed_hosts() -> None:
    d = parse_definition(
        {"name": "t", "start_urls": [ORIGIN], "allowed_hosts": ["cdn.test"], "rules": [
            {"match": "", "follow": ["a"], "item": {"src": {"css": "img", "attr": "src"}}}]}
    )  # fmt: skip
    doc = ("<img><a href='https://cdn.test/a'>a</a><a href='https://other.test/b'>b</a>"
           "<a href='mailto:x@y.z'>m</a><a href='javascript:void(0)'>j</a><a>none</a>"
           "<a href='https://extra.test/c#f'>c</a>")  # fmt: skip
    page = apply_rules(d, ORIGIN + "/", doc, hosts=["extra.test"])
    assert page.items == [{"src": None}]
    assert page.links == ["https://cdn.test/a", "https://extra.test/c"]


def test_values_and_items_are_bounded_so_an_item_fits_one_event() -> None:
    many = "".join(f"<li>{i}</li>" for i in range(MAX_VALUES + 5))
    d = _spider({"li": {"css": "li", "all": True}, "p": "p"})
    page = apply_rules(d, ORIGIN + "/", f"<ul>{many}</ul><p>{'x' * (MAX_TEXT + 9)}</p>")
    assert page.items == [{"li": [str(i) for i in range(MAX_VALUES)], "p": "x" * MAX_TEXT}]
    fields = {f"f{i}": "p" for i in range(MAX_ITEM_BYTES // MAX_TEXT + 1)}
    page = apply_rules(_spider(fields), ORIGIN + "/", f"<p>{'x' * MAX_TEXT}</p>")
    assert (page.items, page.dropped, page.oversized) == ([], 0, 1)


@given(st.from_regex(r"/[a-z]{1,5}(/[a-z]{1,5}){0,2}/?(\?[a-z]=[a-z0-9]{1,3})?", fullmatch=True))
def test_spider_urls_are_canonical_but_keep_a_trailing_slash(path: str) -> None:
    url = spider_url(path, "HTTP://Shop.TEST:80/dir/")
    assert url.startswith("http://shop.test/")
    assert urlsplit(url).path.endswith("/") == urlsplit(path).path.endswith("/")
    assert spider_url(url) == url
    assert urlsplit(url).path.rstrip("/") == urlsplit(parse_url(url)).path.rstrip("/")
