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
    """Okapi BM25 over (id, text) pairs."""

    def __init__(self, docs: Iterable[tuple[str, str]], *, k1: float = 1.2, b: float = 0.75):
        self.k1, self.b = k1, b
        self.postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        self.ids: list[str] = []
        self.lengths: list[int] = []
        for doc_id, text in docs:
            counts = Counter(tokenize(text))
            index = len(self.ids)
            self.ids.append(doc_id)
            self.lengths.append(sum(counts.values()))
            for term, tf in counts.items():
                self.postings[term].append((index, tf))
        self.avg_length = (sum(self.lengths) / len(self.lengths)) if self.lengths else 0.0

    def __len__(self) -> int:
        return len(self.ids)

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        n = len(self.ids)
        if not n:
            return []
        scores: dict[int, float] = defaultdict(float)
        for term in set(tokenize(query)):
            postings = self.postings.get(term)
            if not postings:
                continue
            idf = math.log(1 + (n - len(postings) + 0.5) / (len(postings) + 0.5))
            for index, tf in postings:
                norm = self.k1 * (1 - self.b + self.b * self.lengths[index] / self.avg_length)
                scores[index] += idf * tf * (self.k1 + 1) / (tf + norm)
        best = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)[:k]
        return [(self.ids[i], s) for i, s in best]

    def max_score(self, query: str) -> float:
        """The score a passage would get if it held every query term once (for scaling)."""
        n = len(self.ids)
        total = 0.0
        for term in set(tokenize(query)):
            postings = self.postings.get(term)
            if postings:
                total += math.log(1 + (n - len(postings) + 0.5) / (len(postings) + 0.5))
        return total
