"""The Scrapy side of bench/spider.py: a CrawlSpider with rules equivalent to the shop's
definition (tests/sites/shop_spider.json), in a process of its own.

    .venv/bin/python bench/_scrapy_shop.py --url START --concurrency N --feed FILE.jl

Catalogue pages are followed through `li.next a` (CrawlSpider applies its rules to the
start page and to every page a `follow` rule reached); `article.product_pod h3 a` product
pages give one item each with the definition's five fields (an item without a sku is
dropped, as a required field's absence drops it); `aside.promo a` leads to /list/, one item
per `article.row`. Default settings except CONCURRENT_REQUESTS(_PER_DOMAIN), ROBOTSTXT_OBEY,
LOG_LEVEL=WARNING and a JSON Lines feed of the items. Prints one JSON line: items, pages
(responses but robots.txt), seconds and CPU seconds from spider_opened to spider_closed.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PRODUCT = r"/catalogue/product-\d+\.html"
CATALOGUE = r"/catalogue/page-\d+\.html"


def _first_number(text: str | None) -> float | None:
    found = re.search(r"\d+(?:\.\d+)?", text or "")
    return float(found.group()) if found else None


def scrapy_child(args: argparse.Namespace) -> dict[str, Any]:
    from scrapy import signals
    from scrapy.crawler import CrawlerProcess
    from scrapy.linkextractors import LinkExtractor
    from scrapy.spiders import CrawlSpider, Rule

    def node_text(node: Any) -> str:
        """A node's text, whitespace-collapsed (the definition's way)."""
        return " ".join(" ".join(node.css("*::text").getall()).split())

    def text(nodes: Any) -> str | None:
        return node_text(nodes[0]) if nodes else None

    class ShopSpider(CrawlSpider):
        name = "shop"
        allowed_domains = [urlsplit(args.url).hostname or ""]
        start_urls = [args.url]
        rules = (
            Rule(LinkExtractor(allow=CATALOGUE, restrict_css="li.next a"), follow=True),
            Rule(
                LinkExtractor(allow=PRODUCT, restrict_css="article.product_pod h3 a"),
                callback="parse_product",
            ),
            Rule(
                LinkExtractor(allow=r"/list/", restrict_css="aside.promo a"), callback="parse_list"
            ),
        )

        def parse_product(self, response: Any) -> Any:
            sku = text(response.css("td.sku"))
            if sku is None:
                return
            src = response.css("img.cover::attr(src)").get()
            yield {
                "title": text(response.css("div.product_main h1")),
                "price": _first_number(text(response.css("p.price"))),
                "sku": sku,
                "tags": [node_text(li) for li in response.css("ul.tags li")],
                "cover": response.urljoin(src) if src else None,
            }

        def parse_list(self, response: Any) -> Any:
            for row in response.css("article.row"):
                yield {"name": text(row.css("h2"))}

    times: dict[str, float] = {}
    process = CrawlerProcess(
        {
            "CONCURRENT_REQUESTS": args.concurrency,
            "CONCURRENT_REQUESTS_PER_DOMAIN": args.concurrency,
            "ROBOTSTXT_OBEY": True,
            "LOG_LEVEL": "WARNING",
            "FEEDS": {str(args.feed): {"format": "jsonlines", "overwrite": True}},
        }
    )
    crawler = process.create_crawler(ShopSpider)

    def opened() -> None:
        times["start"], times["cpu0"] = time.perf_counter(), time.process_time()

    def closed() -> None:
        times["end"], times["cpu1"] = time.perf_counter(), time.process_time()

    crawler.signals.connect(opened, signal=signals.spider_opened)
    crawler.signals.connect(closed, signal=signals.spider_closed)
    process.crawl(crawler)
    process.start()
    stats = crawler.stats.get_stats() if crawler.stats else {}
    return {
        "items": int(stats.get("item_scraped_count", 0)),
        "pages": int(stats.get("response_received_count", 0)) - 1,  # robots.txt
        "seconds": times["end"] - times["start"],
        "cpu": times["cpu1"] - times["cpu0"],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--url", required=True, help="catalogue page 1")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--feed", type=Path, required=True, help="where the items go (JSON Lines)")
    print(json.dumps(scrapy_child(p.parse_args())), flush=True)


if __name__ == "__main__":
    main()
