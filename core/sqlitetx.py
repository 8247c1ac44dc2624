"""One write transaction on a SQLite connection opened with ``isolation_level=None``.

Every store here (tickets, knowledge-base manifest, catalog) writes through this: BEGIN
IMMEDIATE, COMMIT on success, ROLLBACK on any error.  SQLite has already rolled back by
itself after some errors (SQLITE_FULL, for one); a second ROLLBACK would then raise and
hide the real error, so it is issued only while a transaction is still open.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
