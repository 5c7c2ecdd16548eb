"""Admins changing the knowledge base from Telegram: upload, confirm, history, rollback.

An uploaded file is validated together with the other files before anything is written. Only a
confirmed upload is written (atomically) and published; every published state is kept, so that
the previous one can be restored. An upload awaiting its Apply is kept in the uploading admin's
own conversation state (a form of its own), so it survives a restart and no other admin can
apply or cancel it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from aiogram.fsm.context import FSMContext
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.config import Config
from bot.knowledge_admin.publishing import (
    KnowledgeChange,
    KnowledgePublisher,
    Publication,
    PublishResult,
    compare,
)
from bot.texts import Say
from knowledge import (
    KnowledgeBase,
    KnowledgeBaseError,
    Problem,
    load_knowledge_base,
    problems_text,
)
from knowledge.loader import MAX_FILE_BYTES, knowledge_files
from storage.knowledge_versions import add_version, recent_versions, version_files
from storage.models import KnowledgeVersion

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = MAX_FILE_BYTES
# Validation runs in a thread: the conversations go on meanwhile, and an upload that takes longer
# than this is refused (the loader's limits keep any file well below it).
VALIDATION_SECONDS = 30.0


class EditError(Exception):
    """An upload or rollback that cannot be done, with a message for the admin (a catalogue
    text and its values); `file` names the uploaded file when it is the file that was refused."""

    def __init__(
        self,
        key: str,
        file: str | None = None,
        problems: Sequence[Problem] = (),
        **values: object,
    ) -> None:
        super().__init__(key)
        self.key = key
        self.file = file
        self.problems = tuple(problems)
        self.values = values

    def told(self, say: Say) -> str:
        problems = problems_text(self.problems, say.language)
        return say(self.key, file=self.file, problems=problems, **self.values)


UPLOADS = "kb_upload"  # the destiny of the form that keeps an admin's pending upload


@dataclass(frozen=True)
class Proposal:
    token: str
    file_name: str
    content: str
    admin_id: int
    change: KnowledgeChange


def uploads_of(form: FSMContext) -> FSMContext:
    """The admin's pending-upload form, beside (not inside) their conversation's form."""
    return FSMContext(form.storage, replace(form.key, destiny=UPLOADS))


class KnowledgeEditor:
    def __init__(
        self,
        config: Config,
        publisher: KnowledgePublisher,
        clock: Clock,
    ) -> None:
        self.config = config
        self.publisher = publisher
        self.clock = clock
        self.folder = config.knowledge.path

    def current_files(self) -> dict[str, str]:
        return {f.name: f.read_text(encoding="utf-8") for f in knowledge_files(self.folder)}

    def check_upload(self, file_name: str, declared_size: int | None) -> None:
        """Refuse a file by its name and its declared size, before it is downloaded."""
        name = Path(file_name or "").name
        if not name.endswith((".yaml", ".yml")) or name != file_name:
            raise EditError("kb_not_yaml", file_name[:100])
        if declared_size is not None and declared_size > MAX_UPLOAD_BYTES:
            raise EditError(
                "kb_too_big", name, size=f"{declared_size:,}", limit=f"{MAX_UPLOAD_BYTES:,}"
            )

    async def propose(
        self, form: FSMContext, admin_id: int, file_name: str, data: bytes
    ) -> Proposal:
        """Validate an uploaded file as it would stand among the others and keep it until the
        admin applies or cancels it (a newer upload replaces it); raise EditError."""
        self.check_upload(file_name, len(data))
        name = file_name
        try:
            content = data.decode("utf-8")
        except UnicodeDecodeError:
            raise EditError("kb_not_utf8", name) from None
        files = self.current_files() | {name: content}
        change = await self._validate_aside(files, name)
        token = secrets.token_hex(6)
        await uploads_of(form).set_data(
            {"token": token, "file_name": name, "content": content, "admin_id": admin_id}
        )
        return Proposal(token, name, content, admin_id, change)

    async def cancel(self, form: FSMContext, token: str, admin_id: int) -> None:
        """`form` is the presser's own: another admin's upload is never theirs to cancel."""
        uploads = uploads_of(form)
        pending = await uploads.get_data()
        if pending.get("token") != token or pending.get("admin_id") != admin_id:
            raise EditError("kb_not_pending")
        await uploads.clear()

    async def apply(
        self, session: AsyncSession, form: FSMContext, token: str, admin_id: int
    ) -> PublishResult:
        uploads = uploads_of(form)
        pending = await uploads.get_data()
        if pending.get("token") != token or pending.get("admin_id") != admin_id:
            raise EditError("kb_not_pending")
        files = self.current_files() | {pending["file_name"]: pending["content"]}
        await self._validate_aside(files)  # the folder may have changed since the upload
        await uploads.clear()
        upload = Publication("upload", {"file": pending["file_name"]})
        return await self._publish(session, files, admin_id, upload)

    async def rollback(
        self, session: AsyncSession, admin_id: int
    ) -> tuple[KnowledgeVersion, PublishResult]:
        versions = await recent_versions(session, limit=2)
        if len(versions) < 2:
            raise EditError("kb_no_earlier")
        previous = versions[1]
        rollback = Publication("rollback", {"id": previous.id})
        result = await self._publish(session, version_files(previous), admin_id, rollback)
        return previous, result

    async def history(self, session: AsyncSession, limit: int = 10) -> list[KnowledgeVersion]:
        return await recent_versions(session, limit)

    async def _validate_aside(
        self, files: dict[str, str], upload: str | None = None
    ) -> KnowledgeChange:
        try:
            return await asyncio.wait_for(
                asyncio.to_thread(self._validate, files, upload), VALIDATION_SECONDS
            )
        except TimeoutError:
            raise EditError("kb_too_slow", upload, seconds=f"{VALIDATION_SECONDS:.0f}") from None

    def _validate(self, files: dict[str, str], upload: str | None = None) -> KnowledgeChange:
        try:
            candidate = staged(files, self.config)
        except KnowledgeBaseError as error:
            # the validator's findings (file, line, problem), in the admin's language
            raise EditError("kb_problems", upload, problems=error.problems) from None
        return compare(self.publisher.faq.knowledge_base, candidate)

    async def _publish(
        self, session: AsyncSession, files: dict[str, str], admin_id: int, what: Publication
    ) -> PublishResult:
        return await self.publish(session, files, f"telegram:{admin_id}", what)

    async def publish(
        self, session: AsyncSession, files: dict[str, str], author: str, what: Publication
    ) -> PublishResult:
        """Written, reloaded and recorded in the update's own session (a second connection
        would wait for the write lock that session holds on SQLite)."""
        before = self.current_files()
        await keep_first_version(session, before, author, self.clock.now())
        write_files(self.folder, files, remove=set(before) - set(files))
        result = await self.publisher.reload()
        if not result.ok:
            write_files(self.folder, before, remove=set(files) - set(before))
            await self.publisher.reload()
            return result
        await add_version(
            session,
            files=files,
            author=author,
            summary=what.summary(result.change),
            now=self.clock.now(),
        )
        await session.commit()
        log.info("%s published the knowledge base: %s", author, what.kind)
        return result


def staged(files: dict[str, str], config: Config) -> KnowledgeBase:
    """The knowledge base these files would make, validated whole (raises KnowledgeBaseError,
    its problems naming the files without the staging folder)."""
    with tempfile.TemporaryDirectory(prefix="kefu-kb-") as staging:
        for name, text in files.items():
            (Path(staging) / name).write_text(text, encoding="utf-8")
        try:
            return load_knowledge_base(staging, config.placeholders())
        except KnowledgeBaseError as error:
            raise KnowledgeBaseError(
                [replace(p, file=p.file.replace(staging + os.sep, "")) for p in error.problems]
            ) from None


async def keep_first_version(
    session: AsyncSession, files: dict[str, str], author: str, now: datetime
) -> None:
    """Before the first change the service publishes, the files as they were, so that it can
    be rolled back."""
    if not await recent_versions(session, limit=1):
        await add_version(
            session,
            files=files,
            author=author,
            summary=Publication("before_first").summary(KnowledgeChange()),
            now=now,
        )


def write_files(folder: Path, files: dict[str, str], remove: set[str]) -> None:
    """Each file replaced atomically, then those in `remove` deleted."""
    for name, text in files.items():
        target = folder / name
        temporary = target.with_name(f".{name}.{secrets.token_hex(4)}.tmp")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, target)
    for name in remove:
        (folder / name).unlink(missing_ok=True)
