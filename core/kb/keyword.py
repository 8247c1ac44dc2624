"""Keyword search (BM25) over passages: Chinese segmented with jieba, English by words.

Vector search misses exact tokens (order numbers, model codes like AF-45, error
codes like E3) and rare terms; keyword search finds them.  The index lives in
memory and is rebuilt from the manifest when the knowledge base changes.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter, defaultdict
from functools import lru_cache
from typing import Iterable

import numpy as np

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
    """Okapi BM25 over (id, text) pairs; postings are numpy arrays, so scoring a query
    term present in tens of thousands of passages costs one vector operation."""

    def __init__(self, docs: Iterable[tuple[str, str]], *, k1: float = 1.2, b: float = 0.75):
        self.k1, self.b = k1, b
        postings: dict[str, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
        self.ids: list[str] = []
        lengths: list[int] = []
        for doc_id, text in docs:
            counts = Counter(tokenize(text))
            index = len(self.ids)
            self.ids.append(doc_id)
            lengths.append(sum(counts.values()))
            for term, tf in counts.items():
                docs_of, tfs = postings[term]
                docs_of.append(index)
                tfs.append(tf)
        self.lengths = np.asarray(lengths, dtype=np.float32)
        avg = float(self.lengths.mean()) if lengths else 0.0
        # Per-passage length normalisation, computed once.
        self.norm = (k1 * (1 - b + b * self.lengths / avg)) if lengths else self.lengths
        self.postings = {term: (np.asarray(d, dtype=np.int32), np.asarray(t, dtype=np.float32))
                         for term, (d, t) in postings.items()}

    def __len__(self) -> int:
        return len(self.ids)

    def _idf(self, df: int) -> float:
        n = len(self.ids)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        if not self.ids:
            return []
        scores = np.zeros(len(self.ids), dtype=np.float32)
        matched = False
        for term in set(tokenize(query)):
            posting = self.postings.get(term)
            if posting is None:
                continue
            matched = True
            docs, tfs = posting
            scores[docs] += self._idf(len(docs)) * tfs * (self.k1 + 1) / (tfs + self.norm[docs])
        if not matched:
            return []
        k = min(k, len(self.ids))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(self.ids[i], float(scores[i])) for i in top if scores[i] > 0]

    def max_score(self, query: str) -> float:
        """The score a passage would get if it held every query term once (for scaling)."""
        return sum(self._idf(len(self.postings[t][0])) for t in set(tokenize(query))
                   if t in self.postings)
