"""The agent's unsent work: composer text and ticket status per ticket, kept on disk.

A small JSON file written atomically (old or new, never half), so a crash or a
closed window loses nothing that was in the composer.  The inbox issue replaces
this with the SQLite ticket store for real tickets; the demo queue
(``core.inbox.queue.MemoryQueue``) still keeps its drafts here.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from core.fsutil import atomic_write_json

log = logging.getLogger("kefu.drafts")


@dataclass(frozen=True)
class SavedDraft:
    text: str
    status: str = "open"      # "open" or "sent" (marked as sent by the agent)
    updated: float = 0.0


class DraftStore:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._drafts: dict[str, SavedDraft] = {}
        self._load()

    def _load(self) -> None:
        try:
            doc = json.loads(self._path.read_text(encoding="utf-8"))
            for key, value in doc.get("drafts", {}).items():
                self._drafts[str(key)] = SavedDraft(text=str(value.get("text", "")),
                                                    status=str(value.get("status", "open")),
                                                    updated=float(value.get("updated", 0)))
        except FileNotFoundError:
            pass
        except (OSError, ValueError, AttributeError, TypeError) as exc:
            backup = self._path.with_suffix(".damaged.json")
            try:
                self._path.replace(backup)
            except OSError:
                pass
            log.warning("Saved drafts in %s were unreadable (%s); kept as %s",
                        self._path, exc, backup)

    def get(self, ticket_id: str) -> SavedDraft | None:
        return self._drafts.get(ticket_id)

    def put(self, ticket_id: str, *, text: str, status: str | None = None) -> None:
        old = self._drafts.get(ticket_id)
        self._drafts[ticket_id] = SavedDraft(
            text=text, status=status or (old.status if old else "open"), updated=time.time())

    def save(self) -> None:
        atomic_write_json(self._path, {"schema": 1, "drafts": {
            key: {"text": d.text, "status": d.status, "updated": d.updated}
            for key, d in self._drafts.items()}})
