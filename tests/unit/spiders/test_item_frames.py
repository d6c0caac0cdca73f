"""A SPIDER job's items on its stream (one `item` frame each, the count in progress) and in
the CLI's event timeline."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cli.events import summary
from engine.domain.envelope import event_envelope
from engine.domain.events import AnyEvent, ItemScraped, JobCreated, JobStarted, to_builtins
from engine.domain.model import JobType
from streams.frames import JobFrames

JOB = "01JD0000000000000000000001"


def _log(datas: list[dict[str, int]], job_type: JobType) -> list[tuple[int, AnyEvent]]:
    log: list[AnyEvent] = [
        JobCreated(**event_envelope(JOB, "u", at=1), user_id="u", type=job_type, priority=1),
        JobStarted(**event_envelope(JOB, "w", at=2), worker_id="w"),
    ]
    log += [
        ItemScraped(**event_envelope(JOB, "w", at=3 + i), url=f"https://s.test/{i // 2}",
                    index=i % 2, data=data)
        for i, data in enumerate(datas)
    ]  # fmt: skip
    return list(enumerate(log, start=1))


@given(st.lists(st.dictionaries(st.sampled_from("abc"), st.integers()), max_size=8))
def test_each_item_is_one_frame_and_progress_counts_them(datas: list[dict[str, int]]) -> None:
    frames = JobFrames(None, 0, interval=0.0).replay(_log(datas, JobType.SPIDER), now=1.0)
    items = [f for f in frames if f.event == "item"]
    assert [f.data["data"] for f in items] == datas
    assert [(f.data["url"], f.data["index"]) for f in items] == [
        (f"https://s.test/{i // 2}", i % 2) for i in range(len(datas))
    ]
    assert [f.id for f in items] == list(range(3, 3 + len(datas)))
    progress = [f.data["items"] for f in frames if f.event == "progress"]
    assert progress[-1:] == ([len(datas)] if datas else [])


def test_progress_of_other_jobs_has_no_item_count() -> None:
    frames = JobFrames(None, 0, interval=0.0).replay(_log([], JobType.CRAWL), now=1.0)
    assert all("items" not in f.data for f in frames if f.event == "progress")


def test_the_timeline_line_of_an_item() -> None:
    _, event = _log([{"a": 1}], JobType.SPIDER)[-1]
    assert summary("item", to_builtins(event), "w") == '#0 of https://s.test/0: {"a":1}'
    long = summary("item", {"url": "u", "index": 3, "data": {"t": "x" * 500}}, "w")
    assert long.startswith('#3 of u: {"t":"xxx') and long.endswith("…") and len(long) < 120
