"""Failures said in one sentence that names the setting, row or column, never with a traceback
and never with a secret: bad configurations, Telegram unreachable at start, odd CSV files, a
file download that fails (its URL holds the bot token)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

import bot.app as composition
from bot.app import create_dispatcher
from bot.channels.telegram import create_bot
from bot.cli import main
from tests.conftest import ADMIN_ID, TEST_KB, StartServices
from tests.fake_bot_api import FakeBotAPI

TOKEN = "123456:SECRET-token-never-logged"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def assert_plain(output: str, *expected: str) -> None:
    assert "Traceback" not in output, output
    assert TOKEN not in output and "SECRET" not in output, output
    for text in expected:
        assert text in output, output


@pytest.mark.parametrize(
    ("replace", "expected"),
    [
        (
            {
                'url = "sqlite+aiosqlite:///data/kefu.db"': 'url = "postgresql+asyncpg://kefu:SECRET@127.0.0.1:1/x"'
            },
            [
                "cannot open the database of [database] url: postgresql+asyncpg://kefu:***@127.0.0.1:1/x"
            ],
        ),
        (
            {'url = "sqlite+aiosqlite:///data/kefu.db"': 'url = "nosuchdb+nodriver://u@h/x"'},
            [
                "cannot open the database of [database] url: nosuchdb+nodriver://u@h/x: "
                "Can't load plugin"
            ],
        ),
        (
            {
                'token = ""': f'token = "{TOKEN}"',
                'api_server = ""': f'api_server = "http://[::1/bot{TOKEN}"',
            },
            ["[telegram] api_server: must be an http:// or https:// URL with a host"],
        ),
        (
            {'token = ""': f'token = "{TOKEN}"', 'api_server = ""': 'api_server = "not a url"'},
            ["[telegram] api_server: must be an http:// or https:// URL with a host"],
        ),
        (
            {"enabled = true\ndays = 3\n": "enabled = true\ndays = -1\n"},
            ["[revisits] days: Input should be greater than or equal to 0 (got -1)"],
        ),
        (
            {"days_by_category = {}": "days_by_category = { complaint = -2 }"},
            ["[revisits] days_by_category.complaint: Input should be greater than or equal to 0"],
        ),
    ],
)
def test_a_bad_configuration_is_one_sentence(
    write_config: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    replace: dict[str, str],
    expected: list[str],
) -> None:
    token = {'token = ""': f'token = "{TOKEN}"'}  # no hint about chatting in the terminal
    if "url" in next(iter(replace)):
        path = write_config(kb=TEST_KB, replace=token)
        text = path.read_text(encoding="utf-8")
        url_line = next(line for line in text.splitlines() if line.startswith("url = "))
        path.write_text(text.replace(url_line, next(iter(replace.values()))), encoding="utf-8")
    else:
        path = write_config(kb=TEST_KB, replace=token | replace)
    code, output = run(capsys, "--config", str(path), "run")
    assert code == 2
    assert_plain(output, *expected)
    assert len(output.strip().splitlines()) <= 2  # the file, then the one setting


def test_a_config_that_is_not_utf8_names_its_line(
    write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(kb=TEST_KB)
    path.write_bytes(path.read_bytes().replace(b"[bot]", b"[bot]\n# caf\xe9", 1))
    code, output = run(capsys, "--config", str(path), "run")
    line = path.read_bytes().split(b"# caf\xe9")[0].count(b"\n") + 1
    assert code == 2
    assert_plain(output, f"{path}:{line}: not UTF-8 text")
    assert len(output.strip().splitlines()) == 1


def test_telegram_unreachable_at_start_is_one_sentence(
    write_config: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(composition, "TELEGRAM_START_SECONDS", 1.0)
    path = write_config(
        kb=TEST_KB,
        replace={
            'token = ""': f'token = "{TOKEN}"',
            'api_server = ""': 'api_server = "http://127.0.0.1:1"',
        },
    )
    code, output = run(capsys, "--config", str(path), "run")
    assert code == 2
    assert_plain(
        output,
        "kefu: cannot reach Telegram at http://127.0.0.1:1 ([telegram] api_server) within 1 s",
    )
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (
            'A-9001,,,"Shoes|shoes|1",paid,,,"' + "x" * 200_000 + '",2026-11-10T09:30:00Z,,,',
            ":2: -: cannot be read: a field is longer than 131,072 characters",
        ),
        (
            'A-9002,,,"Shoes|shoes|1",paid,,,"' + "x" * 5000 + '",2026-11-10T09:30:00Z,,,',
            ":2: address: has 5,000 characters; the limit is 1,000",
        ),
        (
            "A-9003,," + "9" * 30 + ',"Shoes|shoes|1",paid,,,,2026-11-10T09:30:00Z,,,',
            ":2: telegram_id: " + "9" * 30 + " is not a Telegram id",
        ),
        (
            "A-" + "1" * 100 + ',,,"Shoes|shoes|1",paid,,,,2026-11-10T09:30:00Z,,,',
            ":2: number: has 102 characters; the limit is 64",
        ),
    ],
)
def test_an_odd_csv_names_the_row_and_the_column(
    write_config: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    row: str,
    expected: str,
) -> None:
    header = (
        "number,phone,telegram_id,items,status,carrier,tracking_number,address,ordered_at,"
        "shipped_at,delivered_at,expected_delivery_at"
    )
    csv = tmp_path / "orders.csv"
    csv.write_text(f"{header}\n{row}\n", encoding="utf-8")
    code, output = run(
        capsys, "--config", str(write_config(kb=TEST_KB)), "orders", "import", str(csv)
    )
    assert code == 1
    assert_plain(output, f"{csv}{expected}", "nothing was imported")
    assert len(output) < 1000  # the field is not repeated back


async def test_a_failed_download_is_told_to_the_admin_and_no_log_line_holds_the_token(
    telegram: tuple[FakeBotAPI, str],
    start_services: StartServices,
    write_config: Callable[..., Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake, url = telegram
    config = write_config(
        kb=TEST_KB,
        replace={
            'token = ""': f'token = "{TOKEN}"',
            'api_server = ""': f'api_server = "{url}"',
            "admins = []": f"admins = [{ADMIN_ID}]",
        },
    )
    services = await start_services(config)
    caplog.set_level(logging.DEBUG)
    for name in ("aiogram", "aiohttp", "sqlalchemy", "asyncio", "bot", "handlers"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    bot = create_bot(services.config)
    polling = asyncio.create_task(
        create_dispatcher(services, channel="terminal").start_polling(bot, handle_signals=False)
    )
    try:
        fake.push_document(ADMIN_ID, "gone", "faq.yaml")
        reply = await fake.wait_for_message(ADMIN_ID)
    finally:
        polling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await polling
        await bot.session.close()
    assert TOKEN in fake.tokens  # the requests did carry it
    # an admin whose app tells no language reads the default one (Chinese); the cause as given
    assert "「faq.yaml」无法下载（Telegram 返回 404）：请重新发送" in reply["text"]
    formatter = logging.Formatter("%(name)s %(message)s")
    logged = "\n".join(formatter.format(record) for record in caplog.records)
    assert "getFile" in logged or "getfile" in logged.lower()  # the log did see the requests
    assert TOKEN not in logged
    assert TOKEN.split(":")[1] not in logged


def test_the_log_redacts_a_token_in_a_message_and_a_traceback() -> None:
    from bot.channels.redaction import RedactSecrets

    redaction = RedactSecrets([TOKEN])
    try:
        raise RuntimeError(f"GET http://127.0.0.1/file/bot{TOKEN}/documents/x: 404")
    except RuntimeError as error:
        record = logging.LogRecord(
            "aiohttp", logging.ERROR, __file__, 1, "failed: %s", (error,), exc_info=None
        )
        record.exc_info = (type(error), error, error.__traceback__)
    assert redaction.filter(record)
    line = logging.Formatter("%(message)s").format(record)
    assert TOKEN not in line
    assert "bot<hidden>/documents/x" in line
