"""Finds the knowledge-base entries that answer a customer's message.

Two stages: an inverted index of weighted features (Chinese characters and character pairs,
English words and their letter trigrams, so that typos still share most features) retrieves and
ranks variants by cosine similarity. The entries of the best variants are then scored on three
things: how much of the message (by feature weight) the entry's questions cover together, the
best variant's similarity, and rapidfuzz's ratio on the whole text.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from enum import StrEnum

from rapidfuzz import fuzz

from knowledge.normalize import is_cjk, normalize, segments
from knowledge.schema import KnowledgeBase

RERANK_VARIANTS = 40
# Features found in more variants than this are too common to find candidates with (they still
# count in the exact similarity of the candidates found through the rarer ones).
COMMON_FEATURE_SHARE = 0.02
MIN_COMMON_FEATURE_COUNT = 64
CANDIDATE_VARIANTS = 200
# How the final score (0 to 100) is made: how much of the message the entry's questions cover
# as a whole, how close its best single question is, and rapidfuzz's edit-distance ratio.
COVERAGE_WEIGHT = 0.4
VARIANT_WEIGHT = 0.4
FUZZ_WEIGHT = 0.2


class Decision(StrEnum):
    ANSWER = "answer"
    SUGGEST = "suggest"
    FALLBACK = "fallback"


@dataclass(frozen=True)
class MatchSettings:
    answer_threshold: float = 48.0
    suggest_threshold: float = 42.0
    answer_margin: float = 10.0
    suggestions: int = 3


@dataclass(frozen=True)
class Candidate:
    entry_id: str
    score: float
    variant: str


@dataclass(frozen=True)
class Match:
    decision: Decision
    candidates: tuple[Candidate, ...]

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    @property
    def entry_id(self) -> str | None:
        return self.best.entry_id if self.best else None

    @property
    def score(self) -> float:
        return self.best.score if self.best else 0.0


def features(normalized: str) -> Counter[str]:
    found: Counter[str] = Counter()
    for segment in segments(normalized):
        if is_cjk(segment):
            found.update(segment)
            found.update(segment[i : i + 2] for i in range(len(segment) - 1))
        else:
            found["w:" + segment] += 1
            padded = f"<{segment}>"
            if len(padded) > 4:
                found.update("t:" + padded[i : i + 3] for i in range(len(padded) - 2))
    return found


class Matcher:
    def __init__(self, knowledge_base: KnowledgeBase, settings: MatchSettings | None = None):
        self.knowledge_base = knowledge_base
        self.settings = settings or MatchSettings()
        self._variant_entry: list[str] = []
        self._variant_text: list[str] = []
        self._variant_original: list[str] = []
        self._entry_features: dict[str, set[str]] = defaultdict(set)
        self._postings: dict[str, list[tuple[int, float]]] = {}
        self._vectors: list[dict[str, float]] = []
        self._idf: dict[str, float] = {}
        self._build()

    def _build(self) -> None:
        counted: list[Counter[str]] = []
        document_frequency: Counter[str] = Counter()
        for entry in self.knowledge_base.entries.values():
            for _language, question in entry.variants():
                normalized = normalize(question)
                found = features(normalized)
                self._variant_entry.append(entry.id)
                self._variant_text.append(normalized)
                self._variant_original.append(question)
                counted.append(found)
                self._entry_features[entry.id].update(found)
                document_frequency.update(found.keys())
        total = len(counted)
        self._unknown_idf = math.log(total + 1) + 1.0
        self._idf = {
            feature: math.log((total + 1) / (frequency + 1)) + 1.0
            for feature, frequency in document_frequency.items()
        }
        self._common_count = max(MIN_COMMON_FEATURE_COUNT, int(total * COMMON_FEATURE_SHARE))
        postings: defaultdict[str, list[tuple[int, float]]] = defaultdict(list)
        for index, found in enumerate(counted):
            weights = self._weigh(found)
            self._vectors.append(weights)
            for feature, weight in weights.items():
                postings[feature].append((index, weight))
        self._postings = dict(postings)

    def _weigh(self, found: Counter[str]) -> dict[str, float]:
        weights = {
            feature: (1.0 + math.log(count)) * self._idf.get(feature, self._unknown_idf)
            for feature, count in found.items()
        }
        norm = math.sqrt(sum(weight * weight for weight in weights.values())) or 1.0
        return {feature: weight / norm for feature, weight in weights.items()}

    def rank(self, text: str, limit: int = 5) -> list[Candidate]:
        """The best entries for a message, best first, with scores from 0 to 100."""
        query = normalize(text)
        if not query:
            return []
        weights = self._weigh(features(query))
        similarity = self._similar_variants(weights)
        if not similarity:
            return []
        shortlist = heapq.nlargest(RERANK_VARIANTS, similarity, key=similarity.__getitem__)
        coverage: dict[str, float] = {}
        best_by_entry: dict[str, Candidate] = {}
        for index in shortlist:
            entry_id = self._variant_entry[index]
            if entry_id not in coverage:
                known = self._entry_features[entry_id]
                coverage[entry_id] = sum(w * w for f, w in weights.items() if f in known)
            score = 100.0 * (
                COVERAGE_WEIGHT * coverage[entry_id]
                + VARIANT_WEIGHT * similarity[index]
                + FUZZ_WEIGHT * fuzz.ratio(query, self._variant_text[index]) / 100.0
            )
            current = best_by_entry.get(entry_id)
            if current is None or score > current.score:
                best_by_entry[entry_id] = Candidate(
                    entry_id, round(min(score, 100.0), 1), self._variant_original[index]
                )
        ranked = sorted(best_by_entry.values(), key=lambda c: c.score, reverse=True)
        return ranked[:limit]

    def _similar_variants(self, weights: dict[str, float]) -> dict[int, float]:
        """Cosine similarity of the query to the variants that share a selective feature."""
        present = [f for f in weights if f in self._postings]
        selective = [f for f in present if len(self._postings[f]) <= self._common_count]
        if not selective:
            selective = sorted(present, key=lambda f: len(self._postings[f]))[:2]
        partial: defaultdict[int, float] = defaultdict(float)
        for feature in selective:
            weight = weights[feature]
            for index, variant_weight in self._postings[feature]:
                partial[index] += weight * variant_weight
        if len(partial) <= CANDIDATE_VARIANTS and len(selective) == len(present):
            return partial
        candidates = heapq.nlargest(CANDIDATE_VARIANTS, partial, key=partial.__getitem__)
        exact: dict[int, float] = {}
        for index in candidates:
            vector = self._vectors[index]
            exact[index] = sum(w * vector.get(f, 0.0) for f, w in weights.items())
        return exact

    def match(self, text: str) -> Match:
        settings = self.settings
        ranked = self.rank(text, limit=max(settings.suggestions, 2))
        if not ranked or ranked[0].score < settings.suggest_threshold:
            return Match(Decision.FALLBACK, tuple(ranked))
        best = ranked[0]
        runner_up = ranked[1].score if len(ranked) > 1 else 0.0
        confident = best.score >= settings.answer_threshold and (
            best.score - runner_up >= settings.answer_margin or best.score >= 99.0
        )
        if confident:
            return Match(Decision.ANSWER, tuple(ranked))
        suggestions = tuple(
            candidate
            for candidate in ranked[: settings.suggestions]
            if candidate.score >= settings.suggest_threshold * 0.8
        )
        return Match(Decision.SUGGEST, suggestions)
