from __future__ import annotations

import pytest

from knowledge.normalize import detect_language, normalize, segments


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("營業時間幾點？", "营业时间几点"),
        ("ＨＥＬＬＯ　Ｗｏｒｌｄ！！", "hello world"),
        ("  Where   is my\torder?? 😀 ", "where is my order"),
        ("退貨、退款。", "退货 退款"),
        ("我想return這個", "我想return这个"),
        ("Order #A-1023", "order a 1023"),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_segments_split_chinese_runs_from_words() -> None:
    assert segments(normalize("我想return這個 ok")) == ["我想", "return", "这个", "ok"]


@pytest.mark.parametrize(
    ("text", "language"),
    [("怎么退货", "zh"), ("how do i return this", "en"), ("我想return", "zh"), ("123 ?!", None)],
)
def test_detect_language(text: str, language: str | None) -> None:
    assert detect_language(text) == language
