"""Host keys, the registry's matching, and plugins loaded from entry points."""

from __future__ import annotations

import logging
from importlib.metadata import EntryPoint

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.novels.errors import InvalidNovelUrl, NoSource
from engine.novels.hosts import host_key
from engine.novels.sources.madara import MadaraSource
from engine.novels.sources.novelfull import NovelFullSource
from engine.novels.sources.registry import (
    ENTRY_POINT_GROUP,
    Registry,
    SourceInfo,
    build_registry,
    load_plugins,
)
from engine.novels.sources.selectors import load_config

PLUGINS = "tests.unit.novels.plugin_sources"


def _point(name: str, attribute: str, module: str = PLUGINS) -> EntryPoint:
    return EntryPoint(name=name, value=f"{module}:{attribute}", group=ENTRY_POINT_GROUP)


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("https://WWW.Example.COM/novel/x", "example.com"),
        ("http://example.com:8080/", "example.com:8080"),
        ("https://example.com:443/", "example.com"),
        ("http://example.com:443/", "example.com:443"),
        ("Example.com.", "example.com"),
        ("www.example.com:81", "example.com:81"),
        ("http://Bücher.example/", "xn--bcher-kva.example"),
        ("http://www.xn--bcher-kva.example/", "xn--bcher-kva.example"),
        ("http://[::1]:8000/x", "[::1]:8000"),
        ("http://127.0.0.1:5000/x", "127.0.0.1:5000"),
        ("www", "www"),
        ("wwwexample.com", "wwwexample.com"),
    ],
)
def test_host_keys(value: str, key: str) -> None:
    assert host_key(value) == key


@pytest.mark.parametrize("bad", ["", "http:///x", "http://a..b/", "http://x:99999/", "a b.test"])
def test_a_value_without_a_valid_host_is_refused(bad: str) -> None:
    with pytest.raises(InvalidNovelUrl):
        host_key(bad)


_LABEL = st.text(alphabet="abcxyz0189-é", min_size=1, max_size=10).filter(
    lambda s: not s.startswith("-") and not s.endswith("-") and s[2:4] != "--"
)


@given(st.lists(_LABEL, min_size=1, max_size=3), st.sampled_from(["", "www."]), st.booleans())
def test_a_url_and_its_host_have_one_key(labels: list[str], www: str, upper: bool) -> None:
    host = ".".join(labels) + ".test"
    shown = (www + host).upper() if upper else www + host
    assert host_key(f"http://{shown}:8080/a/b") == host_key(host) + ":8080"
    assert host_key(f"https://{shown}/") == host_key(host)


def _registry() -> Registry:
    return build_registry(plugins=[], bindings={"novelfull": ["www.novels.test", "127.0.0.1:9"]})


@pytest.mark.parametrize(
    "url", ["https://novels.test/n.html", "http://WWW.NOVELS.TEST/x", "http://127.0.0.1:9/n"]
)
def test_a_bound_host_finds_its_source(url: str) -> None:
    assert isinstance(_registry().for_url(url), NovelFullSource)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:10/n", "http://other.test/", "http://novels.test.evil/"]
)
def test_an_unknown_host_says_how_to_add_a_source(url: str) -> None:
    with pytest.raises(NoSource) as raised:
        _registry().for_url(url)
    message = str(raised.value)
    assert repr(host_key(url)) in message
    assert ENTRY_POINT_GROUP in message
    assert "madara, novelfull" in message
    assert "source" in message


def test_a_named_source_overrides_the_host() -> None:
    registry = _registry()
    assert isinstance(registry.for_url("http://other.test/n", source="madara"), MadaraSource)
    with pytest.raises(NoSource, match="no source is named 'nope'"):
        registry.for_url("http://novels.test/n", source="nope")


def test_binding_an_unknown_source_is_refused() -> None:
    with pytest.raises(NoSource):
        build_registry(plugins=[], bindings={"nope": ["x.test"]})


def test_plugins_load_from_entry_points_and_broken_ones_are_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    points = [
        _point("tales", "TalesSource"),  # a class
        _point("mirror", "mirror_factory"),  # a factory
        _point("same", "instance"),  # an instance (same name as the class: replaces it)
        _point("missing-module", "x", module="tests.unit.novels.no_such_module"),
        _point("missing-attribute", "no_such_name"),
        _point("exploding", "exploding_factory"),
        _point("not-a-source", "NotASource"),
        _point("bad-hosts", "BadHosts"),
    ]
    with caplog.at_level(logging.WARNING, logger="engine.novels.sources.registry"):
        loaded = load_plugins(points)
    assert [source.name for source in loaded] == ["tales", "mirror", "tales"]
    broken = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(broken) == 5
    for name in ("missing-module", "missing-attribute", "exploding", "not-a-source", "bad-hosts"):
        assert any(repr(name) in message for message in broken)


def test_the_registry_routes_plugin_and_config_hosts() -> None:
    static = {"title": "h1", "chapter_links": "a", "chapter_body": "main"}
    config = load_config({"name": "static", "hosts": ["static.test"], **static})
    registry = build_registry(
        plugins=[_point("tales", "TalesSource"), _point("mirror", "mirror_factory")],
        configs=[config],
    )
    assert registry.for_url("http://tales-mirror.test:8443/n").name == "tales"
    assert registry.for_url("http://novels-mirror.test/n").name == "mirror"
    assert registry.for_url("http://www.static.test/n").name == "static"
    assert registry.describe() == [
        SourceInfo(name="madara", hosts=(), origin="builtin"),
        SourceInfo(name="mirror", hosts=("novels-mirror.test",), origin="plugin"),
        SourceInfo(name="novelfull", hosts=(), origin="builtin"),
        SourceInfo(name="static", hosts=("static.test",), origin="config"),
        SourceInfo(name="tales", hosts=("tales-mirror.test:8443", "tales.test"), origin="plugin"),
    ]


def test_a_later_source_replaces_an_earlier_one_and_takes_its_hosts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = build_registry(plugins=[], bindings={"novelfull": ["a.test"]})
    with caplog.at_level(logging.WARNING, logger="engine.novels.sources.registry"):
        registry.add(MadaraSource(hosts=["a.test"]), "config")
        registry.add(NovelFullSource(), "plugin")
    assert isinstance(registry.for_url("http://a.test/"), MadaraSource)
    assert registry.describe()[1] == SourceInfo(name="novelfull", hosts=(), origin="plugin")
    messages = [r.getMessage() for r in caplog.records]
    assert "host a.test moves from source 'novelfull' to 'madara'" in messages
    assert "source 'novelfull' (plugin) replaces the builtin one" in messages


def test_the_installed_entry_points_are_read_when_built() -> None:
    # No package in this environment declares the group: the built-ins alone.
    assert [info.name for info in build_registry().describe()] == ["madara", "novelfull"]
