from __future__ import annotations

import string
from pathlib import Path

import pytest

from knowledge import KnowledgeBaseError, load_knowledge_base
from knowledge.problems import MESSAGES, PLACES

PLACEHOLDERS = {
    "shop_name": "Demo",
    "business_hours": "9:00-18:00",
    "phone": "400-1",
    "email": "a@b.c",
    "address": "Road 1",
    "website": "https://e.com",
}

GOOD = """\
entries:
  - id: business_hours
    category: store
    menu: true
    questions:
      zh: [营业时间是几点, 几点开门]
      en: [what are your opening hours, when do you open]
    answer:
      zh: "营业时间：{business_hours}"
      en: "We are open {business_hours}. Braces: {{ok}}"
    buttons:
      - entry: human
      - url: https://example.com/map
        label: {zh: 地图, en: Map}
    related: [human]
  - id: human
    category: service
    action: talk_to_human
    questions:
      zh: [转人工]
      en: [real person please]
"""


def write(tmp_path: Path, text: str, name: str = "faq.yaml") -> Path:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(KnowledgeBaseError) as raised:
        load_knowledge_base(path, PLACEHOLDERS)
    return [str(problem) for problem in raised.value.problems]


def test_a_good_file_loads_with_placeholders_filled(tmp_path: Path) -> None:
    kb = load_knowledge_base(write(tmp_path, GOOD), PLACEHOLDERS)
    hours = kb.entries["business_hours"]
    assert hours.answer_in("zh") == "营业时间：9:00-18:00"
    assert hours.answer_in("en") == "We are open 9:00-18:00. Braces: {ok}"
    assert [b.entry for b in hours.buttons] == ["human", None]
    assert hours.buttons[1].label["en"] == "Map"
    assert kb.entries["human"].action == "talk_to_human"
    assert kb.menu(5) == [hours]
    assert kb.variant_count() == 6
    assert hours.source.endswith("faq.yaml:2")


def test_a_missing_language_falls_back_to_the_other(tmp_path: Path) -> None:
    text = GOOD.replace('      en: "We are open {business_hours}. Braces: {{ok}}"\n', "")
    kb = load_knowledge_base(write(tmp_path, text), PLACEHOLDERS)
    assert kb.entries["business_hours"].answer_in("en") == "营业时间：9:00-18:00"


@pytest.mark.parametrize(
    ("broken", "line", "message"),
    [
        (GOOD.replace("    category: store\n", ""), 2, "'category' is missing"),
        (
            GOOD.replace('{business_hours}"\n      en', '{opening}"\n      en'),
            9,
            "unknown placeholder {opening}",
        ),
        (
            GOOD.replace("action: talk_to_human", "action: teleport"),
            18,
            "unknown action 'teleport'",
        ),
        (GOOD.replace("- entry: human", "- entry: nobody"), 12, "no entry with id 'nobody'"),
        (GOOD.replace("menu: true", "menu: true\n    colour: red"), 5, "unknown key 'colour'"),
        (GOOD.replace("id: human", "id: Human!"), 16, "id 'Human!' must be lowercase"),
        (
            GOOD.replace("      en: [real person please]", "      fr: [personne]"),
            21,
            "unknown language 'fr'",
        ),
        (
            GOOD.replace(
                "questions:\n      zh: [转人工]\n      en: [real person please]", "questions: []"
            ),
            19,
            "'questions' must map languages",
        ),
        (GOOD.replace("    answer:\n      zh", "    answr:\n      zh"), 8, "unknown key 'answr'"),
    ],
)
def test_schema_errors_name_the_file_the_line_and_the_problem(
    tmp_path: Path, broken: str, line: int, message: str
) -> None:
    problems = problems_of(write(tmp_path, broken))
    assert any(
        p.startswith(f"{tmp_path / 'faq.yaml'}:{line}:") and message in p for p in problems
    ), problems


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    broken = GOOD.replace(
        "      en: [what are your opening hours, when do you open]",
        "      en: [what are your opening hours, when do you open",
    )
    problems = problems_of(write(tmp_path, broken))
    assert len(problems) == 1
    assert "not valid YAML" in problems[0]
    assert problems[0].startswith(f"{tmp_path / 'faq.yaml'}:")


def test_duplicate_ids_across_files_are_errors(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "a.yaml")
    second = (
        GOOD.replace("营业时间是几点, 几点开门", "还开着吗")
        .replace("what are your opening hours, when do you open", "still open")
        .replace("id: human", "id: human2")
        .replace("[转人工]", "[人工]")
        .replace("[real person please]", "[agent]")
    )
    write(tmp_path, second, "b.yaml")
    problems = problems_of(tmp_path)
    assert any(
        "b.yaml:2: duplicate id 'business_hours'" in p and "a.yaml:2" in p for p in problems
    ), problems


def test_one_question_in_two_entries_is_an_error_even_written_differently(tmp_path: Path) -> None:
    broken = GOOD.replace("[转人工]", "[轉人工, 幾點開門！]")
    problems = problems_of(write(tmp_path, broken))
    assert any("'幾點開門！' is also a question of entry 'business_hours'" in p for p in problems)


def test_an_empty_file_and_a_missing_folder_are_errors(tmp_path: Path) -> None:
    assert "the file is empty" in problems_of(write(tmp_path, ""))[0]
    assert "no such file or folder" in problems_of(tmp_path / "nowhere")[0]


def test_a_broken_file_means_nothing_loads(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "a.yaml")
    write(tmp_path, "entries:\n  - id: x\n", "b.yaml")
    problems = problems_of(tmp_path)
    assert all("b.yaml" in p for p in problems)


def test_every_problem_is_worded_in_both_languages_with_the_same_values() -> None:
    def names(template: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name}

    for code, texts in {**MESSAGES, **PLACES}.items():
        assert set(texts) == {"zh", "en"}, code
        assert names(texts["zh"]) == names(texts["en"]), code
