"""The three decisions on the sample shop's knowledge base, as customers write."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge import Decision, KnowledgeBase, Matcher, MatchSettings, load_knowledge_base
from knowledge.evaluation import evaluate, load_cases
from knowledge.normalize import detect_language

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "knowledge" / "sample_cases.yaml"


@pytest.fixture(scope="module")
def sample() -> KnowledgeBase:
    return load_knowledge_base(
        ROOT / "knowledge" / "sample",
        {"business_hours": "9-18"}
        | {key: "x" for key in ("shop_name", "phone", "email", "address", "website")},
    )


@pytest.fixture(scope="module")
def matcher(sample: KnowledgeBase) -> Matcher:
    return Matcher(sample)


def test_the_sample_knowledge_base_is_big_enough_in_both_languages(sample: KnowledgeBase) -> None:
    assert len(sample) >= 40
    for entry in sample.entries.values():
        assert len(entry.questions["zh"]) >= 5, entry.id
        assert len(entry.questions["en"]) >= 5, entry.id
        assert entry.action or (entry.answer.get("zh") and entry.answer.get("en")), entry.id


@pytest.mark.parametrize(
    ("text", "entry_id"),
    [
        ("營業時間幾點", "business_hours"),  # traditional characters
        ("营业时间几点？", "business_hours"),
        ("how can i send back my shoes", "returns"),
        ("wat are ur openin hours", "business_hours"),  # misspelt
        ("recieve my pakage when", "delivery_time"),
        ("我想return这个", "returns"),  # mixed Chinese and English
        ("ＷＨＥＲＥ ＩＳ ＭＹ ＯＲＤＥＲ", "order_status"),  # full-width
        ("转人工", "talk_to_human"),
        ("在吗", "greeting"),
    ],
)
def test_clear_questions_find_their_entry_first(
    matcher: Matcher, text: str, entry_id: str
) -> None:
    """Answered, or offered first: the sample's held-out questions are not answered rightly 95
    times in 100 at any score, so it suggests where it used to answer (issue #22)."""
    match = matcher.match(text)
    assert match.decision is not Decision.FALLBACK, match
    assert match.entry_id == entry_id, match
    if matcher.calibrated_threshold is None or matcher.calibrated_threshold <= 60:
        assert match.decision is Decision.ANSWER, match


@pytest.mark.parametrize(
    "text",
    [
        "what's the weather on mars",
        "今天天气怎么样",
        "给我讲个笑话",
        "how do i cook rice",
        "🙂🙂",
        "?",
    ],
)
def test_questions_out_of_scope_fall_back(matcher: Matcher, text: str) -> None:
    assert matcher.match(text).decision is Decision.FALLBACK


@pytest.mark.parametrize(
    ("text", "expected"),
    [("refund", {"refund_time", "refund_status"}), ("退货", {"returns", "return_shipping_cost"})],
)
def test_ambiguous_questions_get_suggestions(
    matcher: Matcher, text: str, expected: set[str]
) -> None:
    match = matcher.match(text)
    assert match.decision is Decision.SUGGEST
    assert expected <= {candidate.entry_id for candidate in match.candidates}
    assert len(match.candidates) <= 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("订单发货了没有啊", {"order_status", "shipping_time"}),
        ("your service is awful", {"complaint", "feedback"}),
    ],
)
def test_a_message_torn_between_a_few_entries_gets_them_as_suggestions(
    matcher: Matcher, text: str, expected: set[str]
) -> None:
    """None of them is likely enough alone, but together they probably hold the answer."""
    match = matcher.match(text)
    assert match.decision is Decision.SUGGEST
    assert all(
        candidate.score < matcher.settings.suggest_threshold for candidate in match.candidates
    )
    assert expected <= {candidate.entry_id for candidate in match.candidates}


def test_candidates_are_ranked_with_scores(matcher: Matcher) -> None:
    ranked = matcher.rank("where is my order", limit=5)
    assert ranked[0].entry_id == "order_status"
    assert [c.score for c in ranked] == sorted((c.score for c in ranked), reverse=True)
    assert len({c.entry_id for c in ranked}) == len(ranked)
    assert 0 <= ranked[-1].score <= ranked[0].score <= 100
    assert ranked[0].variant == "where is my order"
    assert ranked[0].similarity == 100.0


def test_every_question_asked_as_written_is_found_word_for_word(
    sample: KnowledgeBase, matcher: Matcher
) -> None:
    """A message is turned into features the way the questions were: each question, sent as a
    message, is 100% like itself (Chinese, English, mixed, repeated n-grams alike)."""
    every_entry = len(sample.entries)
    for entry_id, entry in sample.entries.items():
        for _language, question in entry.variants():
            ranked = {c.entry_id: c for c in matcher.rank(question, limit=every_entry)}
            assert ranked[entry_id].similarity == 100.0, question


def test_thresholds_come_from_the_settings(sample: KnowledgeBase) -> None:
    strict = Matcher(sample, MatchSettings(answer_threshold=99.5, suggest_threshold=30))
    assert strict.match("how can i send back my shoes").decision is Decision.SUGGEST
    lax = Matcher(sample, MatchSettings(answer_threshold=0, suggest_threshold=0, answer_margin=0))
    assert lax.match("what is it").decision is Decision.ANSWER
    # Not even a lax threshold answers on one shared word next to words no question uses.
    assert lax.match("what's the weather on mars").decision is not Decision.ANSWER


@pytest.mark.parametrize(
    "text",
    [
        "how do i change the oil in my car",
        "whats the price of bitcoin right now",
        "how do you say thank you in korean",
        "how do i track a flight",
    ],
)
def test_one_shared_word_beside_unknown_ones_is_not_answered(matcher: Matcher, text: str) -> None:
    assert matcher.match(text).decision is not Decision.ANSWER


def test_a_request_in_the_shops_words_with_a_word_of_its_own_is_still_answered(
    matcher: Matcher,
) -> None:
    # "sweater" is in no question; "change" and "order" are in the closest one.
    match = matcher.match("can i change my order for the sweater")
    assert match.decision is Decision.ANSWER, match
    assert match.entry_id == "change_order"


def test_a_calibrated_threshold_is_never_below_what_held_out_questions_earned(
    sample: KnowledgeBase,
) -> None:
    lax = Matcher(
        sample,
        MatchSettings(answer_threshold=0, suggest_threshold=0, answer_margin=0, calibrate=True),
    )
    assert lax.calibrated_threshold is not None
    assert lax.answer_threshold == lax.calibrated_threshold
    assert lax.match("what's the weather on mars").decision is not Decision.ANSWER


def test_the_regression_set_has_not_got_worse(matcher: Matcher) -> None:
    """The shipped regression set: 200+ questions in both languages, most worded unlike the
    knowledge base. The floors are the figures measured when the set was written."""
    cases = load_cases(CASES)
    assert len(cases) >= 200
    assert {detect_language(case.text) for case in cases} == {"zh", "en"}
    result = evaluate(matcher, cases)
    assert result.top1 >= 0.88
    assert result.answered_wrong <= 0.02
    assert result.oos_fallback >= 0.95


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("TRAINING_WORK", 1),  # too large to train: the mean weights and the default scale
        ("DENSE_CELLS", 500),  # most features' weights in sparse postings, not the dense block
    ],
)
def test_the_paths_for_large_knowledge_bases_still_find_the_answers(
    sample: KnowledgeBase, monkeypatch: pytest.MonkeyPatch, setting: str, value: int
) -> None:
    monkeypatch.setattr(f"knowledge.matcher.{setting}", value)
    matcher = Matcher(sample)
    for text, entry_id in [
        ("how can i send back my shoes", "returns"),
        ("營業時間幾點", "business_hours"),
        ("where is my packge", "order_status"),
    ]:
        assert matcher.rank(text, limit=1)[0].entry_id == entry_id, text
    assert evaluate(matcher, load_cases(CASES)).top1 >= 0.8


def test_matching_is_the_same_every_time_the_knowledge_base_is_built(
    sample: KnowledgeBase,
) -> None:
    first, second = Matcher(sample), Matcher(sample)
    for text in ("refund", "我想return这个", "what's the weather on mars", "快递到哪了"):
        assert first.rank(text) == second.rank(text)
