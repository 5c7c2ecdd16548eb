"""The audit log of staff access to customers' data, read by admins (`kefu audit`)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.privacy import accesses


async def audit_report(
    session: AsyncSession, since: datetime, customer_id: int | None = None
) -> str:
    """One line per access since `since`: when, who, whose data, what."""
    entries = await accesses(session, since, customer_id)
    if not entries:
        return "No access recorded."
    return "\n".join(
        f"{entry.at.strftime('%Y-%m-%d %H:%M:%S UTC')} · {entry.actor} · "
        f"customer {entry.customer_id} · {entry.kind} {entry.detail}".rstrip()
        for entry in entries
    )
