"""The repository's sample orders, imported for a test, with some linked to Telegram users."""

from __future__ import annotations

import re
from pathlib import Path

from bot.app import Services
from bot.orders.csv_import import import_orders, read_orders_csv

SAMPLE_ORDERS = Path(__file__).resolve().parent.parent / "storage" / "sample_orders.csv"


async def import_sample_orders(
    services: Services, folder: Path, links: dict[str, int], more_rows: str = ""
) -> None:
    """Import the sample orders plus `more_rows`, with `links` (order number -> Telegram id)."""
    text = SAMPLE_ORDERS.read_text(encoding="utf-8")
    for number, telegram_id in links.items():
        text = re.sub(rf"(?m)^({number},[^,]*,),", rf"\g<1>{telegram_id},", text)
    csv = folder / "orders.csv"
    csv.write_text(text + more_rows, encoding="utf-8")
    async with services.session_factory() as session:
        await import_orders(session, read_orders_csv(csv))
        await session.commit()
