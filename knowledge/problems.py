"""What is wrong with a knowledge-base file (or a file of evaluation cases), naming file and line,
in the reader's language: the admin who uploaded a file in Chinese reads its problems in Chinese,
the log and the command line read them in English."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Each problem's text per language; {where} (the entry it is about) is put before it when known.
MESSAGES: Mapping[str, Mapping[str, str]] = {
    "no_path": {"en": "no such file or folder", "zh": "没有这个文件或文件夹"},
    "no_yaml": {"en": "no .yaml files found", "zh": "没有找到 .yaml 文件"},
    "file_too_big": {
        "en": "the file has {size:,} bytes; the limit is {limit:,}",
        "zh": "文件有 {size:,} 字节，上限是 {limit:,}",
    },
    "cannot_read": {"en": "cannot read: {reason}", "zh": "无法读取：{reason}"},
    "not_utf8": {"en": "not UTF-8 text: {reason}", "zh": "不是 UTF-8 文本：{reason}"},
    "alias": {
        "en": "aliases (*name) are not allowed: write the value out",
        "zh": "不允许使用别名（*name）：请把内容完整写出",
    },
    "not_yaml": {"en": "not valid YAML: {detail}", "zh": "不是有效的 YAML：{detail}"},
    "not_json": {"en": "not valid JSON: {detail}", "zh": "不是有效的 JSON：{detail}"},
    "empty_file": {
        "en": "the file is empty: expected a mapping with the key 'entries'",
        "zh": "文件是空的：应为带有 'entries' 键的映射",
    },
    "no_top_key": {
        "en": "expected a mapping with the key 'entries' (or 'synonyms', 'learned')",
        "zh": "应为带有 'entries'（或 'synonyms'、'learned'）键的映射",
    },
    "unknown_top_key": {
        "en": "unknown key '{key}' (expected: entries, synonyms, learned)",
        "zh": "未知的键 '{key}'（应为：entries、synonyms、learned）",
    },
    "entries_not_list": {
        "en": "'entries' must be a list of entries",
        "zh": "'entries' 必须是条目的列表",
    },
    "synonyms_not_list": {
        "en": "'synonyms' must be a list of groups like [退货, 退换, return]",
        "zh": "'synonyms' 必须是若干组的列表，例如 [退货, 退换, return]",
    },
    "synonym_group": {
        "en": "a synonym group must be a list of two or more terms",
        "zh": "一组同义词必须是两个或更多词语的列表",
    },
    "synonym_empty": {
        "en": "synonym {term!r} has no letters or characters",
        "zh": "同义词 {term!r} 没有文字",
    },
    "synonym_repeated": {
        "en": "synonym {term!r} is already in the group at {at}",
        "zh": "同义词 {term!r} 已在 {at} 的那一组里",
    },
    "learned_not_mapping": {
        "en": "'learned' must map entry ids to questions per language",
        "zh": "'learned' 必须按条目 id 列出各语言的问题",
    },
    "list_of_text": {"en": "{field} must be a list of text", "zh": "{field} 必须是文本的列表"},
    "question_empty": {
        "en": "a question must be non-empty text",
        "zh": "问题必须是非空文本",
    },
    "learned_unknown_entry": {
        "en": "learned question {text!r}: no entry with id '{entry}'",
        "zh": "学到的问题 {text!r}：没有 id 为 '{entry}' 的条目",
    },
    "entry_not_mapping": {
        "en": "an entry must be a mapping with id, category, questions...",
        "zh": "条目必须是带有 id、category、questions 等键的映射",
    },
    "unknown_entry_key": {
        "en": "unknown key '{key}' (expected one of: {known})",
        "zh": "未知的键 '{key}'（应为其中之一：{known}）",
    },
    "menu_not_bool": {"en": "'menu' must be true or false", "zh": "'menu' 必须是 true 或 false"},
    "duplicate_id": {
        "en": "duplicate id '{id}' (first defined at {at})",
        "zh": "重复的 id '{id}'（第一次定义在 {at}）",
    },
    "too_many_buttons": {
        "en": "{count} buttons and related entries; the limit is {limit}",
        "zh": "按钮和相关条目共 {count} 个，上限是 {limit}",
    },
    "too_many_entries": {
        "en": "more than {limit:,} entries in all",
        "zh": "条目总数超过 {limit:,}",
    },
    "no_id": {"en": "entry without 'id'", "zh": "条目没有 'id'"},
    "bad_id": {
        "en": "id {id!r} must be lowercase letters, digits and '_', "
        "starting with a letter or digit",
        "zh": "id {id!r} 只能由小写字母、数字和 '_' 组成，并以字母或数字开头",
    },
    "long_id": {
        "en": "id '{start}...' has {length} characters; the limit is {limit} "
        "(an id travels in a button's data, 64 bytes at most)",
        "zh": "id '{start}...' 有 {length} 个字符，上限是 {limit}"
        "（id 放在按钮数据里，最多 64 字节）",
    },
    "field_missing": {"en": "'{field}' is missing", "zh": "缺少 '{field}'"},
    "field_not_text": {
        "en": "'{field}' must be non-empty text",
        "zh": "'{field}' 必须是非空文本",
    },
    "not_languages": {
        "en": "'{field}' must map languages (zh, en) to values",
        "zh": "'{field}' 必须按语言（zh、en）给出内容",
    },
    "unknown_language": {
        "en": "unknown language '{language}' in '{field}' (expected zh or en)",
        "zh": "'{field}' 里有未知的语言 '{language}'（应为 zh 或 en）",
    },
    "question_no_letters": {
        "en": "question {text!r} has no letters or characters left",
        "zh": "问题 {text!r} 去掉标点后没有文字",
    },
    "question_taken": {
        "en": "question {text!r} is also a question of entry '{other}' ({at})",
        "zh": "问题 {text!r} 也是条目 '{other}' 的问题（{at}）",
    },
    "answer_missing": {
        "en": "'answer' is missing (or give an 'action')",
        "zh": "缺少 'answer'（或者给出 'action'）",
    },
    "answer_empty": {
        "en": "answer.{language} must be non-empty text",
        "zh": "answer.{language} 必须是非空文本",
    },
    "answer_too_long": {
        "en": "answer.{language} has {length:,} characters with its placeholders filled; "
        "the limit is {limit:,} (one message)",
        "zh": "answer.{language} 填入占位符后有 {length:,} 个字符，上限是 {limit:,}（一条消息）",
    },
    "broken_braces": {
        "en": "broken braces in answer ({detail}); write {{{{ for {{",
        "zh": "回答里的花括号不完整（{detail}）；要显示 {{ 请写 {{{{",
    },
    "unknown_placeholder": {
        "en": "unknown placeholder {{{name}}} (known: {known})",
        "zh": "未知的占位符 {{{name}}}（可用：{known}）",
    },
    "unknown_action": {
        "en": "unknown action {action!r} (known: {known})",
        "zh": "未知的动作 {action!r}（可用：{known}）",
    },
    "buttons_not_list": {"en": "'buttons' must be a list", "zh": "'buttons' 必须是列表"},
    "button_shape": {
        "en": "a button has either 'entry: ID' or 'url' + 'label'",
        "zh": "按钮要么写 'entry: ID'，要么写 'url' 加 'label'",
    },
    "button_key": {"en": "unknown button key '{key}'", "zh": "未知的按钮键 '{key}'"},
    "button_url": {
        "en": "button url must start with https:// or http://",
        "zh": "按钮的 url 必须以 https:// 或 http:// 开头",
    },
    "button_label": {
        "en": "a url button needs a 'label' (zh, en)",
        "zh": "url 按钮需要 'label'（zh、en）",
    },
    "related_not_list": {
        "en": "'related' must be a list of entry ids",
        "zh": "'related' 必须是条目 id 的列表",
    },
    "no_such_entry": {
        "en": "no entry with id '{target}'",
        "zh": "没有 id 为 '{target}' 的条目",
    },
    "cases_not_list": {
        "en": "expected a list of {{text, expect}} cases",
        "zh": "应为 {{text, expect}} 用例的列表",
    },
    "case_shape": {
        "en": "a case needs 'text' and 'expect' (id or null)",
        "zh": "用例需要 'text' 和 'expect'（条目 id 或 null）",
    },
    "case_expect": {
        "en": "'expect' must be an entry id or null",
        "zh": "'expect' 必须是条目 id 或 null",
    },
    "no_cases": {"en": "no cases", "zh": "没有用例"},
}

# What a problem is about: an entry (by id, or one whose id could not be read), or the questions
# learned for an entry.
PLACES: Mapping[str, Mapping[str, str]] = {
    "entry": {"en": "entry '{id}'", "zh": "条目 '{id}'"},
    "entry_without_id": {"en": "entry", "zh": "条目"},
    "learned": {"en": "learned questions of '{id}'", "zh": "'{id}' 的学习问题"},
}


@dataclass(frozen=True)
class Where:
    kind: str
    id: str = ""

    @classmethod
    def entry(cls, entry_id: str | None) -> Where:
        return cls("entry", entry_id) if entry_id else cls("entry_without_id")

    def text(self, language: str) -> str:
        return _in(PLACES[self.kind], language).format(id=self.id)


def _in(texts: Mapping[str, str], language: str) -> str:
    return texts.get(language) or texts["en"]


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    code: str
    values: Mapping[str, Any] = field(default_factory=dict)
    where: Where | None = None

    def text(self, language: str = "en") -> str:
        return f"{self.file}:{self.line}: {self.message_in(language)}"

    def message_in(self, language: str) -> str:
        message = _in(MESSAGES[self.code], language).format_map(self.values)
        if self.where is None:
            return message
        return f"{self.where.text(language)}: {message}"

    @property
    def message(self) -> str:
        return self.message_in("en")

    def __str__(self) -> str:
        return self.text("en")


def problems_text(problems: list[Problem] | tuple[Problem, ...], language: str) -> str:
    return "\n".join(problem.text(language) for problem in problems)
