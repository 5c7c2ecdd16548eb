"""Orders that are late, told to their customers before they have to ask: once a day, each
order past its expected delivery and not delivered gets one apology with its current status.
An order is marked just before its message goes out (so that replicas tell it once); a send
that fails is given back and tried again the next day, and a customer who blocked the bot is
not written to again."""

from __future__ import annotations

import logging
from datetime import datetime

import sqlalchemy as sa
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError
from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.channels.retries import DeliveryFailed, DeliveryUncertain
from bot.clock import Clock
from bot.orders.lookup import OrderStatusService, person_button
from bot.orders.providers import order_view
from storage.customers import find_customer
from storage.database import SessionFactory
from storage.models import Order, OrderStatus

log = logging.getLogger(__name__)

NOT_YET_DELIVERED = (
    OrderStatus.PAID,
    OrderStatus.PACKED,
    OrderStatus.SHIPPED,
    OrderStatus.IN_TRANSIT,
)


async def notify_late_orders(
    bot: Bot,
    session_factory: SessionFactory,
    order_status: OrderStatusService,
    clock: Clock,
    default_language: str,
) -> int:
    """Send the late-order message for every late order not yet told; returns how many went.
    The scheduler runs it once a day (see bot.schedule.jobs)."""
    now = clock.now()
    sent = 0
    async with session_factory() as session:
        late = (
            await session.exec(
                select(Order)
                .where(col(Order.expected_delivery_at) < now)
                .where(col(Order.status).in_(NOT_YET_DELIVERED))
                .where(col(Order.telegram_id).is_not(None))
                .where(col(Order.late_notice_sent_at).is_(None))
                .order_by(col(Order.expected_delivery_at))
            )
        ).all()
        for order in late:
            assert order.telegram_id is not None and order.id is not None
            if not await _claim(session, order.id, now):
                continue  # another replica is telling this one
            customer = await find_customer(session, "telegram", str(order.telegram_id))
            language = (customer.language if customer else None) or default_language
            text = "\n\n".join(
                [
                    order_status.texts("order_late_apology", language),
                    order_status.describe(order_view(order), language),
                ]
            )
            try:
                await bot.send_message(
                    order.telegram_id,
                    text,
                    # a person, with the order on the ticket, for whom the delay is a problem
                    reply_markup=person_button(order.number, language, order_status.texts),
                )
            except TelegramForbiddenError:
                log.warning(
                    "order=%s: the customer blocked the bot; not told it is late", order.id
                )
            except DeliveryUncertain:
                log.warning("order=%s: the late notice may have arrived; not sent again", order.id)
            except (DeliveryFailed, TelegramAPIError) as error:
                log.error(
                    "order=%s: late notice not sent (%s), trying again tomorrow", order.id, error
                )
                await _claim(session, order.id, None)  # given back
            else:
                sent += 1
    log.info("late orders: %s told", sent)
    return sent


async def _claim(session: AsyncSession, order_id: int, now: datetime | None) -> bool:
    """Mark an order's late notice as sent (now) before sending it, in a conditional UPDATE
    committed at once, so that replicas running the daily job together tell each order once;
    None gives a failed one back for the next day."""
    is_free = col(Order.late_notice_sent_at).is_(None) if now else sa.true()
    claim = update(Order).where(col(Order.id) == order_id, is_free).values(late_notice_sent_at=now)
    claimed = (await session.exec(claim)).rowcount == 1
    await session.commit()
    return claimed
