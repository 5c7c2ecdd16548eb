from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import ConfigError, load_config


def test_the_example_config_loads_and_resolves_paths_next_to_the_file(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = load_config(write_config(), environ={})
    assert config.business.shop_name == "Kefu Demo Shop"
    assert config.telegram.enabled is False
    assert str(tmp_path) in config.database.url
    assert config.knowledge.path.is_absolute()


def test_the_database_settings_beside_a_relative_url_are_kept(
    write_config: Callable[..., Path],
) -> None:
    path = write_config(replace={"pool_size = 10": "pool_size = 3"})
    assert load_config(path, environ={}).database.pool_size == 3


def test_the_repository_example_is_valid_as_it_stands() -> None:
    root = Path(__file__).resolve().parent.parent
    config = load_config(root / "config.example.toml", environ={})
    assert config.knowledge.path == root / "knowledge" / "sample"
    assert config.database.url == f"sqlite+aiosqlite:///{root / 'data' / 'kefu.db'}"


def test_secrets_come_from_the_environment(write_config: Callable[..., Path]) -> None:
    config = load_config(
        write_config(),
        environ={
            "KEFU_TELEGRAM_TOKEN": "123:hunter2hunter2",
            "KEFU_DATABASE_URL": "sqlite+aiosqlite:////x.db",
            "KEFU_WEBHOOK_SECRET": "s3cret",
            "KEFU_WEBHOOK_URL": "https://shop.example/hook",
            "KEFU_WEB_HOST": "0.0.0.0",
        },
    )
    assert config.telegram.webhook_secret is not None
    assert config.telegram.webhook_secret.get_secret_value() == "s3cret"
    assert (config.telegram.webhook_url, config.web.host) == (
        "https://shop.example/hook",
        "0.0.0.0",
    )
    assert config.telegram.token is not None
    assert config.telegram.token.get_secret_value() == "123:hunter2hunter2"
    assert "hunter2" not in repr(config)
    assert config.database.url == "sqlite+aiosqlite:////x.db"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("[telegram]\ntokn = 'x'\n", "[telegram] tokn: unknown key"),
        ("[matching]\nanswer_threshold = 'high'\n", "[matching] answer_threshold:"),
        ("[matching]\nanswer_threshold = 150\n", "less than or equal to 100"),
        ("[bot]\ndefault_language = 'fr'\n", "[bot] default_language:"),
        ("[surprise]\nx = 1\n", "surprise: unknown key"),
    ],
)
def test_a_config_mistake_names_the_file_the_key_and_what_is_expected(
    tmp_path: Path, extra: str, expected: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[business]\nshop_name = 'S'\n" + extra, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ={})
    message = str(raised.value)
    assert str(path) in message
    assert expected in message


def test_a_missing_required_value_is_named(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[business]\nphone = '1'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[business\] shop_name: missing required value"):
        load_config(path, environ={})


def test_the_old_business_hours_string_is_refused_naming_its_replacement(
    write_config: Callable[..., Path],
) -> None:
    path = write_config(
        replace={'shop_name = "Kefu Demo Shop"': 'shop_name = "Kefu Demo Shop"\nhours = "9-18"'}
    )
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ={})
    assert "[business]: hours is no longer read: opening hours are shown from [hours]" in str(
        raised.value
    )


def test_broken_toml_gives_the_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[business]\nshop_name = \n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"not valid TOML.*line 2"):
        load_config(path, environ={})


def test_the_command_line_reports_a_config_mistake_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[business]\nshop_name = 'S'\n[telegram]\ntoken = 5\n", encoding="utf-8")
    assert main(["--config", str(path), "kb", "check"]) == 2
    error = capsys.readouterr().err
    assert "[telegram] token" in error
    assert "Traceback" not in error
