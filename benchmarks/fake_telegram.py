"""A lean fake Telegram Bot API server for the throughput benchmark.

tests/fake_bot_api.py is built for assertions (it keeps every call and every message and wakes
every waiter on each call); under thousands of requests a second that bookkeeping would be the
bottleneck being measured. This one keeps only what the benchmark reads: per bot token a queue of
updates served by long polling, and the messages the bot sends to private chats, each stamped
with the moment its request arrived. It serves several tokens at once, so kefu and the echo bot
poll the same server.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

BOT_USER = {"id": 4242, "is_bot": True, "first_name": "bench", "username": "bench_bot"}
OK_TRUE = b'{"ok":true,"result":true}'
# Methods whose result is a Message; the rest that the bots call answer True (or a topic).
MESSAGE_METHODS = {
    "sendmessage",
    "sendphoto",
    "senddocument",
    "editmessagetext",
    "editmessagereplymarkup",
}
# What counts as the bot saying something to a customer.
REPLY_METHODS = {"sendmessage", "sendphoto", "senddocument", "copymessage"}


@dataclass(slots=True)
class Reply:
    """One message a bot sent to a private chat, as the fake server received it."""

    at: float  # time.perf_counter() when the request arrived
    method: str
    chat_id: int
    text: str
    message_id: int
    reply_markup: str | None  # raw JSON, decoded only by whoever needs the buttons

    def buttons(self) -> list[dict[str, Any]]:
        if not self.reply_markup:
            return []
        markup = json.loads(self.reply_markup)
        return [button for row in markup.get("inline_keyboard", []) for button in row]


@dataclass
class BotState:
    """What the server holds for one token."""

    updates: deque[tuple[int, bytes]] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    polls: int = 0
    requests: int = 0
    last_send: float = 0.0  # when the bot last sent anything (to tell when it has settled)


ReplyListener = Callable[[str, Reply], None]


class FakeTelegram:
    def __init__(self) -> None:
        self.bots: dict[str, BotState] = {}
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._listeners: list[ReplyListener] = []
        self._runner: web.ServerRunner | None = None
        self.url = ""

    # Lifecycle

    async def start(self) -> str:
        """Serve on a free port of 127.0.0.1 and return the base URL."""
        # The low-level server skips routing and middleware: one handler, one path shape.
        server = web.Server(self._handle)
        self._runner = web.ServerRunner(server, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        # A long poll left behind by a stopped bot would hold the shutdown for its timeout.
        for state in self.bots.values():
            state.wake.set()
        if self._runner is not None:
            await self._runner.cleanup()

    # What the benchmark does

    def bot(self, token: str) -> BotState:
        state = self.bots.get(token)
        if state is None:
            state = self.bots[token] = BotState()
        return state

    def listen(self, listener: ReplyListener) -> None:
        self._listeners.append(listener)

    def unlisten(self, listener: ReplyListener) -> None:
        self._listeners.remove(listener)

    def push_message(
        self, token: str, chat_id: int, text: str, *, language_code: str = "en"
    ) -> float:
        """Queue a private text message from `chat_id`; returns when it became available."""
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "Bench"},
            "from": {
                "id": chat_id,
                "is_bot": False,
                "first_name": "Bench",
                "language_code": language_code,
            },
            "text": text,
        }
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return self._queue(token, "message", message)

    def push_callback(
        self, token: str, chat_id: int, data: str, under: Reply, *, language_code: str = "en"
    ) -> float:
        """Queue a press of a button with `data` under the bot's message `under`."""
        query = {
            "id": str(next(self._message_ids)),
            "from": {
                "id": chat_id,
                "is_bot": False,
                "first_name": "Bench",
                "language_code": language_code,
            },
            "chat_instance": str(chat_id),
            "message": {
                "message_id": under.message_id,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private", "first_name": "Bench"},
                "from": BOT_USER,
                "text": under.text,
            },
            "data": data,
        }
        return self._queue(token, "callback_query", query)

    def drop_pending(self, token: str) -> int:
        """Forget the updates the bot has not fetched (so one scenario cannot spill into the
        next); returns how many there were."""
        state = self.bot(token)
        dropped = len(state.updates)
        state.updates.clear()
        return dropped

    # The server side

    def _queue(self, token: str, kind: str, payload: dict[str, Any]) -> float:
        state = self.bot(token)
        update_id = next(self._update_ids)
        # Serialised once here, so that getUpdates only joins bytes.
        body = json.dumps({"update_id": update_id, kind: payload}, ensure_ascii=False)
        state.updates.append((update_id, body.encode()))
        state.wake.set()
        return time.perf_counter()

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        # /bot<token>/<method>
        _, _, rest = request.path.partition("/bot")
        token, _, method = rest.partition("/")
        method = method.lower()
        body = await request.read()
        params = dict(parse_qsl(body.decode())) if body else dict(request.query)
        state = self.bot(token)
        state.requests += 1
        if method == "getupdates":
            return await self._get_updates(state, params)
        if method == "getme":
            return web.json_response({"ok": True, "result": BOT_USER})
        if method in MESSAGE_METHODS or method == "copymessage":
            state.last_send = time.perf_counter()
            return self._send(token, method, params)
        if method == "createforumtopic":
            topic = {
                "message_thread_id": next(self._message_ids),
                "name": params.get("name", ""),
                "icon_color": 7322096,
            }
            return web.json_response({"ok": True, "result": topic})
        return web.Response(body=OK_TRUE, content_type="application/json")

    def _send(self, token: str, method: str, params: dict[str, str]) -> web.Response:
        arrived = time.perf_counter()
        chat_id = int(params.get("chat_id", 0))
        message_id = int(params.get("message_id") or next(self._message_ids))
        if method == "copymessage":
            return web.json_response({"ok": True, "result": {"message_id": message_id}})
        text = params.get("text", params.get("caption", ""))
        markup = params.get("reply_markup")
        if method in REPLY_METHODS and chat_id > 0:
            reply = Reply(arrived, method, chat_id, text, message_id, markup)
            for listener in self._listeners:
                listener(token, reply)
        chat_type = "private" if chat_id > 0 else "supergroup"
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": chat_type},
            "from": BOT_USER,
            "text": text,
        }
        if markup:
            message["reply_markup"] = json.loads(markup)
        if params.get("message_thread_id"):
            message["message_thread_id"] = int(params["message_thread_id"])
        return web.json_response({"ok": True, "result": message})

    async def _get_updates(self, state: BotState, params: dict[str, str]) -> web.Response:
        state.polls += 1
        offset = int(params.get("offset") or 0)
        limit = max(1, min(int(params.get("limit") or 100), 100))
        timeout = float(params.get("timeout") or 0)
        updates = state.updates
        # An offset confirms every update before it, as on Telegram.
        while updates and updates[0][0] < offset:
            updates.popleft()
        if not updates and timeout > 0:
            state.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(state.wake.wait(), timeout)
        batch = [body for _, body in itertools.islice(updates, limit)]
        payload = b'{"ok":true,"result":[' + b",".join(batch) + b"]}"
        return web.Response(body=payload, content_type="application/json")
