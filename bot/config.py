"""The service's configuration: read once at start from TOML, validated, then passed down."""

from __future__ import annotations

import os
import re
import tomllib
from datetime import date, time
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.schedule.business_hours import WEEKDAYS, Block, BusinessHours
from bot.texts import Placeholder, Texts
from knowledge.schema import LANGUAGES
from storage.models import OrderStatus, TicketCategory, TicketPriority

CONFIG_ENV = "KEFU_CONFIG"
WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
DEFAULT_CONFIG_FILES = ("config.toml", "config.example.toml")
PACKAGED_SAMPLE_KB = Path(__file__).resolve().parent.parent / "knowledge" / "sample"

# Environment variables that override a config key, so that secrets need not live in files.
ENV_OVERRIDES: dict[str, tuple[str, ...]] = {
    "KEFU_TELEGRAM_TOKEN": ("telegram", "token"),
    "KEFU_TELEGRAM_API_SERVER": ("telegram", "api_server"),
    "KEFU_DATABASE_URL": ("database", "url"),
    "KEFU_REDIS_URL": ("telegram", "redis_url"),
    "KEFU_WEBHOOK_SECRET": ("telegram", "webhook_secret"),
    "KEFU_WEBHOOK_URL": ("telegram", "webhook_url"),
    "KEFU_WEB_HOST": ("web", "host"),
    "KEFU_WEB_SECRET": ("web", "secret"),
    "KEFU_WEB_USER_SECRET": ("web", "user_secret"),
    "KEFU_ORDERS_API_TOKEN": ("orders", "http", "token"),
}


class ConfigError(Exception):
    """A configuration mistake, with a message meant for the person who wrote the file."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TelegramConfig(Section):
    token: SecretStr | None = None
    api_server: str | None = None
    drop_pending_updates: bool = False
    fsm_storage: Literal["database", "redis"] = "database"
    redis_url: SecretStr | None = None
    # "webhook": Telegram posts updates to webhook_url, served on [web] host and port
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str = ""
    webhook_path: str = "/telegram/webhook"
    webhook_secret: SecretStr | None = None
    # Telegram's limit on the bot's messages, for all replicas together when redis_url is set
    max_sends_per_second: int = Field(default=30, ge=1)

    @field_validator("api_server")
    @classmethod
    def _api_server_is_a_url(cls, value: str | None) -> str | None:
        if not value:
            return value
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018  (a port that is not a number raises here)
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            # the value itself is not shown: it may hold a token
            raise ValueError("must be an http:// or https:// URL with a host")
        return value

    @model_validator(mode="after")
    def _redis_needs_a_url(self) -> TelegramConfig:
        if self.fsm_storage == "redis" and not (
            self.redis_url and self.redis_url.get_secret_value()
        ):
            raise ValueError('fsm_storage = "redis" needs redis_url (or KEFU_REDIS_URL)')
        return self

    @model_validator(mode="after")
    def _webhook_needs_its_address_and_secret(self) -> TelegramConfig:
        if not self.webhook_path.startswith("/"):
            raise ValueError("webhook_path must start with /")
        secret = self.webhook_secret.get_secret_value() if self.webhook_secret else ""
        if secret and not WEBHOOK_SECRET.fullmatch(secret):
            raise ValueError(
                "webhook_secret: 1 to 256 of A-Z, a-z, 0-9, _ and - (Telegram's rule)"
            )
        if self.mode == "webhook":
            if not self.webhook_url.startswith("https://"):
                raise ValueError('mode = "webhook" needs webhook_url, an https:// address')
            if not secret:
                raise ValueError('mode = "webhook" needs webhook_secret (or KEFU_WEBHOOK_SECRET)')
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.token and self.token.get_secret_value())


class WebConfig(Section):
    """kefu's one web application: the webhook, the operations endpoints (/healthz, /readyz,
    /metrics) and the web chat (/chat, /widget.js)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)  # 0: any free port
    chat: bool = True
    # signs the visitors' cookies; none: one made up at each start (visitors forgotten)
    secret: SecretStr | None = None
    # shared with the shop, which signs its logged-in users' ids with it (data-user)
    user_secret: SecretStr | None = None
    # the shops' pages that may embed the widget ("https://shop.example"); kefu's own always
    allowed_origins: list[str] = []
    # photos (JPEG, PNG, WebP) and PDFs a visitor may upload, each at most this size
    upload_max_mb: float = Field(default=5.0, gt=0, le=20)
    # an agent's photo or file larger than this is not shown on the page (the agent is told)
    file_max_mb: float = Field(default=20.0, gt=0, le=50)
    # all the visitors behind one address together (an office, a proxy), besides each
    # visitor's own [flood] rate: messages, presses and uploads
    ip_messages_per_minute: int = Field(default=120, ge=1)
    ip_burst: int = Field(default=60, ge=1)
    # the address is the last one in X-Forwarded-For (set by kefu's own reverse proxy) instead
    # of the connection's; only when every request comes through that proxy
    trust_forwarded_for: bool = False

    # the address people reach this application at (behind a proxy), for the links kefu gives
    # (the console's sign-in links); empty: http://host:port
    public_url: str = ""

    @field_validator("public_url")
    @classmethod
    def _public_url_is_an_address(cls, value: str) -> str:
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            raise ValueError(f"{value!r} is not an address such as https://kefu.shop.example")
        return value.rstrip("/")

    def base_url(self) -> str:
        """Where this application is reached: public_url, else its own host and port."""
        return self.public_url or f"http://{self.host}:{self.port}"

    @field_validator("allowed_origins")
    @classmethod
    def _origins_are_origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            parts = urlsplit(origin.rstrip("/"))
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
                raise ValueError(f"{origin!r} is not an origin such as https://shop.example")
        return [origin.rstrip("/") for origin in origins]


class BusinessConfig(Section):
    shop_name: str
    phone: str = ""
    email: str = ""
    address: str = ""
    website: str = ""

    @model_validator(mode="before")
    @classmethod
    def _hours_moved(cls, data: Any) -> Any:
        # One string for both languages that could disagree with the schedule: the opening
        # hours people read are now rendered from [hours], per language.
        if isinstance(data, dict) and "hours" in data:
            raise ValueError(
                "hours is no longer read: opening hours are shown from [hours] (the weekly "
                "schedule and timezone), in the reader's language; delete [business] hours"
            )
        return data

    def placeholders(self) -> dict[str, str]:
        return {
            "shop_name": self.shop_name,
            "phone": self.phone,
            "email": self.email,
            "address": self.address,
            "website": self.website,
        }


class KnowledgeConfig(Section):
    path: Path = PACKAGED_SAMPLE_KB
    watch_interval: float = Field(default=2.0, ge=0)


class RolesConfig(Section):
    admins: list[int] = Field(default_factory=list)
    supervisors: list[int] = Field(default_factory=list)
    agents: list[int] = Field(default_factory=list)


class MatchingConfig(Section):
    answer_threshold: float = Field(default=60.0, ge=0, le=100)
    suggest_threshold: float = Field(default=40.0, ge=0, le=100)
    answer_margin: float = Field(default=20.0, ge=0, le=100)
    suggestions: int = Field(default=3, ge=1, le=8)
    semantic: bool = False
    semantic_cache: str = "data/semantic"
    calibrate_answers: bool = False

    @model_validator(mode="after")
    def _thresholds_in_order(self) -> MatchingConfig:
        if self.suggest_threshold > self.answer_threshold:
            raise ValueError("suggest_threshold must not be above answer_threshold")
        return self


class DatabaseConfig(Section):
    url: str = "sqlite+aiosqlite:///data/kefu.db"
    pool_size: int = Field(default=10, ge=1)
    pool_timeout_seconds: float = Field(default=30.0, gt=0)


class BotConfig(Section):
    default_language: Literal["zh", "en"] = "zh"
    menu_size: int = Field(default=6, ge=1, le=12)


class HoursConfig(Section):
    timezone: str = "Asia/Shanghai"
    mon: list[str] = Field(default_factory=lambda: ["09:00-18:00"])
    tue: list[str] = Field(default_factory=lambda: ["09:00-18:00"])
    wed: list[str] = Field(default_factory=lambda: ["09:00-18:00"])
    thu: list[str] = Field(default_factory=lambda: ["09:00-18:00"])
    fri: list[str] = Field(default_factory=lambda: ["09:00-18:00"])
    sat: list[str] = Field(default_factory=lambda: ["10:00-16:00"])
    sun: list[str] = Field(default_factory=list)
    holidays: list[date] = Field(default_factory=list)

    @model_validator(mode="after")
    def _valid(self) -> HoursConfig:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.timezone!r}") from None
        for day in WEEKDAYS:
            for block in getattr(self, day):
                Block.parse(block)
        return self

    def business_hours(self) -> BusinessHours:
        weekly = {day: getattr(self, day) for day in WEEKDAYS}
        return BusinessHours(self.timezone, weekly, self.holidays)


class SlaTarget(Section):
    first_response_minutes: int = Field(ge=1)
    resolution_hours: int = Field(ge=1)


OutcomeId = Annotated[str, Field(pattern=r"^[a-z0-9_]{1,32}$")]


class TicketsConfig(Section):
    reopen_window_hours: float = Field(default=72.0, ge=0)
    causes: list[OutcomeId] = Field(
        default_factory=lambda: [
            "logistics",
            "product_quality",
            "wrong_item",
            "customer_misunderstanding",
            "system",
        ],
        min_length=1,
        max_length=20,
    )
    remedies: list[OutcomeId] = Field(
        default_factory=lambda: ["refund", "replacement", "compensation", "explanation", "none"],
        min_length=1,
        max_length=20,
    )


TeamId = Annotated[str, Field(pattern=r"^[a-z0-9_]{1,32}$")]
TierId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{1,16}$")]


class SlaConfig(Section):
    urgent: SlaTarget = SlaTarget(first_response_minutes=10, resolution_hours=4)
    high: SlaTarget = SlaTarget(first_response_minutes=20, resolution_hours=8)
    normal: SlaTarget = SlaTarget(first_response_minutes=30, resolution_hours=24)
    low: SlaTarget = SlaTarget(first_response_minutes=60, resolution_hours=48)
    # a breach alerts the team's supervisors; still untouched after this, the admins
    escalate_after_minutes: int = Field(default=30, ge=1)
    remind_every_minutes: int = Field(default=15, ge=1)
    # per VIP tier ("A", "B"): used where stricter than the priority's target
    tiers: dict[TierId, SlaTarget] = Field(default_factory=dict)

    def for_priority(self, priority: TicketPriority) -> SlaTarget:
        target: SlaTarget = getattr(self, priority)
        return target


def strictest(*targets: SlaTarget | None) -> SlaTarget:
    """Each figure the smallest of the targets given (None: no target of that kind)."""
    given = [target for target in targets if target is not None]
    return SlaTarget(
        first_response_minutes=min(t.first_response_minutes for t in given),
        resolution_hours=min(t.resolution_hours for t in given),
    )


class TeamsConfig(Section):
    """Which team takes each ticket category, what the teams are called, and their own SLA."""

    categories: dict[str, TeamId] = Field(default_factory=dict)
    names: dict[TeamId, dict[Literal["zh", "en"], str]] = Field(default_factory=dict)
    sla: dict[TeamId, SlaTarget] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known(self) -> TeamsConfig:
        known = tuple(TicketCategory)
        for category in self.categories:
            if category not in known:
                raise ValueError(
                    f"categories: {category!r} is not a ticket category (" + ", ".join(known) + ")"
                )
        for section in ("names", "sla"):
            for team in getattr(self, section):
                if team not in self.categories.values():
                    raise ValueError(f"{section}: team {team!r} takes no category in categories")
        return self

    @property
    def ids(self) -> list[str]:
        return sorted(set(self.categories.values()))

    def team_for(self, category: str) -> str | None:
        return self.categories.get(category)

    def name(self, team: str, language: str) -> str:
        """The team's name in `language`, else its other name, else its id."""
        names = self.names.get(team, {})
        found = [name for code, name in names.items() if code == language]
        return (found or list(names.values()) or [team])[0]


class AgentsConfig(Section):
    group_id: int = 0
    # What the bot posts in the agents' group is read by all of them: one language for it.
    language: Literal["zh", "en"] = "zh"
    note_prefix: str = "#"
    signature: str = ""
    max_open_tickets: int = Field(default=5, ge=1)
    reannounce_minutes: int = Field(default=10, ge=1)


class OrderFieldsConfig(Section):
    """Where each of our order fields is in the shop's JSON: a key, or keys joined by dots."""

    number: str = "number"
    status: str = "status"
    items: str = "items"
    item_name: str = "name"
    item_category: str = "category"
    item_quantity: str = "quantity"
    phone: str = "phone"
    telegram_id: str = "telegram_id"
    vip_tier: str = "vip_tier"  # the customer's VIP tier, set on them when their orders are read
    carrier: str = "carrier"
    tracking_number: str = "tracking_number"
    address: str = "address"
    ordered_at: str = "ordered_at"
    shipped_at: str = "shipped_at"
    delivered_at: str = "delivered_at"
    expected_delivery_at: str = "expected_delivery_at"
    orders: str = ""


class HttpOrdersConfig(Section):
    url: str = ""
    recent_url: str = ""
    auth_header: str = "Authorization"
    token: SecretStr | None = None
    timeout_seconds: float = Field(default=3.0, gt=0)
    retries: int = Field(default=2, ge=0)
    backoff_seconds: float = Field(default=0.5, ge=0)
    breaker_failures: int = Field(default=5, ge=1)
    breaker_reset_seconds: float = Field(default=60.0, gt=0)
    fields: OrderFieldsConfig = OrderFieldsConfig()
    statuses: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _valid_mapping(self) -> HttpOrdersConfig:
        if self.url and "{number}" not in self.url:
            raise ValueError("url must contain {number}")
        if self.recent_url and "{telegram_id}" not in self.recent_url:
            raise ValueError("recent_url must contain {telegram_id}")
        for theirs, ours in self.statuses.items():
            if ours not in tuple(OrderStatus):
                raise ValueError(
                    f"statuses: {theirs!r} maps to {ours!r}, which is not one of "
                    + ", ".join(OrderStatus)
                )
        return self


class OrdersConfig(Section):
    provider: Literal["builtin", "http"] = "builtin"
    number_pattern: str = r"(?<![A-Z0-9])[A-Z]-\d{4,}(?!\d)"
    max_attempts: int = Field(default=3, ge=1)
    lockout_minutes: int = Field(default=60, ge=1)
    late_notice_time: time = time(10, 0)
    http: HttpOrdersConfig = HttpOrdersConfig()

    @model_validator(mode="after")
    def _valid_pattern(self) -> OrdersConfig:
        try:
            re.compile(self.number_pattern)
        except re.error as error:
            raise ValueError(
                f"number_pattern is not a valid regular expression: {error}"
            ) from None
        if self.provider == "http" and not self.http.url:
            raise ValueError('provider "http" needs [orders.http] url')
        return self


class ReturnsConfig(Section):
    window_days: int = Field(default=7, ge=0)
    allowed_statuses: list[str] = Field(default_factory=lambda: ["delivered"])
    non_returnable_categories: list[str] = Field(default_factory=lambda: ["gift_card"])
    next_steps_entry: str = "return_next_steps"

    @model_validator(mode="after")
    def _known_statuses(self) -> ReturnsConfig:
        unknown = [status for status in self.allowed_statuses if status not in tuple(OrderStatus)]
        if unknown:
            raise ValueError(
                f"allowed_statuses: {', '.join(unknown)} not one of {', '.join(OrderStatus)}"
            )
        return self


def _quiet_hours(text: str) -> tuple[time, time] | None:
    if not text:
        return None
    try:
        start, end = (time.fromisoformat(part.strip()) for part in text.split("-"))
    except ValueError:
        raise ValueError(f'quiet_hours {text!r} is not "HH:MM-HH:MM"') from None
    return start, end


class ScheduleConfig(Section):
    quiet_hours: str = "21:00-09:00"
    poll_seconds: float = Field(default=5.0, gt=0)
    messages_per_second: int = Field(default=30, ge=1)
    seconds_per_chat: float = Field(default=1.0, ge=0)
    misfire_grace_hours: float = Field(default=12.0, ge=0)
    claim_timeout_minutes: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _valid_quiet_hours(self) -> ScheduleConfig:
        _quiet_hours(self.quiet_hours)
        return self

    @property
    def quiet(self) -> tuple[time, time] | None:
        return _quiet_hours(self.quiet_hours)


class SurveysConfig(Section):
    enabled: bool = True
    delay_minutes: float = Field(default=10.0, ge=0)
    reminder_hours: float = Field(default=24.0, ge=0)
    expire_days: float = Field(default=3.0, gt=0)
    min_days_between: float = Field(default=7.0, ge=0)
    disabled_categories: list[str] = Field(default_factory=list)
    after_bot_answers: bool = False
    alert_at_or_below: int = Field(default=2, ge=0, le=5)
    question_zh: str = ""
    question_en: str = ""


class RevisitsConfig(Section):
    enabled: bool = True
    days: float = Field(default=3.0, ge=0)
    days_by_category: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)


class NpsConfig(Section):
    enabled: bool = False
    days_after_first_contact: float = Field(default=14.0, ge=0)
    min_days_between: float = Field(default=90.0, ge=0)


# for a field named `time`
time_of_day = time


class ScorecardConfig(Section):
    """How an agent's composite score is made (each part out of 100, weighted; a part with
    nothing to measure leaves the others' weights to count alone), and the score expected."""

    satisfaction_weight: float = Field(default=0.6, ge=0, le=1)
    completion_weight: float = Field(default=0.4, ge=0, le=1)
    quality_weight: float = Field(default=0.0, ge=0, le=1)
    target: float = Field(default=80.0, ge=0, le=100)
    top: int = Field(default=3, ge=1, le=20)

    @model_validator(mode="after")
    def _some_weight(self) -> ScorecardConfig:
        if self.satisfaction_weight + self.completion_weight + self.quality_weight <= 0:
            raise ValueError("at least one weight must be above 0")
        return self


class ReportConfig(Section):
    """The service standards the report holds the figures to, its usual period, and its
    delivery to the admins (weekly on `weekly_day`, monthly on the 1st, at `delivery_time`)."""

    days: int = Field(default=7, ge=1, le=366)
    on_time_percent: float = Field(default=95.0, ge=0, le=100)
    satisfaction: float = Field(default=90.0, ge=0, le=100)
    first_contact_percent: float = Field(default=80.0, ge=0, le=100)
    weekly: bool = True
    monthly: bool = True
    weekly_day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    delivery_time: time = time(9, 0)
    scorecard: ScorecardConfig = ScorecardConfig()


class QaConfig(Section):
    """Quality inspection (质检): each week on `day` at `time`, `sample_per_agent` tickets each
    agent resolved in the week before are drawn and sent to the supervisors to score."""

    enabled: bool = True
    sample_per_agent: int = Field(default=5, ge=1, le=50)
    day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    time: time_of_day = time(10, 0)
    seed: str = ""


class ConsoleConfig(Section):
    """The managers' web console (/console): who signs in with a one-time link from /console
    or `kefu console link`, for how long, and who reads customers' phones and addresses."""

    enabled: bool = True
    link_minutes: int = Field(default=10, ge=1, le=1440)
    session_hours: int = Field(default=12, ge=1, le=24 * 30)
    # roles that see phones and addresses unmasked; others read 138****8001
    unmasked_roles: list[Literal["supervisor", "admin"]] = ["admin"]


class FloodConfig(Section):
    messages_per_minute: int = Field(default=20, ge=1)
    burst: int = Field(default=10, ge=1)


URGENT_TERMS = {
    # food safety, health, injury, fire and electricity, fraud, the authorities and the media
    "zh": [
        "食物中毒", "中毒", "拉肚子", "腹泻", "呕吐", "过敏了", "过敏反应", "送医", "住院", "急诊",
        "受伤", "烫伤", "割伤", "划伤", "着火", "起火", "火灾", "爆炸", "触电", "漏电", "诈骗",
        "被骗", "骗子", "盗刷", "报警", "投诉到", "曝光你们", "去曝光", "找媒体", "记者", "消协",
        "12315", "律师", "起诉",
    ],
    "en": [
        "food poisoning", "poisoned", "diarrhea", "diarrhoea", "vomiting", "threw up",
        "allergic reaction", "anaphylaxis", "in hospital", "to the hospital",
        "emergency room", "injured", "injury", "burned", "burnt", "caught fire", "on fire",
        "exploded", "electric shock", "fraud", "scam", "scammed", "police", "lawyer",
        "sue you", "journalist", "the media", "consumer protection",
    ],
}  # fmt: skip


class IncidentsConfig(Section):
    """When things go wrong (应急预案)."""

    # words that make a customer's case urgent at once, per language (any language's terms
    # are looked for in every message)
    urgent_terms: dict[str, list[str]] = Field(default_factory=lambda: dict(URGENT_TERMS))
    # surge alerts: questions about one entry, one category, or left unanswered, in the last
    # window_minutes, against the same minutes of each of the baseline_days before
    window_minutes: int = Field(default=10, ge=1, le=24 * 60)
    surge_factor: float = Field(default=3.0, ge=1.0)
    surge_min_count: int = Field(default=20, ge=1)
    baseline_days: int = Field(default=14, ge=1, le=90)
    surge_quiet_hours: int = Field(default=6, ge=1, le=168)  # one alert per subject per period


class BroadcastsConfig(Section):
    """An admin's message to a segment of customers (/broadcast, `kefu broadcast`)."""

    # a message not sent within this time of Send (quiet hours, Telegram refusing) is dropped
    lifetime_hours: float = Field(default=48.0, gt=0, le=24 * 14)
    # an announcement waits for the end of [schedule] quiet_hours unless this is true
    during_quiet_hours: bool = False


class PrivacyConfig(Section):
    """How long customers' words are kept; older ones are replaced by a placeholder once a day
    (rows, times and figures stay). 0 keeps them for good."""

    keep_message_text_days: int = Field(default=365, ge=0, le=3650)
    keep_ticket_text_days: int = Field(default=365, ge=0, le=3650)
    keep_unanswered_days: int = Field(default=365, ge=0, le=3650)
    retention_time: time = time(3, 30)


class LoggingConfig(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"


class Config(Section):
    telegram: TelegramConfig = TelegramConfig()
    web: WebConfig = WebConfig()
    business: BusinessConfig
    knowledge: KnowledgeConfig = KnowledgeConfig()
    matching: MatchingConfig = MatchingConfig()
    flood: FloodConfig = FloodConfig()
    database: DatabaseConfig = DatabaseConfig()
    bot: BotConfig = BotConfig()
    roles: RolesConfig = RolesConfig()
    hours: HoursConfig = HoursConfig()
    agents: AgentsConfig = AgentsConfig()
    orders: OrdersConfig = OrdersConfig()
    returns: ReturnsConfig = ReturnsConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    surveys: SurveysConfig = SurveysConfig()
    revisits: RevisitsConfig = RevisitsConfig()
    nps: NpsConfig = NpsConfig()
    report: ReportConfig = ReportConfig()
    qa: QaConfig = QaConfig()
    console: ConsoleConfig = ConsoleConfig()
    privacy: PrivacyConfig = PrivacyConfig()
    incidents: IncidentsConfig = IncidentsConfig()
    broadcasts: BroadcastsConfig = BroadcastsConfig()

    sla: SlaConfig = SlaConfig()
    teams: TeamsConfig = TeamsConfig()
    tickets: TicketsConfig = TicketsConfig()
    logging: LoggingConfig = LoggingConfig()
    source: Path | None = Field(default=None, exclude=True)

    def placeholders(self) -> dict[str, Placeholder]:
        """What texts and knowledge-base answers may fill in: the [business] values, and
        {business_hours} rendered from [hours] in each language."""
        texts = Texts.load()
        hours = self.hours.business_hours()
        described = {language: hours.describe(texts, language) for language in LANGUAGES}
        return {**self.business.placeholders(), "business_hours": described}

    def secrets(self) -> list[SecretStr]:
        """The secrets set in this config, which the log must never show."""
        found = [
            self.telegram.token,
            self.telegram.redis_url,
            self.orders.http.token,
            self.web.secret,
            self.web.user_secret,
        ]
        return [secret for secret in found if secret is not None]


def find_config_file(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The file to read: the one named, else $KEFU_CONFIG, else config.toml, else the example."""
    if explicit:
        return Path(explicit)
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    for name in DEFAULT_CONFIG_FILES:
        if Path(name).exists():
            return Path(name)
    raise ConfigError(
        "no configuration found: copy config.example.toml to config.toml, "
        f"or name a file with --config PATH or ${CONFIG_ENV}"
    )


def load_config(
    path: str | os.PathLike[str] | None = None,
    environ: dict[str, str] | None = None,
    settings: dict[tuple[str, ...], Any] | None = None,
) -> Config:
    """The config file, with the environment's overrides and then `settings` (from the command
    line: {("telegram", "mode"): "webhook"}), validated as a whole."""
    config_path = find_config_file(path)
    environ = dict(os.environ) if environ is None else environ
    try:
        raw = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{config_path}: file not found") from None
    except UnicodeDecodeError as error:
        line = config_path.read_bytes()[: error.start].count(b"\n") + 1
        raise ConfigError(f"{config_path}:{line}: not UTF-8 text ({error.reason})") from None
    except OSError as error:
        raise ConfigError(f"{config_path}: cannot be read: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{config_path}: not valid TOML: {error}") from None
    chosen = {where: environ[v] for v, where in ENV_OVERRIDES.items() if environ.get(v)}
    for (*sections, key), value in {**chosen, **(settings or {})}.items():
        values: Any = raw
        for section in sections:
            values = values.setdefault(section, {}) if isinstance(values, dict) else None
        if isinstance(values, dict):
            values[key] = value
    try:
        config = Config.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_describe_errors(config_path, error)) from None
    return _resolve_paths(config, config_path)


def _resolve_paths(config: Config, config_path: Path) -> Config:
    base = config_path.resolve().parent
    kb_path = config.knowledge.path
    if not kb_path.is_absolute():
        kb_path = base / kb_path
    url = config.database.url
    sqlite_prefix = "sqlite+aiosqlite:///"
    if url.startswith(sqlite_prefix) and not url.startswith(sqlite_prefix + "/"):
        relative = url.removeprefix(sqlite_prefix)
        if relative and relative != ":memory:":
            url = sqlite_prefix + str(base / relative)
    return config.model_copy(
        update={
            "knowledge": config.knowledge.model_copy(update={"path": kb_path}),
            "database": config.database.model_copy(update={"url": url}),
            "source": config_path,
        }
    )


def _describe_errors(config_path: Path, error: ValidationError) -> str:
    lines = [f"{config_path}: invalid configuration"]
    for problem in error.errors():
        location = [str(part) for part in problem["loc"]]
        if location and len(location) > 1:
            where = f"[{location[0]}] {'.'.join(location[1:])}"
        elif location:
            where = f"[{location[0]}]" if problem["type"] != "extra_forbidden" else location[0]
        else:
            where = "(top level)"
        lines.append(f"  {where}: {_explain(problem)}")
        if problem["type"] == "extra_forbidden":
            known = _known_keys(problem["loc"][:-1])
            lines[-1] += f" (expected one of: {', '.join(known)})"
    return "\n".join(lines)


def _known_keys(location: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] = Config
    for part in location:
        annotation = model.model_fields[str(part)].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return [name for name in model.model_fields if name != "source"]


# Settings whose values may hold a secret (a token, a password in a URL): never shown back
SECRET_KEYS = {"token", "api_server", "redis_url", "url", "auth_header", "webhook_secret"}


def _explain(problem: Any) -> str:
    kind = problem["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "missing required value"
    given = problem.get("input")
    message = problem["msg"]
    if kind.startswith("value_error"):
        message = message.removeprefix("Value error, ")
    secret = any(str(part) in SECRET_KEYS for part in problem["loc"])
    if secret or isinstance(given, dict | list):  # a whole section, secrets and all
        return message
    return f"{message} (got {given!r})"
