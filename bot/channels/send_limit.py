"""Telegram's global limit, about 30 messages a second per bot, kept for every message the bot
sends (replies, relays, alerts, scheduled messages): a middleware on the bot's session, inside
the retries, so that each try takes its turn.

What counts is when a message reaches Telegram, which lies somewhere between the moment it was
let go and the moment its answer came back. So a send holds its place from the moment it is let
go until one second after its answer came back, and a new one goes only while fewer than the
limit are held: whatever the network and the machines do in between, no second of Telegram's
sees more than the limit arrive. (A plain count of starts per second would let 31 arrive within
one second whenever one request of a second was slower than the next.) The cost is that a
message's round trip is added to its second: at the limit, a bot whose requests take 100 ms
sends about 27 a second, not 30.

In one process the places are kept in memory. With `[telegram] redis_url` they are kept in
Redis, shared by every replica of the bot: one Lua script takes a place (atomically: the
sorted set of places is pruned, counted and added to in one step, timed by Redis's clock, so
that replicas whose clocks differ still agree), another records when the send ended. A replica
killed mid-send leaves its place until `IN_FLIGHT_SECONDS` have passed. When Redis cannot be
reached, the replica keeps to the limit on its own (said in the log) rather than stop sending."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.methods import Response, SendChatAction, TelegramMethod
from aiogram.methods.base import TelegramType

if TYPE_CHECKING:
    from aiogram import Bot
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

WINDOW_SECONDS = 1.0
# A send still in flight after this long is taken to have ended (its process was killed):
# aiogram's requests time out after 60 s.
IN_FLIGHT_SECONDS = 65.0
# When every place is held by a send still in flight, when to look again.
POLL_SECONDS = 0.02

MESSAGE_METHODS = ("send", "copy", "forward")


def sends_a_message(method: TelegramMethod[Any]) -> bool:
    """sendMessage, sendPhoto, copyMessage, forwardMessages...: what Telegram counts as the
    bot's messages. Not edits, answers to button presses, topics or chat actions."""
    name = method.__api_method__
    return name.startswith(MESSAGE_METHODS) and not isinstance(method, SendChatAction)


class SendLimit(Protocol):
    def slot(self, bot_id: int) -> contextlib.AbstractAsyncContextManager[float]:
        """Held while one message is sent; gives how long it waited for its turn."""

    async def close(self) -> None: ...


class LocalSendLimit:
    """The limit kept by one process."""

    def __init__(
        self,
        per_second: int,
        now: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if per_second < 1:
            raise ValueError("per_second must be at least 1")
        self.per_second = per_second
        self.now = now
        self.sleep = sleep
        self._ended: deque[float] = deque()  # when each send of the last second ended
        self._in_flight = 0
        self._turn = asyncio.Lock()  # waiters take their turn first come, first served
        self._an_end = asyncio.Event()

    @contextlib.asynccontextmanager
    async def slot(self, bot_id: int = 0) -> AsyncIterator[float]:
        waited = await self.take()
        try:
            yield waited
        finally:
            self.give_back()

    async def take(self) -> float:
        started = self.now()
        async with self._turn:
            now = started
            while True:
                while self._ended and self._ended[0] + WINDOW_SECONDS <= now:
                    self._ended.popleft()
                if len(self._ended) + self._in_flight < self.per_second:
                    self._in_flight += 1
                    return now - started
                if self._ended:
                    free_at = self._ended[0] + WINDOW_SECONDS
                    await self.sleep(free_at - now)
                    now = max(self.now(), free_at)  # not a rounding short of it
                else:  # every place is held by a send in flight: wait for one to end
                    self._an_end.clear()
                    await self._an_end.wait()
                    now = self.now()

    def give_back(self) -> None:
        self._in_flight -= 1
        self._ended.append(self.now())
        self._an_end.set()

    async def close(self) -> None:
        return None


# KEYS[1]: one bot's sends, a sorted set: member = one send, score = when it ended (Redis's
# clock, in microseconds) or, while it is in flight, when it will be taken to have ended.
# ARGV: the limit, the window and the time in flight (microseconds), this send's member.
# Returns 0 when the send may go, else how many microseconds to wait (-1: ask again shortly).
TAKE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local window = tonumber(ARGV[2])
local flight = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + flight, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], math.ceil((window + flight) / 1000))
  return 0
end
local ended = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES', 'LIMIT', 0, 1)
if ended[2] then
  return math.max(1, tonumber(ended[2]) + window - now)
end
return -1
"""

# KEYS[1] as above; ARGV: the window and the time in flight, the send's member.
GIVE_BACK = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil((tonumber(ARGV[1]) + tonumber(ARGV[2])) / 1000))
return 0
"""

MICRO = 1_000_000


class RedisSendLimit:
    """The limit kept in Redis for every replica of the bot together."""

    def __init__(
        self,
        redis: Redis,
        per_second: int,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.redis = redis
        self.per_second = per_second
        self.sleep = sleep
        self.local = LocalSendLimit(per_second, sleep=sleep)  # while Redis is away
        self._take = redis.register_script(TAKE)
        self._give_back = redis.register_script(GIVE_BACK)
        self._names = (f"{uuid.uuid4().hex[:12]}:{n}" for n in itertools.count())
        self._turn = asyncio.Lock()  # one waiter of this process at a time asks Redis
        self._away = False
        self._times = [int(WINDOW_SECONDS * MICRO), int(IN_FLIGHT_SECONDS * MICRO)]

    @contextlib.asynccontextmanager
    async def slot(self, bot_id: int) -> AsyncIterator[float]:
        key = f"kefu:sends:{bot_id}"
        member = next(self._names)
        started = time.monotonic()
        try:
            await self._take_in_redis(key, member)
        except Exception as error:  # whatever the client raises when Redis is away
            self._went_away(error)
            shared = False
        else:
            self._came_back()
            shared = True
        if not shared:
            async with self.local.slot():
                yield time.monotonic() - started
            return
        try:
            yield time.monotonic() - started
        finally:
            try:
                await self._give_back(keys=[key], args=[*self._times, member])
            except Exception as error:  # its place is freed when its time in flight is up
                self._went_away(error)

    async def _take_in_redis(self, key: str, member: str) -> None:
        async with self._turn:
            while True:
                wait = int(
                    await self._take(keys=[key], args=[self.per_second, *self._times, member])
                )
                if wait == 0:
                    return
                await self.sleep(POLL_SECONDS if wait < 0 else wait / MICRO)

    def _went_away(self, error: Exception) -> None:
        if not self._away:
            log.warning(
                "Redis unreachable (%s): this replica keeps Telegram's send limit on its own",
                type(error).__name__,
            )
        self._away = True

    def _came_back(self) -> None:
        if self._away:
            log.warning("Redis reachable again: the send limit is shared again")
        self._away = False

    async def close(self) -> None:
        await self.redis.aclose()


def create_send_limit(per_second: int, redis_url: str | None) -> SendLimit:
    """Shared through Redis when there is a Redis, else kept by this process."""
    if not redis_url:
        return LocalSendLimit(per_second)
    # Imported here: the redis package is needed only by those who choose it.
    from redis.asyncio import Redis

    return RedisSendLimit(Redis.from_url(redis_url), per_second)


class GlobalSendLimit(BaseRequestMiddleware):
    """Each try of each message waits for its place under the limit."""

    def __init__(self, limit: SendLimit, on_wait: Callable[[float], None] | None = None) -> None:
        self.limit = limit
        self.on_wait = on_wait

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        if not sends_a_message(method):
            return await make_request(bot, method)
        async with self.limit.slot(bot.id) as waited:
            if waited > 0 and self.on_wait is not None:
                self.on_wait(waited)
            return await make_request(bot, method)
