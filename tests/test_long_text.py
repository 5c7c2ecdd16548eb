from __future__ import annotations

from bot.channels.long_text import split_text, telegram_length


def test_short_text_stays_whole() -> None:
    assert split_text("hello") == ["hello"]


def test_parts_break_at_paragraphs_and_fit_telegrams_count() -> None:
    text = "\n\n".join("第" + str(n) + "段 " + "退款说明。" * 300 for n in range(4))
    parts = split_text(text)
    assert len(parts) > 1
    assert all(telegram_length(part) <= 4096 for part in parts)
    assert "\n\n".join(parts) == text


def test_emoji_count_twice_and_a_text_without_breaks_is_cut_when_full() -> None:
    text = "😀" * 3000  # 6,000 UTF-16 units
    parts = split_text(text)
    assert [telegram_length(part) for part in parts] == [4096, 6000 - 4096]
    assert "".join(parts) == text
