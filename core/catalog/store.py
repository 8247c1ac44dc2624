"""The catalog store: products with variants, orders with their lines, product vectors.

One SQLite file in the workspace (``catalog.sqlite``, WAL mode), with a schema version
(``PRAGMA user_version``); a file from a newer Kefu is refused rather than damaged.
Re-importing a product (same handle) updates it in place; an order (same number) is
replaced.  Order lines are linked to products by SKU, else by title; lines whose product
is not (yet) in the catalog are kept and linked when it arrives.

Keyword search runs on an FTS5 table of the products' words (Chinese segmented with
jieba at import, so a query costs no segmentation of the catalog).  Vectors for semantic
search are kept per embedding model with the hash of the text they were made from, so a
changed product is embedded again and an unchanged one never is.

A ``CatalogStore`` has one owner at a time (the catalog worker's thread in the app).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Callable

import numpy as np

from core.catalog.readers import phone_key, read_orders, read_products
from core.catalog.records import (ImportSummary, Order, OrderLine, Product, Skipped,
                                  Variant)
from core.errors import CatalogError
from core.sqlitetx import transaction

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE products (
    id INTEGER PRIMARY KEY,
    handle TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    title_words TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    vendor TEXT NOT NULL DEFAULT '',
    type TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '[]',
    published INTEGER NOT NULL DEFAULT 1,
    images TEXT NOT NULL DEFAULT '[]',
    consumable INTEGER NOT NULL DEFAULT 0,
    in_stock INTEGER NOT NULL DEFAULT 1,
    stock INTEGER,
    min_price REAL,
    currency TEXT NOT NULL DEFAULT '',
    text_hash TEXT NOT NULL,
    doc_hash TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT '',
    updated_at REAL NOT NULL
);
CREATE INDEX products_type ON products(type);
CREATE TABLE variants (
    product_id INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    sku TEXT NOT NULL DEFAULT '',
    title TEXT NOT NULL DEFAULT '',
    price TEXT,
    compare_at TEXT,
    currency TEXT NOT NULL DEFAULT '',
    inventory INTEGER,
    policy TEXT NOT NULL DEFAULT 'deny',
    PRIMARY KEY (product_id, position)
);
CREATE INDEX variants_sku ON variants(sku) WHERE sku != '';
CREATE VIRTUAL TABLE product_words USING fts5(words, tokenize = 'unicode61');
CREATE VIRTUAL TABLE product_vocab USING fts5vocab(product_words, 'row');
CREATE TABLE vectors (
    product_id INTEGER PRIMARY KEY REFERENCES products(id) ON DELETE CASCADE,
    embedder TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    vector BLOB NOT NULL
);
CREATE TABLE orders (
    number TEXT PRIMARY KEY,
    email TEXT NOT NULL DEFAULT '',
    phone TEXT NOT NULL DEFAULT '',
    phone_key TEXT NOT NULL DEFAULT '',
    customer TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL DEFAULT '',
    currency TEXT NOT NULL DEFAULT '',
    total TEXT,
    status TEXT NOT NULL DEFAULT '',
    doc_hash TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT ''
);
CREATE INDEX orders_email ON orders(email) WHERE email != '';
CREATE INDEX orders_phone ON orders(phone_key) WHERE phone_key != '';
CREATE TABLE order_lines (
    number TEXT NOT NULL REFERENCES orders(number) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    sku TEXT NOT NULL DEFAULT '',
    name TEXT NOT NULL DEFAULT '',
    quantity INTEGER NOT NULL DEFAULT 1,
    price TEXT,
    product_id INTEGER REFERENCES products(id) ON DELETE SET NULL,
    PRIMARY KEY (number, position)
);
CREATE INDEX order_lines_product ON order_lines(product_id, number);
"""


@dataclass(frozen=True)
class PastLine:
    name: str
    sku: str
    quantity: int
    price: Decimal | None
    handle: str | None            # None: not in the catalog
    variant: str = ""             # the catalog's name of the variant bought (by SKU)


@dataclass(frozen=True)
class PastOrder:
    number: str
    created: str
    currency: str
    total: Decimal | None
    status: str
    lines: tuple[PastLine, ...]

    def to_json(self) -> dict:
        return {"number": self.number, "created": self.created, "currency": self.currency,
                "total": None if self.total is None else str(self.total),
                "status": self.status,
                "lines": [{"name": ln.name, "sku": ln.sku, "quantity": ln.quantity,
                           "price": None if ln.price is None else str(ln.price),
                           "handle": ln.handle} for ln in self.lines]}


@dataclass
class Snapshot:
    """The catalog as arrays, one row per product, for ranking without SQL per product."""
    ids: np.ndarray               # int64 product ids
    handles: list[str]
    types: list[str]
    tags: list[frozenset[str]]    # lower case
    price: np.ndarray             # float64, NaN when unknown
    currency: list[str]
    in_stock: np.ndarray          # bool
    published: np.ndarray         # bool
    consumable: np.ndarray        # bool
    vectors: np.ndarray | None    # float32 (n, d), unit rows; zero rows where not embedded
    embedded: np.ndarray          # bool
    version: int

    def __post_init__(self) -> None:
        self._rows = {int(pid): i for i, pid in enumerate(self.ids)}
        self._handles = {h: i for i, h in enumerate(self.handles)}
        # Codes for vectorised comparisons, and tag -> rows, built once per snapshot.
        self.type_codes = _codes(self.types)
        self.currency_codes = _codes(self.currency)
        postings: dict[str, list[int]] = {}
        for row, tags in enumerate(self.tags):
            for tag in tags:
                postings.setdefault(tag, []).append(row)
        self.tag_rows = {t: np.array(rows, dtype=np.int64) for t, rows in postings.items()}

    def shared_tags(self, tags: frozenset[str]) -> np.ndarray:
        """How many of ``tags`` each product has (an int array over the rows)."""
        counts = np.zeros(len(self.ids), dtype=np.int32)
        for tag in tags:
            rows = self.tag_rows.get(tag)
            if rows is not None:
                counts[rows] += 1
        return counts

    def row_of(self) -> dict[int, int]:
        return self._rows

    def row_of_handle(self, handle: str) -> int | None:
        return self._handles.get(handle)


def _codes(values: list[str]) -> np.ndarray:
    index: dict[str, int] = {}
    return np.array([index.setdefault(v, len(index)) for v in values], dtype=np.int32)


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _undec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _hash(doc) -> str:
    return hashlib.sha1(json.dumps(doc, ensure_ascii=False, sort_keys=True,
                                   default=str).encode()).hexdigest()


def words(text: str) -> str:
    """The FTS5 column: tokens separated by spaces (Chinese segmented by jieba)."""
    from core.kb.keyword import tokenize

    return " ".join(tokenize(text))


class CatalogStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # One owner at a time, not one thread for life: the app's worker closes it
            # from the main thread once its own thread has ended.
            self.db = sqlite3.connect(str(path), isolation_level=None,
                                      check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self.db.execute("PRAGMA synchronous=NORMAL")
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise CatalogError(f"{path} is not a catalog database ({exc}).") from None
        if version > SCHEMA_VERSION:
            self.db.close()
            raise CatalogError(f"{path} was written by a newer Kefu Assist (schema "
                               f"{version}); this one reads up to {SCHEMA_VERSION}.")
        if version == 0:
            with self.transaction():
                for statement in _SCHEMA.split(";\n"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute("INSERT INTO meta VALUES ('version', '0')")
                self.db.execute("INSERT INTO meta VALUES ('products_version', '0')")
                self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def transaction(self):
        return transaction(self.db)

    def close(self) -> None:
        self.db.close()

    @property
    def version(self) -> int:
        """Grows with every change to products or vectors (the recommender reloads)."""
        return int(self.db.execute("SELECT value FROM meta WHERE key = 'version'")
                   .fetchone()[0])

    @property
    def products_version(self) -> int:
        """Grows with every change to the products themselves (not their vectors)."""
        return int(self.db.execute("SELECT value FROM meta WHERE key = 'products_version'")
                   .fetchone()[0])

    def _bump(self, *, products: bool = False) -> None:
        keys = ("version", "products_version") if products else ("version",)
        self.db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 "
                        f"WHERE key IN ({','.join('?' * len(keys))})", keys)

    def _product_count(self) -> int:
        version = self.version
        if getattr(self, "_counted", (None, 0))[0] != version:
            self._counted = (version, self.db.execute("SELECT count(*) FROM products")
                             .fetchone()[0])
        return self._counted[1]

    def has_products(self) -> bool:
        return self.db.execute("SELECT EXISTS (SELECT 1 FROM products)").fetchone()[0] == 1

    def counts(self) -> dict[str, int]:
        one = lambda sql: self.db.execute(sql).fetchone()[0]  # noqa: E731
        return {"products": one("SELECT count(*) FROM products"),
                "variants": one("SELECT count(*) FROM variants"),
                "orders": one("SELECT count(*) FROM orders"),
                "customers": one("SELECT count(DISTINCT CASE WHEN email != '' THEN email "
                                 "ELSE phone_key END) FROM orders")}

    # ---- products -------------------------------------------------------------------------
    def import_products(self, path: Path, *, mapping: dict[str, str] | None = None,
                        currency: str = "", batch: int = 2000,
                        progress: Callable[[int], None] | None = None) -> ImportSummary:
        started = time.perf_counter()
        fmt, encoding, items = read_products(path, mapping=mapping, currency=currency)
        summary = ImportSummary(file=str(path), format=fmt, encoding=encoding)
        currencies: set[str] = set()
        pending: list[Product] = []

        def flush() -> None:
            with self.transaction():
                for product in pending:
                    outcome = self._put_product(product)
                    setattr(summary, outcome, getattr(summary, outcome) + 1)
                self._bump(products=True)
            pending.clear()
            if progress is not None:
                progress(summary.imported + summary.updated + summary.unchanged)

        for item in items:
            if isinstance(item, Skipped):
                summary.skipped.append(item)
                continue
            currencies.update(v.currency for v in item.variants if v.currency)
            pending.append(item)
            if len(pending) >= batch:
                flush()
        if pending:
            flush()
        with self.transaction():
            linked = self.db.execute(
                "UPDATE order_lines SET product_id = (SELECT v.product_id FROM variants v "
                "WHERE v.sku = order_lines.sku AND v.sku != '' LIMIT 1) "
                "WHERE product_id IS NULL AND sku != ''").rowcount
        self._link_by_name()
        if len(currencies) > 1:
            summary.warnings.append(
                f"prices in {len(currencies)} currencies ({', '.join(sorted(currencies))}): "
                f"substitutes are only compared with products priced in the same currency")
        if not currencies and not currency:
            summary.warnings.append("no currency in the file: prices are shown without one "
                                    "(pass --currency CODE)")
        del linked
        summary.seconds = time.perf_counter() - started
        return summary

    def _put_product(self, product: Product) -> str:
        doc = {"title": product.title, "description": product.description,
               "vendor": product.vendor, "type": product.type, "tags": product.tags,
               "published": product.published, "images": product.images,
               "variants": [[v.sku, v.title, _dec(v.price), _dec(v.compare_at), v.currency,
                             v.inventory, v.policy] for v in product.variants]}
        doc_hash = _hash(doc)
        row = self.db.execute("SELECT id, doc_hash FROM products WHERE handle = ?",
                              (product.handle,)).fetchone()
        if row and row[1] == doc_hash:
            return "unchanged"
        text = product.search_text()
        prices = [float(v.price) for v in product.variants if v.price is not None]
        in_stock = [v for v in product.variants if v.in_stock] or list(product.variants)
        currency = next((v.currency for v in in_stock if v.currency), "")
        values = (product.title, words(product.title), product.description, product.vendor, product.type,
                  json.dumps(product.tags, ensure_ascii=False), int(product.published),
                  json.dumps(product.images, ensure_ascii=False), int(product.consumable),
                  int(product.in_stock), product.stock,
                  min((float(v.price) for v in in_stock if v.price is not None),
                      default=min(prices, default=None)),
                  currency, _hash(text), doc_hash, product.source, time.time())
        if row:
            pid = row[0]
            self.db.execute(
                "UPDATE products SET title=?, title_words=?, description=?, vendor=?, type=?, tags=?, "
                "published=?, images=?, consumable=?, in_stock=?, stock=?, min_price=?, "
                "currency=?, text_hash=?, doc_hash=?, source=?, updated_at=? WHERE id=?",
                (*values, pid))
            self.db.execute("DELETE FROM variants WHERE product_id = ?", (pid,))
            self.db.execute("DELETE FROM product_words WHERE rowid = ?", (pid,))
        else:
            pid = self.db.execute(
                "INSERT INTO products (title, title_words, description, vendor, type, tags, "
                "published, images, consumable, in_stock, stock, min_price, currency, "
                "text_hash, doc_hash, source, updated_at, handle) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (*values, product.handle)).lastrowid
        self.db.executemany(
            "INSERT INTO variants VALUES (?,?,?,?,?,?,?,?,?)",
            [(pid, i, v.sku, v.title, _dec(v.price), _dec(v.compare_at), v.currency,
              v.inventory, v.policy) for i, v in enumerate(product.variants)])
        self.db.execute("INSERT INTO product_words (rowid, words) VALUES (?, ?)",
                        (pid, words(f"{product.handle} {text} "
                                    + " ".join(v.sku for v in product.variants))))
        return "updated" if row else "imported"

    def product(self, handle: str) -> Product | None:
        row = self.db.execute(
            "SELECT id, handle, title, description, vendor, type, tags, published, images, "
            "source FROM products WHERE handle = ?", (handle,)).fetchone()
        return None if row is None else self._product(row)

    def products(self, ids: list[int]) -> dict[int, Product]:
        out: dict[int, Product] = {}
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            marks = ",".join("?" * len(part))
            for row in self.db.execute(
                    f"SELECT id, handle, title, description, vendor, type, tags, published, "
                    f"images, source FROM products WHERE id IN ({marks})", part):
                out[row[0]] = self._product(row)
        return out

    def _product(self, row) -> Product:
        variants = tuple(
            Variant(sku=v[0], title=v[1], price=_undec(v[2]), compare_at=_undec(v[3]),
                    currency=v[4], inventory=v[5], policy=v[6])
            for v in self.db.execute(
                "SELECT sku, title, price, compare_at, currency, inventory, policy "
                "FROM variants WHERE product_id = ? ORDER BY position", (row[0],)))
        return Product(handle=row[1], title=row[2], description=row[3], vendor=row[4],
                       type=row[5], tags=tuple(json.loads(row[6])), published=bool(row[7]),
                       images=tuple(json.loads(row[8])), variants=variants, source=row[9])

    def titles(self, ids: list[int]) -> dict[int, str]:
        out: dict[int, str] = {}
        for start in range(0, len(ids), 500):
            part = [int(i) for i in ids[start:start + 500]]
            marks = ",".join("?" * len(part))
            out.update(self.db.execute(f"SELECT id, title FROM products WHERE id IN ({marks})",
                                       part).fetchall())
        return out

    def title_words(self, ids: list[int]) -> dict[int, frozenset[str]]:
        """The words of each product's title (segmented at import: no jieba here)."""
        out: dict[int, frozenset[str]] = {}
        for start in range(0, len(ids), 500):
            part = [int(i) for i in ids[start:start + 500]]
            marks = ",".join("?" * len(part))
            for pid, text in self.db.execute(
                    f"SELECT id, title_words FROM products WHERE id IN ({marks})", part):
                out[pid] = frozenset(text.split())
        return out

    def product_id(self, handle: str) -> int | None:
        row = self.db.execute("SELECT id FROM products WHERE handle = ?", (handle,)).fetchone()
        return row[0] if row else None

    def all_words(self) -> Iterator[tuple[int, str]]:
        """(product id, its indexed words) for every product, by id."""
        yield from self.db.execute("SELECT rowid, words FROM product_words ORDER BY rowid")

    def keyword_search(self, query_words: list[str], *, limit: int = 50
                       ) -> list[tuple[int, float]]:
        """(product id, BM25 score, larger is better) for products with any of the words.

        Words found in more than 3% of a large catalog ("set", "white") are left out: they
        barely rank, and their long posting lists are most of the query's cost."""
        terms = [w for w in dict.fromkeys(query_words) if w][:48]
        if not terms:
            return []
        marks = ",".join("?" * len(terms))
        df = dict(self.db.execute(f"SELECT term, doc FROM product_vocab WHERE term IN "
                                  f"({marks})", terms).fetchall())
        terms = [t for t in terms if t in df]
        if not terms:
            return []
        common = max(1000, 0.03 * self._product_count())
        selective = [t for t in terms if df[t] <= common]
        terms = (selective or sorted(terms, key=df.get)[:3])[:24]
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
        try:
            rows = self.db.execute(
                "SELECT rowid, -bm25(product_words) AS s FROM product_words "
                "WHERE product_words MATCH ? ORDER BY s DESC LIMIT ?", (match, limit)).fetchall()
        except sqlite3.OperationalError:
            return []
        return [(r[0], float(r[1])) for r in rows]

    # ---- vectors --------------------------------------------------------------------------
    def unembedded(self, embedder: str, *, limit: int | None = None
                   ) -> list[tuple[int, str, str]]:
        """(product id, text hash, text to embed) of products with no current vector."""
        sql = ("SELECT p.id, p.text_hash, p.handle FROM products p LEFT JOIN vectors v "
               "ON v.product_id = p.id AND v.embedder = ? AND v.text_hash = p.text_hash "
               "WHERE v.product_id IS NULL ORDER BY p.id")
        rows = self.db.execute(sql + (f" LIMIT {int(limit)}" if limit else ""),
                               (embedder,)).fetchall()
        out = []
        for pid, text_hash, handle in rows:
            product = self.product(handle)
            if product is not None:
                out.append((pid, text_hash, product.search_text()))
        return out

    def count_unembedded(self, embedder: str) -> int:
        return self.db.execute(
            "SELECT count(*) FROM products p LEFT JOIN vectors v ON v.product_id = p.id "
            "AND v.embedder = ? AND v.text_hash = p.text_hash WHERE v.product_id IS NULL",
            (embedder,)).fetchone()[0]

    def save_vectors(self, embedder: str, items: list[tuple[int, str, np.ndarray]]) -> None:
        with self.transaction():
            self.db.executemany(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?)",
                [(pid, embedder, text_hash, np.asarray(vec, dtype=np.float16).tobytes())
                 for pid, text_hash, vec in items])
            self._bump()

    def snapshot(self, embedder: str | None) -> Snapshot:
        version = self.version
        rows = self.db.execute(
            "SELECT id, handle, type, min_price, currency, in_stock, published, consumable, "
            "tags FROM products ORDER BY id").fetchall()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        price = np.array([np.nan if r[3] is None else r[3] for r in rows], dtype=np.float64)
        snap = Snapshot(ids=ids, handles=[r[1] for r in rows], types=[r[2] for r in rows],
                        tags=[frozenset(t.lower() for t in json.loads(r[8])) for r in rows],
                        price=price, currency=[r[4] for r in rows],
                        in_stock=np.array([bool(r[5]) for r in rows], dtype=bool),
                        published=np.array([bool(r[6]) for r in rows], dtype=bool),
                        consumable=np.array([bool(r[7]) for r in rows], dtype=bool),
                        vectors=None, embedded=np.zeros(len(rows), dtype=bool),
                        version=version)
        if embedder is None or not rows:
            return snap
        index = snap.row_of()
        matrix = None
        for pid, blob in self.db.execute(
                "SELECT v.product_id, v.vector FROM vectors v JOIN products p "
                "ON p.id = v.product_id AND p.text_hash = v.text_hash WHERE v.embedder = ?",
                (embedder,)):
            vec = np.frombuffer(blob, dtype=np.float16)
            if matrix is None:
                matrix = np.zeros((len(rows), vec.shape[0]), dtype=np.float32)
            if vec.shape[0] != matrix.shape[1]:
                continue
            i = index[pid]
            matrix[i] = vec
            snap.embedded[i] = True
        if matrix is not None:
            norms = np.linalg.norm(matrix, axis=1, keepdims=True)
            norms[norms == 0] = 1.0
            snap.vectors = matrix / norms
        return snap

    # ---- orders ---------------------------------------------------------------------------
    def import_orders(self, path: Path, *, mapping: dict[str, str] | None = None,
                      currency: str = "") -> ImportSummary:
        started = time.perf_counter()
        fmt, encoding, items = read_orders(path, mapping=mapping, currency=currency)
        summary = ImportSummary(file=str(path), format=fmt, encoding=encoding)
        unknown = 0
        with self.transaction():
            for item in items:
                if isinstance(item, Skipped):
                    summary.skipped.append(item)
                    continue
                outcome, missing = self._put_order(item)
                unknown += missing
                setattr(summary, outcome, getattr(summary, outcome) + 1)
        unknown -= self._link_by_name()
        if unknown > 0:
            summary.warnings.append(
                f"{unknown} order line{'s' if unknown != 1 else ''} name no product in the "
                f"catalog (kept: they are linked if the product is imported later)")
        summary.seconds = time.perf_counter() - started
        return summary

    def _put_order(self, order: Order) -> tuple[str, int]:
        doc_hash = _hash([order.email, order.phone, order.customer, order.created,
                          order.currency, _dec(order.total), order.status,
                          [[ln.sku, ln.name, ln.quantity, _dec(ln.price)]
                           for ln in order.lines]])
        row = self.db.execute("SELECT doc_hash FROM orders WHERE number = ?",
                              (order.number,)).fetchone()
        if row and row[0] == doc_hash:
            return "unchanged", 0
        if row:
            self.db.execute("DELETE FROM order_lines WHERE number = ?", (order.number,))
            self.db.execute("DELETE FROM orders WHERE number = ?", (order.number,))
        self.db.execute("INSERT INTO orders VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                        (order.number, order.email, order.phone, phone_key(order.phone),
                         order.customer, order.created, order.currency, _dec(order.total),
                         order.status, doc_hash, order.source))
        missing = 0
        for i, line in enumerate(order.lines):
            pid = self._line_product(line)
            missing += pid is None
            self.db.execute("INSERT INTO order_lines VALUES (?,?,?,?,?,?,?)",
                            (order.number, i, line.sku, line.name, line.quantity,
                             _dec(line.price), pid))
        return ("updated" if row else "imported"), missing

    def _line_product(self, line: OrderLine) -> int | None:
        if line.sku:
            row = self.db.execute("SELECT product_id FROM variants WHERE sku = ? LIMIT 1",
                                  (line.sku,)).fetchone()
            if row:
                return row[0]
        return None

    def _link_by_name(self) -> int:
        """Link lines with no SKU match by product title ("Title - Variant" or "Title")."""
        linked = 0
        rows = self.db.execute("SELECT number, position, name FROM order_lines "
                               "WHERE product_id IS NULL AND name != ''").fetchall()
        if not rows:
            return 0
        with self.transaction():
            for number, position, name in rows:
                candidates = [name] + ([name.rsplit(" - ", 1)[0]] if " - " in name else [])
                for title in candidates:
                    hit = self.db.execute("SELECT id FROM products WHERE title = ? LIMIT 1",
                                          (title.strip(),)).fetchone()
                    if hit:
                        self.db.execute("UPDATE order_lines SET product_id = ? "
                                        "WHERE number = ? AND position = ?",
                                        (hit[0], number, position))
                        linked += 1
                        break
        return linked

    def customer_orders(self, *, email: str = "", phone: str = "", limit: int = 50
                        ) -> list[PastOrder]:
        """The customer's orders, newest first, found by email or phone."""
        email, key = email.strip().lower(), phone_key(phone)
        if not email and not key:
            return []
        numbers = self.db.execute(
            "SELECT number, created, currency, total, status FROM orders "
            "WHERE (? != '' AND email = ?) OR (? != '' AND phone_key = ?) "
            "ORDER BY created DESC LIMIT ?", (email, email, key, key, limit)).fetchall()
        out = []
        for number, created, currency, total, status in numbers:
            lines = tuple(
                PastLine(name=r[0], sku=r[1], quantity=r[2], price=_undec(r[3]), handle=r[4],
                         variant=r[5] or "")
                for r in self.db.execute(
                    "SELECT l.name, l.sku, l.quantity, l.price, p.handle, "
                    "(SELECT v.title FROM variants v WHERE v.product_id = l.product_id "
                    " AND v.sku = l.sku AND l.sku != '' LIMIT 1) "
                    "FROM order_lines l LEFT JOIN products p ON p.id = l.product_id "
                    "WHERE l.number = ? ORDER BY l.position", (number,)))
            out.append(PastOrder(number=number, created=created, currency=currency,
                                 total=_undec(total), status=status, lines=lines))
        return out

    def co_purchased(self, product_ids: list[int], *, limit: int = 50
                     ) -> list[tuple[int, int, int]]:
        """(other product id, orders bought together, with which of ``product_ids``)."""
        if not product_ids:
            return []
        marks = ",".join("?" * len(product_ids))
        return [(r[0], r[1], r[2]) for r in self.db.execute(
            f"SELECT b.product_id, count(DISTINCT a.number) AS n, min(a.product_id) "
            f"FROM order_lines a JOIN order_lines b ON b.number = a.number "
            f"WHERE a.product_id IN ({marks}) AND b.product_id IS NOT NULL "
            f"AND b.product_id NOT IN ({marks}) "
            f"GROUP BY b.product_id ORDER BY n DESC LIMIT ?",
            (*product_ids, *product_ids, limit))]
