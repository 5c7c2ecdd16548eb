from __future__ import annotations

import string

from bot.texts import Texts


def test_both_languages_have_every_text_with_the_same_placeholders() -> None:
    texts = Texts.load()
    assert texts.keys("zh") == texts.keys("en")
    for key in texts.keys("en"):
        fields = {
            language: {
                name
                for _, name, _, _ in string.Formatter().parse(texts._catalogues[language][key])
                if name
            }
            for language in ("zh", "en")
        }
        assert fields["zh"] == fields["en"], key


def test_placeholders_come_from_the_business_config() -> None:
    texts = Texts.load({"phone": "400-9", "email": "a@b", "business_hours": "9-18"})
    assert (
        texts("offer_human", "en")
        == "You can reach a person here: phone 400-9, e-mail a@b (9-18)."
    )
