"""Helpers for the model-serving child processes (core/kb/isolated.py,
core/analysis/isolated.py)."""

from __future__ import annotations


def stop_child(conn, proc, *, timeout: float = 5.0) -> None:
    """Ask a child serving requests over ``conn`` to stop, kill it if it does not, and
    close the pipe."""
    if proc.is_alive():
        try:
            conn.send(("stop", None))
        except (OSError, ValueError):
            pass
        proc.join(timeout=timeout)
        if proc.is_alive():
            proc.kill()
            proc.join(timeout=timeout)
    conn.close()
