"""The command line as a person uses it: `main(argv)` with real files, standard input and
output; one test runs the installed `kefu` command as a process."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Connection, inspect

from bot.cli import main
from storage.database import alembic_config, create_engine, current_revision, head_revision
from tests.conftest import POSTGRES_URL, TEST_KB, Kefu, _reset_postgres


@pytest.mark.slow
def test_ask_json_gives_decision_entry_score_and_candidates(
    write_config: Callable[..., Path],
) -> None:
    # the command pip installed, so that the entry point and packaging are proved too
    installed = Path(sys.executable).with_name("kefu")
    config = write_config(kb=TEST_KB)
    result = subprocess.run(
        [installed, "--config", config, "ask", "營業時間幾點", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["decision"] == "answer"
    assert answer["entry_id"] == "business_hours"
    assert answer["score"] == answer["candidates"][0]["score"]
    assert answer["candidates"][0]["entry_id"] == "business_hours"


def test_kb_check_accepts_a_good_knowledge_base(
    kefu: Kefu, write_config: Callable[..., Path]
) -> None:
    result = kefu(write_config(kb=TEST_KB), "kb", "check")
    assert result.returncode == 0
    assert "OK: 5 entries" in result.stdout


def test_a_broken_knowledge_base_is_refused_with_file_and_line(
    kefu: Kefu, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    text = (TEST_KB / "shop.yaml").read_text(encoding="utf-8")
    (broken / "shop.yaml").write_text(text.replace("action: talk_to_human", "action: fly"))
    config = write_config(kb=broken)
    line = text.splitlines().index("    action: talk_to_human") + 1

    check = kefu(config, "kb", "check")
    assert check.returncode == 1
    where = f"{broken / 'shop.yaml'}:{line}"
    assert f"{where}: entry 'talk_to_human': unknown action 'fly'" in check.stderr

    start = kefu(config, "chat", stdin="hello\n")
    assert start.returncode == 1
    assert "the knowledge base has errors, not starting" in start.stderr
    assert "unknown action 'fly'" in start.stderr
    assert "Traceback" not in start.stderr


def test_chat_reads_piped_lines_and_presses_numbered_buttons(
    kefu: Kefu, write_config: Callable[..., Path]
) -> None:
    lines = "/start\n2\n1\nwhat's the weather on mars\n"
    result = kefu(write_config(kb=TEST_KB), "chat", "--language", "en", stdin=lines)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "bot> Hello! I am the customer-service assistant of Kefu Demo Shop." in out
    assert "[2] how do i return an item" in out
    assert "bot> You can return items within 7 days of delivery." in out
    assert "bot> Refunds reach your original payment method within 3-5 working days." in out
    assert "bot> Sorry, I do not have an answer to that yet." in out


def test_run_without_a_token_says_how_to_connect_telegram_and_chats(
    kefu: Kefu, write_config: Callable[..., Path]
) -> None:
    result = kefu(write_config(kb=TEST_KB), "run", stdin="怎么退货\n")
    assert result.returncode == 0, result.stderr
    assert "No Telegram token is set" in result.stderr
    assert "KEFU_TELEGRAM_TOKEN" in result.stderr
    assert "bot> 签收后7天内可以无理由退货。" in result.stdout


def test_handoff_in_the_terminal_without_an_agents_group(
    kefu: Kefu, write_config: Callable[..., Path]
) -> None:
    lines = "/human\n2\nmy parcel is lost\n1\nhello?\n/tickets\n"
    result = kefu(write_config(kb=TEST_KB), "chat", "--language", "en", stdin=lines)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "bot> I will pass you to a person. What is it about?" in out
    assert "T-000001" in out
    assert "bot> Your ticket T-000001 is open; an agent will reply here." in out
    assert "bot> T-000001 · Shipping · waiting for an agent" in out


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a SQLite file not yet there, or PostgreSQL's emptied public schema."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'data' / 'kefu.db'}"
    if not POSTGRES_URL:
        pytest.skip("KEFU_TEST_DATABASE_URL is not set")

    async def reset() -> None:
        engine = create_engine(POSTGRES_URL)
        await _reset_postgres(engine)
        await engine.dispose()

    asyncio.run(reset())
    return POSTGRES_URL


def migrate_to(url: str, revision: str) -> None:
    def upgrade(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), revision)

    async def run() -> None:
        engine = create_engine(url)
        async with engine.begin() as connection:
            await connection.run_sync(upgrade)
        await engine.dispose()

    asyncio.run(run())


def revision_and_tables(url: str) -> tuple[str | None, list[str]]:
    async def read() -> tuple[str | None, list[str]]:
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
            return await current_revision(engine), tables
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_db_upgrade_brings_the_configured_database_to_head(
    write_config: Callable[..., Path], database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config(database=database_url))
    head = head_revision()
    assert main(["--config", config, "db", "current"]) == 1
    assert (
        capsys.readouterr().out
        == f"database has no schema yet, head is {head}: run `kefu db upgrade`\n"
    )
    assert main(["--config", config, "db", "upgrade"]) == 0
    out = capsys.readouterr().out
    assert out == f"database at revision {head} (head), upgraded from an empty database\n"
    assert main(["--config", config, "db", "upgrade"]) == 0
    assert capsys.readouterr().out == f"database at revision {head} (head)\n"
    assert main(["--config", config, "db", "current"]) == 0
    assert capsys.readouterr().out == f"database at revision {head} (head)\n"
    assert revision_and_tables(database_url)[0] == head


def test_db_upgrade_from_an_older_revision(
    write_config: Callable[..., Path], database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    migrate_to(database_url, "0007")
    config = str(write_config(database=database_url))
    assert main(["--config", config, "db", "current"]) == 1
    assert "database at revision 0007, head is" in capsys.readouterr().out
    assert main(["--config", config, "db", "upgrade"]) == 0
    head = head_revision()
    assert capsys.readouterr().out == f"database at revision {head} (head), upgraded from 0007\n"


@pytest.mark.parametrize(
    "url",
    [
        "sqlite+aiosqlite:///{tmp}/not-a-database.db",
        "postgresql+asyncpg://kefu:secret@127.0.0.1:9/kefu",
        "not a url",
    ],
)
@pytest.mark.parametrize(
    "args",
    [
        ["db", "upgrade"],
        ["db", "current"],
        ["report"],
        ["schedule", "list"],
        ["schedule", "cancel", "1"],
    ],
)
def test_a_database_out_of_reach_is_one_line_naming_the_setting(
    write_config: Callable[..., Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    url: str,
    args: list[str],
) -> None:
    (tmp_path / "not-a-database.db").write_bytes(b"kefu" * 1024)
    config = str(write_config(database=url.format(tmp=tmp_path)))
    assert main(["--config", config, *args]) == 2
    captured = capsys.readouterr()
    [line] = captured.err.splitlines()
    assert line.startswith("kefu: cannot open the database of [database] url: ")
    assert "secret" not in line
    assert captured.out == ""


def test_db_upgrade_where_no_database_file_can_be_made(
    write_config: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    config = str(write_config(database=f"sqlite+aiosqlite:///{tmp_path}/a-file/kefu.db"))
    assert main(["--config", config, "db", "upgrade"]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("kefu: cannot open the database of [database] url: sqlite+")


READING = [
    ["report"],
    ["schedule", "list"],
    ["kb", "gaps"],
]


@pytest.mark.parametrize("args", READING)
def test_commands_that_read_refuse_a_schema_behind_and_leave_it(
    write_config: Callable[..., Path],
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
) -> None:
    migrate_to(database_url, "0007")
    config = str(write_config(database=database_url))
    assert main(["--config", config, *args]) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"kefu: the database schema is at 0007 and this kefu reads {head_revision()}: "
        "run `kefu db upgrade`"
    ]
    assert revision_and_tables(database_url)[0] == "0007"
    assert main(["--config", config, "db", "upgrade"]) == 0
    capsys.readouterr()
    assert main(["--config", config, *args]) == 0


@pytest.mark.parametrize("args", READING)
def test_commands_that_read_an_empty_database_find_nothing_and_create_nothing(
    write_config: Callable[..., Path],
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
) -> None:
    config = str(write_config(database=database_url))
    assert main(["--config", config, *args]) == 0
    assert capsys.readouterr().err == ""
    if database_url.startswith("sqlite"):
        assert not Path(database_url.removeprefix("sqlite+aiosqlite:///")).exists()
    else:
        assert revision_and_tables(database_url) == (None, [])


def test_the_knowledge_base_commands_never_open_the_database(
    write_config: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a database no command could open: any attempt would fail the command
    (tmp_path / "a-file").write_text("not a folder")
    config = str(
        write_config(kb=TEST_KB, database=f"sqlite+aiosqlite:///{tmp_path}/a-file/kefu.db")
    )
    cases = tmp_path / "cases.jsonl"
    cases.write_text('{"text": "营业时间是几点", "expect": "business_hours"}\n', encoding="utf-8")
    for args in (
        ["ask", "营业时间是几点"],
        ["kb", "test", "营业时间是几点"],
        ["kb", "check"],
        ["kb", "eval", "--cases", str(cases)],
    ):
        assert main(["--config", config, *args]) == 0, args
        assert capsys.readouterr().err == "", args
