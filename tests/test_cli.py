"""The command line as a person uses it: `main(argv)` with real files, standard input and
output; one test runs the installed `kefu` command as a process."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.cli import main
from tests.conftest import TEST_KB


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


Kefu = Callable[..., Ran]


@pytest.fixture
def kefu(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Kefu:
    """`kefu --config <config> <args>` in this process, with `stdin` as standard input."""

    def run(config: Path, *args: str, stdin: str | None = None) -> Ran:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin or ""))
        capsys.readouterr()  # what earlier commands printed is theirs
        code = main(["--config", str(config), *args])
        out, err = capsys.readouterr()
        return Ran(code, out, err)

    return run


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
