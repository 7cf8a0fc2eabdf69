"""Moving off the quorum extraction queue: a broker an earlier version ran on has
``crawler.extract`` as a quorum queue with a delivery limit, and declaring it as the classic
queue it is now fails with ``PRECONDITION_FAILED``, which closes the channel (and would stop
the crawler's start). So before anything in this process declares it, a crawler that finds it
declared with other arguments deletes it, on a connection of its own; the normal declarations
(``ReplyChannel.start``, then the broker's subscriber) then make the classic queue.

Nothing of value goes with it: its requests are transient by nature, and an owner waiting on
one extracts the page itself at its timeout (an earlier crawler consuming it is told its
consumer was cancelled). Crawlers starting together each check and delete back to back, long
before they declare, so whichever deletes second finds the queue gone (deleting a missing
queue is no error) or, having checked later, already classic.
"""

from __future__ import annotations

import re

import aio_pika
import structlog
from aio_pika.exceptions import ChannelNotFoundEntity, ChannelPreconditionFailed

from crawl_contracts import routing
from crawl_runtime.topology import work_queue

__all__ = ["replace_inequivalent_extract_queue"]

log = structlog.get_logger("crawl_worker.legacy")

# RabbitMQ's refusal names the type the queue has: "inequivalent arg 'x-queue-type' for queue
# 'crawler.extract' in vhost '/': received 'classic' but current is 'quorum'".
_CURRENT_TYPE = re.compile(r"inequivalent arg 'x-queue-type'.*?current is '([^']+)'")


async def replace_inequivalent_extract_queue(url: str) -> str | None:
    """Delete ``crawler.extract`` if it exists with other arguments than
    ``work_queue(routing.EXTRACT_REQUESTS_QUEUE)``'s: the queue type it had (``quorum``) if
    it was deleted, ``None`` if there was nothing to do (no such queue, or already right)."""
    wanted = work_queue(routing.EXTRACT_REQUESTS_QUEUE)
    connection = await aio_pika.connect(url)
    async with connection:
        try:
            await (await connection.channel()).declare_queue(wanted.name, passive=True)
        except ChannelNotFoundEntity:  # a fresh broker: the normal declaration makes it
            return None
        # Declared as it will be, on a throwaway channel: a refusal closes only that one.
        try:
            await (await connection.channel()).declare_queue(
                wanted.name, durable=wanted.durable, arguments=wanted.arguments
            )
        except ChannelPreconditionFailed as exc:
            refusal = str(exc)
        else:
            return None
        deleted = await (await connection.channel()).queue_delete(wanted.name)
    found = _CURRENT_TYPE.search(refusal)
    # Without the type in the refusal the type was right and another argument was not.
    old_type = found.group(1) if found else routing.work_queue_type(wanted.name)
    log.warning(
        "extract.queue_migrated",
        queue=wanted.name,
        old_type=old_type,
        new_type=routing.work_queue_type(wanted.name),
        dropped=deleted.message_count if deleted is not None else None,
        refusal=refusal[:300],
    )
    return old_type
