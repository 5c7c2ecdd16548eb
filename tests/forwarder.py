"""A TCP link to a real server (PostgreSQL, Redis) that a test can cut and restore."""

from __future__ import annotations

import asyncio
import contextlib

from yarl import URL


class Forwarder:
    """A TCP forwarder to the database that can be cut and restored, as a network would."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.server: asyncio.Server | None = None
        self.port = 0
        self.links: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._link, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Refuse new connections and break the open ones."""
        assert self.server is not None
        self.server.close()
        for writer in list(self.links):
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
        self.links.clear()
        await self.server.wait_closed()

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        self.links |= {writer, upstream_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))
        self.links -= {writer, upstream_writer}


async def forwarded_postgres(url: str) -> tuple[Forwarder, str]:
    """A started forwarder to the PostgreSQL of `url`, and the URL that goes through it."""
    parts = URL(url.replace("postgresql+asyncpg", "postgresql"))
    forwarder = Forwarder(parts.host or "127.0.0.1", parts.port or 5432)
    await forwarder.start()
    return forwarder, url.replace(
        f"{parts.host}:{parts.port or 5432}", f"127.0.0.1:{forwarder.port}"
    )
