"""The change feed's waiting logic (no broker: notices are delivered by calling notify)."""

from __future__ import annotations

import asyncio

from crawl_api.changes import ChangeFeed


async def test_a_notice_wakes_only_the_watchers_of_its_job() -> None:
    feed = ChangeFeed("amqp://unused/")
    with feed.watch("a") as a, feed.watch("b") as b:
        waiting = asyncio.create_task(a.wait(5))
        await asyncio.sleep(0)
        feed.notify("a")
        assert await asyncio.wait_for(waiting, 1) is True
        assert await b.wait(0.01) is False


async def test_a_notice_between_registration_and_wait_is_not_lost() -> None:
    feed = ChangeFeed("amqp://unused/")
    with feed.watch("job") as watch:
        feed.notify("job")  # e.g. while the waiter was reading the document
        assert await watch.wait(0.01) is True
        assert await watch.wait(0.01) is False, "a wait consumes the notice"


async def test_watches_are_forgotten_when_their_block_ends() -> None:
    feed = ChangeFeed("amqp://unused/")
    with feed.watch("job") as first, feed.watch("job") as second:
        assert feed.watched == {"job"}
    assert feed.watched == frozenset()
    feed.notify("job")  # nobody left to wake; must not fail
    assert await first.wait(0) is False
    assert await second.wait(0) is False
    assert not feed.connected
