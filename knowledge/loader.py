"""Reads the knowledge base's YAML files and validates every entry, naming file and line."""

from __future__ import annotations

import re
import string
from collections.abc import Collection, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from knowledge.normalize import normalize
from knowledge.problems import Problem, Where
from knowledge.schema import ACTIONS, LANGUAGES, Button, Entry, KnowledgeBase

ENTRY_KEYS = {"id", "category", "questions", "answer", "buttons", "related", "action", "menu"}
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_]*$")
TOP_KEYS = {"entries", "synonyms", "learned"}

# What a chat client accepts, checked here so that a knowledge base that loads can be served:
# an entry's id travels in a button's data (64 bytes on Telegram, with a short prefix), an
# answer is one message (4,096 characters on Telegram, with room for the bot's own line below
# it), a keyboard holds at most 100 buttons.
MAX_ID_LENGTH = 56
MAX_ANSWER_LENGTH = 4000
MAX_BUTTONS = 20  # an entry's buttons and related entries, each one button under its answer
MAX_ENTRIES = 2000
MAX_FILE_BYTES = 1_000_000


def message_length(text: str) -> int:
    """A text's length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


class KnowledgeBaseError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


class _Node:
    """A YAML value with the line it starts on (1-based)."""

    __slots__ = ("key_lines", "line", "value")

    def __init__(self, value: Any, line: int, key_lines: dict[Any, int] | None = None) -> None:
        self.value = value
        self.line = line
        self.key_lines = key_lines or {}


# libyaml's parser when PyYAML has it (it is many times faster); the same nodes and line marks.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TEXT = "tag:yaml.org,2002:str"


def _to_nodes(node: yaml.Node, constructor: yaml.constructor.SafeConstructor) -> _Node:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        pairs: dict[Any, _Node] = {}
        key_lines: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = _to_nodes(key_node, constructor).value
            pairs[key] = _to_nodes(value_node, constructor)
            key_lines[key] = key_node.start_mark.line + 1
        return _Node(pairs, line, key_lines)
    if isinstance(node, yaml.SequenceNode):
        return _Node([_to_nodes(item, constructor) for item in node.value], line)
    if isinstance(node, yaml.ScalarNode) and node.tag == _TEXT and node.style:
        # quoted or block text: a string as written
        return _Node(node.value, line)
    try:
        return _Node(constructor.construct_object(node, deep=True), line)
    finally:
        constructor.constructed_objects.clear()


def _first_alias(text: str) -> int | None:
    """The line of the first alias in a YAML text, None when it has none."""
    if "*" not in text:
        return None
    for event in yaml.parse(text, Loader=_YAML_LOADER):
        if isinstance(event, yaml.AliasEvent):
            return event.start_mark.line + 1 if event.start_mark else 0
    return None


def knowledge_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def load_knowledge_base(
    path: str | Path,
    placeholders: Mapping[str, str | Mapping[str, str]] | None = None,
    actions: Collection[str] = ACTIONS,
) -> KnowledgeBase:
    """Load and validate a knowledge base folder (or one file); raise KnowledgeBaseError on any
    problem, so that a knowledge base is never used in part."""
    root = Path(path)
    if not root.exists():
        raise KnowledgeBaseError([Problem(str(root), 0, "no_path")])
    files = knowledge_files(root)
    if not files:
        raise KnowledgeBaseError([Problem(str(root), 0, "no_yaml")])
    reader = _Reader(placeholders, actions)
    for file in files:
        reader.read_file(file)
    reader.add_learned()
    reader.check_references()
    if reader.problems:
        raise KnowledgeBaseError(reader.problems)
    return KnowledgeBase(
        entries=reader.entries,
        files=tuple(str(f) for f in files),
        synonyms=tuple(reader.synonyms),
    )


class _Reader:
    def __init__(
        self,
        placeholders: Mapping[str, str | Mapping[str, str]] | None,
        actions: Collection[str],
    ) -> None:
        self.placeholders = dict(placeholders) if placeholders is not None else None
        self.actions = actions
        self.problems: list[Problem] = []
        self.entries: dict[str, Entry] = {}
        self.entry_lines: dict[str, tuple[str, int]] = {}
        self.variant_owner: dict[str, tuple[str, str, int]] = {}
        self.seen_ids: set[str] = set()
        self.references: list[tuple[str, int, Where, str]] = []
        self.synonyms: list[tuple[str, ...]] = []
        self.synonym_lines: dict[str, tuple[str, int]] = {}
        # learned questions (file, line, entry id, language, text), added once every entry is read
        self.learned: list[tuple[str, int, str, str, str]] = []
        self.file = ""
        self.too_many = False

    def problem(self, line: int, code: str, where: Where | None = None, **values: Any) -> None:
        self.problems.append(Problem(self.file, line, code, values, where))

    def read_file(self, file: Path) -> None:
        self.file = str(file)
        size = file.stat().st_size
        if size > MAX_FILE_BYTES:
            self.problem(0, "file_too_big", size=size, limit=MAX_FILE_BYTES)
            return
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            self.problem(0, "not_utf8", reason=error.reason)
            return
        try:
            alias = _first_alias(text)
            if alias is not None:
                # an alias repeats a whole value: nested ones grow exponentially (a "YAML bomb")
                self.problem(alias, "alias")
                return
            document = yaml.compose(text, Loader=_YAML_LOADER)
            constructor = yaml.constructor.SafeConstructor()
            root = _to_nodes(document, constructor) if document is not None else None
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            line = mark.line + 1 if mark else 0
            self.problem(line, "not_yaml", detail=error.problem or error.context)
            return
        except yaml.YAMLError as error:
            self.problem(0, "not_yaml", detail=str(error))
            return
        if root is None:
            self.problem(1, "empty_file")
            return
        if not isinstance(root.value, dict) or not TOP_KEYS & set(root.value):
            self.problem(root.line, "no_top_key")
            return
        unknown = set(root.value) - TOP_KEYS
        for key in sorted(map(str, unknown)):
            self.problem(root.key_lines[key], "unknown_top_key", key=key)
        if "synonyms" in root.value:
            self.read_synonyms(root.value["synonyms"])
        if "learned" in root.value:
            self.read_learned(root.value["learned"])
        if "entries" not in root.value:
            return
        entries = root.value["entries"]
        if not isinstance(entries.value, list):
            self.problem(entries.line, "entries_not_list")
            return
        for node in entries.value:
            self.read_entry(node)

    def read_synonyms(self, node: _Node) -> None:
        """A list of groups, each a list of two or more words or phrases that mean the same."""
        if not isinstance(node.value, list):
            self.problem(node.line, "synonyms_not_list")
            return
        for group in node.value:
            if not isinstance(group.value, list) or len(group.value) < 2:
                self.problem(group.line, "synonym_group")
                continue
            terms: list[str] = []
            for item in group.value:
                term = str(item.value).strip() if isinstance(item.value, str | int) else ""
                key = normalize(term)
                if not key:
                    self.problem(item.line, "synonym_empty", term=item.value)
                    continue
                if key in self.synonym_lines:
                    file, line = self.synonym_lines[key]
                    self.problem(item.line, "synonym_repeated", term=term, at=f"{file}:{line}")
                    continue
                self.synonym_lines[key] = (self.file, group.line)
                terms.append(term)
            if len(terms) >= 2:
                self.synonyms.append(tuple(terms))

    def read_learned(self, node: _Node) -> None:
        """Questions learned from customers, by entry id and language (see learned.yaml)."""
        if not isinstance(node.value, dict):
            self.problem(node.line, "learned_not_mapping")
            return
        for entry_id, by_language in node.value.items():
            where = Where("learned", str(entry_id))
            languages = self.read_languages(by_language, where, "learned")
            for language, items in (languages or {}).items():
                if not isinstance(items.value, list):
                    self.problem(items.line, "list_of_text", where, field=language)
                    continue
                for item in items.value:
                    text = str(item.value).strip()
                    if not isinstance(item.value, str | int | float) or not text:
                        self.problem(item.line, "question_empty", where)
                        continue
                    self.learned.append((self.file, item.line, str(entry_id), language, text))

    def add_learned(self) -> None:
        """Each learned question joins its entry's questions, validated as they are; one the
        entry already has is left out (an admin may have copied it into the entry by hand)."""
        added: dict[str, dict[str, list[str]]] = {}
        for file, line, entry_id, language, text in self.learned:
            self.file = file
            entry = self.entries.get(entry_id)
            if entry is None:
                if entry_id not in self.seen_ids:
                    self.problem(line, "learned_unknown_entry", text=text, entry=entry_id)
                continue
            owner = self.variant_owner.get(normalize(text))
            if owner is not None and owner[0] == entry_id:
                continue
            self.claim_variant(text, line, Where.entry(entry_id))
            added.setdefault(entry_id, {}).setdefault(language, []).append(text)
        for entry_id, by_language in added.items():
            entry = self.entries[entry_id]
            questions = dict(entry.questions)
            for language, texts in by_language.items():
                questions[language] = (*questions.get(language, ()), *texts)
            self.entries[entry_id] = replace(entry, questions=questions)

    def read_entry(self, node: _Node) -> None:
        if not isinstance(node.value, dict):
            self.problem(node.line, "entry_not_mapping")
            return
        fields: dict[str, _Node] = node.value
        before = len(self.problems)
        for key in sorted(set(map(str, fields)) - ENTRY_KEYS):
            known = ", ".join(sorted(ENTRY_KEYS))
            self.problem(node.key_lines[key], "unknown_entry_key", key=key, known=known)
        entry_id = self.read_id(node)
        if entry_id:
            self.seen_ids.add(entry_id)
        where = Where.entry(entry_id)
        category = self.read_text(fields.get("category"), node.line, where, "category")
        questions = self.read_questions(fields.get("questions"), node.line, where)
        action = self.read_action(fields.get("action"), where)
        answer = self.read_answer(
            fields.get("answer"), node.line, where, required="action" not in fields
        )
        buttons = self.read_buttons(fields.get("buttons"), where, entry_id)
        related = self.read_related(fields.get("related"), where, entry_id)
        menu = fields.get("menu")
        if menu is not None and not isinstance(menu.value, bool):
            self.problem(menu.line, "menu_not_bool", where)
        if entry_id is None or len(self.problems) > before:
            return
        if entry_id in self.entries:
            first_file, first_line = self.entry_lines[entry_id]
            at = f"{first_file}:{first_line}"
            self.problem(fields["id"].line, "duplicate_id", id=entry_id, at=at)
            return
        if len(buttons) + len(related) > MAX_BUTTONS:
            count = len(buttons) + len(related)
            self.problem(node.line, "too_many_buttons", where, count=count, limit=MAX_BUTTONS)
            return
        if len(self.entries) >= MAX_ENTRIES:
            if not self.too_many:  # said once, where the limit is crossed
                self.problem(node.line, "too_many_entries", where, limit=MAX_ENTRIES)
                self.too_many = True
            return
        self.entry_lines[entry_id] = (self.file, node.line)
        self.entries[entry_id] = Entry(
            id=entry_id,
            category=category or "",
            questions=questions,
            answer=answer,
            buttons=buttons,
            related=related,
            action=action,
            menu=bool(menu.value) if menu else False,
            source=f"{self.file}:{node.line}",
        )

    def read_id(self, node: _Node) -> str | None:
        id_node = node.value.get("id")
        if id_node is None:
            self.problem(node.line, "no_id")
            return None
        value = id_node.value
        if not isinstance(value, str) or not ID_PATTERN.match(value):
            self.problem(id_node.line, "bad_id", id=value)
            return None
        if len(value) > MAX_ID_LENGTH:
            self.problem(
                id_node.line, "long_id", start=value[:20], length=len(value), limit=MAX_ID_LENGTH
            )
            return None
        return value

    def read_text(self, node: _Node | None, line: int, where: Where, name: str) -> str | None:
        if node is None:
            self.problem(line, "field_missing", where, field=name)
            return None
        if not isinstance(node.value, str) or not node.value.strip():
            self.problem(node.line, "field_not_text", where, field=name)
            return None
        return node.value.strip()

    def read_languages(self, node: _Node, where: Where, what: str) -> dict[str, _Node] | None:
        if not isinstance(node.value, dict) or not node.value:
            self.problem(node.line, "not_languages", where, field=what)
            return None
        result: dict[str, _Node] = {}
        for language, value in node.value.items():
            if language not in LANGUAGES:
                self.problem(value.line, "unknown_language", where, language=language, field=what)
                continue
            result[language] = value
        return result

    def read_questions(
        self, node: _Node | None, line: int, where: Where
    ) -> dict[str, tuple[str, ...]]:
        if node is None:
            self.problem(line, "field_missing", where, field="questions")
            return {}
        by_language = self.read_languages(node, where, "questions")
        questions: dict[str, tuple[str, ...]] = {}
        for language, items in (by_language or {}).items():
            if not isinstance(items.value, list) or not items.value:
                self.problem(items.line, "list_of_text", where, field=f"questions.{language}")
                continue
            texts: list[str] = []
            for item in items.value:
                if not isinstance(item.value, str | int | float) or not str(item.value).strip():
                    self.problem(item.line, "question_empty", where)
                    continue
                text = str(item.value).strip()
                self.claim_variant(text, item.line, where)
                texts.append(text)
            questions[language] = tuple(texts)
        return questions

    def claim_variant(self, text: str, line: int, where: Where) -> None:
        key = normalize(text)
        if not key:
            self.problem(line, "question_no_letters", where, text=text)
            return
        owner = self.variant_owner.get(key)
        if owner is not None:
            other, file, other_line = owner
            at = f"{file}:{other_line}"
            self.problem(line, "question_taken", where, text=text, other=other, at=at)
            return
        self.variant_owner[key] = (where.id, self.file, line)

    def read_answer(
        self, node: _Node | None, line: int, where: Where, *, required: bool
    ) -> dict[str, str]:
        if node is None:
            if required:
                self.problem(line, "answer_missing", where)
            return {}
        by_language = self.read_languages(node, where, "answer")
        answers: dict[str, str] = {}
        for language, text in (by_language or {}).items():
            if not isinstance(text.value, str) or not text.value.strip():
                self.problem(text.line, "answer_empty", where, language=language)
                continue
            rendered = self.fill_placeholders(text.value.strip(), text.line, where, language)
            if rendered is None:
                continue
            length = message_length(rendered)
            if length > MAX_ANSWER_LENGTH:
                self.problem(
                    text.line,
                    "answer_too_long",
                    where,
                    language=language,
                    length=length,
                    limit=MAX_ANSWER_LENGTH,
                )
                continue
            answers[language] = rendered
        return answers

    def fill_placeholders(self, text: str, line: int, where: Where, language: str) -> str | None:
        """A placeholder's value is one text, or one per language (the opening hours)."""
        try:
            names = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
        except ValueError as error:
            self.problem(line, "broken_braces", where, detail=str(error))
            return None
        if self.placeholders is None:
            return text
        unknown = [name for name in names if name not in self.placeholders]
        if unknown:
            known = ", ".join("{" + name + "}" for name in sorted(self.placeholders))
            self.problem(line, "unknown_placeholder", where, name=unknown[0], known=known)
            return None
        values = {
            name: value if isinstance(value, str) else value.get(language, "")
            for name, value in self.placeholders.items()
        }
        return text.format_map(values)

    def read_action(self, node: _Node | None, where: Where) -> str | None:
        if node is None:
            return None
        if node.value not in self.actions:
            known = ", ".join(sorted(self.actions))
            self.problem(node.line, "unknown_action", where, action=node.value, known=known)
            return None
        return str(node.value)

    def read_buttons(
        self, node: _Node | None, where: Where, entry_id: str | None
    ) -> tuple[Button, ...]:
        if node is None:
            return ()
        if not isinstance(node.value, list):
            self.problem(node.line, "buttons_not_list", where)
            return ()
        buttons: list[Button] = []
        for item in node.value:
            button = self.read_button(item, where, entry_id)
            if button:
                buttons.append(button)
        return tuple(buttons)

    def read_button(self, item: _Node, where: Where, entry_id: str | None) -> Button | None:
        fields = item.value
        if not isinstance(fields, dict) or ("entry" in fields) == ("url" in fields):
            self.problem(item.line, "button_shape", where)
            return None
        unknown = set(map(str, fields)) - {"entry", "url", "label"}
        if unknown:
            self.problem(item.line, "button_key", where, key=sorted(unknown)[0])
            return None
        if "entry" in fields:
            target = fields["entry"]
            self.references.append((self.file, target.line, where, str(target.value)))
            return Button(entry=str(target.value))
        url = fields["url"]
        if not isinstance(url.value, str) or not url.value.startswith(("https://", "http://")):
            self.problem(url.line, "button_url", where)
            return None
        label_node = fields.get("label")
        if label_node is None:
            self.problem(item.line, "button_label", where)
            return None
        labels = self.read_languages(label_node, where, "label") or {}
        return Button(url=url.value, label={k: str(v.value) for k, v in labels.items()})

    def read_related(
        self, node: _Node | None, where: Where, entry_id: str | None
    ) -> tuple[str, ...]:
        if node is None:
            return ()
        if not isinstance(node.value, list):
            self.problem(node.line, "related_not_list", where)
            return ()
        related = []
        for item in node.value:
            self.references.append((self.file, item.line, where, str(item.value)))
            related.append(str(item.value))
        return tuple(related)

    def check_references(self) -> None:
        for file, line, where, target in self.references:
            if target not in self.seen_ids:
                problem = Problem(file, line, "no_such_entry", {"target": target}, where)
                self.problems.append(problem)
