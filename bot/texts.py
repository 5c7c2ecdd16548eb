"""Every text the bot says, in Chinese and English, read from bot/locales/*.toml."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path

from knowledge.schema import LANGUAGES

LOCALES = Path(__file__).resolve().parent / "locales"


class Texts:
    def __init__(self, catalogues: Mapping[str, Mapping[str, str]], defaults: Mapping[str, str]):
        self._catalogues = catalogues
        self._defaults = dict(defaults)

    @classmethod
    def load(cls, defaults: Mapping[str, str] | None = None, folder: Path = LOCALES) -> Texts:
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
        return template.format_map({**self._defaults, **values})


class Say:
    """The catalogue in one reader's language, as handlers receive it for each update."""

    def __init__(self, texts: Texts, language: str) -> None:
        self.texts = texts
        self.language = language

    def __call__(self, key: str, **values: object) -> str:
        return self.texts(key, self.language, **values)
