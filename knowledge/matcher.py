"""Finds the knowledge-base entries that answer a customer's message.

Every question variant becomes a vector of weighted character n-grams (TF-IDF: rare n-grams
weigh more, and typos still share most n-grams with the right spelling). Each entry gets one
weight vector over the n-grams its own questions use: it starts as the mean of its variants
(what the entry is about) and is then sharpened by a few passive-aggressive passes over the
variants, which push apart entries whose questions share words (what tells the entry apart). A
message is scored against every entry through an inverted index of those weights.

How sure the match is (0 to 100) combines two things: how far the best entry leads the others
(the softmax of the scores), and how close the message is to that entry's nearest question
(cosine similarity), which is what recognises a question the knowledge base does not cover.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from knowledge.normalize import is_cjk, normalize, segments
from knowledge.schema import KnowledgeBase
from knowledge.synonyms import Synonyms

# Training: the passes over the variants, and the margin by which each variant's own entry should
# lead. How far one step may move (the passive-aggressive "C") is chosen per knowledge base from
# AGGRESSIVENESS_CHOICES on a held-out share of its variants. Caps on steps keep publishing a very
# large knowledge base within seconds.
TRAINING_EPOCHS = 4
TRAINING_MARGIN = 1.0
MAX_TRAINING_STEPS = 60_000
TRAINING_WORK = 10_000_000  # question x entry scores, for the training and for its held-out test
AGGRESSIVENESS_CHOICES = (0.1, 0.3, 1.0)
MIN_VARIANTS_TO_CHOOSE = 300
HELD_OUT_SHARE = 0.15
SELECTION_EPOCHS = 2
MAX_SELECTION_STEPS = 15_000
# How many of the other entries that score highest for a question are searched for its look-alikes.
CLOSE_QUESTION_RIVALS = 3
# Entry weights of the most frequent n-grams are kept dense, up to this many (4 bytes each).
DENSE_CELLS = 12_500_000
# The confidence is the softmax probability of the entry; its scale is calibrated on the held-out
# questions, or this one for knowledge bases too small to hold any out.
DEFAULT_SOFTMAX_SCALE = 16.0
# ... times how familiar the message looks: the cosine similarity of its words other than the
# common ones to the best entry's closest question, full from FAMILIAR_SIMILARITY up. Softmax alone
# only compares entries with each other, and would be sure of one even for a question about the
# weather on Mars.
FAMILIAR_SIMILARITY = 0.3
# A candidate is worth suggesting if it is this likely, or its closest question is familiar.
SUGGESTION_PROBABILITY = 5.0
TOPIC_CHARACTERS = 3
MIN_HELD_OUT = 50
MAX_HELD_OUT = 3000


class Decision(StrEnum):
    ANSWER = "answer"
    SUGGEST = "suggest"
    FALLBACK = "fallback"


@dataclass(frozen=True)
class MatchSettings:
    answer_threshold: float = 65.0
    suggest_threshold: float = 45.0
    answer_margin: float = 20.0
    suggestions: int = 3


@dataclass(frozen=True)
class Candidate:
    entry_id: str
    score: float
    variant: str  # the entry's question closest to the message
    similarity: float = 0.0  # how close that question is (cosine similarity, 0 to 100)


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


# Words in nearly every question in any shop. How familiar a message looks is judged without them:
# a large knowledge base learns that they say little, but a small one cannot, and would find "what
# is the weather on mars" close to "what is the store address".
_COMMON_WORDS = """
    a an the is are am was be do does did can could would will i me my you your we our us it this
    that to of in on at for and or with what how when where why which who there here please pls u
    ur im s
"""
COMMON_WORDS = frozenset(_COMMON_WORDS.split())


def features(normalized: str) -> Counter[str]:
    """Character n-grams: 1 to 3 within a run of Chinese characters; 1 to 4 within each other
    word padded with spaces (so that ' re' marks a word's start), the whole word, and each pair
    of neighbouring words ('card+arrived')."""
    words = segments(normalized)
    found = [f"{first}+{second}" for first, second in zip(words, words[1:], strict=False)]
    for word in words:
        if is_cjk(word):
            size = len(word)
            found += word
            found += [word[i : i + 2] for i in range(size - 1)]
            found += [word[i : i + 3] for i in range(size - 2)]
        else:
            padded = f" {word} "
            size = len(padded)
            found += word
            found += [padded[i : i + 2] for i in range(size - 1)]
            found += [padded[i : i + 3] for i in range(size - 2)]
            found += [padded[i : i + 4] for i in range(size - 3)]
            if size > 6:
                found.append(padded)
    return Counter(found)


def calibrated_scale(scores: np.ndarray, truth: np.ndarray) -> float:
    """The softmax scale under which held-out questions' scores best predict their entries
    (least negative log-likelihood): temperature scaling."""
    rows = np.arange(len(truth))
    shifted = scores - scores.max(axis=1, keepdims=True)
    best_scale, best_loss = DEFAULT_SOFTMAX_SCALE, math.inf
    for scale in np.geomspace(1.0, 200.0, 60):
        logits = scale * shifted
        loss = float((np.log(np.exp(logits).sum(axis=1)) - logits[rows, truth]).mean())
        if loss < best_loss:
            best_scale, best_loss = float(scale), loss
    return best_scale


class _Postings:
    """Rows of (column, weight) pairs, stored flat: row r's pairs are at [start[r], start[r+1])."""

    __slots__ = ("columns", "start", "weights")

    def __init__(self, start: np.ndarray, columns: np.ndarray, weights: np.ndarray) -> None:
        self.start = start
        self.columns = columns
        self.weights = weights

    def positions(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The flat positions of the given rows' pairs, and how many each row has."""
        first = self.start[rows]
        lengths = self.start[rows + 1] - first
        total = int(lengths.sum())
        if total == 0:
            return np.zeros(0, dtype=np.int64), lengths
        offsets = np.repeat(first - np.cumsum(lengths) + lengths, lengths)
        return offsets + np.arange(total), lengths


class Matcher:
    def __init__(
        self,
        knowledge_base: KnowledgeBase,
        settings: MatchSettings | None = None,
        *,
        seed: int = 0,
    ) -> None:
        self.knowledge_base = knowledge_base
        self.settings = settings or MatchSettings()
        self.synonyms = Synonyms(knowledge_base.synonyms)
        self._entry_ids: list[str] = list(knowledge_base.entries)
        self._variant_original: list[str] = []
        self._vocabulary: dict[str, int] = {}
        self._questions: set[str] = set()  # every question as prepared for matching
        self._build(seed)

    # Building -------------------------------------------------------------------------------

    def _build(self, seed: int) -> None:
        vocabulary = self._vocabulary
        variant_entry: list[int] = []
        row_lengths: list[int] = []
        columns: list[int] = []
        counts: list[int] = []
        for entry_index, entry in enumerate(self.knowledge_base.entries.values()):
            for _language, question in entry.variants():
                prepared = self._prepare(question)
                found = features(prepared)
                if not found:
                    continue
                self._variant_original.append(question)
                self._questions.add(prepared)
                variant_entry.append(entry_index)
                row_lengths.append(len(found))
                for feature, count in found.items():
                    column = vocabulary.get(feature)
                    if column is None:
                        column = vocabulary[feature] = len(vocabulary)
                    columns.append(column)
                    counts.append(count)
        variants = len(variant_entry)
        entries = len(self._entry_ids)
        self._variant_entry = np.asarray(variant_entry, dtype=np.int32)
        # Variants are stored entry by entry: entry i owns rows _entry_rows[i] up to [i + 1].
        self._entry_rows = np.searchsorted(self._variant_entry, np.arange(entries + 1))
        row_start = np.zeros(variants + 1, dtype=np.int64)
        np.cumsum(np.asarray(row_lengths, dtype=np.int64), out=row_start[1:])
        column_array = np.asarray(columns, dtype=np.int32)
        document_frequency = np.bincount(column_array, minlength=len(vocabulary))
        self._idf = (np.log((variants + 1) / (document_frequency + 1)) + 1.0).astype(np.float32)
        self._unknown_idf = float(math.log(variants + 1) + 1.0)
        values = (1.0 + np.log(np.asarray(counts, dtype=np.float32))) * self._idf[column_array]
        row_of_value = np.repeat(np.arange(variants), np.diff(row_start))
        norms = np.sqrt(np.bincount(row_of_value, values * values, minlength=variants))
        values /= norms[row_of_value].astype(np.float32)
        self._variants = _Postings(row_start, column_array, values.astype(np.float32))
        self._row_of_value = row_of_value
        frequency = document_frequency
        dense_count = min(len(vocabulary), DENSE_CELLS // max(entries, 1))
        dense_columns = np.argsort(-frequency, kind="stable")[:dense_count]
        self._slot = np.full(len(vocabulary), -1, dtype=np.int64)
        self._slot[dense_columns] = np.arange(dense_count)
        every_row = np.arange(variants)
        # Every training step scores a question against every entry: the budget of such scores
        # bounds the steps. A knowledge base too large for one pass keeps its mean weights.
        steps = min(
            TRAINING_EPOCHS * variants, MAX_TRAINING_STEPS, TRAINING_WORK // max(entries, 1)
        )
        train = steps >= variants and entries >= 2
        aggressiveness, self._softmax_scale = self._choose_aggressiveness(seed, train)
        dense, self._sparse = self._mean_weights(every_row)
        if train:
            dense = self._trained(dense, self._sparse, every_row, aggressiveness, steps, seed)
        self._dense = dense
        self.aggressiveness = aggressiveness if train else 0.0

    def _mean_weights(self, rows: np.ndarray) -> tuple[np.ndarray, _Postings]:
        """Each entry's weights over the n-grams its questions (among `rows`) use: their mean.

        The n-grams found in most questions are kept in a dense block (n-grams x entries), where
        training may move any weight; the rarest, beyond `DENSE_CELLS`, stay in sparse postings
        with their mean weights, so that memory does not grow with entries x vocabulary."""
        variants = self._variants
        entries = len(self._entry_ids)
        width = max(entries, 1)
        chosen = np.zeros(len(self._variant_entry), dtype=bool)
        chosen[rows] = True
        kept = chosen[self._row_of_value]
        owner = self._variant_entry[self._row_of_value[kept]].astype(np.int64)
        keys, inverse = np.unique(
            variants.columns[kept].astype(np.int64) * width + owner, return_inverse=True
        )
        weights = np.bincount(inverse, variants.weights[kept], minlength=len(keys))
        entry_of_key = keys % width
        column_of_key = keys // width
        norms = np.sqrt(np.bincount(entry_of_key, weights * weights, minlength=entries))
        weights /= np.where(norms > 0, norms, 1.0)[entry_of_key]
        dense = np.zeros((int((self._slot >= 0).sum()), width), dtype=np.float32)
        slot_of_key = self._slot[column_of_key]
        in_dense = slot_of_key >= 0
        dense[slot_of_key[in_dense], entry_of_key[in_dense]] = weights[in_dense]
        start = np.searchsorted(column_of_key[~in_dense], np.arange(len(self._vocabulary) + 1))
        sparse = _Postings(
            start.astype(np.int64),
            entry_of_key[~in_dense].astype(np.int32),
            weights[~in_dense].astype(np.float32),
        )
        return dense, sparse

    def _choose_aggressiveness(self, seed: int, train: bool) -> tuple[float, float]:
        """The training step size that does best on a held-out share of the questions, and the
        softmax scale that makes its scores there into honest probabilities.

        Clean questions written for one entry each reward big steps; questions filed under the
        wrong entry (as happens when a knowledge base is built from old chat logs) are learnt
        less by small ones."""
        variants = len(self._variant_entry)
        entries = len(self._entry_ids)
        if variants < MIN_VARIANTS_TO_CHOOSE or entries < 2:
            return AGGRESSIVENESS_CHOICES[-1], DEFAULT_SOFTMAX_SCALE
        order = np.random.default_rng(seed).permutation(variants)
        held_out_count = min(
            int(variants * HELD_OUT_SHARE), MAX_HELD_OUT, TRAINING_WORK // entries
        )
        if held_out_count < MIN_HELD_OUT:
            return AGGRESSIVENESS_CHOICES[-1], DEFAULT_SOFTMAX_SCALE
        held_out = order[:held_out_count]
        training = np.sort(order[held_out_count:])
        truth = self._variant_entry[held_out]
        steps = min(SELECTION_EPOCHS * len(training), MAX_SELECTION_STEPS)
        best: tuple[int, float, np.ndarray] | None = None
        for aggressiveness in AGGRESSIVENESS_CHOICES if train else AGGRESSIVENESS_CHOICES[-1:]:
            dense, sparse = self._mean_weights(training)
            if train:
                dense = self._trained(dense, sparse, training, aggressiveness, steps, seed)
            scores = np.stack([self._row_scores(row, dense, sparse) for row in held_out.tolist()])
            correct = int((scores.argmax(axis=1) == truth).sum())
            if best is None or correct > best[0]:
                best = (correct, aggressiveness, scores)
        assert best is not None
        _correct, aggressiveness, scores = best
        return aggressiveness, calibrated_scale(scores, truth)

    def _row_scores(self, row: int, dense: np.ndarray, sparse: _Postings) -> np.ndarray:
        first, last = self._variants.start[row], self._variants.start[row + 1]
        return self._scores(
            self._variants.columns[first:last], self._variants.weights[first:last], dense, sparse
        )

    def _trained(
        self,
        dense: np.ndarray,
        sparse: _Postings,
        rows: np.ndarray,
        aggressiveness: float,
        steps: int,
        seed: int,
    ) -> np.ndarray:
        """Averaged passive-aggressive passes over the variants: one that its own entry does not
        lead by the margin moves its n-grams' weight toward its entry and away from the entry
        ahead of it (in the dense block; the rare n-grams keep their mean weights)."""
        history = np.zeros_like(dense)  # sum of step x change, for the average
        variants = self._variants
        start = variants.start.tolist()
        owner = self._variant_entry.tolist()
        order = rows.tolist()
        shuffle = random.Random(seed).shuffle
        step = 0
        while step < steps:
            shuffle(order)
            for row in order[: steps - step]:
                step += 1
                first, last = start[row], start[row + 1]
                columns = variants.columns[first:last]
                values = variants.weights[first:last]
                scores = self._scores(columns, values, dense, sparse)
                own = owner[row]
                own_score = scores[own]
                scores[own] = -np.inf
                rival = int(scores.argmax())
                loss = TRAINING_MARGIN - (own_score - scores[rival])
                if loss <= 0:
                    continue
                slots = self._slot[columns]
                trained = slots >= 0
                slots = slots[trained]
                change = min(aggressiveness, loss / 2.0) * values[trained]
                dense[slots, own] += change
                dense[slots, rival] -= change
                history[slots, own] += step * change
                history[slots, rival] -= step * change
        dense -= history / np.float32(step + 1)
        return dense

    # Matching -------------------------------------------------------------------------------

    def _prepare(self, text: str) -> str:
        return self.synonyms.apply(normalize(text))

    def _vectorize(self, prepared: str) -> tuple[np.ndarray, np.ndarray]:
        """The message's known n-grams and their TF-IDF weights. Unknown n-grams count toward
        the length of the vector, so a message full of words no question uses scores low."""
        found = features(prepared)
        if not found:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        lookup = self._vocabulary.get
        columns = np.fromiter((lookup(f, -1) for f in found), dtype=np.int64, count=len(found))
        counts = np.fromiter(found.values(), dtype=np.float32, count=len(found))
        known = columns >= 0
        tf = 1.0 + np.log(counts)
        columns = columns[known]
        values = tf[known] * self._idf[columns]
        unknown = tf[~known] * self._unknown_idf
        norm = math.sqrt(float(values @ values) + float(unknown @ unknown))
        return columns, values / norm

    def _scores(
        self,
        columns: np.ndarray,
        values: np.ndarray,
        dense: np.ndarray | None = None,
        sparse: _Postings | None = None,
    ) -> np.ndarray:
        """Every entry's score for a vector: its n-grams' weights for the entry, summed."""
        dense = self._dense if dense is None else dense
        sparse = self._sparse if sparse is None else sparse
        slots = self._slot[columns]
        trained = slots >= 0
        scores = values[trained] @ dense[slots[trained]]
        if trained.all():
            return scores
        positions, lengths = sparse.positions(columns[~trained])
        scores += np.bincount(
            sparse.columns[positions],
            sparse.weights[positions] * np.repeat(values[~trained], lengths),
            minlength=len(self._entry_ids),
        )
        return scores

    def _nearest_variants(
        self, columns: np.ndarray, values: np.ndarray, entry_indexes: list[int]
    ) -> dict[int, tuple[float, int]]:
        """For each given entry: its question most similar to the message (cosine, row)."""
        query = np.zeros(len(self._vocabulary), dtype=np.float32)
        query[columns] = values
        nearest: dict[int, tuple[float, int]] = {}
        row_start = self._variants.start
        for index in entry_indexes:
            first, last = self._entry_rows[index], self._entry_rows[index + 1]
            if first == last:
                continue
            begin, end = row_start[first], row_start[last]
            products = query[self._variants.columns[begin:end]] * self._variants.weights[begin:end]
            similarity = np.add.reduceat(products, row_start[first:last] - begin)
            best = int(similarity.argmax())
            nearest[index] = (float(similarity[best]), first + best)
        return nearest

    def _content_similarity(self, prepared: str, row: int) -> float:
        """Cosine similarity of the message, without its common words (unless it has nothing
        else), to a question."""
        content = " ".join(word for word in prepared.split() if word not in COMMON_WORDS)
        columns, values = self._vectorize(content or prepared)
        if not len(columns):
            return 0.0
        first, last = self._variants.start[row], self._variants.start[row + 1]
        question = dict(
            zip(
                self._variants.columns[first:last].tolist(),
                self._variants.weights[first:last].tolist(),
                strict=True,
            )
        )
        return sum(
            question.get(column, 0.0) * value
            for column, value in zip(columns.tolist(), values.tolist(), strict=True)
        )

    def rank(self, text: str, limit: int = 5) -> list[Candidate]:
        """The best entries for a message, best first, each with how sure the matcher is that it
        is the one (0 to 100) and its question closest to the message."""
        prepared = self._prepare(text)
        columns, values = self._vectorize(prepared)
        if not len(columns) or not self._entry_ids:
            return []
        scores = self._scores(columns, values)
        count = min(limit, len(scores))
        top = np.argpartition(-scores, count - 1)[:count]
        top = top[np.argsort(-scores[top], kind="stable")].tolist()
        exponentials = np.exp(self._softmax_scale * (scores - scores.max()))
        probability = exponentials / exponentials.sum()
        nearest = self._nearest_variants(columns, values, top)
        familiarity = self._content_similarity(prepared, nearest[top[0]][1]) / FAMILIAR_SIMILARITY
        familiarity = min(max(familiarity, 0.0), 1.0)
        return [
            Candidate(
                self._entry_ids[index],
                round(100.0 * float(probability[index]) * familiarity, 1),
                self._variant_original[nearest[index][1]],
                round(100.0 * nearest[index][0], 1),
            )
            for index in top
        ]

    def close_questions(self, minimum: float) -> list[tuple[str, str, str, str, float]]:
        """Questions of different entries that are alike (cosine similarity, 0 to 100, at least
        `minimum`): for each question, the closest one among the other entries that score
        highest for it. Each as (question, entry id, other entry id, other question, score)."""
        found = []
        for row in range(len(self._variant_entry)):
            first, last = self._variants.start[row], self._variants.start[row + 1]
            columns = self._variants.columns[first:last]
            values = self._variants.weights[first:last]
            scores = self._scores(columns, values)
            own = int(self._variant_entry[row])
            scores[own] = -np.inf
            rivals = np.argsort(-scores)[:CLOSE_QUESTION_RIVALS].tolist()
            nearest = self._nearest_variants(columns, values, [r for r in rivals if r != own])
            if not nearest:
                continue
            similarity, other = max(nearest.values())
            if 100.0 * similarity >= minimum:
                found.append(
                    (
                        self._variant_original[row],
                        self._entry_ids[own],
                        self._entry_ids[int(self._variant_entry[other])],
                        self._variant_original[other],
                        round(100.0 * similarity, 1),
                    )
                )
        return found

    def match(self, text: str) -> Match:
        settings = self.settings
        ranked = self.rank(text, limit=max(settings.suggestions, 2))
        if not ranked:
            return Match(Decision.FALLBACK, ())
        suggestions = tuple(
            candidate
            for candidate in ranked[: settings.suggestions]
            if candidate.score >= SUGGESTION_PROBABILITY
            or candidate.similarity >= 100.0 * FAMILIAR_SIMILARITY
        )
        if self.is_topic(text):
            # One word ("refund", "退货") names a topic rather than asks a question: the entries
            # about it are offered, not guessed between.
            return Match(Decision.SUGGEST if suggestions else Decision.FALLBACK, suggestions)
        best = ranked[0]
        if best.score < settings.suggest_threshold:
            return Match(Decision.FALLBACK, tuple(ranked))
        runner_up = ranked[1].score if len(ranked) > 1 else 0.0
        confident = best.score >= settings.answer_threshold and (
            best.score - runner_up >= settings.answer_margin or best.score >= 99.0
        )
        if confident:
            return Match(Decision.ANSWER, tuple(ranked))
        return Match(Decision.SUGGEST, suggestions)

    def is_topic(self, text: str) -> bool:
        """A single word (up to TOPIC_CHARACTERS Chinese characters) that is not itself one of
        the knowledge base's questions."""
        prepared = self._prepare(text)
        words = prepared.split()
        if len(words) != 1 or prepared in self._questions:
            return False
        return not is_cjk(prepared) or len(prepared) <= TOPIC_CHARACTERS
