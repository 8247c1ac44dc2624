"""The knowledge base's own record of folders, documents and chunks (SQLite, WAL).

It is what makes indexing incremental (content hashes) and resumable: a document
is marked ``indexing`` and its chunk ids are written here, committed, before any
vector reaches chromadb; a run that dies half-way leaves that mark, and the next
run deletes exactly those ids before indexing the document again.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from core.kb.chunking import Chunk
from core.sqlitetx import transaction

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS folders (path TEXT PRIMARY KEY, added REAL NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    path TEXT PRIMARY KEY, hash TEXT NOT NULL, size INTEGER NOT NULL, mtime REAL NOT NULL,
    status TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', chunks INTEGER NOT NULL DEFAULT 0,
    kind TEXT NOT NULL DEFAULT '', updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
    id TEXT PRIMARY KEY, path TEXT NOT NULL, ordinal INTEGER NOT NULL, source TEXT NOT NULL,
    text TEXT NOT NULL, headings TEXT NOT NULL, page INTEGER, row_id TEXT, embed TEXT);
CREATE INDEX IF NOT EXISTS chunks_path ON chunks(path);
"""

INDEXED, INDEXING, SKIPPED = "indexed", "indexing", "skipped"


@dataclass(frozen=True)
class DocumentRecord:
    path: str
    hash: str
    size: int
    mtime: float
    status: str
    reason: str
    chunks: int
    kind: str
    updated: float

    @property
    def outdated(self) -> bool:
        """Indexed with an embedding model no longer in use: the next sync redoes it."""
        return self.status == INDEXED and not self.hash


class Manifest:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        if self.get_meta("schema") is None:
            self.set_meta("schema", str(SCHEMA_VERSION))

    def close(self) -> None:
        self.db.close()

    def transaction(self):
        return transaction(self.db)

    # meta
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # folders
    def folders(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT path FROM folders ORDER BY path")]

    def add_folder(self, path: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO folders VALUES (?, ?)", (path, time.time()))

    def remove_folder(self, path: str) -> None:
        self.db.execute("DELETE FROM folders WHERE path = ?", (path,))

    # documents
    def documents(self) -> list[DocumentRecord]:
        return [DocumentRecord(*row) for row in self.db.execute(
            "SELECT path, hash, size, mtime, status, reason, chunks, kind, updated "
            "FROM documents ORDER BY path")]

    def document(self, path: str) -> DocumentRecord | None:
        row = self.db.execute(
            "SELECT path, hash, size, mtime, status, reason, chunks, kind, updated "
            "FROM documents WHERE path = ?", (path,)).fetchone()
        return DocumentRecord(*row) if row else None

    def indexed_with_hash(self, content_hash: str) -> str | None:
        row = self.db.execute("SELECT path FROM documents WHERE hash = ? AND status = ?",
                              (content_hash, INDEXED)).fetchone()
        return row[0] if row else None

    def put_document(self, path: str, *, content_hash: str, size: int, mtime: float,
                     status: str, reason: str = "", chunks: int = 0, kind: str = "") -> None:
        self.db.execute("INSERT OR REPLACE INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (path, content_hash, size, mtime, status, reason, chunks, kind,
                         time.time()))

    def set_status(self, path: str, status: str, *, chunks: int | None = None) -> None:
        if chunks is None:
            self.db.execute("UPDATE documents SET status = ?, updated = ? WHERE path = ?",
                            (status, time.time(), path))
        else:
            self.db.execute("UPDATE documents SET status = ?, chunks = ?, updated = ? "
                            "WHERE path = ?", (status, chunks, time.time(), path))

    def delete_document(self, path: str) -> None:
        self.db.execute("DELETE FROM documents WHERE path = ?", (path,))

    def documents_with_status(self, status: str) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT path FROM documents WHERE status = ?",
                                              (status,))]

    # chunks
    def chunk_ids(self, path: str) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT id FROM chunks WHERE path = ?", (path,))]

    def add_chunks(self, chunks: Iterable[Chunk]) -> None:
        self.db.executemany(
            "INSERT OR REPLACE INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(c.id, c.path, c.ordinal, c.source, c.text, c.headings, c.page, c.row_id,
              c.embed) for c in chunks])

    def delete_chunks(self, path: str) -> None:
        self.db.execute("DELETE FROM chunks WHERE path = ?", (path,))

    def chunks_by_id(self, ids: list[str]) -> dict[str, Chunk]:
        out: dict[str, Chunk] = {}
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            marks = ",".join("?" * len(part))
            for row in self.db.execute(
                    f"SELECT id, source, path, ordinal, text, headings, page, row_id, embed "
                    f"FROM chunks "
                    f"WHERE id IN ({marks})", part):
                out[row[0]] = Chunk(*row)
        return out

    def iter_indexed_chunks(self) -> Iterator[Chunk]:
        for row in self.db.execute(
                "SELECT c.id, c.source, c.path, c.ordinal, c.text, c.headings, c.page, c.row_id, "
                "c.embed FROM chunks c JOIN documents d ON d.path = c.path WHERE d.status = ?",
                (INDEXED,)):
            yield Chunk(*row)

    def sample_texts(self, n: int) -> list[str]:
        """About ``n`` passages' texts, spread evenly over the table (for its languages)."""
        total = self.count_chunks()
        stride = max(1, total // max(1, n))
        return [row[0] for row in self.db.execute(
            "SELECT text FROM chunks WHERE rowid % ? = 0 LIMIT ?", (stride, n))]

    def count_outdated(self) -> int:
        """Indexed documents whose vectors are gone (the embedding model changed: their
        hash was cleared so the next sync indexes them again)."""
        return self.db.execute("SELECT COUNT(*) FROM documents WHERE status = ? AND hash = ''",
                               (INDEXED,)).fetchone()[0]

    def count_indexed_chunks(self) -> int:
        """Passages of fully indexed documents (not of one a cancelled run left half done)."""
        return self.db.execute("SELECT COUNT(*) FROM chunks c JOIN documents d ON d.path = "
                               "c.path WHERE d.status = ?", (INDEXED,)).fetchone()[0]

    def count_chunks(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
