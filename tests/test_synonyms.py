"""Synonym groups: how the matcher reads them, how the loader checks them, what customers get."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge import Decision, KnowledgeBaseError, Matcher, load_knowledge_base
from knowledge.normalize import normalize
from knowledge.synonyms import Synonyms

GROUPS = [("退货", "退回", "return", "send back"), ("优惠券", "券", "coupon")]


@pytest.mark.parametrize(
    ("text", "read_as"),
    [
        ("我想return这个", "我想return 退货 这个"),  # mixed Chinese and English
        ("How do I SEND BACK my shoes?", "how do i send back 退货 my shoes"),  # a phrase, any case
        ("可以退回吗", "可以退回 退货 吗"),
        ("怎么退货", "怎么退货"),  # the first term itself stays as it is
        ("i returned it", "i returned it"),  # whole English words only
        ("有优惠券吗", "有优惠券吗"),  # the longer term stays whole
        ("有券吗", "有券 优惠券 吗"),
        ("no synonyms here", "no synonyms here"),
    ],
)
def test_every_term_is_followed_by_its_groups_first_term(text: str, read_as: str) -> None:
    assert Synonyms(GROUPS).apply(normalize(text)) == read_as


ENTRIES = """\
entries:
  - id: returns
    category: returns
    questions:
      zh: [怎么退货, 我想退货, 退货流程是什么, 可以退货吗]
    answer:
      zh: 收货 7 天内可以退货。
  - id: hours
    category: store
    questions:
      zh: [几点开门, 营业时间]
    answer:
      zh: 每天九点开门。
"""


def knowledge_folder(tmp_path: Path, synonyms: str | None) -> Path:
    (tmp_path / "entries.yaml").write_text(ENTRIES, encoding="utf-8")
    if synonyms is not None:
        (tmp_path / "synonyms.yaml").write_text(synonyms, encoding="utf-8")
    return tmp_path


def test_an_english_message_finds_a_chinese_only_entry_through_synonyms(tmp_path: Path) -> None:
    plain = Matcher(load_knowledge_base(knowledge_folder(tmp_path, None)))
    assert plain.match("how do i send back this").decision is Decision.FALLBACK

    synonyms = "synonyms:\n  - [退货, 退回, return, send back]\n"
    knowledge_base = load_knowledge_base(knowledge_folder(tmp_path, synonyms))
    assert knowledge_base.synonyms == (("退货", "退回", "return", "send back"),)
    matcher = Matcher(knowledge_base)
    for message in ("how do i send back this", "我想return这个", "可以退回吗"):
        match = matcher.match(message)
        assert (match.decision, match.entry_id) == (Decision.ANSWER, "returns"), message


@pytest.mark.parametrize(
    ("synonyms", "line", "message"),
    [
        ("synonyms: 退货\n", 1, "'synonyms' must be a list of groups"),
        ("synonyms:\n  - [退货]\n", 2, "a synonym group must be a list of two or more terms"),
        ("synonyms:\n  - 退货\n", 2, "a synonym group must be a list of two or more terms"),
        ("synonyms:\n  - [退货, '!!']\n", 2, "synonym '!!' has no letters or characters"),
        (
            "synonyms:\n  - [退货, return]\n  - [retour, Return]\n",
            3,
            "synonym 'Return' is already in the group at ",
        ),
        ("synonym:\n  - [退货, return]\n", 1, "expected a mapping with the key 'entries' (or"),
    ],
)
def test_a_broken_synonyms_file_names_the_file_line_and_problem(
    tmp_path: Path, synonyms: str, line: int, message: str
) -> None:
    folder = knowledge_folder(tmp_path, synonyms)
    with pytest.raises(KnowledgeBaseError) as raised:
        load_knowledge_base(folder)
    problems = [p for p in raised.value.problems if p.file.endswith("synonyms.yaml")]
    assert [(p.line, message in p.message) for p in problems] == [(line, True)], problems
