"""A fake Telegram Bot API server (aiohttp) for tests: it records what the bot sends, answers as
Telegram does, and serves updates that a test pushes through long polling."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

BOT_USER = {"id": 4242, "is_bot": True, "first_name": "kefu", "username": "kefu_test_bot"}
JSON_FIELDS = {"reply_markup", "entities", "caption_entities", "link_preview_options", "commands"}

Call = tuple[str, dict[str, Any]]


class FakeBotAPI:
    def __init__(self) -> None:
        self.app = web.Application()
        self.app.router.add_post("/bot{token}/{method}", self._handle)
        self.app.router.add_get("/bot{token}/{method}", self._handle)
        self.app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        # files a test put here (by file id) are served for download; others answer 404
        self.files: dict[str, bytes] = {}
        self.sent: list[Call] = []
        # when each call of `sent` reached the server (time.monotonic()), for rate checks
        self.arrived: list[float] = []
        self.tokens: set[str] = set()
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._failures: dict[str, list[dict[str, Any]]] = {}
        self._storms: list[tuple[float, dict[str, Any]]] = []
        self.refused = 0
        self.webhook: dict[str, Any] = {}  # what setWebhook was last given ({} after delete)
        self.served: set[int] = set()  # ids of updates handed out by getUpdates
        # called when a getUpdates call arrives, before it is answered
        self.on_poll: Callable[[], None] | None = None
        self._holds: list[tuple[Callable[[str, dict[str, Any]], bool], asyncio.Event]] = []
        self._changed = asyncio.Condition()

    # What a test does

    def push_message(
        self,
        chat_id: int,
        text: str,
        *,
        first_name: str = "Test",
        language_code: str | None = "en",
        chat_type: str = "private",
    ) -> dict[str, Any]:
        user = {"id": chat_id, "is_bot": False, "first_name": first_name}
        if language_code:
            user["language_code"] = language_code
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": chat_type, "first_name": first_name},
            "from": user,
            "text": text,
        }
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return self._queue({"message": message})

    def push_group_message(
        self, chat_id: int, thread_id: int, text: str, *, user_id: int, first_name: str = "Agent"
    ) -> dict[str, Any]:
        """A message in a forum topic of a supergroup."""
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "supergroup", "title": "Agents", "is_forum": True},
            "from": {"id": user_id, "is_bot": False, "first_name": first_name},
            "text": text,
            "message_thread_id": thread_id,
            "is_topic_message": True,
        }
        return self._queue({"message": message})

    def push_document(
        self, chat_id: int, file_id: str, file_name: str, file_size: int = 100
    ) -> dict[str, Any]:
        """A file sent in a private chat."""
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "Admin"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "Admin"},
            "document": {
                "file_id": file_id,
                "file_unique_id": file_id,
                "file_name": file_name,
                "file_size": file_size,
            },
        }
        return self._queue({"message": message})

    def push_callback(
        self,
        chat_id: int,
        data: str,
        *,
        message_id: int,
        language_code: str | None = "en",
        user_id: int | None = None,
    ) -> dict[str, Any]:
        """A button pressed under a message; in a group, `user_id` says who pressed it."""
        user = {"id": user_id or chat_id, "is_bot": False, "first_name": "Test"}
        if language_code:
            user["language_code"] = language_code
        message = self._messages.get((chat_id, message_id)) or {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "text": "",
        }
        query = {
            "id": str(next(self._update_ids) * 1000),
            "from": user,
            "chat_instance": str(chat_id),
            "message": message,
            "data": data,
        }
        return self._queue({"callback_query": query})

    def push_raw(self, payload: dict[str, Any]) -> dict[str, Any]:
        """An update as given (it may be one the bot's library cannot read), with the next id."""
        return self._queue(payload)

    @property
    def pending(self) -> list[dict[str, Any]]:
        """The updates not yet confirmed by a getUpdates offset."""
        return list(self._updates)

    def fail_next(
        self, method: str, error_code: int, description: str, retry_after: int | None = None
    ) -> None:
        failure: dict[str, Any] = {
            "ok": False,
            "error_code": error_code,
            "description": description,
        }
        if retry_after is not None:
            failure["parameters"] = {"retry_after": retry_after}
        self._failures.setdefault(method.lower(), []).append(failure)

    def storm(
        self, seconds: float, error_code: int, description: str, retry_after: int | None = None
    ) -> None:
        """For `seconds` from now every call but getUpdates fails as given (429, 502...), as
        Telegram does when it throttles a bot or has trouble. Refused calls are counted in
        `refused`, not in `sent`."""
        failure: dict[str, Any] = {
            "ok": False,
            "error_code": error_code,
            "description": description,
        }
        if retry_after is not None:
            failure["parameters"] = {"retry_after": retry_after}
        self._storms.append((asyncio.get_running_loop().time() + seconds, failure))

    def busiest_second(self, methods: set[str], start: int = 0) -> int:
        """The most calls of `methods` (at or after `start`) that reached the server within
        any one second."""
        times = sorted(
            at
            for (method, _), at in zip(self.sent[start:], self.arrived[start:], strict=True)
            if method in methods
        )
        most, first = 0, 0
        for last, at in enumerate(times):
            while at - times[first] >= 1.0:
                first += 1
            most = max(most, last - first + 1)
        return most

    @property
    def unconfirmed(self) -> list[int]:
        """Ids of the updates the bot has not confirmed (by getUpdates' offset) yet."""
        return [u["update_id"] for u in self._updates]

    def hold(self, predicate: Callable[[str, dict[str, Any]], bool]) -> asyncio.Event:
        """Calls that match are received and recorded (Telegram has them: the customer sees the
        message) but not answered until the returned event is set: a bot killed meanwhile never
        hears back, the worst moment to stop it."""
        released = asyncio.Event()
        self._holds.append((predicate, released))
        return released

    async def wait_for(
        self,
        predicate: Callable[[str, dict[str, Any]], bool],
        *,
        start: int = 0,
        timeout: float = 15.0,
    ) -> Call:
        """The first call at or after `start` that matches, waiting for it to arrive."""

        def found() -> Call | None:
            return next((c for c in self.sent[start:] if predicate(*c)), None)

        async with self._changed:
            try:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: found() is not None), timeout
                )
            except TimeoutError:
                seen = [(m, p.get("text")) for m, p in self.sent[start:]]
                raise AssertionError(
                    f"no matching call within {timeout} s; seen: {seen}"
                ) from None
        call = found()
        assert call is not None
        return call

    async def wait_for_message(
        self, chat_id: int, *, start: int = 0, timeout: float = 15.0
    ) -> dict[str, Any]:
        _, params = await self.wait_for(
            lambda method, p: method == "sendmessage" and int(p["chat_id"]) == chat_id,
            start=start,
            timeout=timeout,
        )
        return params

    # The server side

    def _queue(self, payload: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), **payload}
        self._updates.append(update)
        asyncio.get_running_loop().create_task(self._notify())
        return update

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _download(self, request: web.Request) -> web.Response:
        file_id = request.match_info["path"].rsplit("/", 1)[-1]
        if file_id not in self.files:
            return web.Response(status=404)
        return web.Response(body=self.files[file_id])

    async def _handle(self, request: web.Request) -> web.Response:
        arrived = time.monotonic()
        self.tokens.add(request.match_info["token"])
        method = request.match_info["method"].lower()
        params: dict[str, Any] = {}
        for key, value in (await request.post()).items():
            if isinstance(value, str) and key in JSON_FIELDS:
                params[key] = json.loads(value)
            elif isinstance(value, str):
                params[key] = value
            elif isinstance(value, web.FileField):
                params[key] = {"filename": value.filename, "content": value.file.read()}
            else:
                params[key] = bytes(value)
        if method == "getupdates" and self.webhook:
            conflict = {
                "ok": False,
                "error_code": 409,
                "description": "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            }
            return web.json_response(conflict, status=409)
        now = asyncio.get_running_loop().time()
        self._storms = [(until, failure) for until, failure in self._storms if until > now]
        if self._storms and method != "getupdates":
            self.refused += 1
            failure = self._storms[0][1]
            return web.json_response(failure, status=failure["error_code"])
        failures = self._failures.get(method)
        if failures:
            failure = failures.pop(0)
            await self._record(method, params, None, arrived)
            return web.json_response(failure, status=failure["error_code"])
        text = params.get("text")
        if (
            method == "sendmessage"
            and isinstance(text, str)
            and len(text.encode("utf-16-le")) > 8192
        ):
            too_long = {
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: message is too long",
            }
            await self._record(method, params, None, arrived)
            return web.json_response(too_long, status=400)
        if method == "getupdates" and self.on_poll is not None:
            self.on_poll()
        try:
            result = await self._answer(method, params)
        except KeyError:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found: method not found"},
                status=404,
            )
        if method != "getupdates":
            await self._record(method, params, result, arrived)
            for predicate, released in self._holds:
                if predicate(method, params):
                    await released.wait()
        return web.json_response({"ok": True, "result": result})

    async def _record(
        self, method: str, params: dict[str, Any], result: Any, arrived: float
    ) -> None:
        if isinstance(result, dict) and "message_id" in result:
            params = {**params, "message_id": result["message_id"]}
        self.sent.append((method, params))
        self.arrived.append(arrived)
        await self._notify()

    async def _answer(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getme":
            return BOT_USER
        if method == "getupdates":
            return await self._get_updates(params)
        if method in {"setwebhook", "deletewebhook"}:
            self.webhook = params if method == "setwebhook" else {}
            return True
        if method in {"sendmessage", "sendphoto", "senddocument", "copymessage"}:
            message = self._message(params)
            return {"message_id": message["message_id"]} if method == "copymessage" else message
        if method in {"editmessagetext", "editmessagereplymarkup"}:
            key = (int(params["chat_id"]), int(params["message_id"]))
            message = self._messages.get(key, {})
            if "text" in params:
                message["text"] = params["text"]
            message["reply_markup"] = params.get("reply_markup")
            return message or True
        if method == "getfile":
            # a file not in `files` is not served: its download answers 404, as for an expired
            # file
            file_id = params.get("file_id", "")
            found = {
                "file_id": file_id,
                "file_unique_id": file_id,
                "file_path": f"documents/{file_id}",
            }
            if file_id in self.files:
                found["file_size"] = len(self.files[file_id])
            return found
        if method == "createforumtopic":
            return {
                "message_thread_id": next(self._message_ids),
                "name": params.get("name", ""),
                "icon_color": 7322096,
            }
        if method in {
            "setmycommands",
            "editforumtopic",
            "closeforumtopic",
            "reopenforumtopic",
            "answercallbackquery",
            "deletemessage",
            "close",
            "sendchataction",
        }:
            return True
        raise KeyError(method)

    def _message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
            "from": BOT_USER,
        }
        if "text" in params:
            message["text"] = params["text"]
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        if params.get("message_thread_id"):
            message["message_thread_id"] = int(params["message_thread_id"])
        self._messages[(chat_id, message["message_id"])] = message
        return message

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if not self._updates:
            timeout = float(params.get("timeout") or 0)
            async with self._changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._changed.wait_for(lambda: bool(self._updates)), timeout
                    )
        batch = self._updates[: int(params.get("limit") or 100)]
        self.served.update(u["update_id"] for u in batch)
        return batch


def buttons(params: dict[str, Any]) -> dict[str, str]:
    """A sent message's inline buttons: their callback data by their text."""
    markup = params.get("reply_markup") or {}
    return {
        b["text"]: b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row
    }


def to_chat(fake: FakeBotAPI, method: str, chat: int, start: int) -> list[dict[str, Any]]:
    return [p for m, p in fake.sent[start:] if m == method and int(p["chat_id"]) == chat]


async def open_ticket_through(fake: FakeBotAPI, user_id: int, group: int) -> dict[str, Any]:
    """A customer's ticket opened as they would, through a running bot (/human, Shipping, a
    description, Skip): its card in the agents' group, once the customer has been told."""
    fake.push_message(user_id, "/human", language_code="en")
    choose = await fake.wait_for_message(user_id)
    start = len(fake.sent)
    fake.push_callback(user_id, buttons(choose)["Shipping"], message_id=choose["message_id"])
    await fake.wait_for_message(user_id, start=start)  # describe the problem, please
    start = len(fake.sent)
    fake.push_message(user_id, "my parcel is lost", language_code="en")
    ask_order = await fake.wait_for_message(user_id, start=start)
    fake.push_callback(user_id, buttons(ask_order)["Skip"], message_id=ask_order["message_id"])
    _, card = await fake.wait_for(
        lambda method, p: method == "sendmessage" and int(p["chat_id"]) == group
    )
    await fake.wait_for(
        lambda m, p: (
            m == "sendmessage" and int(p["chat_id"]) == user_id and "T-0" in p.get("text", "")
        )
    )
    return card
