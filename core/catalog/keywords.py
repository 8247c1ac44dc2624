"""An in-memory BM25 index of the catalog's words, aligned with a ``Snapshot``'s rows.

SQLite's FTS5 scores every product that has any query word; at 100,000 products that is
most of a recommendation's time.  This index keeps, per word, the rows that have it and
their BM25 weight, so a query costs one vector addition per word.  It is built from the
words the store segmented at import (no jieba here), saved beside the catalog with the
products version it was built from, and rebuilt only when products change.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from pathlib import Path

import numpy as np

from core.fsutil import atomic_file

log = logging.getLogger("kefu.catalog.keywords")

K1, B = 1.2, 0.75
FORMAT = 1


class KeywordIndex:
    def __init__(self, vocab: dict[str, int], offsets: np.ndarray, rows: np.ndarray,
                 weights: np.ndarray, n_rows: int) -> None:
        self.vocab = vocab
        self.offsets = offsets        # term t's postings: rows[offsets[t]:offsets[t+1]]
        self.rows = rows
        self.weights = weights
        self.n_rows = n_rows

    @classmethod
    def build(cls, docs: list[tuple[int, str]], row_of: dict[int, int],
              n_rows: int) -> "KeywordIndex":
        """``docs``: (product id, space-separated words); ``row_of``: product id -> row."""
        postings: dict[str, list[tuple[int, int]]] = {}
        lengths = np.zeros(n_rows, dtype=np.float32)
        for pid, text in docs:
            row = row_of.get(pid)
            if row is None:
                continue
            counts = Counter(text.split())
            lengths[row] = sum(counts.values())
            for term, tf in counts.items():
                postings.setdefault(term, []).append((row, tf))
        vocab = {term: i for i, term in enumerate(postings)}
        sizes = np.array([len(p) for p in postings.values()], dtype=np.int64)
        offsets = np.zeros(len(postings) + 1, dtype=np.int64)
        np.cumsum(sizes, out=offsets[1:])
        flat = [item for plist in postings.values() for item in plist]
        rows = np.fromiter((r for r, _ in flat), dtype=np.int32, count=len(flat))
        tf = np.fromiter((t for _, t in flat), dtype=np.float32, count=len(flat))
        avg = float(lengths[lengths > 0].mean()) if (lengths > 0).any() else 1.0
        df = np.repeat(sizes, sizes).astype(np.float32)
        idf = np.log(1.0 + (n_rows - df + 0.5) / (df + 0.5))
        norm = K1 * (1.0 - B + B * lengths[rows] / avg)
        weights = (idf * tf * (K1 + 1.0) / (tf + norm)).astype(np.float32)
        return cls(vocab, offsets, rows, weights, n_rows)

    def search(self, words: list[str], *, limit: int = 60) -> list[tuple[int, float]]:
        """(row, BM25 score) of the best ``limit`` rows with any of ``words``."""
        scores = None
        for word in dict.fromkeys(words):
            t = self.vocab.get(word)
            if t is None:
                continue
            if scores is None:
                scores = np.zeros(self.n_rows, dtype=np.float32)
            start, end = self.offsets[t], self.offsets[t + 1]
            scores[self.rows[start:end]] += self.weights[start:end]
        if scores is None:
            return []
        hits = np.flatnonzero(scores)
        if len(hits) > limit:
            hits = hits[np.argpartition(-scores[hits], limit - 1)[:limit]]
        hits = hits[np.argsort(-scores[hits])]
        return [(int(r), float(scores[r])) for r in hits]

    # ---- on disk --------------------------------------------------------------------------
    def save(self, path: Path, key: dict) -> None:
        with atomic_file(path, mode=0o600) as fh:
            np.savez(fh, offsets=self.offsets, rows=self.rows, weights=self.weights,
                     vocab=np.array(json.dumps(list(self.vocab), ensure_ascii=False)),
                     key=np.array(json.dumps({**key, "format": FORMAT, "n": self.n_rows})))

    @classmethod
    def load(cls, path: Path, key: dict) -> "KeywordIndex | None":
        """The saved index if it was built for ``key``; None if missing, stale or damaged."""
        try:
            with np.load(path, allow_pickle=False) as data:
                saved = json.loads(str(data["key"]))
                if saved != {**key, "format": FORMAT, "n": saved.get("n")}:
                    return None
                terms = json.loads(str(data["vocab"]))
                return cls({t: i for i, t in enumerate(terms)}, data["offsets"],
                           data["rows"], data["weights"], int(saved["n"]))
        except (OSError, ValueError, KeyError) as exc:
            if path.exists():
                log.warning("Rebuilding the product keyword index: %s", exc)
            return None


def keyword_index(store, snap) -> KeywordIndex:
    """The index for ``snap``'s rows: loaded when current, else built and saved."""
    path = store.path.with_name(store.path.stem + ".keywords.npz")
    key = {"products_version": store.products_version, "rows": len(snap.ids),
           "first": int(snap.ids[0]) if len(snap.ids) else 0,
           "last": int(snap.ids[-1]) if len(snap.ids) else 0}
    index = KeywordIndex.load(path, key)
    if index is None:
        started = time.perf_counter()
        index = KeywordIndex.build(list(store.all_words()), snap.row_of(), len(snap.ids))
        try:
            index.save(path, key)
        except OSError as exc:
            log.warning("The product keyword index could not be saved: %s", exc)
        log.info("Product keyword index: %d products, %d words, %.1f s", len(snap.ids),
                 len(index.vocab), time.perf_counter() - started)
    return index
