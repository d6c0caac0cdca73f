"""The docs name what they follow and point only at what exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CODE = sorted(p for layer in ("engine", "projections", "streams", "api", "cli")
               for p in (ROOT / layer).rglob("*.py"))  # fmt: skip
# "seed 000", "seeds 003 and 004", "the seed", "seed's": internal names of the APIs followed.
SEED_WORDS = re.compile(r"\bseeds?\s+\d{3}\b|\bthe\s+seeds?\b|\bseeds?'s?\s", re.IGNORECASE)
SECTION_REF = re.compile(r'"([^"]+)" in (docs/[\w./-]+\.md)')
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def seed_words(text: str) -> list[str]:
    return SEED_WORDS.findall(text)


def test_the_seed_words_pattern_finds_what_it_must() -> None:
    found = seed_words("Seed 000's Job; seeds 003 and 004; the seed's object; seed's logs ")
    assert len(found) == 4
    assert seed_words("a generated site (--seed 0), seeded with done URLs, an nkey seed)") == []


@pytest.mark.parametrize("path", DOCS + CODE, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_seed_numbers_in_docs_or_code(path: Path) -> None:
    assert seed_words(path.read_text()) == []


def test_nats_conf_points_at_a_section_that_exists() -> None:
    refs = SECTION_REF.findall((ROOT / "nats.conf").read_text())
    assert ("Durability", "docs/decisions.md") in refs
    for section, doc in refs:
        headings = re.findall(r"^#+ (.+)$", (ROOT / doc).read_text(), re.MULTILINE)
        assert any(h.startswith(section) for h in headings), (section, doc)


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_lead_to_files(path: Path) -> None:
    targets = [t for t in LINK.findall(path.read_text()) if "://" not in t]
    missing = [t for t in targets if not (path.parent / t).exists()]
    assert missing == []
