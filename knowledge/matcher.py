"""Finds the knowledge-base entries that answer a customer's message.

Every question becomes a vector of TF-IDF weighted features (character n-grams, so that typos
still share most of them with the right spelling; whole words; word pairs). Each entry gets one
weight vector over the features its questions use: it starts as the mean of its questions (what
the entry is about), is sharpened by averaged passive-aggressive passes over them, which push
apart entries whose questions share words (what tells the entry apart), and gets the mean added
back at half strength, which makes it robust to questions filed wrongly. The step size, and the
softmax scale that turns scores into honest probabilities, are chosen on a held-out share of the
questions. A message is scored against every entry at once through those weights.

With a sentence encoder (knowledge/semantic.py), a knowledge base that is thin (few questions
per entry) also gets a semantic side: the cosine of the message's sentence vector to each entry's
centroid of sentence vectors, and to its closest question, is added to the entry's score. It
knows paraphrase that five questions cannot carry, and it is asked only about messages the
characters alone do not settle.

How sure a match is (0 to 100) is the entry's probability times how familiar the message looks:
the similarity of the message to the entry's closest question (in meaning when the semantic side
is on, else in words), which is what recognises a question the knowledge base does not cover. The
score needed to answer is calibrated per knowledge base too: the lowest at which held-out questions
of the knowledge base are answered rightly at least ANSWER_PRECISION of the time.
"""

from __future__ import annotations

import math
import random
import re
from array import array
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

import numpy as np
from rapidfuzz import fuzz, process

from knowledge.normalize import is_cjk, normalize, segments
from knowledge.schema import KnowledgeBase
from knowledge.semantic import CachedEncoder
from knowledge.synonyms import Synonyms

# Training: the passes over the questions, and the margin by which each question's own entry
# should lead. How far one step may move (the passive-aggressive "C") is chosen per knowledge base
# from AGGRESSIVENESS_CHOICES on a held-out share of its questions, with shorter passes.
TRAINING_EPOCHS = 4
TRAINING_MARGIN = 1.0
# After training, the mean weights are added back at this strength: a prior that keeps questions
# filed under the wrong entry from pulling their entry far (it costs clean knowledge bases little).
MEAN_PRIOR = 0.5
AGGRESSIVENESS_CHOICES = (0.1, 0.3, 1.0)
SELECTION_EPOCHS = 2
MIN_VARIANTS_TO_CHOOSE = 300
HELD_OUT_SHARE = 0.15
MIN_HELD_OUT = 50
MAX_HELD_OUT = 3000
# A knowledge base of up to this many questions has its thresholds set on all of them, each
# judged by a matcher built without it (cross-validation in this many folds), instead of on the
# held-out share alone: 15% of a thin knowledge base is too few judgements.
CROSS_VALIDATION_MAX_QUESTIONS = 5_000
CROSS_VALIDATION_FOLDS = 5
# Caps that keep publishing a very large knowledge base within seconds: on steps, and on how many
# question x entry scores the training and its held-out test may compute.
MAX_TRAINING_STEPS = 60_000
MAX_SELECTION_STEPS = 15_000
TRAINING_WORK = 10_000_000
# Entry weights of the most frequent features are kept dense, up to this many (4 bytes each); the
# rarer ones in sparse postings.
DENSE_CELLS = 12_500_000
# Words whose n-grams, and in each matcher their columns, are kept at hand (most words recur; a
# few MB).
WORD_CACHE = 20_000

# The score is the softmax probability of the entry: its scale is calibrated on the held-out
# questions (on their best CALIBRATION_ENTRIES scores), or is the default for knowledge bases too
# small to hold any out ...
DEFAULT_SOFTMAX_SCALE = 16.0
CALIBRATION_ENTRIES = 50
# ... times how familiar the message looks: the cosine similarity of its words other than the
# common ones to the best entry's closest question, full from FAMILIAR_SIMILARITY up. Softmax alone
# only compares entries with each other, and would be sure of one even for a question about the
# weather on Mars.
FAMILIAR_SIMILARITY = 0.3
# A candidate is worth suggesting if it is this likely, or its closest question is familiar.
SUGGESTION_PROBABILITY = 5.0
# A message of one word (or of up to this many Chinese characters) names a topic.
TOPIC_CHARACTERS = 3
# How many of the other entries that score highest for a question are searched for look-alikes.
CLOSE_QUESTION_RIVALS = 3

# The semantic side is for thin knowledge bases: up to this many questions per entry on average
# (a large one already tells its entries apart by their words, and every message would pay for a
# sentence vector), and up to this many questions in all (embedding them takes about 1 ms each).
SEMANTIC_MAX_PER_ENTRY = 40
SEMANTIC_MAX_QUESTIONS = 20_000
# An entry's score is its lexical score plus SEMANTIC_WEIGHT times the cosine of the message to
# the entry's centroid of sentence vectors, plus NEAREST_WEIGHT times its cosine to the entry's
# closest question (a paraphrase of one question is not always near the mean of five). Chosen on
# validation data (CLINC150 val, BANKING77 and CIC rows held out of train; 5 and 10 questions per
# entry) for the largest smallest lead over TF-IDF + logistic regression across those six: 3 and
# 0 before; (4, 1) lifted BANKING77 5-shot's top-1 from 0.678 to 0.688 and 10-shot's from 0.763
# to 0.772, CLINC150's by 0.006 and 0.004, and cost CIC 0.008 and 0.004.
SEMANTIC_WEIGHT = 4.0
NEAREST_WEIGHT = 1.0
# How familiar a message looks in meaning: the cosine of its sentence vector to the entry's
# closest question, nothing up to SEMANTIC_UNFAMILIAR, full from SEMANTIC_FAMILIAR (CLINC150's
# val and oos_val: 98 in 100 out-of-scope questions stay under a suggestion, and answered wrongly
# goes from 4.8% to 4.3% of in-scope questions at 5-shot, for 1.7% fewer answered rightly; the
# sample shop's off-topic validation requests fall back a little more often).
SEMANTIC_UNFAMILIAR = 0.45
SEMANTIC_FAMILIAR = 0.7
# A message this like one of the questions, word for word, needs no sentence vector.
VERBATIM_SIMILARITY = 0.9
# A knowledge base with too many questions per entry for the semantic side (but few enough to
# embed) gets a check in meaning instead: a message it would answer or suggest with a score under
# UNSURE_SCORE falls back when no question of its best entry has a sentence vector within
# OUT_OF_SCOPE_COSINE of its own. Many questions per entry leave an out-of-scope message a few
# shared words to match on; its meaning is further from all of them. Sure matches skip the check
# and its sentence vector (on CLINC150's val and oos_val: about 1 message in 7 pays for it, and
# out-of-scope fallback goes from 78% to 87% for 0.4% of in-scope answers).
UNSURE_SCORE = 90.0
# A word this like one of the questions' words (rapidfuzz ratio, 0 to 100) is taken for a typo of
# it, not for a word no question uses ("refnd", "wil"; not "oil").
KNOWN_WORD_SIMILARITY = 75.0
OUT_OF_SCOPE_COSINE = 0.5

# An answer must be right this often on held-out questions of the knowledge base: the answer
# threshold is raised, per knowledge base, to the lowest score at which it is, judged on at least
# MIN_ANSWERED_TO_TRUST of them (so that a few lucky questions do not make a thin knowledge base
# bold). With no score good enough, the knowledge base suggests and never answers on its own.
ANSWER_PRECISION = 0.95
MIN_ANSWERED_TO_TRUST = 20

# Words that turn a request around: "i don't want a refund" is not a request for the refund
# entry. A message with one of them gets no confident answer from an entry none of whose
# questions has one (it may still be suggested).
NEGATIONS_EN = frozenset(["not", "dont", "doesnt", "never"])
NEGATIONS_ZH = ("不要", "不想", "不用", "不需要", "别")
_APOSTROPHE_T = re.compile(r"n t\b")


class Decision(StrEnum):
    ANSWER = "answer"
    SUGGEST = "suggest"
    FALLBACK = "fallback"


@dataclass(frozen=True)
class MatchSettings:
    answer_threshold: float = 60.0
    suggest_threshold: float = 40.0
    answer_margin: float = 20.0
    suggestions: int = 3
    # Raise the answer threshold to what the knowledge base's held-out questions earn (below).
    calibrate: bool = False


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
    """Each pair of neighbouring words ('card+arrived', '我想+return'), and each word's n-grams."""
    words = segments(normalized)
    found = [f"{first}+{second}" for first, second in zip(words, words[1:], strict=False)]
    for word in words:
        found += _word_features(word)
    return Counter(found)


@lru_cache(maxsize=WORD_CACHE)
def _word_features(word: str) -> tuple[str, ...]:
    """A run of Chinese characters: its 1-, 2- and 3-grams. Any other word: its 2-, 3- and
    4-grams padded with spaces (' re' marks a word's start) and, longer than four letters, the
    word itself. Cached, as most words recur."""
    if is_cjk(word):
        size = len(word)
        grams = [*word, *(word[i : i + 2] for i in range(size - 1))]
        return (*grams, *(word[i : i + 3] for i in range(size - 2)))
    padded = f" {word} "
    size = len(padded)
    grams = [padded[i : i + n] for n in (2, 3, 4) for i in range(size - n + 1)]
    if size > 6:
        grams.append(padded)
    return tuple(grams)


def calibrated_scale(scores: np.ndarray, truth: np.ndarray) -> float:
    """The softmax scale under which held-out questions' scores best predict their entries
    (least negative log-likelihood): temperature scaling. Only each question's best
    CALIBRATION_ENTRIES scores and its own entry's count; the others add next to nothing."""
    rows = np.arange(len(truth))
    own = scores[rows, truth]
    count = min(CALIBRATION_ENTRIES, scores.shape[1])
    best = np.partition(scores, scores.shape[1] - count, axis=1)[:, -count:]
    top = best.max(axis=1, keepdims=True)
    best, own = best - top, own - top[:, 0]
    best_scale, best_loss = DEFAULT_SOFTMAX_SCALE, math.inf
    for scale in np.geomspace(1.0, 200.0, 40):
        # The own entry is added once more, as it may be outside the best: a small, even bias.
        normaliser = np.log(np.exp(scale * best).sum(axis=1) + np.exp(scale * own))
        loss = float((normaliser - scale * own).mean())
        if loss < best_loss:
            best_scale, best_loss = float(scale), loss
    return best_scale


def answer_threshold_for(
    scores: np.ndarray, truth: np.ndarray, scale: float, familiarity: np.ndarray
) -> float | None:
    """The lowest score (0 to 100) at which held-out questions, scored as messages would be, are
    answered rightly at least ANSWER_PRECISION of the time; 100.0 when no score is; None when too
    few questions are held out to tell."""
    if len(truth) < MIN_ANSWERED_TO_TRUST:
        return None
    shifted = scale * (scores - scores.max(axis=1, keepdims=True))
    probability = 1.0 / np.exp(shifted).sum(axis=1)  # the best entry's: its shifted score is 0
    confidence = 100.0 * probability * familiarity
    right = scores.argmax(axis=1) == truth
    order = np.argsort(-confidence, kind="stable")
    wrong_so_far = np.cumsum(~right[order])
    answered = np.arange(1, len(order) + 1)
    precise = wrong_so_far <= (1.0 - ANSWER_PRECISION) * answered + 1e-9
    # The lowest score whose questions at or above it are answered precisely enough, with enough
    # of them to tell.
    ordered = confidence[order]
    # A cut between equal scores is no threshold: only the last of equal scores may end one.
    ends_a_tie = np.append(ordered[1:] < ordered[:-1], True)
    trusted = np.flatnonzero(precise & ends_a_tie & (answered >= MIN_ANSWERED_TO_TRUST))
    if not len(trusted):
        return 100.0
    return float(ordered[trusted[-1]])


def _negated(normalized: str) -> frozenset[str]:
    """The languages ("en", "zh") in which the text has a negation. Normalised text has lost its
    apostrophes: "don't" is "don t"."""
    words = _APOSTROPHE_T.sub("nt", normalized).split()
    found = set()
    if any(word in NEGATIONS_EN for word in words):
        found.add("en")
    if any(term in normalized for term in NEGATIONS_ZH):
        found.add("zh")
    return frozenset(found)


class _Postings:
    """Rows of (column, weight) pairs, stored flat: row r's pairs are at [start[r], start[r+1])."""

    __slots__ = ("columns", "start", "weights")

    def __init__(self, start: np.ndarray, columns: np.ndarray, weights: np.ndarray) -> None:
        self.start = start
        self.columns = columns
        self.weights = weights

    def row(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        first, last = self.start[row], self.start[row + 1]
        return self.columns[first:last], self.weights[first:last]

    def positions(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The flat positions of the given rows' pairs, and how many each row has."""
        first = self.start[rows]
        lengths = self.start[rows + 1] - first
        total = int(lengths.sum())
        if total == 0:
            return np.zeros(0, dtype=np.int64), lengths
        offsets = np.repeat(first - np.cumsum(lengths) + lengths, lengths)
        return offsets + np.arange(total), lengths


@dataclass(frozen=True)
class _Layout:
    """Where each question's values add up into the entries' weights, while building: a cell of
    the dense block (features x entries), or a sparse (feature, entry) key."""

    row_of_value: np.ndarray
    in_dense: np.ndarray
    cell: np.ndarray
    dense_count: int
    keys: np.ndarray
    key_of_value: np.ndarray


@dataclass(frozen=True)
class _Scored:
    """A message's vector and its best entries, with their scores (0 to 100)."""

    columns: np.ndarray
    values: np.ndarray
    top: list[int]
    scores: list[float]


class Matcher:
    def __init__(
        self,
        knowledge_base: KnowledgeBase,
        settings: MatchSettings | None = None,
        *,
        seed: int = 0,
        encoder: CachedEncoder | None = None,
    ) -> None:
        self.knowledge_base = knowledge_base
        self.settings = settings or MatchSettings()
        self._encoder = encoder
        self._semantic = False  # decided once the questions are counted
        self._meaning_check = False  # likewise
        self._semantic_scale = DEFAULT_SOFTMAX_SCALE
        # The answer threshold this knowledge base earned on its held-out questions (None: too
        # few to tell; the settings' threshold holds).
        self.calibrated_threshold: float | None = None
        self.synonyms = Synonyms(knowledge_base.synonyms)
        self._entry_ids: list[str] = list(knowledge_base.entries)
        self._variant_original: list[str] = []
        self._vocabulary: dict[str, int] = {}
        self._questions: set[str] = set()  # every question, normalised
        self._known_words: set[str] = set()  # every word of every question (after synonyms)
        self._word_columns = lru_cache(maxsize=WORD_CACHE)(self._columns_of_word)
        self._build(seed)
        # A message's vector spread over every feature, to look up its similarity to questions;
        # zeroed again after each use.
        self._spread_query = np.zeros(len(self._vocabulary), dtype=np.float32)

    # Building -------------------------------------------------------------------------------

    def _build(self, seed: int) -> None:
        layout = self._plan_entry_weights(*self._index_questions())
        variants, entries = len(self._variant_entry), len(self._entry_ids)
        # Per entry, the languages in which one of its questions has a negation: an English
        # "can i return it if i dont like it" does not make "我不要退货" a request for returns.
        self._entry_negated: list[set[str]] = [set() for _ in range(entries)]
        for row, question in enumerate(self._variant_original):
            self._entry_negated[self._variant_entry[row]] |= _negated(normalize(question))
        self._semantic = (
            self._encoder is not None
            and 0 < variants <= SEMANTIC_MAX_QUESTIONS
            and variants <= SEMANTIC_MAX_PER_ENTRY * entries
        )
        self._meaning_check = (
            self._encoder is not None
            and not self._semantic
            and 0 < variants <= SEMANTIC_MAX_QUESTIONS
        )
        if self._semantic or self._meaning_check:
            assert self._encoder is not None
            normalized = [normalize(question) for question in self._variant_original]
            self._question_vectors = self._encoder.questions(normalized)
            # Loads the encoder now if the vectors came from the disk cache: the first customer
            # should not wait the 3 s it takes.
            self._encoder.message("")
        if self._semantic:
            self._centroids = self._entry_centroids(np.arange(variants))
        every_row = np.arange(variants)
        # Every training step scores a question against every entry: the budget of such scores
        # bounds the steps. A knowledge base too large for one pass keeps its mean weights.
        steps = min(
            TRAINING_EPOCHS * variants, MAX_TRAINING_STEPS, TRAINING_WORK // max(entries, 1)
        )
        train = steps >= variants and entries >= 2
        aggressiveness, self._softmax_scale = self._choose_step_size_and_scale(layout, seed, train)
        dense, self._sparse = self._mean_weights(layout, every_row)
        if train:
            dense = self._trained(dense, self._sparse, every_row, aggressiveness, steps, seed)
        self._dense = dense
        self._aggressiveness = aggressiveness if train else None

    def _entry_centroids(self, rows: np.ndarray) -> np.ndarray:
        """Each entry's mean sentence vector over its questions among `rows`, of unit length."""
        entries = len(self._entry_ids)
        centroids = np.zeros((entries, self._question_vectors.shape[1]), dtype=np.float32)
        np.add.at(centroids, self._variant_entry[rows], self._question_vectors[rows])
        norms = np.linalg.norm(centroids, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return centroids / norms

    def _meaning_scores(
        self, vectors: np.ndarray, centroids: np.ndarray, among: np.ndarray | None = None
    ) -> np.ndarray:
        """What the semantic side adds to each entry's score for each of these sentence vectors
        (rows): SEMANTIC_WEIGHT x the cosine to the entry's centroid, plus NEAREST_WEIGHT x the
        cosine to its closest question (among the questions marked in `among`, if given; 0 for an
        entry with none)."""
        similarity = vectors @ self._question_vectors.T
        if among is not None:
            similarity[:, ~among] = -np.inf
        starts = self._entry_rows[:-1]
        filled = self._entry_rows[1:] > starts
        nearest = np.zeros((len(vectors), len(self._entry_ids)), dtype=np.float32)
        if filled.any():
            nearest[:, filled] = np.maximum.reduceat(similarity, starts[filled], axis=1)
        nearest[np.isneginf(nearest)] = 0.0
        return SEMANTIC_WEIGHT * (vectors @ centroids.T) + NEAREST_WEIGHT * nearest

    def _semantic_familiarity(self, vector: np.ndarray, rows: np.ndarray | slice) -> float:
        """From 0 to 1: how close in meaning the message is to the closest of these questions."""
        questions = self._question_vectors[rows]
        if not len(questions):
            return 0.0
        closest = float((questions @ vector).max())
        span = SEMANTIC_FAMILIAR - SEMANTIC_UNFAMILIAR
        return min(max((closest - SEMANTIC_UNFAMILIAR) / span, 0.0), 1.0)

    def _index_questions(self) -> tuple[np.ndarray, np.ndarray]:
        """Every question's features, TF-IDF weighted and of unit length, row by row. Returns
        the row of each stored value and each feature's document frequency."""
        variant_entry: list[int] = []
        row_lengths: list[int] = []
        found_features: list[str] = []
        counts = array("q")
        for entry_index, entry in enumerate(self.knowledge_base.entries.values()):
            for _language, question in entry.variants():
                normalized = normalize(question)
                found = features(self.synonyms.apply(normalized))
                if not found:
                    continue
                self._variant_original.append(question)
                self._questions.add(normalized)
                self._known_words.update(segments(self.synonyms.apply(normalized)))
                variant_entry.append(entry_index)
                row_lengths.append(len(found))
                found_features += found
                counts.extend(found.values())
        vocabulary = self._vocabulary
        vocabulary.update(
            (feature, column) for column, feature in enumerate(dict.fromkeys(found_features))
        )
        columns = np.fromiter(
            map(vocabulary.__getitem__, found_features), dtype=np.int32, count=len(found_features)
        )
        variants = len(variant_entry)
        self._variant_entry = np.asarray(variant_entry, dtype=np.int32)
        # Questions are stored entry by entry: entry i owns rows _entry_rows[i] up to [i + 1].
        self._entry_rows = np.searchsorted(
            self._variant_entry, np.arange(len(self._entry_ids) + 1)
        )
        row_start = np.zeros(variants + 1, dtype=np.int64)
        np.cumsum(np.asarray(row_lengths, dtype=np.int64), out=row_start[1:])
        document_frequency = np.bincount(columns, minlength=len(vocabulary))
        self._idf = (np.log((variants + 1) / (document_frequency + 1)) + 1.0).astype(np.float32)
        self._unknown_idf = float(math.log(variants + 1) + 1.0)
        tf = 1.0 + np.log(np.frombuffer(counts, dtype=np.int64).astype(np.float32))
        values = tf * self._idf[columns]
        row_of_value = np.repeat(np.arange(variants), row_lengths)
        norms = np.sqrt(np.bincount(row_of_value, values * values, minlength=variants))
        values /= norms[row_of_value].astype(np.float32)
        self._variants = _Postings(row_start, columns, values.astype(np.float32))
        return row_of_value, document_frequency

    def _plan_entry_weights(
        self, row_of_value: np.ndarray, document_frequency: np.ndarray
    ) -> _Layout:
        """Which features get a dense row of entry weights (the most frequent), and where each
        question's values add up."""
        width = max(len(self._entry_ids), 1)
        vocabulary = len(self._vocabulary)
        dense_count = min(vocabulary, DENSE_CELLS // width)
        dense_columns = np.argsort(-document_frequency, kind="stable")[:dense_count]
        self._slot = np.full(vocabulary, -1, dtype=np.int64)
        self._slot[dense_columns] = np.arange(dense_count)
        columns = self._variants.columns
        owner = self._variant_entry[row_of_value].astype(np.int64)
        slot = self._slot[columns]
        in_dense = slot >= 0
        keys, key_of_value = np.unique(
            columns[~in_dense].astype(np.int64) * width + owner[~in_dense], return_inverse=True
        )
        return _Layout(
            row_of_value=row_of_value,
            in_dense=in_dense,
            cell=slot[in_dense] * width + owner[in_dense],
            dense_count=dense_count,
            keys=keys,
            key_of_value=key_of_value,
        )

    def _mean_weights(self, layout: _Layout, rows: np.ndarray) -> tuple[np.ndarray, _Postings]:
        """Each entry's weights over the features its questions (among `rows`) use: their mean.

        The features found in most questions are kept in a dense block (features x entries),
        where training may move any weight; the rarest, beyond `DENSE_CELLS`, stay in sparse
        postings with their mean weights, so that memory does not grow with entries x
        vocabulary."""
        entries = len(self._entry_ids)
        width = max(entries, 1)
        chosen = np.zeros(len(self._variant_entry), dtype=bool)
        chosen[rows] = True
        kept = chosen[layout.row_of_value]
        values = self._variants.weights
        in_dense = kept[layout.in_dense]
        dense = (
            np.bincount(
                layout.cell[in_dense],
                values[layout.in_dense][in_dense],
                minlength=layout.dense_count * width,
            )
            .reshape(layout.dense_count, width)
            .astype(np.float64)
        )
        rare = kept[~layout.in_dense]
        keys = layout.keys
        weights = np.bincount(
            layout.key_of_value[rare], values[~layout.in_dense][rare], minlength=len(keys)
        ).astype(np.float64)
        entry_of_key = keys % width
        column_of_key = keys // width
        norms = np.sqrt(
            (dense * dense).sum(axis=0)
            + np.bincount(entry_of_key, weights * weights, minlength=width)
        )
        norms[norms == 0] = 1.0
        dense /= norms
        weights /= norms[entry_of_key]
        start = np.searchsorted(column_of_key, np.arange(len(self._vocabulary) + 1))
        sparse = _Postings(
            start.astype(np.int64), entry_of_key.astype(np.int32), weights.astype(np.float32)
        )
        return dense.astype(np.float32), sparse

    def _choose_step_size_and_scale(
        self, layout: _Layout, seed: int, train: bool
    ) -> tuple[float, float]:
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
        best: tuple[int, float, np.ndarray] | None = None
        for aggressiveness in AGGRESSIVENESS_CHOICES if train else AGGRESSIVENESS_CHOICES[-1:]:
            scores = self._held_out_scores(layout, training, held_out, aggressiveness, train, seed)
            correct = int((scores.argmax(axis=1) == truth).sum())
            if best is None or correct > best[0]:
                best = (correct, aggressiveness, scores)
        assert best is not None
        _correct, aggressiveness, scores = best
        if variants <= CROSS_VALIDATION_MAX_QUESTIONS:
            # Every question judged once, by a matcher built without its fold: a thin knowledge
            # base has too few held-out questions in one share to set its thresholds.
            folds = np.array_split(order, CROSS_VALIDATION_FOLDS)
            parts = [self._judged(layout, fold, aggressiveness, train, seed) for fold in folds]
            held_out = np.concatenate(folds)
            truth = self._variant_entry[held_out]
            scale = calibrated_scale(np.concatenate([part[0] for part in parts]), truth)
            if self._semantic:
                scores = np.concatenate([part[1] for part in parts])
                self._semantic_scale = calibrated_scale(scores, truth)
            else:
                scores = np.concatenate([part[0] for part in parts])
            familiarity = np.concatenate([part[2] for part in parts])
        else:
            scale = calibrated_scale(scores, truth)
            _lexical, scores, familiarity = self._judged(
                layout, held_out, aggressiveness, train, seed, scores
            )
            if self._semantic:
                self._semantic_scale = calibrated_scale(scores, truth)
        self.calibrated_threshold = answer_threshold_for(
            scores, truth, self._semantic_scale if self._semantic else scale, familiarity
        )
        return aggressiveness, scale

    def _held_out_scores(
        self,
        layout: _Layout,
        training: np.ndarray,
        held_out: np.ndarray,
        aggressiveness: float,
        train: bool,
        seed: int,
    ) -> np.ndarray:
        """The held-out questions' lexical scores for every entry, from weights built on the
        training questions alone."""
        steps = min(SELECTION_EPOCHS * len(training), MAX_SELECTION_STEPS)
        dense, sparse = self._mean_weights(layout, training)
        if train:
            dense = self._trained(dense, sparse, training, aggressiveness, steps, seed)
        return np.stack(
            [self._scores(*self._variants.row(row), dense, sparse) for row in held_out.tolist()]
        )

    def _judged(
        self,
        layout: _Layout,
        held_out: np.ndarray,
        aggressiveness: float,
        train: bool,
        seed: int,
        lexical: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Held-out questions scored as messages would be by a matcher built on the other
        questions: their lexical scores, their scores (with the semantic side, if on), and how
        familiar each looks next to the other questions of the entry it would be given."""
        variants = len(self._variant_entry)
        in_training = np.ones(variants, dtype=bool)
        in_training[held_out] = False
        training = np.flatnonzero(in_training)
        if lexical is None:
            lexical = self._held_out_scores(
                layout, training, held_out, aggressiveness, train, seed
            )
        scores = lexical
        familiarity = np.ones(len(held_out))
        if not self._semantic:
            for position, (row, guess) in enumerate(
                zip(held_out.tolist(), scores.argmax(axis=1).tolist(), strict=True)
            ):
                first, last = self._entry_rows[guess], self._entry_rows[guess + 1]
                rows = np.arange(first, last)[in_training[first:last]]
                familiarity[position] = self._familiarity(
                    normalize(self._variant_original[row]), guess, rows
                )
        else:
            centroids = self._entry_centroids(training)
            vectors = self._question_vectors[held_out]
            scores = lexical + self._meaning_scores(vectors, centroids, in_training)
            for position, guess in enumerate(scores.argmax(axis=1).tolist()):
                first, last = self._entry_rows[guess], self._entry_rows[guess + 1]
                rows = np.arange(first, last)[in_training[first:last]]
                familiarity[position] = self._semantic_familiarity(vectors[position], rows)
        return lexical, scores, familiarity

    def _trained(
        self,
        dense: np.ndarray,
        sparse: _Postings,
        rows: np.ndarray,
        aggressiveness: float,
        steps: int,
        seed: int,
    ) -> np.ndarray:
        """Averaged passive-aggressive passes over the questions, starting from the mean weights
        in `dense`: a question that its own entry does not lead by the margin moves its features'
        weight toward its entry and away from the entry ahead of it (in the dense block; the rare
        features keep their mean weights). The mean is then added back as a prior."""
        mean = dense.copy()
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
        dense += MEAN_PRIOR * mean
        return dense

    # Matching -------------------------------------------------------------------------------

    def _vectorize(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The message's known features and their TF-IDF weights: the vector `features` gives,
        assembled from each word's cached columns. Unknown features count toward the length of
        the vector, so a message full of words no question uses scores low."""
        words = segments(text)
        parts: list[np.ndarray] = []
        unknown: list[str] = []
        for word in words:
            known, missing = self._word_columns(word)
            parts.append(known)
            unknown += missing
        pairs: list[int] = []
        for first, second in zip(words, words[1:], strict=False):
            pair = f"{first}+{second}"
            column = self._vocabulary.get(pair)
            if column is None:
                unknown.append(pair)
            else:
                pairs.append(column)
        parts.append(np.array(pairs, dtype=np.int64))
        columns, counts = np.unique(np.concatenate(parts), return_counts=True)
        values = (1.0 + np.log(counts.astype(np.float32))) * self._idf[columns]
        unknown_tf = (1.0 + math.log(count) for count in Counter(unknown).values())
        unknown_square = self._unknown_idf**2 * sum(tf * tf for tf in unknown_tf)
        norm = math.sqrt(float(values @ values) + unknown_square)
        if norm == 0.0:
            return columns, values
        return columns, values / norm

    def _columns_of_word(self, word: str) -> tuple[np.ndarray, tuple[str, ...]]:
        """A word's n-grams: the columns of those the questions use, and the others."""
        vocabulary = self._vocabulary
        grams = _word_features(word)
        known = [vocabulary[gram] for gram in grams if gram in vocabulary]
        return (
            np.array(known, dtype=np.int64),
            tuple(gram for gram in grams if gram not in vocabulary),
        )

    def _scores(
        self,
        columns: np.ndarray,
        values: np.ndarray,
        dense: np.ndarray | None = None,
        sparse: _Postings | None = None,
    ) -> np.ndarray:
        """Every entry's score for a vector: its features' weights for the entry, summed."""
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
        query = self._spread_query
        query[columns] = values
        nearest: dict[int, tuple[float, int]] = {}
        row_start = self._variants.start
        try:
            for index in entry_indexes:
                first, last = self._entry_rows[index], self._entry_rows[index + 1]
                if first == last:
                    continue
                begin, end = row_start[first], row_start[last]
                products = np.take(query, self._variants.columns[begin:end])
                products *= self._variants.weights[begin:end]
                similarity = np.add.reduceat(products, row_start[first:last] - begin)
                best = int(similarity.argmax())
                nearest[index] = (float(similarity[best]), first + best)
        finally:
            query[columns] = 0.0
        return nearest

    def _familiarity(
        self, normalized: str, entry_index: int, rows: np.ndarray | None = None
    ) -> float:
        """From 0 to 1: the cosine similarity of the message, without its common words (unless it
        has nothing else) and with synonyms replaced by their group's first term, to the entry's
        closest question (among `rows` if given), full from FAMILIAR_SIMILARITY up."""
        words = self.synonyms.apply(normalized, keep_terms=False).split()
        content = " ".join(word for word in words if word not in COMMON_WORDS) or " ".join(words)
        columns, values = self._vectorize(content)
        if not len(columns):
            return 0.0
        if rows is None:
            similarity, _row = self._nearest_variants(columns, values, [entry_index]).get(
                entry_index, (0.0, -1)
            )
        else:
            similarity = max((self._similarity(columns, values, row) for row in rows), default=0)
        return min(max(similarity / FAMILIAR_SIMILARITY, 0.0), 1.0)

    def _similarity(self, columns: np.ndarray, values: np.ndarray, row: int) -> float:
        """The cosine similarity of a vector to one question."""
        question_columns, weights = self._variants.row(row)
        shared, mine, theirs = np.intersect1d(columns, question_columns, return_indices=True)
        del shared
        return float(values[mine] @ weights[theirs])

    def _verbatim(self, columns: np.ndarray, values: np.ndarray, entry_index: int) -> bool:
        """Whether the message is, word for word, nearly one of the entry's questions."""
        similarity, _row = self._nearest_variants(columns, values, [entry_index]).get(
            entry_index, (0.0, -1)
        )
        return similarity >= VERBATIM_SIMILARITY

    def rank(self, text: str, limit: int = 5) -> list[Candidate]:
        """The best entries for a message, best first, each with how sure the matcher is that it
        is the one (0 to 100) and its question closest to the message."""
        scored = self._score(normalize(text), limit)
        return self._candidates(scored, closest=limit) if scored else []

    def _score(self, normalized: str, limit: int) -> _Scored | None:
        """The message's best `limit` entries and their scores: probability x familiarity."""
        columns, values = self._vectorize(self.synonyms.apply(normalized))
        if not len(columns) or not self._entry_ids:
            return None
        scores = self._scores(columns, values)
        scale = self._softmax_scale
        vector: np.ndarray | None = None
        if self._semantic and not self._verbatim(columns, values, int(scores.argmax())):
            assert self._encoder is not None
            vector = self._encoder.message(normalized)
            scores = scores + self._meaning_scores(vector[np.newaxis], self._centroids)[0]
            scale = self._semantic_scale
        count = min(limit, len(scores))
        top = np.argpartition(-scores, count - 1)[:count]
        top = top[np.argsort(-scores[top], kind="stable")].tolist()
        exponentials = np.exp(scale * (scores - scores.max()))
        probability = exponentials / exponentials.sum()
        if vector is None:
            familiarity = self._familiarity(normalized, top[0])
        else:
            rows = slice(self._entry_rows[top[0]], self._entry_rows[top[0] + 1])
            familiarity = self._semantic_familiarity(vector, rows)
        return _Scored(
            columns,
            values,
            top,
            [round(100.0 * float(probability[index]) * familiarity, 1) for index in top],
        )

    def _candidates(self, scored: _Scored, closest: int) -> list[Candidate]:
        """The scored entries as candidates; the first `closest` with their closest question."""
        nearest = self._nearest_variants(scored.columns, scored.values, scored.top[:closest])
        return [
            Candidate(
                self._entry_ids[index],
                score,
                self._variant_original[nearest[index][1]] if index in nearest else "",
                round(100.0 * nearest[index][0], 1) if index in nearest else 0.0,
            )
            for index, score in zip(scored.top, scored.scores, strict=True)
        ]

    def close_questions(self, minimum: float) -> list[tuple[str, str, str, str, float]]:
        """Questions of different entries that are alike (cosine similarity, 0 to 100, at least
        `minimum`): for each question, the closest one among the other entries that score
        highest for it. Each as (question, entry id, other entry id, other question, score)."""
        found = []
        for row in range(len(self._variant_entry)):
            columns, values = self._variants.row(row)
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
        normalized = normalize(text)
        limit = max(settings.suggestions, 2)
        scored = self._score(normalized, limit)
        if scored is None:
            return Match(Decision.FALLBACK, ())
        ranked = self._candidates(scored, closest=0)
        topic = self._is_topic(normalized)
        best = ranked[0]
        # Worth offering: the best entry is likely enough on its own, or the few that would be
        # offered are together as likely to hold the answer as an answer must be.
        together = sum(candidate.score for candidate in ranked[: settings.suggestions])
        if (
            not topic
            and best.score < settings.suggest_threshold
            and together < settings.answer_threshold
        ):
            return Match(Decision.FALLBACK, tuple(ranked))
        if not topic and self._out_of_scope(normalized, best.score, scored.top[0]):
            return Match(Decision.FALLBACK, tuple(ranked))
        runner_up = ranked[1].score if len(ranked) > 1 else 0.0
        confident = best.score >= self.answer_threshold and (
            best.score - runner_up >= settings.answer_margin or best.score >= 99.0
        )
        # "I don't want a refund" is not a request for the refund entry; nor is "how do i change
        # the oil in my car" one for changing an order.
        turned_around = bool(_negated(normalized) - self._entry_negated[scored.top[0]])
        if confident and not topic and not turned_around and self._grounded(normalized, scored):
            return Match(Decision.ANSWER, tuple(ranked))
        # One word ("refund", "退货") names a topic rather than asks a question: the entries
        # about it are offered, not guessed between. So are the likely ones for an unsure match.
        suggestions = tuple(
            candidate
            for candidate in self._candidates(scored, closest=limit)[: settings.suggestions]
            if candidate.score >= SUGGESTION_PROBABILITY
            or candidate.similarity >= 100.0 * FAMILIAR_SIMILARITY
        )
        return Match(Decision.SUGGEST if suggestions else Decision.FALLBACK, suggestions)

    def _grounded(self, normalized: str, scored: _Scored) -> bool:
        """Whether an answer stands on more than one shared word, for a matcher that judges
        characters only (the semantic side and the check in meaning judge this better): a
        message with an English word no question uses ("how do i change the oil in my car")
        must share at least two of its other words with the entry's closest question to be
        answered; else it is suggested."""
        if self._semantic or self._meaning_check:
            return True
        words = [
            word
            for word in segments(self.synonyms.apply(normalized, keep_terms=False))
            if not is_cjk(word) and word not in COMMON_WORDS
        ]
        if all(self._known(word) for word in words):
            return True
        nearest = self._nearest_variants(scored.columns, scored.values, scored.top[:1])
        if scored.top[0] not in nearest:
            return False
        question = normalize(self._variant_original[nearest[scored.top[0]][1]])
        theirs = set(segments(self.synonyms.apply(question, keep_terms=False)))
        return sum(word in theirs for word in set(words)) >= 2

    def _known(self, word: str) -> bool:
        """A word of the questions, or a typo of one ("refnd", "wil")."""
        if word in self._known_words:
            return True
        return (
            process.extractOne(
                word, self._known_words, scorer=fuzz.ratio, score_cutoff=KNOWN_WORD_SIMILARITY
            )
            is not None
        )

    def _out_of_scope(self, normalized: str, score: float, entry_index: int) -> bool:
        """The check in meaning for a knowledge base too full for the semantic side: an unsure
        match whose entry has no question close in meaning to the message."""
        if not self._meaning_check or score >= UNSURE_SCORE:
            return False
        assert self._encoder is not None
        vector = self._encoder.message(normalized)
        rows = slice(self._entry_rows[entry_index], self._entry_rows[entry_index + 1])
        return float((self._question_vectors[rows] @ vector).max()) < OUT_OF_SCOPE_COSINE

    @property
    def answer_threshold(self) -> float:
        """The settings' threshold, raised to what this knowledge base's held-out questions showed
        is needed to be right ANSWER_PRECISION of the time."""
        calibrated = self.calibrated_threshold
        threshold = self.settings.answer_threshold
        if calibrated is None or not self.settings.calibrate:
            return threshold
        return max(threshold, calibrated)

    @property
    def semantic(self) -> bool:
        """Whether messages this matcher is unsure of are also compared in meaning."""
        return self._semantic

    def _is_topic(self, normalized: str) -> bool:
        """A single word (up to TOPIC_CHARACTERS Chinese characters) that is not itself one of
        the knowledge base's questions."""
        words = normalized.split()
        if len(words) != 1 or normalized in self._questions:
            return False
        return not is_cjk(normalized) or len(normalized) <= TOPIC_CHARACTERS
