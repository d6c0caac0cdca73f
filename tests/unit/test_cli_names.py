"""Names instead of numbers in the terminal: parsing them back, the README's legend, whole ids in
a narrow listing, the markdown of `results --format md`, and the bash completion script."""

from __future__ import annotations

import argparse
import io
import re
import shutil
import subprocess
from enum import IntEnum
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from cli.completion import bash_script
from cli.jobs import markdown_block
from cli.live_state import print_jobs
from cli.main import _parser
from cli.names import (
    EnumArg,
    legend_markdown,
    parse_priority,
    parse_status,
    parse_type,
    priority_name,
    status_name,
    type_name,
)
from engine.domain.model import JobStatus, JobType, Priority

README = Path(__file__).resolve().parents[2] / "README.md"
PARSERS: list[tuple[EnumArg, type[IntEnum]]] = [
    (parse_status, JobStatus), (parse_type, JobType), (parse_priority, Priority),
]  # fmt: skip


@pytest.mark.parametrize(("parse", "enum"), PARSERS)
@given(data=st.data())
def test_every_name_and_number_reads_back_as_its_value(
    parse: EnumArg, enum: type[IntEnum], data: st.DataObject
) -> None:
    member = data.draw(st.sampled_from(list(enum)))
    spelled = data.draw(st.sampled_from([str.lower, str.upper, str.title]))(member.name)
    assert parse(spelled) == int(member)
    assert parse(str(int(member))) == int(member)
    assert parse.words == [m.name.lower() for m in enum]


@pytest.mark.parametrize(("parse", "enum"), PARSERS)
@given(word=st.text(min_size=1, max_size=12))
def test_anything_else_is_refused_naming_the_choices(
    parse: EnumArg, enum: type[IntEnum], word: str
) -> None:
    known = {m.name for m in enum} | {str(int(m)) for m in enum}
    if word.strip().upper() in known or word.strip() in known:
        return
    with pytest.raises(argparse.ArgumentTypeError, match=parse.words[0]):
        parse(word)


def test_names_shown_are_the_jobs_api_words_and_unknown_values_stay_visible() -> None:
    assert [status_name(s) for s in range(5)] == [
        "pending", "running", "success", "failed", "canceled",
    ]  # fmt: skip
    assert type_name(51) == "scrape_batch" and priority_name(2) == "high"
    assert status_name(9) == "9" and type_name(None) == "None"


def test_the_readme_legend_is_the_one_generated_from_the_enums() -> None:
    text = README.read_text()
    found = re.search(r"<!-- legend:start.*?-->\n(.*?)<!-- legend:end -->", text, re.S)
    assert found, "README.md has no <!-- legend:start --> ... <!-- legend:end --> block"
    assert found.group(1) == legend_markdown(), "regenerate it: python -m cli.names"
    for member in [*JobStatus, *JobType, *Priority]:
        assert f"| {int(member)} | `{member.name.lower()}` |" in found.group(1)


@given(width=st.integers(min_value=30, max_value=200))
def test_the_listing_never_cuts_an_id_however_narrow(width: int) -> None:
    jobs = [
        {"id": f"01J{i:023d}", "job_title": "http://example.com/" + "x" * 90, "type": 60,
         "status": i % 5, "priority": i % 3, "done": 1, "failed": 0, "total": 2,
         "progress": 50.0, "created_at": 1_700_000_000_000}
        for i in range(5)
    ]  # fmt: skip
    out = io.StringIO()
    print_jobs(Console(file=out, width=width, color_system=None), jobs, 5)
    text = out.getvalue()
    assert all(job["id"] in text for job in jobs), text
    assert all(word in text for word in ("crawl", "pending", "canceled", "low", "high")), text
    assert "5 of 5 jobs" in text


def test_a_result_in_markdown_names_its_page_or_why_it_has_none() -> None:
    ok = {"url": "https://a.example/", "final_url": "https://a.example/x", "status_code": 200,
          "markdown": "# A\n\ntext\n"}  # fmt: skip
    assert markdown_block(ok) == "<!-- https://a.example/x · 200 -->\n\n# A\n\ntext\n\n"
    failed = {"url": "https://a.example/y", "status_code": 404, "markdown": None,
              "error": "HTTP 404"}  # fmt: skip
    assert (
        markdown_block(failed)
        == "<!-- https://a.example/y · 404 -->\n\n_no markdown: HTTP 404_\n\n"
    )


BASH = shutil.which("bash")


def complete(script: Path, *words: str) -> list[str]:
    """What the completion function offers for `words` (the last one being typed)."""
    assert BASH is not None
    quoted = " ".join(f"'{w}'" for w in words)
    run = f"source {script}; COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}; _jobstream; "
    run += 'printf "%s\\n" "${COMPREPLY[@]}"'
    out = subprocess.run([BASH, "-c", run], capture_output=True, text=True, check=True, timeout=30)
    return [line for line in out.stdout.splitlines() if line]


@pytest.mark.skipif(BASH is None, reason="bash is not installed")
def test_bash_completes_commands_options_and_names(tmp_path: Path) -> None:
    script = tmp_path / "jobstream.bash"
    script.write_text(bash_script(_parser()))
    assert complete(script, "jobstream", "re") == ["results", "retry", "replay"]
    assert complete(script, "jobstream", "ls", "--status", "") == parse_status.words
    assert complete(script, "jobstream", "submit", "crawl", "--priority", "h") == ["high"]
    assert complete(script, "jobstream", "results", "ID", "--format", "") == ["jsonl", "csv", "md"]
    assert "--purge" in complete(script, "jobstream", "rm", "ID", "--")
    assert complete(script, "jobstream", "results", "ID", "-o", "") == []  # bash: file names
    assert complete(script, "jobstream", "submit", "") == [
        "crawl",
        "scrape",
        "novel",
        "spider",
        "--help",
    ]
