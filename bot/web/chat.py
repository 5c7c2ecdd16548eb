"""The web chat's routes: the page (/chat), the widget a shop embeds (/widget.js), the page's
words (/chat/texts), its WebSocket (/chat/socket), a visitor's uploads (/chat/upload) and the
photos and files on their page (/chat/file/<id>), with who a visitor is (a signed cookie, or
the shop's signed user id) and what a visitor may send: each visitor held to [flood]'s rate,
each address to [web] ip_messages_per_minute."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, WSMsgType, web

from bot.channels.web_chat import (
    FIRST_VISITOR_ID,
    IMAGES,
    LAST_VISITOR_ID,
    MAX_TEXT,
    Push,
    Visitor,
    WebChat,
    content_type_of,
)
from bot.clock import Clock
from bot.config import Config, FloodConfig
from bot.middlewares.throttling import ThrottlingMiddleware
from bot.texts import Texts

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
COOKIE = "kefu_visitor"
COOKIE_DAYS = 365
LANGUAGES = ("zh", "en")
# The catalogue's texts the page and the widget show.
PAGE_TEXTS = (
    "web_title",
    "web_placeholder",
    "web_send",
    "web_typing",
    "web_reconnecting",
    "web_language",
    "web_open",
    "web_close",
    "web_download",
    "web_empty",
    "web_attach",
    "web_photo",
    "web_upload_failed",
)
SOCKET_MESSAGE_BYTES = 64 * 1024  # a text of 4,096 characters in JSON, with room to spare
UPLOAD_OVERHEAD = 64 * 1024  # a form's boundaries, headers and caption around the file


class Identity:
    """Who a visitor is: a random id in a cookie signed with `secret`, or the id of a user of
    the shop's own site, whose server signs it with `user_secret` (see the README)."""

    def __init__(self, secret: str, user_secret: str | None, clock: Clock) -> None:
        self.key = secret.encode()
        self.user_key = user_secret.encode() if user_secret else None
        self.clock = clock

    def new_visitor(self) -> int:
        return FIRST_VISITOR_ID + secrets.randbelow(LAST_VISITOR_ID - FIRST_VISITOR_ID + 1)

    def cookie(self, visitor_id: int) -> str:
        return f"{visitor_id}.{self._sign(str(visitor_id))}"

    def visitor(self, cookie: str | None) -> int | None:
        """The visitor a cookie names; None when it is missing, forged or from another secret."""
        if not cookie or cookie.count(".") != 1:
            return None
        value, signature = cookie.split(".")
        if not value.isdigit() or not hmac.compare_digest(signature, self._sign(value)):
            return None
        visitor_id = int(value)
        return visitor_id if FIRST_VISITOR_ID <= visitor_id <= LAST_VISITOR_ID else None

    def shop_user(self, user: str, expires: str, signature: str) -> int | None:
        """The visitor id of the shop's user `user`, when the shop signed `user:expires` (a
        Unix time not yet past) with the user secret; None otherwise."""
        if self.user_key is None or not user or len(user) > 128 or not expires.isdigit():
            return None
        expected = hmac.new(self.user_key, f"{user}:{expires}".encode(), hashlib.sha256)
        if not hmac.compare_digest(signature.lower(), expected.hexdigest()):
            return None
        if int(expires) < self.clock.now().timestamp():
            return None
        digest = hashlib.sha256(b"shop-user:" + user.encode()).digest()
        span = LAST_VISITOR_ID - FIRST_VISITOR_ID + 1
        return FIRST_VISITOR_ID + int.from_bytes(digest[:8], "big") % span

    def _sign(self, value: str) -> str:
        return hmac.new(self.key, value.encode(), hashlib.sha256).hexdigest()[:32]


class ChatRoutes:
    """The web chat on the one web application."""

    def __init__(
        self, web_chat: WebChat, config: Config, texts: Texts, clock: Clock, secret: str
    ) -> None:
        self.web = web_chat
        self.config = config
        self.texts = texts
        user_secret = config.web.user_secret
        self.identity = Identity(
            secret, user_secret.get_secret_value() if user_secret else None, clock
        )
        self.origins = set(config.web.allowed_origins)
        # a visitor's own rate, as a Telegram customer's ([flood]), before anything is kept;
        # and all the visitors behind one address together
        language = config.bot.default_language
        self.flood = ThrottlingMiddleware(config.flood, clock, texts, language)
        per_address = FloodConfig(
            messages_per_minute=config.web.ip_messages_per_minute, burst=config.web.ip_burst
        )
        self.address_flood = ThrottlingMiddleware(per_address, clock, texts, language)
        self.upload_max = int(config.web.upload_max_mb * 1024 * 1024)
        self.page = (STATIC / "chat.html").read_text(encoding="utf-8")
        self.widget = (STATIC / "widget.js").read_text(encoding="utf-8")

    def register(self, app: web.Application) -> None:
        app.cleanup_ctx.append(self._running)
        app.router.add_get("/chat", self.chat_page)
        app.router.add_get("/chat/texts", self.page_texts)
        app.router.add_get("/chat/socket", self.socket)
        app.router.add_post("/chat/upload", self.upload)
        app.router.add_get("/chat/file/{id:\\d+}", self.file)
        app.router.add_get("/widget.js", self.widget_script)
        app.router.add_static("/chat/static", STATIC, append_version=False)

    async def _running(self, app: web.Application) -> AsyncIterator[None]:
        """The web chat's own resources (Redis, for pages on other replicas) while the
        application runs."""
        await self.web.start()
        yield
        await self.web.stop()

    def words(self) -> dict[str, dict[str, str]]:
        return {lang: {key: self.texts(key, lang) for key in PAGE_TEXTS} for lang in LANGUAGES}

    async def chat_page(self, request: web.Request) -> web.Response:
        """The page; it names the visitor in its cookie: the shop's user when the widget passes
        a valid signature, else the visitor the cookie already names, else a new one."""
        query = request.query
        visitor_id = None
        if "user" in query:
            visitor_id = self.identity.shop_user(
                query.get("user", ""), query.get("expires", ""), query.get("signature", "")
            )
            if visitor_id is None:
                log.warning("web chat: a shop user's signature was wrong or expired")
        visitor_id = visitor_id or self.identity.visitor(request.cookies.get(COOKIE))
        response = web.Response(text=self.page, content_type="text/html", charset="utf-8")
        frame_ancestors = " ".join(["'self'", *sorted(self.origins)])
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; object-src 'none'; "
            f"base-uri 'none'; frame-ancestors {frame_ancestors}"
        )
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        if visitor_id is None:
            visitor_id = self.identity.new_visitor()
        embedded = query.get("embed") == "1"
        secure = request.secure or request.headers.get("X-Forwarded-Proto") == "https"
        response.set_cookie(
            COOKIE,
            self.identity.cookie(visitor_id),
            max_age=COOKIE_DAYS * 86400,
            path="/chat",
            httponly=True,
            # in the shop's page the widget's frame is another site's: its cookie must be
            # allowed there, which browsers allow only over https
            samesite="None" if embedded and secure else "Lax",
            secure=secure,
        )
        return response

    async def page_texts(self, request: web.Request) -> web.Response:
        return web.json_response(self.words(), headers={"Cache-Control": "no-cache"})

    async def widget_script(self, request: web.Request) -> web.Response:
        words = {
            lang: {key: texts[key] for key in ("web_open", "web_close")}
            for lang, texts in self.words().items()
        }
        script = self.widget.replace("__KEFU_TEXTS__", json.dumps(words, ensure_ascii=False))
        return web.Response(
            text=script,
            content_type="text/javascript",
            charset="utf-8",
            headers={"Cache-Control": "public, max-age=300"},
        )

    def origin_allowed(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        if origin is None:
            return False
        own = origin.split("://", 1)[-1] == request.host
        return own or origin.rstrip("/") in self.origins

    def address(self, request: web.Request) -> str:
        """The visitor's address: the connection's, or the last hop of X-Forwarded-For when
        kefu's own proxy sets it ([web] trust_forwarded_for)."""
        forwarded = request.headers.get("X-Forwarded-For")
        if self.config.web.trust_forwarded_for and forwarded:
            return forwarded.split(",")[-1].strip()
        return request.remote or ""

    def refused(self, visitor_id: int, address: str, language: str) -> str | None:
        """Why one more message, press or upload is refused now (the address's limit, then the
        visitor's own, in the visitor's language); None when it is not."""
        key = int.from_bytes(hashlib.sha256(address.encode()).digest()[:8], "big")
        if self.address_flood.allow(key) is not None:
            log.info("web chat: visitor=%s refused: their address is over its rate", visitor_id)
            return self.texts("web_address_flood", language)
        if self.flood.allow(visitor_id) is not None:
            return self.texts("flood_notice", language)
        return None

    async def socket(self, request: web.Request) -> web.StreamResponse:
        if not self.origin_allowed(request):
            log.warning("web chat: a socket from an origin not allowed; refused")
            return web.Response(status=403, text="origin not allowed")
        visitor_id = self.identity.visitor(request.cookies.get(COOKIE))
        if visitor_id is None:
            return web.Response(status=401, text="open /chat first")
        language = request.query.get("lang")
        visitor = Visitor(visitor_id, language if language in LANGUAGES else None)
        socket = web.WebSocketResponse(heartbeat=30.0, max_msg_size=SOCKET_MESSAGE_BYTES)
        await socket.prepare(request)

        async def push(event: dict[str, Any]) -> None:
            await socket.send_json(event)

        await self.web.open_page(visitor.id, push)
        log.info("web chat: visitor=%s opened a page", visitor.id)
        address = self.address(request)
        try:
            await push({"type": "history", "messages": await self.web.history(visitor.id)})
            async for frame in socket:
                if frame.type != WSMsgType.TEXT:
                    continue
                await self.received(visitor, frame.data, push, address)
        finally:
            await self.web.close_page(visitor.id, push)
        log.info("web chat: visitor=%s closed a page (code %s)", visitor.id, socket.close_code)
        return socket

    async def received(self, visitor: Visitor, raw: str, push: Push, address: str = "") -> None:
        """One frame from a page: {"type": "write", "text": ...} or {"type": "press", "id":
        message id, "data": button data}; anything else is ignored."""
        try:
            frame = json.loads(raw)
        except ValueError:
            return
        if not isinstance(frame, dict):
            return
        language = visitor.language or self.config.bot.default_language
        kind = frame.get("type")
        if kind == "write" and isinstance(frame.get("text"), str):
            text = frame["text"].strip()
            if not text:
                await push({"type": "done"})
                return
            if len(text) > MAX_TEXT:
                notice = self.texts("web_too_long", language, limit=MAX_TEXT)
                await push({"type": "refused", "text": notice})
                return
            refusal = self.refused(visitor.id, address, language)
            if refusal is not None:
                await push({"type": "refused", "text": refusal})
                return
            await self.web.write(visitor, text)
        elif kind == "press" and isinstance(frame.get("id"), int):
            refusal = self.refused(visitor.id, address, language)
            if refusal is not None:
                await push({"type": "refused", "text": refusal})
                return
            data = frame.get("data")
            if not isinstance(data, str) or not await self.web.press(visitor, frame["id"], data):
                await push({"type": "note", "text": self.texts("button_stale", language)})
                await push({"type": "done"})

    async def upload(self, request: web.Request) -> web.Response:
        """A photo or PDF from the visitor's page (multipart: "file", and "caption"), handled
        as a photo or file sent on Telegram; refused, with a sentence in the visitor's language
        for the page to show, when it is too large, of another kind, or over a rate."""
        chosen = request.query.get("lang")
        chosen = chosen if chosen in LANGUAGES else None
        language = chosen or self.config.bot.default_language
        if not self.origin_allowed(request):
            log.warning("web chat: an upload from an origin not allowed; refused")
            return web.json_response({"error": "origin not allowed"}, status=403)
        visitor_id = self.identity.visitor(request.cookies.get(COOKIE))
        if visitor_id is None:
            return web.json_response({"error": "open /chat first"}, status=401)

        def refuse(key: str, status: int, **values: object) -> web.Response:
            return web.json_response({"error": self.texts(key, language, **values)}, status=status)

        limit_mb = f"{self.config.web.upload_max_mb:g}"
        length = request.content_length
        if length is not None and length > self.upload_max + UPLOAD_OVERHEAD:
            return refuse("web_upload_too_big", 413, limit=limit_mb)
        refusal = self.refused(visitor_id, self.address(request), language)
        if refusal is not None:
            return web.json_response({"error": refusal}, status=429)
        content, caption = b"", ""
        try:
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader):
                    continue
                if part.name == "file":
                    content = await _read_at_most(part, self.upload_max)
                    if len(content) > self.upload_max:
                        return refuse("web_upload_too_big", 413, limit=limit_mb)
                elif part.name == "caption":
                    caption = (await _read_at_most(part, MAX_TEXT * 4)).decode("utf-8", "replace")
        except (ValueError, AssertionError, UnicodeError):
            return refuse("web_upload_wrong_kind", 400)
        content_type = content_type_of(content)
        if content_type is None:
            log.info("web chat: visitor=%s sent a file of a kind not taken; refused", visitor_id)
            return refuse("web_upload_wrong_kind", 415)
        caption = caption.strip()[:MAX_TEXT]
        visitor = Visitor(visitor_id, chosen)
        await self.web.upload(visitor, content, content_type, caption or None)
        return web.json_response({"ok": True})

    async def file(self, request: web.Request) -> web.StreamResponse:
        """A photo or file on the visitor's page; anyone else's (or none) is not found."""
        visitor_id = self.identity.visitor(request.cookies.get(COOKIE))
        found = None
        number = request.match_info["id"]
        if visitor_id is not None and len(number) <= 18:
            found = await self.web.file(visitor_id, int(number))
        if found is None:
            return web.Response(status=404, text="not found")
        inline = found.content_type in IMAGES
        disposition = "inline" if inline else "attachment"
        return web.Response(
            body=found.data,
            content_type=found.content_type,
            headers={
                "Content-Disposition": f'{disposition}; filename="{_ascii(found.name)}"',
                "Cache-Control": "private, max-age=86400",
                "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "default-src 'none'; sandbox",
            },
        )


async def _read_at_most(part: BodyPartReader, limit: int) -> bytes:
    """A part's content, read until it is one byte over `limit` (then cut there)."""
    chunks, size = [], 0
    while chunk := await part.read_chunk(64 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            break
    return b"".join(chunks)[: limit + 1]


def _ascii(name: str) -> str:
    return "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)
