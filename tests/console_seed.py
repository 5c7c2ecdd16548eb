"""A service's fortnight in the database, for the console's tests and screenshots: customers on
Telegram and the web, conversations with the bot, tickets in every state with their records,
surveys and revisits, orders with phones and addresses, questions the bot could not answer, a
learned question waiting, and two published versions of the knowledge base."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.knowledge_versions import add_version
from storage.models import (
    AgentDuty,
    Conversation,
    Customer,
    Feedback,
    FeedbackKind,
    LearnedQuestion,
    LearnedStatus,
    Message,
    Order,
    OrderStatus,
    QaReview,
    ScheduledKind,
    ScheduledMessage,
    ScheduledStatus,
    Ticket,
    TicketCategory,
    TicketEvent,
    TicketPriority,
    TicketStatus,
    UnansweredQuestion,
)

AGENT_LIN, AGENT_WANG = 501, 502
PHONE = "13800138001"
ADDRESS = "88 Example Road, Shanghai"
HOSTILE = "<script>alert('x')</script> my parcel"
# The teams the seeded tickets are in, as the config's [teams] gives them (TEAMS_CONFIG replaces
# lines of config.example.toml)
TEAMS = {"order": "logistics", "shipping": "logistics", "product_quality": "after_sales"}
TEAMS_CONFIG = {
    "categories = {}": (
        'categories = { order = "logistics", shipping = "logistics", '
        'product_quality = "after_sales" }'
    ),
    '# logistics = { zh = "物流组", en = "Logistics" }': (
        'logistics = { zh = "物流组", en = "Logistics" }\n'
        'after_sales = { zh = "售后组", en = "After-sales" }'
    ),
}
VIP = "A"  # Mei's tier
REVIEWER = 901  # the supervisor who scores quality inspections
QA_COMMENT = "Kind <b>and</b> quick"


async def seed(session: AsyncSession, now: datetime) -> dict[str, int]:
    """Returns the ids a test looks for: `parcel` (the ticket of the lost parcel, with an
    order, a note and a survey) and `hostile` (a ticket whose words are markup)."""
    session.add(AgentDuty(telegram_id=AGENT_LIN, name="Lin", on_duty=True))
    session.add(AgentDuty(telegram_id=AGENT_WANG, name="Wang", on_duty=False))
    customers = []
    for n, (channel, external, name, language) in enumerate(
        [
            ("telegram", "7001", "Mei", "en"),
            ("telegram", "7002", "Wei", "zh"),  # Latin: the screenshots have no CJK font
            ("web", "9000001", None, "en"),
            ("telegram", "7003", "Ann", "en"),
        ]
    ):
        customer = Customer(
            channel=channel,
            external_id=external,
            first_name=name,
            username="mei_li" if n == 0 else None,
            vip_tier=VIP if n == 0 else None,
            language=language,
            first_seen=now - timedelta(days=20),
            last_seen=now,
        )
        session.add(customer)
        customers.append(customer)
    await session.flush()
    session.add(
        Order(
            number="A1001",
            phone=PHONE,
            telegram_id=7001,
            items=json.dumps([{"name": "Tea set", "category": "kitchen", "quantity": 1}]),
            status=OrderStatus.SHIPPED,
            carrier="SF Express",
            tracking_number="SF123",
            address=ADDRESS,
            ordered_at=now - timedelta(days=6),
        )
    )
    categories = list(TicketCategory)
    causes = ["logistics", "product_quality", "wrong_item", "system"]
    remedies = ["refund", "replacement", "explanation", "compensation"]
    tickets: list[Ticket] = []
    for day in range(14):
        for k in range(1 + day % 3):
            customer = customers[(day + k) % len(customers)]
            started = now - timedelta(days=day, hours=2 + k * 3)
            conversation = Conversation(
                customer_id=customer.id or 0, started_at=started, last_message_at=started
            )
            session.add(conversation)
            await session.flush()
            for direction, text in (("in", "where is my order"), ("out", "Let me check.")):
                session.add(
                    Message(
                        conversation_id=conversation.id or 0,
                        customer_id=customer.id or 0,
                        direction=direction,
                        text=text,
                        created_at=started,
                        decision="answer" if direction == "out" else None,
                    )
                )
            if k == 0 or day % 4 == 0:
                tickets.append(
                    await _ticket(session, customer, conversation, started, day, k, categories)
                )
    parcel = next(t for t in tickets if t.resolved_at and t.customer_id == customers[0].id)
    parcel.category = TicketCategory.SHIPPING
    for i, ticket in enumerate(tickets):
        ticket.team = TEAMS.get(ticket.category)
        ticket.vip_tier = VIP if ticket.customer_id == customers[0].id else None
        if ticket.resolved_at is not None:
            ticket.cause, ticket.remedy = causes[i % 4], remedies[i % 4]
            session.add(ticket)
    await session.flush()
    # Mei's first resolved ticket (the first surveyed)
    parcel.description = f"My parcel never came, call me on {PHONE}"
    parcel.order_number = "A1001"
    session.add(parcel)
    hostile = tickets[0]
    hostile.description = HOSTILE
    session.add(hostile)
    for at, actor, kind, detail in (
        (parcel.created_at, f"customer:{parcel.customer_id}", "created", "shipping, urgent"),
        (parcel.created_at + timedelta(minutes=1), "system", "assigned", f"agent:{AGENT_LIN}"),
        (
            parcel.created_at + timedelta(minutes=2),
            f"customer:{parcel.customer_id}",
            "message",
            "It was due on Monday. My number is 13800138001.",
        ),
        (
            parcel.created_at + timedelta(minutes=6),
            f"agent:{AGENT_LIN}",
            "reply",
            "Sorry! I have asked SF Express to look for it.",
        ),
        (
            parcel.created_at + timedelta(minutes=7),
            f"agent:{AGENT_LIN}",
            "note",
            "Carrier says lost in Hangzhou hub; refund if not found by Friday.",
        ),
        (parcel.created_at + timedelta(hours=5), f"agent:{AGENT_LIN}", "resolved", ""),
    ):
        session.add(
            TicketEvent(
                ticket_id=parcel.id or 0, created_at=at, actor=actor, kind=kind, detail=detail
            )
        )
    for i, ticket in enumerate(t for t in tickets if t.resolved_at is not None):
        survey = ScheduledMessage(
            key=f"survey:{ticket.id}",
            kind=ScheduledKind.SURVEY,
            customer_id=ticket.customer_id,
            ticket_id=ticket.id,
            status=ScheduledStatus.SENT,
            due_at=ticket.resolved_at or now,
            expires_at=now + timedelta(days=3),
            created_at=ticket.created_at,
        )
        session.add(survey)
        await session.flush()
        session.add(
            Feedback(
                scheduled_id=survey.id or 0,
                kind=FeedbackKind.CSAT,
                customer_id=ticket.customer_id,
                ticket_id=ticket.id,
                agent_id=ticket.assigned_agent,
                category=ticket.category,
                score=5 if ticket is parcel else (5, 4, 2, 5, 3)[i % 5],
                comment="Quick and kind" if ticket is parcel else None,
                answered_at=(ticket.resolved_at or now) + timedelta(minutes=15),
            )
        )
    for n, text in enumerate(
        [
            "do you ship to Mars",
            "do you ship to mars?",
            "Do you ship to Mars please",
            "can I pay with bitcoin",
            "can i pay in bitcoin",
        ]
    ):
        message = Message(
            conversation_id=1,
            customer_id=customers[0].id or 0,
            direction="in",
            text=text,
            created_at=now - timedelta(days=n % 3, hours=1),
            decision="fallback",
        )
        session.add(message)
        await session.flush()
        session.add(
            UnansweredQuestion(
                customer_id=customers[0].id or 0,
                message_id=message.id or 0,
                text=text,
                created_at=message.created_at,
            )
        )
    session.add(
        LearnedQuestion(
            entry_id="returns",
            text="can i send it back",
            key="can i send it back",
            confirmations=3,
            sources="vote",
            status=LearnedStatus.PENDING,
            first_confirmed_at=now - timedelta(days=3),
            last_confirmed_at=now - timedelta(days=1),
        )
    )
    lins = [t for t in tickets if t.resolved_at and t.assigned_agent == AGENT_LIN]
    wangs = [t for t in tickets if t.resolved_at and t.assigned_agent == AGENT_WANG]
    session.add(
        QaReview(
            ticket_id=lins[-1].id or 0,
            agent_id=AGENT_LIN,
            reviewer_id=REVIEWER,
            week=f"{(now - timedelta(days=7)).date()}",
            sampled_at=now - timedelta(days=2),
            greeting=5,
            accuracy=4,
            courtesy=5,
            compliance=4,
            resolution=5,
            comment=QA_COMMENT,
            scored_at=now - timedelta(days=1),
        )
    )
    session.add(
        QaReview(
            ticket_id=wangs[-1].id or 0,
            agent_id=AGENT_WANG,
            reviewer_id=REVIEWER,
            week=f"{(now - timedelta(days=7)).date()}",
            sampled_at=now - timedelta(days=2),
            greeting=3,
        )
    )
    await add_version(
        session,
        files={"shop.yaml": "entries: []\n"},
        author="telegram:900",
        summary="first version",
        now=now - timedelta(days=10),
    )
    await add_version(
        session,
        files={"shop.yaml": "entries: []\n# returns within 7 days\n"},
        author="telegram:900",
        summary="upload shop.yaml: changed returns",
        now=now - timedelta(days=2),
    )
    await session.commit()
    return {
        "parcel": parcel.id or 0,
        "hostile": hostile.id or 0,
        "qa_scored": lins[-1].id or 0,
        "qa_pending": wangs[-1].id or 0,
    }


async def _ticket(
    session: AsyncSession,
    customer: Customer,
    conversation: Conversation,
    started: datetime,
    day: int,
    k: int,
    categories: list[TicketCategory],
) -> Ticket:
    created = started + timedelta(minutes=3)
    settled = day >= 2
    waiting = (TicketStatus.NEW, TicketStatus.ASSIGNED)[k % 2]
    answered = created + timedelta(minutes=(4, 12, 45, 90)[day % 4])
    agent = (AGENT_LIN, AGENT_WANG)[(day + k) % 2]
    ticket = Ticket(
        customer_id=customer.id or 0,
        conversation_id=conversation.id,
        channel=customer.channel,
        category=categories[(day + k) % len(categories)],
        priority=(TicketPriority.NORMAL, TicketPriority.HIGH, TicketPriority.URGENT)[day % 3],
        status=TicketStatus.RESOLVED if settled else waiting,
        assigned_agent=agent if settled or k % 2 else None,
        description=("The lid of my tea set is cracked", "Refund not received yet")[day % 2],
        created_at=created,
        updated_at=created,
        first_response_due=created + timedelta(minutes=30),
        resolution_due=created + timedelta(hours=24),
        first_response_at=answered if settled else None,
        resolved_at=created + timedelta(hours=(2, 6, 20, 30)[day % 4]) if settled else None,
    )
    session.add(ticket)
    await session.flush()
    return ticket
