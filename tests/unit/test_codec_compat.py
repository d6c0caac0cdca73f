"""Old encoded events must keep decoding: schemas only grow, tags never change."""

from __future__ import annotations

from pathlib import Path

import msgspec

from engine.domain.events import EVENT_KINDS, AnyEvent, Codec, kind_of

FIXTURE = Path(__file__).parent / "fixtures" / "events_v1.jsonl"
# one line per tag added after v1 (the purge tombstone, the library events); v1's lines never change
ADDED = Path(__file__).parent / "fixtures" / "events_v2.jsonl"


def _same_data(codec: Codec, event: AnyEvent, line: bytes) -> None:
    """Re-encoded, the event holds the line's data, and fields added since at their defaults."""
    written = msgspec.json.decode(line)
    added = {
        f.encode_name: msgspec.to_builtins(_default(f))
        for f in msgspec.structs.fields(type(event))
        if f.encode_name not in written
    }
    assert msgspec.json.decode(codec.encode(event)) == {**written, **added}


def _default(field: msgspec.structs.FieldInfo) -> object:
    """A field's default; a mutable one (`[]`, `{}`) is made by its factory."""
    if field.default is not msgspec.NODEFAULT:
        return field.default
    assert field.default_factory is not msgspec.NODEFAULT, f"{field.name} has no default"
    return field.default_factory()


def test_every_v1_event_still_decodes_to_the_same_data() -> None:
    codec = Codec()
    lines = FIXTURE.read_bytes().splitlines()
    kinds = set()
    for line in lines:
        event = codec.decode(line)
        kinds.add(kind_of(event))
        _same_data(codec, event, line)
    assert len(kinds) == len(lines) == 12


def test_unknown_fields_from_newer_writers_are_ignored() -> None:
    line = FIXTURE.read_bytes().splitlines()[0]
    newer = line[:-1] + b',"added_later":1}'
    assert Codec().decode(newer) == Codec().decode(line)


def test_every_tag_has_a_fixture_and_later_ones_decode_too() -> None:
    codec = Codec()
    kinds = set()
    for line in FIXTURE.read_bytes().splitlines() + ADDED.read_bytes().splitlines():
        event = codec.decode(line)
        kinds.add(kind_of(event))
        _same_data(codec, event, line)
    assert kinds == EVENT_KINDS
