"""What kefu's own channels (the terminal, the web chat) share as aiogram sessions: nothing to
close and no Telegram file to download; each answers the bot's requests itself."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from aiogram.client.session.base import BaseSession


class OwnChannelSession(BaseSession):
    """A session that sends nowhere: its channel's `make_request` renders what the bot says."""

    async def close(self) -> None:
        return None

    async def stream_content(  # pragma: no cover - these channels have no Telegram files
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        raise NotImplementedError(f"{type(self).__name__} has no files to download")
        yield b""
