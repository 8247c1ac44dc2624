"""Keyword search (BM25) over passages: Chinese segmented with jieba, English by words.

Vector search misses exact tokens (order numbers, model codes like AF-45, error
codes like E3) and rare terms; keyword search finds them.  The index lives in
memory and is rebuilt from the manifest when the knowledge base changes.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter, defaultdict
from functools import lru_cache
from typing import Any, Callable, Iterable

import numpy as np

log = logging.getLogger("kefu.kb.keyword")

K1, B = 1.2, 0.75
FORMAT = 1              # of saved indexes

_WORD = re.compile(r"[a-z0-9]+(?:[-_.][a-z0-9]+)*|[\u4e00-\u9fff]+", re.IGNORECASE)
_HAN = re.compile(r"[\u4e00-\u9fff]")
_STOP = frozenset(
    "a an the and or of to in on for is are was be it this that with as at by from my your "
    "i you we our me do does did can could would should will have has had not no how what "
    "when where which who why please hi hello thanks thank 的 了 是 我 你 吗 呢 吧 啊 在 和 "
    "有 就 都 也 要 请 请问 一下 怎么 什么 可以 这个 那个 我们 你们".split())


@lru_cache(maxsize=1)
def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    for match in _WORD.finditer(text.lower()):
        word = match.group(0)
        if _HAN.match(word):
            tokens.extend(t for t in _jieba().cut_for_search(word) if t not in _STOP)
        elif word not in _STOP and len(word) > 1:  # lone letters and digits match anything
            tokens.append(word)
            if "-" in word or "." in word:  # "af-45" also as "af", "45"
                tokens.extend(p for p in re.split(r"[-_.]", word) if p and p not in _STOP)
    return tokens


class BM25:
    """Okapi BM25 over (id, text) pairs.  Postings are flat numpy arrays holding each
    (term, document) pair's BM25 weight, so scoring a query term present in tens of
    thousands of documents costs one vector addition; the arrays can be saved and loaded
    (the product catalog keeps its index beside its database).

    ``split`` turns a document into words: ``tokenize`` (jieba for Chinese) by default,
    ``str.split`` for text segmented already.  Queries are always read with ``tokenize``.
    """

    def __init__(self, docs: Iterable[tuple[Any, str]], *, k1: float = K1, b: float = B,
                 split: Callable[[str], list[str]] = tokenize) -> None:
        postings: dict[str, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
        ids: list = []
        lengths: list[int] = []
        for doc_id, text in docs:
            counts = Counter(split(text))
            index = len(ids)
            ids.append(doc_id)
            lengths.append(sum(counts.values()))
            for term, tf in counts.items():
                docs_of, tfs = postings[term]
                docs_of.append(index)
                tfs.append(tf)
        self.ids = ids
        self.vocab = {term: i for i, term in enumerate(postings)}
        sizes = np.array([len(d) for d, _ in postings.values()], dtype=np.int64)
        self.offsets = np.zeros(len(postings) + 1, dtype=np.int64)
        np.cumsum(sizes, out=self.offsets[1:])
        self.rows = np.fromiter((r for d, _ in postings.values() for r in d), dtype=np.int32,
                                count=int(self.offsets[-1]))
        tf = np.fromiter((t for _, ts in postings.values() for t in ts), dtype=np.float32,
                         count=int(self.offsets[-1]))
        length = np.asarray(lengths, dtype=np.float32)
        avg = float(length.mean()) if len(length) else 1.0
        df = np.repeat(sizes, sizes).astype(np.float32)
        norm = k1 * (1 - b + b * length[self.rows] / (avg or 1.0))
        self.weights = (self._idf_of(df) * tf * (k1 + 1) / (tf + norm)).astype(np.float32)

    def _idf_of(self, df):
        n = len(self.ids)
        return np.log(1 + (n - df + 0.5) / (df + 0.5))

    def __len__(self) -> int:
        return len(self.ids)

    def scores(self, words: Iterable[str]) -> np.ndarray | None:
        """Every document's score for ``words`` (None when no word is indexed)."""
        scores = None
        for word in dict.fromkeys(words):
            t = self.vocab.get(word)
            if t is None:
                continue
            if scores is None:
                scores = np.zeros(len(self.ids), dtype=np.float32)
            start, end = self.offsets[t], self.offsets[t + 1]
            scores[self.rows[start:end]] += self.weights[start:end]
        return scores

    def search_words(self, words: Iterable[str], k: int) -> list[tuple[int, float]]:
        """(document index, score) of the best ``k`` documents with any of ``words``."""
        scores = self.scores(words)
        if scores is None:
            return []
        hits = np.flatnonzero(scores)
        if len(hits) > k:
            hits = hits[np.argpartition(-scores[hits], k - 1)[:k]]
        hits = hits[np.argsort(-scores[hits])]
        return [(int(i), float(scores[i])) for i in hits]

    def search(self, query: str, k: int) -> list[tuple[Any, float]]:
        return [(self.ids[i], s) for i, s in self.search_words(tokenize(query), k)]

    def max_score(self, query: str) -> float:
        """The score a passage would get if it held every query term once (for scaling)."""
        total = 0.0
        for term in set(tokenize(query)):
            t = self.vocab.get(term)
            if t is not None:
                total += float(self._idf_of(float(self.offsets[t + 1] - self.offsets[t])))
        return total

    # ---- on disk ------------------------------------------------------------------------
    def save(self, out, key: dict) -> None:
        """Write the index (ids must be ints) with ``key``, what it was built from."""
        np.savez(out, offsets=self.offsets, rows=self.rows, weights=self.weights,
                 ids=np.asarray(self.ids, dtype=np.int64),
                 vocab=np.array(json.dumps(list(self.vocab), ensure_ascii=False)),
                 key=np.array(json.dumps({**key, "format": FORMAT})))

    @classmethod
    def load(cls, path, key: dict) -> "BM25 | None":
        """The saved index if it was built for ``key``; None if missing, stale or damaged."""
        try:
            with np.load(path, allow_pickle=False) as data:
                if json.loads(str(data["key"])) != {**key, "format": FORMAT}:
                    return None
                index = cls.__new__(cls)
                index.ids = [int(i) for i in data["ids"]]
                index.vocab = {t: i for i, t in enumerate(json.loads(str(data["vocab"])))}
                index.offsets, index.rows = data["offsets"], data["rows"]
                index.weights = data["weights"]
                return index
        except (OSError, ValueError, KeyError) as exc:
            log.warning("The saved keyword index %s cannot be used (%s): rebuilding", path,
                        exc)
            return None
