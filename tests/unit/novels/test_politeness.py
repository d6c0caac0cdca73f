"""The per-host gate's timing and bounds, on a fake clock (no real time passes)."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.crawl.errors import FetchFailed
from engine.novels.errors import NovelError
from engine.novels.politeness import HostGate, Politeness, _host_of, _origin_key
from tests.support import wait_until
from tests.unit.novels.fake_time import FakeTime


def _gate(time: FakeTime, politeness: Politeness) -> HostGate:
    return HostGate(politeness, clock=time.clock, sleep=time.sleep)


async def test_at_most_per_host_turns_at_once_and_hosts_do_not_wait_for_each_other() -> None:
    gate = _gate(FakeTime(), Politeness(per_host=2))
    release = asyncio.Event()
    inside: list[str] = []

    async def request(host: str) -> None:
        async with gate.turn(host):
            inside.append(host)
            await release.wait()

    tasks = [asyncio.create_task(request("a.test")) for _ in range(5)]
    other = asyncio.create_task(request("b.test:8080"))
    await wait_until(lambda: len(inside) == 3)
    assert sorted(inside) == ["a.test", "a.test", "b.test:8080"]
    assert gate.in_use("a.test") == 2 and gate.in_use("b.test:8080") == 1
    release.set()
    await asyncio.gather(*tasks, other)
    assert inside.count("a.test") == 5
    assert gate.in_use("a.test") == 0


async def test_a_cancelled_wait_gives_its_place_back() -> None:
    time = FakeTime(auto=False)
    gate = _gate(time, Politeness(per_host=1, delay_s=5))
    async with gate.turn("h"):
        pass
    waiting = asyncio.create_task(gate.turn("h").__aenter__())
    await wait_until(lambda: time.sleeping == 1)  # paced: waits for its gap
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert gate.in_use("h") == 0  # else, with one place, the next turn would never come
    time.auto = True
    async with gate.turn("h"):
        assert gate.in_use("h") == 1


async def test_waiters_are_served_by_family_in_turn_and_by_rank_within_one() -> None:
    """One place: a novel's volumes (family "a") go in reading order (rank), and another
    family ("b") still gets every other turn; a cancelled waiter's turn passes on."""
    gate = _gate(FakeTime(), Politeness(per_host=1))
    served: list[tuple[str, int]] = []

    async def request(order: tuple[str, int]) -> None:
        async with gate.turn("h", order):
            served.append(order)

    async with gate.turn("h"):  # holds the only place while the others queue
        orders = [("a", 3), ("a", 1), ("b", 5), ("a", 2), ("b", 4), ("a", 0)]
        tasks = {o: asyncio.create_task(request(o)) for o in orders}
        await wait_until(lambda: gate.waiting("h") == len(orders))
        tasks[("a", 0)].cancel()
        await wait_until(lambda: gate.waiting("h") == len(orders) - 1)
    await asyncio.gather(*tasks.values(), return_exceptions=True)
    assert served == [("a", 1), ("b", 4), ("a", 2), ("b", 5), ("a", 3)]
    assert gate.in_use("h") == 0


async def test_starts_are_spaced_by_the_delay() -> None:
    time = FakeTime()
    gate = _gate(time, Politeness(delay_s=0.5))
    starts = []
    for _ in range(4):
        async with gate.turn("h"):
            starts.append(time.now)
    assert starts == pytest.approx([0.0, 0.5, 1.0, 1.5])


async def test_a_pause_holds_every_request_to_the_host_until_it_has_passed() -> None:
    time = FakeTime(auto=False)
    gate = _gate(time, Politeness(per_host=2))
    started: list[tuple[str, float]] = []

    async def later(name: str, host: str) -> None:
        async with gate.turn(host):
            started.append((name, time.now))

    async with gate.turn("h") as turn:
        pausing = asyncio.create_task(turn.pause(7.0))  # a 429 with Retry-After: 7
        await wait_until(lambda: time.sleeping == 1)
        other = asyncio.create_task(later("same host", "h"))
        elsewhere = asyncio.create_task(later("other host", "g"))
        await elsewhere
        await wait_until(lambda: time.sleeping == 2)
        assert started == [("other host", 0.0)]  # the paused host's request waits
        time.auto = True  # from now on (the host is also slowed down: more gaps follow)
        await time.advance(7.0)
        await asyncio.gather(pausing, other)
    assert started[1][0] == "same host" and started[1][1] >= 7.0
    assert gate.in_use("h") == 0


@given(
    delay=st.floats(0.0, 5.0),
    steps=st.lists(st.one_of(st.none(), st.floats(0.0, 30.0)), min_size=1, max_size=12),
)
def test_no_start_comes_early(delay: float, steps: list[float | None]) -> None:
    """Turns taken one after another, some pausing (a Retry-After of so many seconds): each
    start is at least `delay` after the previous one and never before a pause's end."""

    async def run() -> None:
        time = FakeTime()
        gate = _gate(time, Politeness(delay_s=delay))
        last_start: float | None = None
        not_before = 0.0
        for pause in steps:
            async with gate.turn("h") as turn:
                start = time.now
                assert start >= not_before - 1e-9
                if last_start is not None:
                    assert start - last_start >= delay - 1e-9
                last_start = start
                if pause is not None:
                    not_before = time.now + pause
                    await turn.pause(pause)
                    assert time.now >= not_before - 1e-9
                    last_start = time.now

    asyncio.run(run())


def _host_by_urlsplit(url: str) -> str:
    try:
        parts = urlsplit(url)
        return _origin_key(parts.scheme, parts.netloc)
    except (ValueError, NovelError) as e:
        return f"error {type(e).__name__}"


_URL_PARTS = st.sampled_from(
    ["http", "HTTPS", "ftp", "://", ":", "/", "//", "?", "#", "@", "[", "]", "::1", "www.",
     "A.test", "b.Test.", "127.0.0.1", ":8080", ":80", ":x", " ", "\t", "\n", "\\", "é", "%2F",
     "..", "x"]
)  # fmt: skip


@given(st.lists(_URL_PARTS, max_size=10).map("".join))
def test_a_urls_host_is_the_one_urlsplit_gives(url: str) -> None:
    try:
        host = _host_of(url)
    except FetchFailed:
        host = "error"
    expected = _host_by_urlsplit(url)
    assert host == expected or (host == "error" and expected.startswith("error")), url
