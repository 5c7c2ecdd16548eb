"""The history of published knowledge bases, and what `kefu kb eval` measured of them."""

from __future__ import annotations

import json
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import KnowledgeEvaluation, KnowledgeVersion


async def add_version(
    session: AsyncSession, *, files: dict[str, str], author: str, summary: str, now: datetime
) -> KnowledgeVersion:
    version = KnowledgeVersion(
        created_at=now, author=author, summary=summary, files=json.dumps(files, ensure_ascii=False)
    )
    session.add(version)
    await session.flush()
    return version


async def recent_versions(session: AsyncSession, limit: int = 10) -> list[KnowledgeVersion]:
    statement = select(KnowledgeVersion).order_by(col(KnowledgeVersion.id).desc()).limit(limit)
    return list((await session.exec(statement)).all())


def version_files(version: KnowledgeVersion) -> dict[str, str]:
    files: dict[str, str] = json.loads(version.files)
    return files


async def add_evaluation(
    session: AsyncSession, *, cases: str, entries: int, figures: dict[str, object], now: datetime
) -> None:
    session.add(
        KnowledgeEvaluation(
            evaluated_at=now,
            cases=cases[-200:],
            entries=entries,
            figures=json.dumps(figures, ensure_ascii=False),
        )
    )


async def latest_evaluation(session: AsyncSession) -> KnowledgeEvaluation | None:
    statement = select(KnowledgeEvaluation).order_by(col(KnowledgeEvaluation.id).desc()).limit(1)
    return (await session.exec(statement)).first()


def evaluation_figures(evaluation: KnowledgeEvaluation) -> dict[str, object]:
    figures: dict[str, object] = json.loads(evaluation.figures)
    return figures
