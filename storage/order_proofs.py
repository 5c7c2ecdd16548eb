"""Who has shown which order is theirs, and the wrong tries that lock a customer out."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import OrderProof, OrderProofFailure


async def record_proof(
    session: AsyncSession, customer_id: int, number: str, now: datetime
) -> None:
    session.add(OrderProof(customer_id=customer_id, order_number=number, proven_at=now))
    await session.flush()


async def proven_numbers(session: AsyncSession, customer_id: int, since: datetime) -> list[str]:
    """The orders the customer proved since `since`, the earliest proof first."""
    statement = (
        select(OrderProof.order_number, func.min(OrderProof.proven_at))
        .where(OrderProof.customer_id == customer_id, col(OrderProof.proven_at) > since)
        .group_by(col(OrderProof.order_number))
        .order_by(func.min(OrderProof.proven_at))
    )
    return [number for number, _ in (await session.exec(statement)).all()]


async def record_failure(
    session: AsyncSession, customer_id: int, number: str, now: datetime
) -> None:
    session.add(OrderProofFailure(customer_id=customer_id, order_number=number, failed_at=now))
    await session.flush()


async def failures_since(session: AsyncSession, customer_id: int, since: datetime) -> int:
    statement = (
        select(func.count())
        .select_from(OrderProofFailure)
        .where(
            OrderProofFailure.customer_id == customer_id,
            col(OrderProofFailure.failed_at) > since,
        )
    )
    return int((await session.exec(statement)).one())
