"""The knowledge base: folders of documents, indexed into chromadb, searched hybrid.

One ``KnowledgeBase`` object owns the chromadb client, the manifest and the
embedder; like the engine it belongs to one thread.  ``sync()`` is a generator of
progress events so the GUI can show a progress bar and cancel between documents
and between embedding batches.
"""

from __future__ import annotations

import dataclasses

import hashlib
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Union

import numpy as np

from core.engine import StopFlag
from core.errors import KbError
from core.kb.chunking import Chunk, chunk_document
from core.kb.embedder import PAIRS, Embedder, split_similarities
from core.kb.glossary import default_glossary
from core.kb.keyword import BM25
from core.kb.manifest import INDEXED, INDEXING, SKIPPED, Manifest
from core.kb.readers import SUPPORTED, read_document
from core.kb.translate import translation_target
from core.lang import detect_language

log = logging.getLogger("kefu.kb")

EMBED_BATCH = 32
LANGUAGE_SAMPLE = 400       # passages read to tell the knowledge base's languages


@dataclass(frozen=True)
class IndexProgress:
    done: int          # documents looked at
    total: int
    current: str       # the document being indexed


@dataclass
class IndexSummary:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    chunks: int = 0
    embedded_chunks: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0
    cancelled: bool = False

    def to_json(self) -> dict:
        return {"added": self.added, "updated": self.updated, "removed": self.removed,
                "unchanged": self.unchanged,
                "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
                "chunks": self.chunks, "embedded_chunks": self.embedded_chunks,
                "seconds": round(self.seconds, 2), "cancelled": self.cancelled}


IndexEvent = Union[IndexProgress, IndexSummary]


@dataclass(frozen=True)
class SearchHit:
    chunk: Chunk
    score: float           # the fused relevance used for ranking, 0..~1.3
    similarity: float      # cosine similarity of the passage to the query (0 if not found)
    keyword: float         # keyword score scaled to 0..1
    translated: bool = False   # found by the query's translation (the other language)

    def to_json(self) -> dict:
        return {"source": self.chunk.source, "score": round(self.score, 4),
                "text": self.chunk.text, "headings": self.chunk.headings,
                "page": self.chunk.page, "similarity": round(self.similarity, 4),
                "keyword": round(self.keyword, 4), "translated": self.translated}


@dataclass(frozen=True)
class SearchParams:
    k: int = 5
    min_similarity: float = 0.35    # a passage this similar is relevant on its own
    min_keyword: float = 0.5        # or one holding this share of the query's keyword weight
    keyword_weight: float = 0.3
    candidates: int = 30            # from the vector index
    keyword_candidates: int = 10    # from keyword search (each needs its vector fetched)
    mode: str = "hybrid"            # or "vector" / "keyword" alone, for measuring
    # Multilingual embedders rate a passage in the query's own language higher than an
    # equally relevant one in the other language; this evens that out (cross-lingual).
    cross_lingual_bonus: float = 0.0
    # Slots of the k results kept for the best passages in the other language, so a
    # Chinese question still sees the English page that answers it (and the reverse).
    other_language_slots: int = 0
    # With a paired embedder: the weight of the English model's cosine, added for an
    # English query and English passage.
    secondary_weight: float = 1.0
    # Ranking the other-language slots: the weight of the keyword score of the query's
    # terms translated by the glossary (core/kb/glossary.py).
    cross_keyword_weight: float = 0.0
    # With the query's translation (``search(translated=...)``): this many slots hold
    # the translation's best passages (one: a knowledge base whose two languages cover
    # the same topics, like the demo's two stores, keeps most of its own-language
    # passages), and one outranks a passage in the query's language when its similarity
    # to the translation is higher by more than ``translated_penalty``.
    translated_slots: int = 1
    translated_penalty: float = 0.03


# Per embedding model, since their similarity scales differ (e5's cosine similarities
# crowd between 0.7 and 0.9, so a keyword score must weigh little beside them).  Tuned
# with bench/kb_bench.py on the demo knowledge base and its query sets (docs/benchmarks.md).
_PARAMS = {
    "multilingual-e5-small": SearchParams(min_similarity=0.80, keyword_weight=0.03,
                                          other_language_slots=2, cross_keyword_weight=0.05),
    "all-MiniLM-L6-v2": SearchParams(min_similarity=0.35, keyword_weight=0.1),
    "all-MiniLM-L6-v2-cs": SearchParams(min_similarity=0.35, keyword_weight=0.1),
    # The threshold applies to e5's cosine; MiniLM's only re-ranks.
    **{pair: SearchParams(min_similarity=0.80, keyword_weight=0.03, other_language_slots=2,
                          secondary_weight=1.0, cross_keyword_weight=0.05) for pair in PAIRS},
}


def params_for(embedder_name: str) -> SearchParams:
    return _PARAMS.get(embedder_name, SearchParams())


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _collection_name(embedder_name: str) -> str:
    slug = re.sub(r"[^a-zA-Z0-9_-]+", "-", embedder_name).strip("-")[:40] or "default"
    return f"kb-{slug}"


_NORMALIZE = re.compile(r"[\W_]+", re.UNICODE)


class _Fingerprint:
    """A passage's normalised text and character trigrams, computed once per search."""

    __slots__ = ("text", "grams")

    def __init__(self, text: str) -> None:
        self.text = _NORMALIZE.sub("", text.lower())
        self.grams = ({self.text[i:i + 3] for i in range(len(self.text) - 2)}
                      if len(self.text) >= 20 else set())

    def near(self, other: "_Fingerprint") -> bool:
        """Identical once normalised, or at least 90% of trigrams shared."""
        if self.text == other.text:
            return True
        if not self.grams or not other.grams:
            return False
        small, large = sorted((len(self.grams), len(other.grams)))
        if small < 0.9 * large:   # the Jaccard bound: cannot reach 0.9
            return False
        return len(self.grams & other.grams) / len(self.grams | other.grams) >= 0.9


def _distinct(hits: list[SearchHit], k: int) -> list[SearchHit]:
    """The first ``k`` of ``hits`` that are not near-duplicates of an earlier one."""
    kept: list[SearchHit] = []
    prints: list[_Fingerprint] = []
    for hit in hits:
        if len(kept) >= k:
            break
        fingerprint = _Fingerprint(hit.chunk.text)
        if not any(fingerprint.near(other) for other in prints):
            kept.append(hit)
            prints.append(fingerprint)
    return kept


def _merge(same: list[SearchHit], other: list[SearchHit], p: SearchParams) -> list[SearchHit]:
    """Two ranked lists in one: the query's passages and those its translation found.
    Each keeps its order; at each step the better head goes first, by its cosine
    similarity to its own query (and keyword score), a translated one less
    ``translated_penalty``.  (The fused score is not comparable across the two: a
    paired embedder adds the English model's cosine for English text only.)"""
    def key(hit: SearchHit) -> float:
        return (hit.similarity + p.keyword_weight * hit.keyword
                - (p.translated_penalty if hit.translated else 0.0))

    same, other, out = list(same), list(other), []
    while same or other:
        if other and (not same or key(other[0]) > key(same[0])):
            out.append(other.pop(0))
        else:
            out.append(same.pop(0))
    return out


class KnowledgeBase:
    def __init__(self, root: Path, *, embedder_factory: Callable[[], Embedder],
                 params: SearchParams | None = None) -> None:
        self.root = root
        self.manifest = Manifest(root / "manifest.sqlite")
        self._embedder_factory = embedder_factory
        self._embedder: Embedder | None = None
        self._collection = None
        self._client = None
        self._bm25: BM25 | None = None
        self._stored: int | None = None            # passages in chromadb, between syncs
        self._langs: dict[str, str] = {}           # chunk id -> language, between syncs
        self._languages: frozenset[str] | None = None
        self._outdated: int | None = None
        self._params = params

    @property
    def params(self) -> SearchParams:
        if self._params is None:
            self._params = params_for(self.embedder.name)
        return self._params

    @params.setter
    def params(self, value: SearchParams) -> None:
        self._params = value

    # ---- resources, created on first use (they are slow to import and load) ----------------
    @property
    def embedder(self) -> Embedder:
        if self._embedder is not None and getattr(self._embedder, "alive", True) is False:
            log.warning("The embedding process had stopped: starting a new one")
            self._embedder = None
        if self._embedder is None:
            self._embedder = self._embedder_factory()
        return self._embedder

    @property
    def collection(self):
        if self._collection is None:
            import chromadb
            from chromadb.config import Settings as ChromaSettings

            self._client = chromadb.PersistentClient(
                path=str(self.root / "chroma"),
                settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False))
            name = self.embedder.name
            previous = self.manifest.get_meta("embedder")
            if previous is not None and previous != name:
                # A different model's vectors cannot be compared: start its own collection
                # and index every document again.
                log.warning("Embedding model changed from %s to %s: re-indexing", previous, name)
                self.manifest.db.execute("UPDATE documents SET hash = '' ")
            self.manifest.set_meta("embedder", name)
            self._collection = self._client.get_or_create_collection(
                _collection_name(name), embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}},
                metadata={"embedder": name, "dimension": self.embedder.dimension})
        return self._collection

    def close(self) -> None:
        if self._embedder is not None and hasattr(self._embedder, "close"):
            self._embedder.close()
        self.manifest.close()
        self._collection = None
        self._client = None

    # ---- folders ---------------------------------------------------------------------------
    def add_paths(self, paths: list[Path]) -> None:
        for path in paths:
            path = Path(path).expanduser().resolve()
            if not path.exists():
                raise KbError(f"{path} does not exist.")
            self.manifest.add_folder(str(path))

    def remove_path(self, path: Path) -> None:
        self.manifest.remove_folder(str(Path(path).expanduser().resolve()))

    def folders(self) -> list[str]:
        return self.manifest.folders()

    def _enumerate(self) -> tuple[list[Path], list[tuple[str, str]]]:
        files: dict[str, Path] = {}
        unsupported: list[tuple[str, str]] = []
        for root in self.manifest.folders():
            base = Path(root)
            if base.is_file():
                candidates = [base]
            elif base.is_dir():
                candidates = []
                for dirpath, dirnames, filenames in os.walk(base):
                    dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                    candidates.extend(Path(dirpath) / f for f in sorted(filenames)
                                      if not f.startswith("."))
            else:
                unsupported.append((root, "the folder no longer exists"))
                continue
            for path in candidates:
                if path.suffix.lower() in SUPPORTED:
                    files[str(path)] = path
                elif base.is_file():
                    unsupported.append((str(path), f"{path.suffix or 'no extension'} files "
                                                   f"are not supported"))
        return [files[k] for k in sorted(files)], unsupported

    # ---- indexing --------------------------------------------------------------------------
    def _drop_vectors(self, path: str) -> None:
        ids = self.manifest.chunk_ids(path)
        for start in range(0, len(ids), 1000):
            self.collection.delete(ids=ids[start:start + 1000])
        self.manifest.delete_chunks(path)

    def _recover(self) -> None:
        """Undo what a killed or cancelled run left half-done."""
        for path in self.manifest.documents_with_status(INDEXING):
            log.info("Resuming: clearing the half-indexed %s", path)
            with self.manifest.transaction():
                self._drop_vectors(path)
                self.manifest.delete_document(path)

    def _repair(self) -> None:
        """When chromadb and the manifest disagree (a damaged or half-copied folder): a
        document with vectors missing is indexed again by this sync, and vectors of no
        known passage are deleted."""
        stored, planned = self.collection.count(), self.manifest.count_chunks()
        if stored == planned:
            return
        known: set[str] = set()
        missing: list[str] = []
        for record in self.manifest.documents():
            if record.status != INDEXED:
                continue
            ids = self.manifest.chunk_ids(record.path)
            known.update(ids)
            if record.outdated:
                continue            # this sync indexes it again anyway
            found: set[str] = set()
            for start in range(0, len(ids), 1000):
                found.update(self.collection.get(ids=ids[start:start + 1000], include=[])["ids"])
            if len(found) < len(ids):
                missing.append(record.path)
        if missing:
            log.warning("%d documents lost their vectors: indexing them again", len(missing))
            with self.manifest.transaction():
                for path in missing:
                    self.manifest.db.execute("UPDATE documents SET hash = '' WHERE path = ?",
                                             (path,))
        if stored > planned:
            orphans = [cid for cid in self.collection.get(include=[])["ids"]
                       if cid not in known]
            log.warning("Deleting %d vectors of no known passage", len(orphans))
            for start in range(0, len(orphans), 1000):
                self.collection.delete(ids=orphans[start:start + 1000])

    def sync(self, *, stop: StopFlag | None = None) -> Iterator[IndexEvent]:
        """Bring the index in line with the folders: add, update, remove, skip."""
        started = time.perf_counter()
        stop = stop or StopFlag()
        summary = IndexSummary()
        self._forget_caches()
        self._recover()
        self._repair()
        files, unsupported = self._enumerate()
        summary.skipped.extend(unsupported)
        present = {str(p) for p in files}
        for record in self.manifest.documents():
            if record.path not in present:
                with self.manifest.transaction():
                    self._drop_vectors(record.path)
                    self.manifest.delete_document(record.path)
                if record.status == INDEXED:
                    summary.removed.append(record.path)
        seen_hashes: dict[str, str] = {}
        for number, path in enumerate(files):
            if stop.is_set():
                summary.cancelled = True
                break
            yield IndexProgress(done=number, total=len(files), current=str(path))
            try:
                self._sync_one(path, summary, seen_hashes, stop)
            except KbError as exc:
                summary.skipped.append((str(path), str(exc)))
        self._forget_caches()
        summary.chunks = self.manifest.count_chunks()
        summary.seconds = time.perf_counter() - started
        if not summary.cancelled:
            yield IndexProgress(done=len(files), total=len(files), current="")
        yield summary

    def _sync_one(self, path: Path, summary: IndexSummary, seen_hashes: dict[str, str],
                  stop: StopFlag) -> None:
        key = str(path)
        try:
            stat = path.stat()
            data = path.read_bytes()
        except OSError as exc:
            raise KbError(f"cannot be read ({exc.strerror})") from None
        digest = content_hash(data)
        old = self.manifest.document(key)
        if old is not None and old.hash == digest and old.status in (INDEXED, SKIPPED):
            if old.status == INDEXED:
                summary.unchanged += 1
                seen_hashes.setdefault(digest, key)
            else:
                summary.skipped.append((key, old.reason))
            return
        twin = seen_hashes.get(digest) or self.manifest.indexed_with_hash(digest)
        if twin and twin != key:
            with self.manifest.transaction():
                if old is not None:
                    self._drop_vectors(key)
                self.manifest.put_document(key, content_hash=digest, size=stat.st_size,
                                           mtime=stat.st_mtime, status=SKIPPED,
                                           reason=f"identical to {twin}")
            summary.skipped.append((key, f"identical to {twin}"))
            return
        try:
            doc = read_document(path)
            chunks = chunk_document(doc, path=key, content_hash=digest)
        except KbError as exc:
            with self.manifest.transaction():
                if old is not None:
                    self._drop_vectors(key)
                self.manifest.put_document(key, content_hash=digest, size=stat.st_size,
                                           mtime=stat.st_mtime, status=SKIPPED,
                                           reason=str(exc))
            raise
        embedder = self.embedder
        # Record the plan (status and chunk ids) before any vector is written.
        with self.manifest.transaction():
            if old is not None:
                self._drop_vectors(key)
            self.manifest.put_document(key, content_hash=digest, size=stat.st_size,
                                       mtime=stat.st_mtime, status=INDEXING, kind=doc.kind,
                                       chunks=len(chunks))
            self.manifest.add_chunks(chunks)
        for start in range(0, len(chunks), EMBED_BATCH):
            if stop.is_set():
                summary.cancelled = True
                return  # left INDEXING: the next run clears and redoes it
            batch = chunks[start:start + EMBED_BATCH]
            t0 = time.perf_counter()
            vectors = embedder.embed_passages([c.embed_text for c in batch])
            summary.embed_seconds += time.perf_counter() - t0
            summary.embedded_chunks += len(batch)
            self.collection.upsert(
                ids=[c.id for c in batch], embeddings=np.asarray(vectors, dtype=np.float32),
                metadatas=[{"path": c.path, "source": c.source} for c in batch])
        self.manifest.set_status(key, INDEXED, chunks=len(chunks))
        seen_hashes.setdefault(digest, key)
        (summary.updated if old is not None and old.status == INDEXED
         else summary.added).append(key)

    def rebuild(self, *, stop: StopFlag | None = None) -> Iterator[IndexEvent]:
        """Forget every passage and index all folders from scratch."""
        with self.manifest.transaction():
            for record in self.manifest.documents():
                self._drop_vectors(record.path)
                self.manifest.delete_document(record.path)
        self._forget_caches()
        yield from self.sync(stop=stop)

    def documents(self):
        return self.manifest.documents()

    # ---- search ----------------------------------------------------------------------------
    def _forget_caches(self) -> None:
        self._bm25 = None
        self._stored = None
        self._langs.clear()
        self._languages = None
        self._outdated = None

    def languages(self) -> frozenset[str]:
        """The languages ("en", "zh") the passages are written in, from a sample of up
        to LANGUAGE_SAMPLE of them; a language counts from 2% of the sample (and two
        passages), so a stray English table in a Chinese knowledge base does not."""
        if self._languages is None:
            texts = self.manifest.sample_texts(LANGUAGE_SAMPLE)
            counts: dict[str, int] = {}
            for text in texts:
                lang = detect_language(text)[:2]
                counts[lang] = counts.get(lang, 0) + 1
            self._languages = frozenset(lang for lang, n in counts.items()
                                        if n >= max(2, 0.02 * len(texts)))
        return self._languages

    def outdated(self) -> int:
        """How many indexed documents a search cannot find until the next sync indexes them
        again: all of them after the embedding model changed (its vectors live in a
        collection of its own), or any whose vectors went missing from chromadb.  0 when
        every indexed document is searchable; documents a cancelled run has not reached
        yet do not count (the user stopped that run).  Worked out once between syncs: the
        app asks before every search."""
        if self._outdated is None:
            self.collection                   # noqa: B018 - notices a changed model, see above
            stale = self.manifest.count_outdated()
            if not stale and self._count() < self.manifest.count_indexed_chunks():
                stale = 1    # which ones, the next sync finds out (``_repair``)
            self._outdated = stale
        return self._outdated

    def translation_target(self, query: str) -> str | None:
        """The language ``query`` should be translated into for ``search(translated=)``,
        or None when a translation would not be used (one language only, or a search
        without other-language slots)."""
        if not self._translates(self.params):
            return None
        return translation_target(query, self.languages())

    @staticmethod
    def _translates(p: SearchParams) -> bool:
        """Whether a search with these parameters uses a translation."""
        return p.mode == "hybrid" and p.other_language_slots > 0 and p.translated_slots > 0

    def _count(self) -> int:
        if self._stored is None:
            self._stored = self.collection.count()
        return self._stored

    def _keyword_index(self) -> BM25:
        if self._bm25 is None:
            self._bm25 = BM25((c.id, c.embed_text) for c in self.manifest.iter_indexed_chunks())
        return self._bm25

    def search(self, query: str, *, k: int | None = None,
               translated: str | None = None) -> list[SearchHit]:
        """The ``k`` most relevant passages for ``query``, best first.

        ``translated`` is the query in the knowledge base's other language (Chinese for
        an English query, English for a Chinese one; ``core.kb.translate``): with it,
        the other-language slots hold the passages that match the translation, ranked
        as if the passages were in the query's own language, instead of those the
        glossary's keywords find.  Multilingual embedders rate a passage in the query's
        language well above an equally relevant one in the other language, so this is
        what lets an English manual answer a Chinese question first.
        """
        query = query.strip()
        translated = (translated or "").strip()
        if not query:
            return []
        p = self.params
        k = k or p.k
        if self._count() == 0:
            return []
        use_translation = bool(translated) and self._translates(p)
        scored, cross = self._scored(query, p, glossary=not use_translation)
        if not p.other_language_slots:
            return _distinct(scored, k)
        lang_of = self._langs
        query_lang = detect_language(query)[:2]
        # Two streams (no passage is a near-duplicate of one in the other language): the
        # query's language by relevance, the other by relevance plus its translated
        # keywords (or by relevance to the translation); the best of the other fill the
        # reserved slots.
        same = _distinct([h for h in scored if lang_of[h.chunk.id] == query_lang], k)
        if use_translation:
            found, _ = self._scored(translated, p, glossary=False)
            other = _distinct([dataclasses.replace(h, translated=True) for h in found
                               if lang_of[h.chunk.id] != query_lang],
                              min(p.translated_slots, k - 1))
            return _merge(same[:k - len(other)], other, p)
        other = _distinct(sorted((h for h in scored if lang_of[h.chunk.id] != query_lang),
                                 key=lambda h: h.similarity + p.cross_keyword_weight *
                                 cross.get(h.chunk.id, 0.0), reverse=True), k)
        reserved = other[:min(p.other_language_slots, k - 1)]
        rest = sorted([h for h in same + other if h not in reserved],
                      key=lambda h: h.score, reverse=True)[:k - len(reserved)]
        return sorted(rest + reserved, key=lambda h: h.score, reverse=True)

    def _scored(self, query: str, p: SearchParams, *,
                glossary: bool) -> tuple[list[SearchHit], dict[str, float]]:
        """Every candidate passage for ``query`` above the relevance threshold, by fused
        score; and the keyword scores of the query's glossary translation (``glossary``)."""
        count = self._count()
        embedder = self.embedder
        vector = embedder.embed_query(query[:2000])
        cut = getattr(embedder, "split_at", None)   # a paired embedder's two halves
        similarity: dict[str, float] = {}   # the (first) model's cosine similarity
        second: dict[str, float] = {}       # a paired embedder's English model's cosine

        def measure(ids: list[str], vectors) -> None:
            vectors = np.asarray(vectors, dtype=np.float32)
            if cut:
                first, other = split_similarities(vector, vectors, cut)
            else:
                first, other = vectors @ vector, None
            for n, cid in enumerate(ids):
                similarity[cid] = float(first[n])
                if other is not None:
                    second[cid] = float(other[n])

        if p.mode != "keyword":
            result = self.collection.query(query_embeddings=[vector],
                                           n_results=min(p.candidates, count),
                                           include=["embeddings"])
            measure(result["ids"][0], result["embeddings"][0])
        keyword: dict[str, float] = {}
        if p.mode != "vector":
            bm25 = self._keyword_index()
            top = bm25.max_score(query) or 1.0
            keyword = {cid: min(1.0, s / top)
                       for cid, s in bm25.search(query, p.keyword_candidates)}
        # The query's terms in the other language (glossary), for the other-language slots.
        cross: dict[str, float] = {}
        if glossary and p.mode == "hybrid" and p.cross_keyword_weight \
                and p.other_language_slots:
            translated = default_glossary().translate_terms(query)
            if translated:
                bm25 = self._keyword_index()
                top = bm25.max_score(translated) or 1.0
                # Twice as many: the other language has no vector candidates of its own.
                cross = {cid: min(1.0, s / top)
                         for cid, s in bm25.search(translated, 2 * p.keyword_candidates)}
        candidates = [cid for cid in sorted(set(similarity) | set(keyword) | set(cross))
                      if similarity.get(cid, 0.0) >= p.min_similarity
                      or max(keyword.get(cid, 0.0), cross.get(cid, 0.0)) >= p.min_keyword]
        if not candidates:
            return [], cross
        # A keyword-only candidate has no similarity from the top-N query: compute it.
        missing = [cid for cid in candidates if cid not in similarity]
        if missing and p.mode != "keyword":
            got = self.collection.get(ids=missing, include=["embeddings"])
            if len(got["ids"]):
                measure(list(got["ids"]), got["embeddings"])
        chunks = self.manifest.chunks_by_id(candidates)
        query_lang = detect_language(query)[:2]
        for cid in chunks:
            if cid not in self._langs:
                self._langs[cid] = detect_language(chunks[cid].text)[:2]
        lang_of = self._langs

        def adjusted(cid: str) -> float:
            sim = similarity.get(cid, 0.0)
            if p.cross_lingual_bonus and lang_of[cid] != query_lang:
                sim += p.cross_lingual_bonus
            return sim

        scored = sorted(
            (SearchHit(chunk=chunks[cid],
                       score=adjusted(cid) + p.secondary_weight * second.get(cid, 0.0)
                       + p.keyword_weight * keyword.get(cid, 0.0),
                       similarity=similarity.get(cid, 0.0), keyword=keyword.get(cid, 0.0))
             for cid in candidates if cid in chunks),
            key=lambda h: h.score, reverse=True)
        return scored, cross
