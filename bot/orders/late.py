"""Orders that are late, told to their customers before they have to ask: once a day, each
order past its expected delivery and not delivered gets one apology with its current status.
An order is marked once its message went out; a send that fails is tried again the next day,
and a customer who blocked the bot is not written to again."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError
from sqlmodel import col, select

from bot.channels.retries import DeliveryFailed, DeliveryUncertain
from bot.clock import Clock
from bot.orders.lookup import OrderStatusService
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
            assert order.telegram_id is not None
            customer = await find_customer(session, "telegram", str(order.telegram_id))
            language = (customer.language if customer else None) or default_language
            text = "\n\n".join(
                [
                    order_status.texts("order_late_apology", language),
                    order_status.describe(order_view(order), language),
                ]
            )
            try:
                await bot.send_message(order.telegram_id, text)
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
                continue
            else:
                sent += 1
            order.late_notice_sent_at = now
            session.add(order)
            await session.commit()
    log.info("late orders: %s told", sent)
    return sent
