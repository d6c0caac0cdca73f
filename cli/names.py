"""The job vocabulary by name, as the terminal shows it and reads it back.

The API speaks numbers (lncrawl's Jobs API defines them); a person reads names. One word per
status, everywhere the CLI prints one and in the README's legend: `pending`, `running`,
`success`, `failed`, `canceled` (the Jobs API's own names, lower case). Types and priorities
are their enum names in lower case (`scrape_batch`, `high`). Every option that takes one
accepts the name or the number. `legend_markdown()` is the README's legend, generated from
the enums (a unit test keeps the README in step).
"""

from __future__ import annotations

import argparse
from enum import IntEnum
from typing import Any

from engine.domain.model import CATEGORY_OF, TIER_PRIORITY, Category, JobStatus, JobType, Priority

STATUS_MEANING: dict[JobStatus, str] = {
    JobStatus.PENDING: "queued, not yet started",
    JobStatus.RUNNING: "a worker is running it",
    JobStatus.SUCCESS: "finished; its results are kept (some URLs may have failed: see its counts)",
    JobStatus.FAILED: "finished with an error, named in its `error`",
    JobStatus.CANCELED: "stopped by a user or an admin",
}
TYPE_MEANING: dict[JobType, str] = {
    JobType.NOVEL: "fetch a novel's table of contents",
    JobType.NOVEL_BATCH: "fetch several novels (a child job each)",
    JobType.FULL_NOVEL: "fetch a novel, all its chapters and an epub",
    JobType.FULL_NOVEL_BATCH: "several full novels (a child job each)",
    JobType.CHAPTER: "fetch one chapter",
    JobType.CHAPTER_BATCH: "fetch several chapters (a child job each)",
    JobType.VOLUME: "fetch one volume's chapters",
    JobType.VOLUME_BATCH: "fetch several volumes (a child job each)",
    JobType.IMAGE: "fetch one image",
    JobType.IMAGE_BATCH: "fetch several images (a child job each)",
    JobType.ARTIFACT: "make one e-book",
    JobType.ARTIFACT_BATCH: "make several e-books (a child job each)",
    JobType.SCRAPE: "scrape one URL",
    JobType.SCRAPE_BATCH: "scrape a list of URLs, as one job",
    JobType.CRAWL: "crawl a whole site",
    JobType.SPIDER: "follow a spider definition: items and links by its rules",
}
CATEGORY_MEANING: dict[Category, str] = {
    Category.SEO: "site crawls",
    Category.AI: "scrapes and spiders: pages as markdown, text, links or items",
    Category.SYNC: "the library: novels, volumes, chapters, images",
    Category.EXPORT: "e-books",
}


def _name(enum: type[IntEnum], value: Any) -> str:
    try:
        return enum(int(value)).name.lower()
    except (TypeError, ValueError):
        return str(value)


def status_name(status: Any) -> str:
    """The status's word (`running`); the value as text when it is no status."""
    return _name(JobStatus, status)


def type_name(job_type: Any) -> str:
    """The type's name (`scrape_batch`); the value as text when it is no type."""
    return _name(JobType, job_type)


def priority_name(priority: Any) -> str:
    """The priority's name (`normal`); the value as text when it is no priority."""
    return _name(Priority, priority)


class EnumArg:
    """An argparse `type`: a name (any case) or a number of `enum`, as its number."""

    def __init__(self, enum: type[IntEnum]) -> None:
        self.enum = enum
        self.words = [m.name.lower() for m in enum]  # also what shell completion offers

    def __call__(self, text: str) -> int:
        word = text.strip()
        try:
            return int(self.enum(int(word)) if word.isdigit() else self.enum[word.upper()])
        except (KeyError, ValueError):
            names = ", ".join(self.words)
            raise argparse.ArgumentTypeError(f"expected one of {names} (or its number)") from None


parse_status = EnumArg(JobStatus)
parse_type = EnumArg(JobType)
parse_priority = EnumArg(Priority)


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def legend_markdown() -> str:
    """The README's legend of statuses, types, priorities and categories, from the enums."""
    by_tier = {p: t for t, p in TIER_PRIORITY.items()}
    parts = [
        "Statuses (`status`; a job is done from `success` on):",
        "",
        *_table(["value", "name", "meaning"],
                [[str(int(s)), f"`{status_name(s)}`", STATUS_MEANING[s]] for s in JobStatus]),
        "",
        "Types (`type`) and the category each belongs to:",
        "",
        *_table(["value", "name", "category", "what it does"],
                [[str(int(t)), f"`{type_name(t)}`", f"`{CATEGORY_OF[t].value}`",
                  TYPE_MEANING.get(t, "")] for t in JobType]),
        "",
        "Priorities (`priority`; a job gets its user's tier's unless it asks for one):",
        "",
        *_table(["value", "name", "the default of tier"],
                [[str(int(p)), f"`{priority_name(p)}`", f"`{by_tier[p].value}`"]
                 for p in Priority]),
        "",
        "Categories (`category`, a filter of `GET /api/jobs` and `jobstream ls`):",
        "",
        *_table(["name", "types", "what"],
                [[f"`{c.value}`", ", ".join(type_name(t) for t in JobType if CATEGORY_OF[t] == c),
                  CATEGORY_MEANING[c]] for c in Category]),
    ]  # fmt: skip
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    print(legend_markdown(), end="")
