"""The mailbox, polled in the background while the window is open.

``poll_mailbox`` (core) runs on a plain Python thread with its own ticket-store
connection; this QObject turns what it reports into signals, which Qt delivers on the
window's thread.  Stopping sets the loop's event: it ends after the sync in flight (at
most the network timeout).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from core.errors import MailError
from core.inbox.mailclient import Backoff, MailAccount, poll_mailbox
from core.inbox.store import TicketStore

log = logging.getLogger("kefu.app.mail")


class MailPoller(QObject):
    synced = Signal(int)           # messages stored by this sync
    failed = Signal(str, float)    # what went wrong, seconds until the next try

    def __init__(self, tickets_db: Path, account: MailAccount, password: str, *,
                 interval: float, backoff: Backoff | None = None) -> None:
        super().__init__()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=poll_mailbox, name="kefu-mail", daemon=True,
            kwargs=dict(open_store=lambda: TicketStore(tickets_db), account=account,
                        password=password, interval=interval, stop=self._stop,
                        report=self._report, backoff=backoff))

    def start(self) -> None:
        self._thread.start()

    def _report(self, event) -> None:   # on the mail thread
        if isinstance(event, MailError):
            self.failed.emit(str(event), float(getattr(event, "retry_in", 0.0)))
        else:
            self.synced.emit(event.messages)

    def stop(self, *, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("The mail thread is still in a network call; leaving it")
