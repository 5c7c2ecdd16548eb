"""Web visitors' pages on other replicas. With `[telegram] redis_url` set, every frame a replica
pushes to a visitor is also published on the visitor's Redis channel, and each replica listens
on the channels of the visitors whose pages it holds: an agent's reply handled by one replica
(its webhook call) reaches the page whose socket another replica holds. Each replica knows its
own frames (by a random name in them) and skips them, as it has pushed them already.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

log = logging.getLogger(__name__)

PREFIX = "kefu:web:visitor:"
Deliver = Callable[[int, dict[str, Any]], Awaitable[None]]


class ReplicaPush:
    """The Redis side of WebChat.push; `deliver` pushes a frame to this replica's pages."""

    def __init__(self, redis_url: str, deliver: Deliver) -> None:
        self.redis_url = redis_url
        self.deliver = deliver
        self.name = uuid.uuid4().hex
        self._redis: Redis | None = None
        self._pubsub: PubSub | None = None
        self._listening: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # Imported here: the redis package is needed only by those who configure it.
        from redis.asyncio import Redis

        self._redis = Redis.from_url(self.redis_url)
        self._pubsub = self._redis.pubsub()
        # a channel of its own, so that the subscription (and its connection) is never empty
        await self._pubsub.subscribe(f"kefu:web:replica:{self.name}")
        self._listening = asyncio.create_task(self._listen(self._pubsub))

    async def stop(self) -> None:
        if self._listening is not None:
            self._listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listening
        if self._pubsub is not None:
            await self._pubsub.aclose()
        if self._redis is not None:
            await self._redis.aclose()

    async def watch(self, visitor_id: int) -> None:
        """This replica now holds a page of the visitor's: their frames from elsewhere come."""
        if self._pubsub is not None:
            await self._pubsub.subscribe(f"{PREFIX}{visitor_id}")

    async def unwatch(self, visitor_id: int) -> None:
        if self._pubsub is not None:
            await self._pubsub.unsubscribe(f"{PREFIX}{visitor_id}")

    async def publish(self, visitor_id: int, frame: dict[str, Any]) -> None:
        """For the visitor's pages on other replicas; a Redis that cannot be reached costs
        them the live frame only (the page shows it from the database when it opens again)."""
        if self._redis is None:
            return
        body = json.dumps({"replica": self.name, "frame": frame}, ensure_ascii=False)
        try:
            await self._redis.publish(f"{PREFIX}{visitor_id}", body)
        except (OSError, ConnectionError) as error:
            log.warning("web chat: a frame for visitor=%s not published: %s", visitor_id, error)
        except Exception as error:  # redis' own errors; imported only when configured
            log.warning(
                "web chat: a frame for visitor=%s not published: %s",
                visitor_id,
                type(error).__name__,
            )

    async def _listen(self, pubsub: PubSub) -> None:
        while True:
            try:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # Redis went away: try again shortly, keep serving
                log.warning("web chat: Redis listening failed (%s)", type(error).__name__)
                await asyncio.sleep(1.0)
                continue
            if message is None or message.get("type") != "message":
                continue
            await self._received(message)

    async def _received(self, message: dict[str, Any]) -> None:
        channel = message["channel"]
        channel = channel.decode() if isinstance(channel, bytes) else str(channel)
        if not channel.startswith(PREFIX):
            return
        try:
            body = json.loads(message["data"])
            visitor_id = int(channel.removeprefix(PREFIX))
        except ValueError:
            return
        if body.get("replica") == self.name:
            return
        await self.deliver(visitor_id, body["frame"])
