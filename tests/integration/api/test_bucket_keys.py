"""Listing a bucket's keys (the spiders' owners) and telling whether it is empty (the users,
at first start): from the bucket stream's subjects, every call, never a key missed."""

from __future__ import annotations

from nats.aio.client import Client as NATS

from engine.jetstream.kv import bucket_empty, key_tokens, open_bucket


async def test_every_listing_finds_every_key_of_the_prefix(nc: NATS) -> None:
    js = nc.jetstream()
    kv = await open_bucket(js, "listed", history=1)
    assert await key_tokens(js, "listed", "index.") == [] and await bucket_empty(js, "listed")
    owners = [f"u{n}" for n in range(3)]
    for owner in owners:
        await kv.put(f"index.{owner}", b"{}")
    for n in range(20):
        await kv.put(f"spider.{n}", b"x")  # other keys: not listed
    await kv.delete("spider.0")
    # nats-py's KeyValue.keys() missed every key in 2 of 500 such calls
    for _ in range(200):
        assert await key_tokens(js, "listed", "index.") == owners
    assert not await bucket_empty(js, "listed")
