"""Every text the bot says, in Chinese and English, read from bot/locales/*.toml."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path

from knowledge.schema import LANGUAGES

LOCALES = Path(__file__).resolve().parent / "locales"


# A value filled into texts: the same in every language (a phone number), or one per language
# (the opening hours, {"zh": "周一至周五 9:00–18:00", "en": "Mon–Fri 9:00–18:00"}).
Placeholder = str | Mapping[str, str]


def in_language(value: Placeholder, language: str) -> str:
    if isinstance(value, str):
        return value
    return value.get(language) or value.get("en") or next(iter(value.values()), "")


class Texts:
    def __init__(
        self, catalogues: Mapping[str, Mapping[str, str]], defaults: Mapping[str, Placeholder]
    ):
        self._catalogues = catalogues
        self._defaults = dict(defaults)

    @classmethod
    def load(
        cls, defaults: Mapping[str, Placeholder] | None = None, folder: Path = LOCALES
    ) -> Texts:
        catalogues = {
            language: tomllib.loads((folder / f"{language}.toml").read_text(encoding="utf-8"))
            for language in LANGUAGES
        }
        return cls(catalogues, defaults or {})

    def keys(self, language: str) -> set[str]:
        return set(self._catalogues[language])

    def __call__(self, key: str, language: str, **values: object) -> str:
        catalogue = self._catalogues.get(language) or self._catalogues["en"]
        template = catalogue[key]
        defaults = {name: in_language(value, language) for name, value in self._defaults.items()}
        return template.format_map({**defaults, **values})


class Say:
    """The catalogue in one reader's language, as handlers receive it for each update."""

    def __init__(self, texts: Texts, language: str) -> None:
        self.texts = texts
        self.language = language

    def __call__(self, key: str, **values: object) -> str:
        return self.texts(key, self.language, **values)
