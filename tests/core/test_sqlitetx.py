"""The one write-transaction helper every store uses."""

from __future__ import annotations

import sqlite3

import pytest

from core.sqlitetx import transaction


def db(tmp_path):
    conn = sqlite3.connect(tmp_path / "t.sqlite", isolation_level=None)
    conn.execute("CREATE TABLE t (x INTEGER)")
    return conn


def test_commits_and_rolls_back(tmp_path):
    conn = db(tmp_path)
    with transaction(conn):
        conn.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(ValueError):
        with transaction(conn):
            conn.execute("INSERT INTO t VALUES (2)")
            raise ValueError("no")
    assert conn.execute("SELECT x FROM t").fetchall() == [(1,)]
    assert not conn.in_transaction


def test_the_real_error_survives_when_sqlite_rolled_back_itself(tmp_path):
    conn = db(tmp_path)
    conn.execute("PRAGMA max_page_count = " +
                 str(conn.execute("PRAGMA page_count").fetchone()[0]))
    with pytest.raises(sqlite3.OperationalError, match="full"):
        with transaction(conn):
            conn.executemany("INSERT INTO t VALUES (?)", ((i,) for i in range(200000)))
    assert not conn.in_transaction
