r"""Diversity of questions: BLEU distance and agglomerative clustering over a sliding window.

A Questioner that asks one question over and over should not be paid for it. Each new question is
clustered with the recent ones (average-linkage agglomerative clustering, BLEU distance, threshold
0.5), and its penalty is the share of its cluster in the window:

.. math::

    d(a, b) = 1 - \tfrac12\,(\mathrm{BLEU}(a \mid b) + \mathrm{BLEU}(b \mid a)), \qquad
    s(q) = |C(q)| / N

where :math:`C(q)` is the cluster of :math:`q` among the last :math:`N` questions (``q`` included) and
:math:`N` the window size. Until the window fills, the missing questions count as unlike everything,
so the first questions of a run are not over-penalised; on a full window (or a batch,
:func:`cluster_shares`) this is the published batch penalty, ``cluster size / batch size``.

BLEU is sentence BLEU-4 over lower-cased word tokens with add-one smoothing of the 2..4-gram
precisions (Lin & Och, 2004) and the usual brevity penalty; the unigram precision is not smoothed,
so two questions with no word in common are at distance 1. BLEU is asymmetric, hence the mean of
both directions.

:class:`ClusterWindow` keeps the clustering up to date one question at a time instead of
re-clustering the window: a new question enters as a singleton cluster, and clusters merge while
their average linkage is below the threshold; a question leaving the window leaves its cluster,
after which that cluster may merge with another. So at all times no two clusters are closer than the
threshold — the stopping condition of agglomerative clustering — at a cost per question of one
vectorised BLEU row over the window (n-gram counts are cached per question) and a few O(window)
linkage rows (each the summed distance rows of a cluster's members, grouped by cluster).
(Full re-clustering could split a cluster after a question leaves; the incremental one does not.)
:class:`DiversityTracker` keeps one window for all questions (``scope="batch"``) or one per image
(``scope="image"``).
"""

from __future__ import annotations

import math
import re
from collections import Counter, OrderedDict, deque
from collections.abc import Hashable, Sequence
from typing import NamedTuple

import numpy as np

__all__ = [
    "DIVERSITY_SCOPES",
    "ClusterAssignment",
    "ClusterWindow",
    "DiversityTracker",
    "bleu_distance",
    "cluster_labels",
    "cluster_shares",
    "sentence_bleu",
    "tokenize",
]

MAX_ORDER = 4
DIVERSITY_SCOPES: tuple[str, ...] = ("batch", "image")
_WORD = re.compile(r"\w+")


def tokenize(text: str, max_tokens: int | None = None) -> list[str]:
    """Lower-cased word tokens of ``text`` (punctuation dropped), at most ``max_tokens`` of them."""
    tokens = _WORD.findall(text.casefold())
    return tokens if max_tokens is None else tokens[:max_tokens]


def _ngrams(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def sentence_bleu(hypothesis: Sequence[str], reference: Sequence[str]) -> float:
    """Sentence BLEU-4 of a token list against one reference, with add-one smoothing for n >= 2.

    >>> sentence_bleu("how many red circles".split(), "how many red circles".split())
    1.0
    """
    if not hypothesis or not reference:
        return 0.0
    log_precision = 0.0
    for n in range(1, MAX_ORDER + 1):
        hyp, ref = _ngrams(hypothesis, n), _ngrams(reference, n)
        matches = sum(min(count, ref[gram]) for gram, count in hyp.items())
        total = max(len(hypothesis) - n + 1, 0)
        if n == 1:
            if matches == 0:
                return 0.0
            log_precision += math.log(matches / total)
        else:
            log_precision += math.log((matches + 1) / (total + 1))
    ratio = len(reference) / len(hypothesis)
    brevity = 1.0 if ratio < 1.0 else math.exp(1.0 - ratio)
    return brevity * math.exp(log_precision / MAX_ORDER)


def bleu_distance(a: str, b: str) -> float:
    """``1 - (BLEU(a|b) + BLEU(b|a)) / 2`` over :func:`tokenize` tokens: 0 for the same words, 1 for none shared."""
    ta, tb = tokenize(a), tokenize(b)
    return 1.0 - 0.5 * (sentence_bleu(ta, tb) + sentence_bleu(tb, ta))


class ClusterAssignment(NamedTuple):
    """Where a question landed: its cluster's id and size, and its share ``size / window size`` when it was added."""

    cluster: int
    size: int
    share: float


# Added to the clipped n-gram matches and totals of orders 1..4: add-one smoothing for n >= 2 only.
_SMOOTHING = np.array([0.0, 1.0, 1.0, 1.0])
_ORDER_ONE_HOT = np.eye(MAX_ORDER)


def _precision_denominator(length: int) -> float:
    """``prod_n (total_n + smoothing_n)`` of a question of ``length`` tokens (inf when empty, so its BLEU is 0)."""
    if length == 0:
        return math.inf
    return float(length * math.prod(max(length - n, 0) + 1 for n in range(1, MAX_ORDER)))


class ClusterWindow:
    """Agglomerative clustering (average linkage, BLEU distance) of the last ``size`` questions, updated per question.

    Args:
        size: how many recent questions the window holds.
        threshold: clusters whose average pairwise distance is below this merge (0.5 as published).
        max_tokens: tokens of a question that count for BLEU (keeps a runaway question cheap).

    Example:
        >>> window = ClusterWindow(size=4)
        >>> window.add("How many red circles are there?").share
        0.25
        >>> window.add("What color is the big square?").share
        0.25
        >>> window.add("How many red circles are there?").share
        0.5
    """

    def __init__(self, size: int = 256, threshold: float = 0.5, max_tokens: int = 64):
        if size < 1:
            raise ValueError(f"window size must be at least 1, got {size}")
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be a BLEU distance in [0, 1], got {threshold}")
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
        self.size, self.threshold, self.max_tokens = size, threshold, max_tokens
        self._order: deque[int] = deque()  # occupied slots, oldest first
        self._questions: list[str | None] = []
        self._slot_ids: list[np.ndarray] = []  # the n-gram ids of each slot's question
        # Every distinct n-gram in the window has an id: a row of `_counts`.
        self._gram_id: dict[tuple[str, ...], int] = {}
        self._gram_of: list[tuple[str, ...] | None] = []
        self._gram_refs: list[int] = []
        self._free_ids: list[int] = []
        self._gram_order = np.zeros(0, np.intp)
        self._counts = np.zeros((0, 0), np.uint8)  # n-gram id x slot: an n-gram's counts are contiguous
        # Per slot (windows start small and grow: most per-image windows stay small).
        self._capacity = 0
        self._free_slots: list[int] = []
        self._lengths = np.zeros(0)
        self._denominators = np.zeros(0)
        self._label = np.zeros(0, np.intp)  # cluster id per slot, -1 when the slot is free
        self._distance = np.zeros((0, 0), np.float32)  # BLEU distance between the questions of two slots
        # Per cluster id (there are never more clusters than slots).
        self._free_clusters: list[int] = []
        self._cluster_size = np.zeros(0)
        self._grow_slots(min(size, 16))

    def __len__(self) -> int:
        return len(self._order)

    def add(self, question: str) -> ClusterAssignment:
        """Add ``question`` (evicting the oldest one when full) and say which cluster it joined."""
        if len(self._order) == self.size:
            self._evict(self._order.popleft())
        slot = self._free_slot()
        tokens = tokenize(question, self.max_tokens)
        ids, counts, orders = self._register(tokens)
        occupied = np.flatnonzero(self._label >= 0)
        distances = self._distances_to(occupied, ids, counts, orders, len(tokens))
        self._counts[ids, slot] = counts
        self._lengths[slot] = len(tokens)
        self._denominators[slot] = _precision_denominator(len(tokens))
        self._questions[slot] = question
        self._slot_ids[slot] = ids
        self._distance[slot, occupied] = distances
        self._distance[occupied, slot] = distances
        self._distance[slot, slot] = 0.0
        cluster = self._free_clusters.pop()
        self._cluster_size[cluster] = 1
        self._label[slot] = cluster
        self._order.append(slot)
        cluster = self._merge(cluster)
        size = int(self._cluster_size[cluster])
        return ClusterAssignment(cluster, size, size / self.size)

    def labels(self) -> list[int]:
        """The current cluster of each question in the window, oldest question first."""
        return [int(self._label[slot]) for slot in self._order]

    def clusters(self) -> list[list[str]]:
        """The questions in the window grouped by cluster, each group oldest first, groups by first member."""
        groups: dict[int, list[str]] = {}
        for slot, label in zip(self._order, self.labels()):
            groups.setdefault(label, []).append(self._questions[slot])  # type: ignore[arg-type]
        return list(groups.values())

    def _distances_to(
        self, occupied: np.ndarray, ids: np.ndarray, counts: np.ndarray, orders: np.ndarray, length: int
    ) -> np.ndarray:
        """BLEU distances from a question (its n-gram ids, counts and orders) to the questions in ``occupied``.

        Both BLEU directions share the clipped matches; per order they are ``min(count here, count there)``
        summed over the question's n-grams. With the smoothing folded into the matches, each direction's
        precision product is ``prod_n (matches_n + s_n) / prod_n (total_n + s_n)``.
        """
        if occupied.size == 0:
            return np.zeros(0)
        if length == 0:
            return np.ones(occupied.size)
        # Every slot at once (a full window is the usual case); free slots have no n-grams and are dropped after.
        matches = _ORDER_ONE_HOT[orders].T @ np.minimum(self._counts[ids], counts[:, None])  # (4, slots)
        numerator = (matches + _SMOOTHING[:, None]).prod(axis=0)
        others = np.maximum(self._lengths, 1.0)  # an empty question's precisions are 0 anyway
        mine_given_other = (numerator / _precision_denominator(length)) ** 0.25 * np.exp(
            np.minimum(0.0, 1.0 - others / length)
        )
        other_given_mine = (numerator / self._denominators) ** 0.25 * np.exp(np.minimum(0.0, 1.0 - length / others))
        return (1.0 - 0.5 * (mine_given_other + other_given_mine))[occupied]

    def _merge(self, cluster: int) -> int:
        """Merge ``cluster`` with its nearest cluster while their average linkage is below the threshold."""
        sizes = self._cluster_size
        while True:
            occupied = np.flatnonzero(self._label >= 0)
            # Summed distances from the cluster's members to every question, then per cluster.
            row = self._distance[self._label == cluster].sum(axis=0, dtype=np.float64)
            link = np.bincount(self._label[occupied], weights=row[occupied], minlength=self._capacity)
            pairs = sizes * sizes[cluster]
            pairs[cluster] = 0.0
            linkage = np.divide(link, pairs, out=np.full(self._capacity, np.inf), where=pairs > 0)
            nearest = int(np.argmin(linkage))
            if not linkage[nearest] < self.threshold:
                return cluster
            sizes[cluster] += sizes[nearest]
            sizes[nearest] = 0.0
            self._label[self._label == nearest] = cluster
            self._free_clusters.append(nearest)

    def _evict(self, slot: int) -> None:
        cluster = int(self._label[slot])
        self._label[slot] = -1
        self._cluster_size[cluster] -= 1
        if self._cluster_size[cluster] == 0:
            self._free_clusters.append(cluster)
        else:
            # Without this member the cluster may now lie within the threshold of another one.
            self._merge(cluster)
        ids = self._slot_ids[slot]
        self._counts[ids, slot] = 0
        self._lengths[slot], self._denominators[slot] = 0.0, math.inf
        self._release(ids)
        self._questions[slot] = None
        self._free_slots.append(slot)

    def _register(self, tokens: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Ids, counts and orders (0-based) of the question's n-grams; a new n-gram gets a free id."""
        grams = Counter(gram for n in range(1, MAX_ORDER + 1) for gram in zip(*(tokens[k:] for k in range(n))))
        ids = np.empty(len(grams), np.intp)
        for i, gram in enumerate(grams):
            gram_id = self._gram_id.get(gram)
            if gram_id is None:
                gram_id = self._new_id(gram)
            self._gram_refs[gram_id] += 1
            ids[i] = gram_id
        counts = np.minimum(np.fromiter(grams.values(), np.int64, len(grams)), 255).astype(np.uint8)
        return ids, counts, self._gram_order[ids]

    def _new_id(self, gram: tuple[str, ...]) -> int:
        if not self._free_ids:
            self._grow_ids()
        gram_id = self._free_ids.pop()
        self._gram_id[gram] = gram_id
        self._gram_of[gram_id] = gram
        self._gram_order[gram_id] = len(gram) - 1
        return gram_id

    def _release(self, ids: np.ndarray) -> None:
        for gram_id in ids.tolist():
            self._gram_refs[gram_id] -= 1
            if self._gram_refs[gram_id] == 0:
                del self._gram_id[self._gram_of[gram_id]]  # type: ignore[arg-type]
                self._gram_of[gram_id] = None
                self._free_ids.append(gram_id)

    def _free_slot(self) -> int:
        if not self._free_slots:
            self._grow_slots(min(self.size, 2 * self._capacity))
        return self._free_slots.pop()

    def _grow_slots(self, capacity: int) -> None:
        """Enlarge the per-slot and per-cluster arrays to ``capacity``."""
        old, extra = self._capacity, capacity - self._capacity
        self._counts = np.hstack([self._counts, np.zeros((self._counts.shape[0], extra), np.uint8)])
        self._lengths = np.concatenate([self._lengths, np.zeros(extra)])
        self._denominators = np.concatenate([self._denominators, np.full(extra, math.inf)])
        self._label = np.concatenate([self._label, np.full(extra, -1, np.intp)])
        self._distance = np.pad(self._distance, ((0, extra), (0, extra)))
        self._cluster_size = np.concatenate([self._cluster_size, np.zeros(extra)])
        # Popped from the end: slots and cluster ids are used in increasing order.
        self._free_slots = list(range(capacity - 1, old - 1, -1)) + self._free_slots
        self._free_clusters = list(range(capacity - 1, old - 1, -1)) + self._free_clusters
        self._questions += [None] * extra
        self._slot_ids += [np.zeros(0, np.intp)] * extra
        self._capacity = capacity

    def _grow_ids(self) -> None:
        old = self._gram_order.size
        new = max(256, 2 * old)
        self._counts = np.vstack([self._counts, np.zeros((new - old, self._capacity), np.uint8)])
        self._gram_order = np.concatenate([self._gram_order, np.zeros(new - old, np.intp)])
        self._gram_of += [None] * (new - old)
        self._gram_refs += [0] * (new - old)
        self._free_ids = list(range(new - 1, old - 1, -1)) + self._free_ids


class DiversityTracker:
    """Cluster shares of questions over recent questions: one window for all (``"batch"``) or one per image
    (``"image"``).

    Args:
        window: questions per window (default 256).
        threshold: BLEU-distance threshold of the clustering (default 0.5).
        scope: ``"batch"`` compares a question with the last ``window`` questions of any image;
            ``"image"`` with the last ``window`` questions about the same image (pass the same
            ``image_key`` for the same image, e.g. several questions per image, or a GRPO group).
        max_images: with ``scope="image"``, windows of the least recently seen images beyond this
            many are dropped.

    Envs in one process can share a tracker (pass the same instance), so that the window spans
    every env of a ``SyncVectorEnv``.
    """

    def __init__(self, window: int = 256, threshold: float = 0.5, scope: str = "batch", max_images: int = 4096):
        if scope not in DIVERSITY_SCOPES:
            raise ValueError(f"diversity scope must be one of {DIVERSITY_SCOPES}, got {scope!r}")
        if max_images < 1:
            raise ValueError(f"max_images must be at least 1, got {max_images}")
        ClusterWindow(window, threshold)  # validates the arguments now rather than at the first question
        self.window, self.threshold, self.scope, self.max_images = window, threshold, scope, max_images
        self._windows: OrderedDict[Hashable, ClusterWindow] = OrderedDict()

    def add(self, question: str, image_key: Hashable = None) -> ClusterAssignment:
        """Add ``question`` (about the image ``image_key``) to its window and return its cluster and share."""
        key = image_key if self.scope == "image" else None
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = ClusterWindow(self.window, self.threshold)
            if len(self._windows) > self.max_images:
                self._windows.popitem(last=False)
        self._windows.move_to_end(key)
        return window.add(question)


def cluster_labels(questions: Sequence[str], threshold: float = 0.5) -> list[int]:
    """Cluster a batch of questions; labels number the clusters 0, 1, ... in order of first appearance."""
    window = ClusterWindow(max(1, len(questions)), threshold)
    for question in questions:
        window.add(question)
    renumber: dict[int, int] = {}
    return [renumber.setdefault(label, len(renumber)) for label in window.labels()]


def cluster_shares(questions: Sequence[str], threshold: float = 0.5) -> list[float]:
    """Each question's cluster share in a batch, ``|C(q)| / n`` after clustering the whole batch (the published batch
    penalty)."""
    labels = cluster_labels(questions, threshold)
    sizes = Counter(labels)
    return [sizes[label] / len(labels) for label in labels]
