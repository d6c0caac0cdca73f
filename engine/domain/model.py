"""Job vocabulary shared by every layer: types, statuses, priorities, tiers, formats."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class JobType(IntEnum):
    NOVEL = 0
    NOVEL_BATCH = 1
    FULL_NOVEL = 5
    FULL_NOVEL_BATCH = 6
    CHAPTER = 10
    CHAPTER_BATCH = 11
    VOLUME = 20
    VOLUME_BATCH = 21
    IMAGE = 30
    IMAGE_BATCH = 31
    ARTIFACT = 40
    ARTIFACT_BATCH = 41
    SCRAPE = 50
    SCRAPE_BATCH = 51
    CRAWL = 60
    SPIDER = 70


class JobStatus(IntEnum):
    PENDING = 0
    RUNNING = 1
    SUCCESS = 2
    FAILED = 3
    CANCELED = 4

    @property
    def is_done(self) -> bool:
        return self >= JobStatus.SUCCESS


class Priority(IntEnum):
    LOW = 0
    NORMAL = 1
    HIGH = 2


class Tier(StrEnum):
    BASIC = "basic"
    PREMIUM = "premium"
    VIP = "vip"


class Category(StrEnum):
    SEO = "seo"
    AI = "ai"
    SYNC = "sync"
    EXPORT = "export"


# Batches whose items are child jobs, one each (lncrawl's Jobs API's). A SCRAPE_BATCH is not
# one of them: it fetches its URLs itself, as one job (engine/handlers.py, scrape_batch).
BATCH_TYPES = frozenset(
    {
        JobType.NOVEL_BATCH,
        JobType.FULL_NOVEL_BATCH,
        JobType.CHAPTER_BATCH,
        JobType.VOLUME_BATCH,
        JobType.IMAGE_BATCH,
        JobType.ARTIFACT_BATCH,
    }
)

CATEGORY_OF: dict[JobType, Category] = {
    JobType.NOVEL: Category.SYNC,
    JobType.NOVEL_BATCH: Category.SYNC,
    JobType.FULL_NOVEL: Category.SYNC,
    JobType.FULL_NOVEL_BATCH: Category.SYNC,
    JobType.CHAPTER: Category.SYNC,
    JobType.CHAPTER_BATCH: Category.SYNC,
    JobType.VOLUME: Category.SYNC,
    JobType.VOLUME_BATCH: Category.SYNC,
    JobType.IMAGE: Category.SYNC,
    JobType.IMAGE_BATCH: Category.SYNC,
    JobType.ARTIFACT: Category.EXPORT,
    JobType.ARTIFACT_BATCH: Category.EXPORT,
    JobType.SCRAPE: Category.AI,
    JobType.SCRAPE_BATCH: Category.AI,
    JobType.CRAWL: Category.SEO,
    # A spider extracts data from pages as a scrape does, structured by its definition.
    JobType.SPIDER: Category.AI,
}

TIER_PRIORITY: dict[Tier, Priority] = {
    Tier.BASIC: Priority.LOW,
    Tier.PREMIUM: Priority.NORMAL,
    Tier.VIP: Priority.HIGH,
}

_BASIC_FORMATS = ("epub", "json", "txt")
_PREMIUM_FORMATS = (*_BASIC_FORMATS, "pdf", "mobi", "docx", "rtf", "fb2")
ALL_FORMATS = (*_PREMIUM_FORMATS, "azw3", "lit", "lrf", "pdb", "rb", "tcr")

TIER_FORMATS: dict[Tier, frozenset[str]] = {
    Tier.BASIC: frozenset(_BASIC_FORMATS),
    Tier.PREMIUM: frozenset(_PREMIUM_FORMATS),
    Tier.VIP: frozenset(ALL_FORMATS),
}
