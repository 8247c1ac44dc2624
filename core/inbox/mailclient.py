"""The store's mailbox: fetch customer mail over IMAP, send replies over SMTP.

Fetching is incremental by UID: the store keeps each folder's UIDVALIDITY and the last
UID it stored, and asks only for newer ones.  A changed UIDVALIDITY (the server rebuilt
the folder) starts over from the first UID; Message-IDs already stored are skipped, so
nothing is imported twice.  The position is saved after every batch, so a connection
dropped mid-fetch loses at most the batch in flight, and the next sync goes on from there.

Sending happens only for a reply the agent queued with Send (``TicketStore.queue_reply``).
The outbox entry is claimed first (a reply being or already sent cannot be claimed
again), sent with its own Message-ID, In-Reply-To and References, then marked sent and a
copy appended to the Sent folder.  A refused or failed send stays in the outbox with the
server's answer, for a retry.

TLS certificates are always verified (against the system's authorities and, if set, the
account's own CA file); there is no option to turn that off.
"""

from __future__ import annotations

import imaplib
import logging
import re
import smtplib
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from datetime import datetime, timezone

from core.errors import MailError, TicketError
from core.inbox.importers import from_mail
from core.inbox.store import ImportResult, TicketStore
from core.mail.parse import parse_message
from core.settings import Settings

log = logging.getLogger("kefu.mail")

FETCH_BATCH = 50
TIMEOUT_S = 30


@dataclass(frozen=True)
class MailAccount:
    address: str
    username: str
    imap_host: str
    imap_port: int = 993
    imap_security: str = "tls"         # "tls" (implicit) or "starttls"
    folder: str = "INBOX"
    sent_folder: str = "Sent"
    smtp_host: str = ""
    smtp_port: int = 465
    smtp_security: str = "tls"
    ca_file: str = ""
    display_name: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> "MailAccount":
        if not settings.mail_address or not settings.imap_host:
            raise MailError("No mailbox is set up: set mail_address and imap_host (Settings, "
                            "or settings.json), then store the password with "
                            "`kefu mail password`.")
        return cls(address=settings.mail_address,
                   username=settings.mail_username or settings.mail_address,
                   imap_host=settings.imap_host, imap_port=settings.imap_port,
                   imap_security=settings.imap_security, folder=settings.imap_folder,
                   sent_folder=settings.sent_folder,
                   smtp_host=settings.smtp_host or settings.imap_host,
                   smtp_port=settings.smtp_port, smtp_security=settings.smtp_security,
                   ca_file=settings.mail_ca_file, display_name=settings.store_name)

    @property
    def key(self) -> str:
        """The keyring entry and sync-state name of this account."""
        return f"{self.username}@{self.imap_host}:{self.imap_port}"

    def tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.ca_file:
            try:
                context.load_verify_locations(cafile=self.ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise MailError(f"The CA file {self.ca_file} cannot be used: {exc}.") from None
        return context


@dataclass
class SyncResult(ImportResult):
    fetched: int = 0           # messages downloaded this time
    reset: bool = False        # UIDVALIDITY changed: the folder was read from the start

    def to_json(self) -> dict:
        return {**super().to_json(), "fetched": self.fetched, "reset": self.reset}


def _why(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"the server's certificate is not trusted ({exc.verify_message})"
    if isinstance(exc, socket.timeout):
        return "the server did not answer in time"
    if isinstance(exc, ConnectionRefusedError):
        return "the connection was refused (is the host and port right?)"
    if isinstance(exc, imaplib.IMAP4.error) or isinstance(exc, smtplib.SMTPException):
        text = str(exc)
        if isinstance(exc, smtplib.SMTPResponseException):
            text = f"{exc.smtp_code} {exc.smtp_error.decode(errors='replace')}"
        return text.strip("b'\" ") or type(exc).__name__
    return str(exc) or type(exc).__name__


# ---- IMAP ---------------------------------------------------------------------------------
class _IMAP4_SSL(imaplib.IMAP4_SSL):
    """IMAP over TLS that closes its socket when the handshake fails (an untrusted
    certificate), which the standard class leaves open."""

    def _create_socket(self, timeout):
        sock = imaplib.IMAP4._create_socket(self, timeout)
        wrapped = self.ssl_context.wrap_socket(sock, server_hostname=self.host,
                                               do_handshake_on_connect=False)
        try:
            wrapped.do_handshake()
        except BaseException:
            wrapped.close()
            raise
        return wrapped


def _imap_connect(account: MailAccount, password: str) -> imaplib.IMAP4:
    context = account.tls_context()
    conn = None
    try:
        if account.imap_security == "tls":
            conn = _IMAP4_SSL(account.imap_host, account.imap_port,
                                     ssl_context=context, timeout=TIMEOUT_S)
        else:
            conn = imaplib.IMAP4(account.imap_host, account.imap_port, timeout=TIMEOUT_S)
            conn.starttls(ssl_context=context)
        conn.login(account.username, password)
        return conn
    except (OSError, imaplib.IMAP4.error) as exc:
        if conn is not None:
            try:
                conn.shutdown()
            except OSError:
                pass
        raise MailError(f"IMAP {account.imap_host}:{account.imap_port}: {_why(exc)}.") from None


_UID = re.compile(rb"UID (\d+)")


def _check(status: str, data, what: str) -> list:
    if status != "OK":
        detail = b" ".join(d for d in data if isinstance(d, bytes)).decode(errors="replace")
        raise MailError(f"The IMAP server refused {what}: {detail or status}.")
    return data


def sync_mailbox(store: TicketStore, account: MailAccount, password: str) -> SyncResult:
    """Fetch every message newer than the last one stored; returns what was imported."""
    result = SyncResult()
    conn = _imap_connect(account, password)
    try:
        try:
            _check(*conn.select(_quote(account.folder), readonly=True),
                   f"to open {account.folder}")
            _, values = conn.response("UIDVALIDITY")
            if not values or values[0] is None:
                raise MailError(f"The IMAP server gave no UIDVALIDITY for {account.folder}.")
            validity = int(values[0])
            position = store.mail_position(account.key, account.folder)
            last = 0
            if position is not None and position[0] == validity:
                last = position[1]
            elif position is not None:
                result.reset = True
                log.warning("UIDVALIDITY of %s changed (%s -> %s): reading it again",
                            account.folder, position[0], validity)
            uids = [int(u) for u in _check(*conn.uid("SEARCH", None, f"UID {last + 1}:*"),
                                           "the search")[0].split()]
            uids = sorted(u for u in uids if u > last)   # "N:*" includes the last UID
            for start in range(0, len(uids), FETCH_BATCH):
                batch = uids[start:start + FETCH_BATCH]
                status, data = conn.uid("FETCH", ",".join(map(str, batch)), "(UID BODY.PEEK[])")
                items = []
                highest = last
                for part in _check(status, data, "the fetch"):
                    if not isinstance(part, tuple):
                        continue
                    match = _UID.search(part[0])
                    uid = int(match.group(1)) if match else 0
                    where = f"{account.folder} UID {uid}"
                    try:
                        items.append(from_mail(parse_message(part[1], name=where), source=where))
                    except TicketError as exc:
                        items.append(exc)
                    highest = max(highest, uid)
                result.add(store.add_many(items))
                store.set_mail_position(account.key, account.folder, validity, highest)
                last = highest
                result.fetched += len(items)
            if position is None or result.reset or not uids:
                store.set_mail_position(account.key, account.folder, validity, last)
        except (OSError, imaplib.IMAP4.abort) as exc:
            raise MailError(f"The connection to {account.imap_host} dropped during the sync "
                            f"({_why(exc)}); {result.messages} new messages were saved and the "
                            f"next sync goes on from there.") from None
        except imaplib.IMAP4.error as exc:
            raise MailError(f"IMAP {account.imap_host}: {_why(exc)}.") from None
    finally:
        _close(conn)
    return result


def _close(conn: imaplib.IMAP4) -> None:
    """Log out; on a dead connection just close the socket (``logout`` leaves it open
    when the LOGOUT command itself fails)."""
    try:
        conn.logout()
    except (OSError, imaplib.IMAP4.error):
        try:
            conn.shutdown()
        except OSError:
            pass


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Backoff:
    """Waits between failed syncs: 5 s, 10 s, 20 s ... up to ``ceiling``; reset on success."""

    def __init__(self, first: float = 5.0, ceiling: float = 600.0) -> None:
        self.first, self.ceiling = first, ceiling
        self.failures = 0

    def failed(self) -> float:
        self.failures += 1
        return min(self.ceiling, self.first * 2 ** (self.failures - 1))

    def succeeded(self) -> None:
        self.failures = 0


def poll_mailbox(open_store, account: MailAccount, password: str, *, interval: float,
                 stop: threading.Event, report=lambda event: None,
                 backoff: Backoff | None = None) -> None:
    """Sync every ``interval`` seconds until ``stop`` is set (the app runs this on a
    worker thread).  A failed sync is reported and retried after a growing wait, so a
    server that is down or a dropped connection is retried without hammering it.

    ``open_store`` makes the thread's own ``TicketStore`` (SQLite connections belong to
    one thread).  ``report`` gets a ``SyncResult`` after each sync, or a ``MailError``
    with ``retry_in`` (seconds) set after each failure.
    """
    backoff = backoff or Backoff()
    store = open_store()
    try:
        while not stop.is_set():
            try:
                result = sync_mailbox(store, account, password)
            except MailError as exc:
                exc.retry_in = backoff.failed()
                log.warning("Mail sync failed (retry in %.0f s): %s", exc.retry_in, exc)
                report(exc)
                stop.wait(exc.retry_in)
                continue
            backoff.succeeded()
            report(result)
            stop.wait(interval)
    finally:
        store.close()


# ---- SMTP ---------------------------------------------------------------------------------
def build_reply(entry: dict, account: MailAccount) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = formataddr((account.display_name, account.address)) \
        if account.display_name else account.address
    msg["To"] = ", ".join(entry["to"])
    msg["Subject"] = entry["subject"]
    msg["Message-ID"] = entry["message_id"]
    msg["Date"] = format_datetime(datetime.now(timezone.utc))
    if entry["in_reply_to"]:
        msg["In-Reply-To"] = entry["in_reply_to"]
    if entry["references"]:
        msg["References"] = " ".join(entry["references"])
    msg.set_content(entry["text"], charset="utf-8")
    return msg


def _smtp_connect(account: MailAccount, password: str) -> smtplib.SMTP:
    """A logged-in SMTP connection (TLS or STARTTLS, the certificate verified)."""
    context = account.tls_context()
    host = account.smtp_host or account.imap_host
    if account.smtp_security == "tls":
        smtp = smtplib.SMTP_SSL(host, account.smtp_port, context=context, timeout=TIMEOUT_S)
    else:
        smtp = smtplib.SMTP(host, account.smtp_port, timeout=TIMEOUT_S)
    try:
        if account.smtp_security != "tls":
            smtp.starttls(context=context)
        smtp.login(account.username, password)
    except BaseException:
        _smtp_close(smtp)
        raise
    return smtp


def _smtp_close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()


def _smtp_send(account: MailAccount, password: str, msg: EmailMessage) -> None:
    smtp = _smtp_connect(account, password)
    try:
        refused = smtp.send_message(msg)
        if refused:
            raise smtplib.SMTPRecipientsRefused(refused)
    finally:
        _smtp_close(smtp)


def check_account(account: MailAccount, password: str) -> str:
    """Log in to IMAP (and open the inbox folder) and to SMTP, sending nothing.  Returns
    what was found; raises ``MailError`` naming the server that failed and why."""
    conn = _imap_connect(account, password)
    try:
        status, data = conn.select(_quote(account.folder), readonly=True)
        _check(status, data, f"to open {account.folder}")
        count = int(data[0] or 0)
    except (OSError, imaplib.IMAP4.error) as exc:
        raise MailError(f"IMAP {account.imap_host}: {_why(exc)}.") from None
    finally:
        _close(conn)
    try:
        _smtp_close(_smtp_connect(account, password))
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"SMTP {account.smtp_host or account.imap_host}:{account.smtp_port}: "
                        f"{_why(exc)}.") from None
    return (f"IMAP and SMTP both accepted the login; {account.folder} holds {count} "
            f"message{'s' if count != 1 else ''}.")


def send_reply(store: TicketStore, outbox_id: int, account: MailAccount,
               password: str) -> str:
    """Send one queued reply.  Returns "sent", or "skipped" if it was sent (or is being
    sent) already; raises ``MailError`` after recording the failure in the outbox."""
    if not store.claim_for_sending(outbox_id):
        return "skipped"
    entry = next(e for e in store.outbox(statuses=("sending",)) if e["id"] == outbox_id)
    msg = build_reply(entry, account)
    try:
        _smtp_send(account, password, msg)
    except (OSError, smtplib.SMTPException) as exc:
        error = f"SMTP {account.smtp_host or account.imap_host}: {_why(exc)}"
        store.mark_failed(outbox_id, error)
        raise MailError(f"The reply was not sent: {error}. It stays in the outbox.") from None
    store.mark_sent(outbox_id, sender=account.address)
    try:
        _append_sent(account, password, msg)
    except MailError as exc:   # the reply went out; only the copy is missing
        log.warning("Reply %s sent, but not copied to %s: %s", outbox_id,
                    account.sent_folder, exc)
    return "sent"


def _append_sent(account: MailAccount, password: str, msg: EmailMessage) -> None:
    conn = _imap_connect(account, password)
    try:
        folder = _quote(account.sent_folder)
        status, data = conn.append(folder, r"(\Seen)", imaplib.Time2Internaldate(time.time()),
                                   msg.as_bytes())
        if status != "OK" and b"TRYCREATE" in b" ".join(d for d in data if d):
            conn.create(folder)
            status, data = conn.append(folder, r"(\Seen)",
                                       imaplib.Time2Internaldate(time.time()), msg.as_bytes())
        _check(status, data, f"to store the copy in {account.sent_folder}")
    except (OSError, imaplib.IMAP4.error) as exc:
        raise MailError(f"IMAP {account.imap_host}: {_why(exc)}.") from None
    finally:
        _close(conn)
