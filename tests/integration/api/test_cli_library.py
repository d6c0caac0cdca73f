"""`jobstream novels` and `jobstream download` as real processes against the running API,
and the client's pure parts (the file name it saves under) tested directly."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import quote

import aiohttp
from hypothesis import given
from hypothesis import strategies as st

from cli.http import Api
from cli.library import every_novel, file_name
from tests.integration.api.library_seed import EPUB, seed_novel
from tests.support import Client, Service, cli_env, free_port, run_cli


async def jobstream(client: Client, *args: str) -> tuple[int, str, str]:
    """`jobstream *args` as `client`: exit status, stdout, stderr."""
    conn = ["--url", client.base, "--token", str(client.token)]
    return await run_cli(*args, *conn, env=cli_env())


async def test_novels_prints_the_callers_library(api: Service) -> None:
    alice, bob = await api.add_user("alice"), await api.add_user("bob")
    moon = await seed_novel(api, alice, title="Moon Tale", chapters=3)
    sun = await seed_novel(api, alice, title="Sun Song", chapters=1)
    star = await seed_novel(api, bob, title="Star Tale", chapters=2)

    code, out, err = await jobstream(alice, "novels")
    assert (code, err) == (0, ""), err
    rows = [line for line in out.splitlines() if moon.novel_id in line or sun.novel_id in line]
    assert len(rows) == 2 and "Moon Tale" in rows[0] and "Sun Song" in rows[1], out
    assert rows[0].split("│")[3].strip() == "3" and rows[1].split("│")[3].strip() == "1", out
    assert star.novel_id not in out and out.rstrip().endswith("2 novels"), out

    code, out, _ = await jobstream(alice, "novels", "-q", "tale")
    assert code == 0 and moon.novel_id in out and sun.novel_id not in out, out
    assert out.rstrip().endswith("1 novel"), out
    code, out, _ = await jobstream(api.admin, "novels")
    assert code == 0 and all(s.novel_id in out for s in (moon, sun, star)), out


async def test_every_page_of_the_library_is_read(api: Service) -> None:
    alice = await api.add_user("alice")
    ids = [(await seed_novel(api, alice, title=f"Tale {i}", chapters=1)).novel_id for i in range(5)]
    assert alice.token is not None
    async with aiohttp.ClientSession() as session:
        items, total = await every_novel(Api(session, alice.base, alice.token), None, page_size=2)
    assert total == 5 and [n["id"] for n in items] == ids  # by title: Tale 0 ... Tale 4


async def test_download_saves_the_file_under_its_name(api: Service, tmp_path: Path) -> None:
    tmp_path = tmp_path / "out"  # the service's own files are in tmp_path
    tmp_path.mkdir()
    alice = await api.add_user("alice")
    plain = await seed_novel(api, alice, title="Moon Tale")
    wide = await seed_novel(api, alice, title="Wide", file_name="Lune 月.epub")

    code, out, err = await jobstream(alice, "download", plain.artifact_id, "-o", str(tmp_path))
    assert (code, err) == (0, ""), err
    assert (tmp_path / "Novel.epub").read_bytes() == EPUB
    assert out.strip() == f"saved {tmp_path / 'Novel.epub'} ({len(EPUB):,} bytes)"
    code, _, err = await jobstream(alice, "download", wide.artifact_id, "-o", str(tmp_path))
    assert code == 0, err
    assert (tmp_path / "Lune 月.epub").read_bytes() == EPUB
    chosen = tmp_path / "mine.epub"
    code, _, err = await jobstream(alice, "download", wide.artifact_id, "--output", str(chosen))
    assert code == 0 and chosen.read_bytes() == EPUB, err
    code, out, _ = await jobstream(alice, "download", plain.artifact_id, "-o", "-")
    assert code == 0 and out.encode() == EPUB
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Lune 月.epub", "Novel.epub", "mine.epub"]


async def test_download_refusals_and_failures_exit_codes(api: Service, tmp_path: Path) -> None:
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    alice, bob = await api.add_user("alice"), await api.add_user("bob")
    shelf = await seed_novel(api, alice, title="Moon Tale")
    target = tmp_path / "x.epub"
    theirs, unknown, nowhere, unwritable = await asyncio.gather(
        jobstream(bob, "download", shelf.artifact_id, "-o", str(target)),
        jobstream(alice, "download", "not-an-id", "-o", str(target)),
        run_cli("download", shelf.artifact_id, "--url", f"http://127.0.0.1:{free_port()}",
                "--token", str(alice.token), env=cli_env()),
        jobstream(alice, "download", shelf.artifact_id, "-o", str(tmp_path / "no" / "x.epub")),
    )  # fmt: skip
    assert theirs[0] == 1 and theirs[2].startswith("error: 404: artifact"), theirs
    assert unknown[0] == 1 and "404" in unknown[2], unknown
    assert nowhere[0] == 2 and "cannot reach" in nowhere[2], nowhere
    assert unwritable[0] == 3 and "cannot write" in unwritable[2], unwritable
    assert list(tmp_path.iterdir()) == []  # nothing half-written
    bad = await run_cli("novels", "--url", alice.base, "--token", "js_nope", env=cli_env())
    assert bad[0] == 2 and "token rejected" in bad[2], bad


@given(st.text(max_size=40))
def test_the_saved_name_is_always_a_bare_name(name: str) -> None:
    for disposition in (
        f"attachment; filename*=UTF-8''{quote(name, safe='')}",
        f'attachment; filename="{name}"',
        name,
    ):
        saved = file_name(disposition, "fallback")
        assert saved and "/" not in saved and "\\" not in saved
        assert saved not in (".", "..")


def test_the_saved_name_prefers_the_exact_one() -> None:
    both = "attachment; filename=\"Lune _.epub\"; filename*=UTF-8''Lune%20%E6%9C%88.epub"
    assert file_name(both, "x") == "Lune 月.epub"
    assert file_name('attachment; filename="Novel.epub"', "x") == "Novel.epub"
    assert file_name("attachment; filename*=UTF-8''..%2F..%2Fetc%2Fpasswd", "x") == "passwd"
    assert file_name('attachment; filename="../"', "x") == "x"
    assert file_name("", "01J0000000000000000000ART0") == "01J0000000000000000000ART0"
