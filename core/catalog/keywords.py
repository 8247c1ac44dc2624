"""The catalog's keyword index: BM25 (``core.kb.keyword``) over the words the store
segmented at import (no jieba here), one document per ``Snapshot`` row.

SQLite's FTS5 scores every product that has any query word; at 100,000 products that was
most of a recommendation's time, while the in-memory index costs one vector addition per
query word.  It is saved beside the catalog with what it was built from, and rebuilt only
when the products change.
"""

from __future__ import annotations

import logging
import time

from core.fsutil import atomic_file
from core.kb.keyword import BM25

log = logging.getLogger("kefu.catalog.keywords")


def keyword_index(store, snap) -> BM25:
    """The index for ``snap``'s rows (its ids are the rows): loaded when current, else
    built and saved."""
    path = store.path.with_name(store.path.stem + ".keywords.npz")
    key = {"products_version": store.products_version, "rows": len(snap.ids),
           "first": int(snap.ids[0]) if len(snap.ids) else 0,
           "last": int(snap.ids[-1]) if len(snap.ids) else 0}
    if path.exists():
        index = BM25.load(path, key)
        if index is not None:
            return index
    started = time.perf_counter()
    row_of = snap.row_of()
    words = dict(store.all_words())
    index = BM25(((row, words.get(int(pid), "")) for pid, row in row_of.items()),
                 split=str.split)
    try:
        with atomic_file(path, mode=0o600) as fh:
            index.save(fh, key)
    except OSError as exc:
        log.warning("The product keyword index could not be saved: %s", exc)
    log.info("Product keyword index: %d products, %d words, %.1f s", len(snap.ids),
             len(index.vocab), time.perf_counter() - started)
    return index
