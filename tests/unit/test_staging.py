"""Batch staging's file-system side (engine/jetstream/staging.py): which directories count
as streams, names from the server's advisories checked before they touch a path, links made
once and repaired, and no staging where no memory directory can be used."""

from __future__ import annotations

from pathlib import Path

from engine.jetstream.staging import PREFIX, RECORD, Staging, link, stream_dirs


def store_with(tmp_path: Path, *streams: str, account: str = "$G") -> Path:
    store = tmp_path / "store"
    for name in streams:
        (store / "jetstream" / account / "streams" / name).mkdir(parents=True)
    return store


def test_only_stream_directories_with_plain_names_count(tmp_path: Path) -> None:
    store = store_with(tmp_path, "JOBS", "KV_users", "bad name", "..x")
    (store / "jetstream" / "$G" / "streams" / "file").write_text("not a stream")
    store_with(tmp_path, "OTHER", account="ACC-1")
    found = sorted(f"{d.parent.parent.name}/{d.name}" for d in stream_dirs(store))
    assert found == ["$G/JOBS", "$G/KV_users", "ACC-1/OTHER"]


def test_links_are_made_once_kept_and_repaired(tmp_path: Path) -> None:
    store = store_with(tmp_path, "JOBS", "WORK")
    root = tmp_path / "memory"
    root.mkdir()
    stager = Staging.create(store, root)
    assert stager is not None
    assert stager.link_all() == 2
    jobs = store / "jetstream" / "$G" / "streams" / "JOBS"
    target = (jobs / "batches").resolve()
    assert target == (stager.staging / "$G" / "JOBS").resolve()
    target.rmdir()
    assert stager.link_all() == 2  # the same links, their directories made again
    assert target.is_dir()

    server_made = store / "jetstream" / "$G" / "streams" / "WORK" / "batches"
    server_made.unlink()
    server_made.mkdir()  # the server made it first: left alone
    assert not link(server_made.parent, stager.staging)
    assert server_made.is_dir() and not server_made.is_symlink()


def test_advisory_names_that_are_not_stream_names_touch_nothing(tmp_path: Path) -> None:
    store = store_with(tmp_path, "JOBS")
    root = tmp_path / "memory"
    root.mkdir()
    stager = Staging.create(store, root)
    assert stager is not None
    for name in ("..", "../JOBS", "*", "JOBS/../../x", ""):
        assert not stager.on_created(name)
    assert list(stager.staging.iterdir()) == []
    assert stager.on_created("JOBS")
    assert not stager.on_created("MISSING")  # no such stream directory


def test_no_usable_memory_directory_means_no_staging(tmp_path: Path) -> None:
    store = store_with(tmp_path, "JOBS")
    assert Staging.create(store, tmp_path / "absent") is None
    assert not (store / RECORD).exists()


def test_a_recorded_directory_outside_the_root_is_never_removed(tmp_path: Path) -> None:
    store = store_with(tmp_path, "JOBS")
    root, elsewhere = tmp_path / "memory", tmp_path / f"{PREFIX}elsewhere"
    root.mkdir()
    elsewhere.mkdir()
    (store / RECORD).write_text(str(elsewhere))
    stager = Staging.create(store, root)
    assert stager is not None
    assert elsewhere.is_dir()  # not ours to remove: only a directory under the root is
    assert (store / RECORD).read_text() == str(stager.staging)
