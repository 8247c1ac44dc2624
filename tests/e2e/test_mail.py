"""The mailbox against real servers on loopback: Dovecot over TLS and STARTTLS, aiosmtpd
with STARTTLS and AUTH, certificates from a CA made for the run, and a relay that cuts
the connection mid-fetch.  No protocol is mocked."""

from __future__ import annotations

import imaplib
import json
import os
import ssl
from email.message import EmailMessage
from email.parser import BytesParser
from email import policy

import pytest

from core.errors import MailError
from core.inbox.mailclient import FETCH_BATCH, MailAccount, send_reply, sync_mailbox
from core.inbox.store import TicketStore
from tests.e2e.conftest import run_kefu
from tests.mailservers import (PASSWORD, USER, CuttingRelay, Dovecot, SmtpServer,
                               make_certificates)

CUSTOMER = "li.wei@example.cn"


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def dovecot(tmp_path, certs):
    server = Dovecot(tmp_path / "dovecot", certs).start()
    yield server
    server.remove()


@pytest.fixture
def smtp(certs):
    server = SmtpServer(certs).start()
    yield server
    server.stop()


@pytest.fixture
def store(tmp_path):
    s = TicketStore(tmp_path / "tickets.sqlite")
    yield s
    s.close()


def account_for(dovecot, smtp=None, certs=None, **changes) -> MailAccount:
    values = dict(address=USER, username=USER, imap_host="127.0.0.1",
                  imap_port=dovecot.tls_port, imap_security="tls", smtp_host="127.0.0.1",
                  smtp_port=smtp.port if smtp else 25, smtp_security="starttls",
                  ca_file=str(certs["ca"]) if certs else "", display_name="Lumen Home")
    values.update(changes)
    return MailAccount(**values)


def customer_mail(mid: str, subject: str, body: str, *, reply_to: str = "",
                  charset: str = "utf-8", padding: int = 0) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"李伟 <{CUSTOMER}>"
    msg["To"] = USER
    msg["Subject"] = subject
    msg["Message-ID"] = mid
    msg["Date"] = "Tue, 24 Nov 2026 09:30:00 +0800"
    if reply_to:
        msg["In-Reply-To"] = reply_to
    msg.set_content(body + ("\n" + "。" * padding if padding else ""), charset=charset)
    return bytes(msg)


def test_sync_is_incremental_and_never_imports_twice(dovecot, certs, store):
    dovecot.deliver(customer_mail("<q1@example.cn>", "退款问题", "我的退款还没到账。",
                                  charset="gbk"), "m1")
    dovecot.deliver(customer_mail("<q2@example.cn>", "回复：退款问题", "还是没有到账。",
                                  reply_to="<q1@example.cn>"), "m2")
    dovecot.deliver(customer_mail("<q3@example.cn>", "Kettle leaks", "It leaks."), "m3")
    account = account_for(dovecot, certs=certs)
    first = sync_mailbox(store, account, PASSWORD)
    assert (first.fetched, first.messages, first.tickets, first.reset) == (3, 3, 2, False)
    assert sync_mailbox(store, account, PASSWORD).fetched == 0
    dovecot.deliver(customer_mail("<q4@example.cn>", "Re: Kettle leaks", "Photo attached.",
                                  reply_to="<q3@example.cn>"), "m4")
    # The same message delivered twice (a forwarding rule): stored once.
    dovecot.deliver(customer_mail("<q4@example.cn>", "Re: Kettle leaks", "Photo attached.",
                                  reply_to="<q3@example.cn>"), "m4-copy")
    again = sync_mailbox(store, account, PASSWORD)
    assert (again.fetched, again.messages, again.duplicates) == (2, 1, 1)
    zh = store.list_tickets(lang="zh")[0]
    assert zh.messages == 2 and [m.text.strip() for m in store.messages(zh.id)] == [
        "我的退款还没到账。", "还是没有到账。"]


def test_starttls_wrong_password_and_an_untrusted_certificate(dovecot, certs, store):
    dovecot.deliver(customer_mail("<s1@example.cn>", "Hello", "Hi there."), "m1")
    starttls = account_for(dovecot, certs=certs, imap_port=dovecot.plain_port,
                           imap_security="starttls")
    assert sync_mailbox(store, starttls, PASSWORD).messages == 1
    with pytest.raises(MailError, match="IMAP 127.0.0.1.*(AUTHENTICATIONFAILED|failed)"):
        sync_mailbox(store, starttls, "wrong")
    untrusted = account_for(dovecot)   # no CA file: the test CA is not trusted
    with pytest.raises(MailError, match="certificate is not trusted"):
        sync_mailbox(store, untrusted, PASSWORD)


def test_a_changed_uidvalidity_reads_the_folder_again_without_duplicates(dovecot, certs,
                                                                          store):
    for n in range(3):
        dovecot.deliver(customer_mail(f"<u{n}@example.cn>", f"Order {n}", "Where is it?"),
                        f"m{n}")
    account = account_for(dovecot, certs=certs)
    assert sync_mailbox(store, account, PASSWORD).messages == 3
    before = store.mail_position(account.key, "INBOX")
    dovecot.reset_uidvalidity()
    again = sync_mailbox(store, account, PASSWORD)
    assert again.reset and (again.fetched, again.messages, again.duplicates) == (3, 0, 3)
    assert store.mail_position(account.key, "INBOX")[0] != before[0]


def test_a_connection_dropped_mid_fetch_resumes_where_it_stopped(dovecot, certs, store):
    total = FETCH_BATCH * 2 + 20
    size = 0
    for n in range(total):
        raw = customer_mail(f"<d{n}@example.cn>", f"问题 {n}", "请帮忙查一下。", padding=600)
        dovecot.deliver(raw, f"m{n:03d}")
        size = max(size, len(raw))
    # Cut in the middle of the second batch (TLS adds a little to every message).
    relay = CuttingRelay(dovecot.tls_port, cut_after=int(size * FETCH_BATCH * 1.5))
    account = account_for(dovecot, certs=certs, imap_port=relay.port)
    try:
        with pytest.raises(MailError, match="dropped during the sync"):
            sync_mailbox(store, account, PASSWORD)
        saved = store.count_tickets()
        assert 0 < saved < total            # the finished batches were kept
        relay.healed = True
        rest = sync_mailbox(store, account, PASSWORD)
    finally:
        relay.close()
    assert rest.duplicates == 0 and saved + rest.messages == total
    assert store.count_tickets() == total


def _sent_folder(dovecot, certs) -> list[bytes]:
    conn = imaplib.IMAP4_SSL("127.0.0.1", dovecot.tls_port,
                             ssl_context=ssl.create_default_context(cafile=str(certs["ca"])))
    conn.login(USER, PASSWORD)
    conn.select('"Sent"', readonly=True)
    _, data = conn.uid("FETCH", "1:*", "(BODY.PEEK[])")
    conn.logout()
    return [part[1] for part in data if isinstance(part, tuple)]


def test_send_threads_the_reply_copies_it_to_sent_and_never_twice(dovecot, smtp, certs,
                                                                   store):
    dovecot.deliver(customer_mail("<r1@example.cn>", "退款问题", "我的退款还没到账。"), "m1")
    account = account_for(dovecot, smtp, certs)
    sync_mailbox(store, account, PASSWORD)
    ticket = store.list_tickets()[0].id
    store.save_draft(ticket, "您好，退款已于11月20日原路退回。", generated="您好，退款已退回。")
    box = store.queue_reply(ticket, "您好，退款已于11月20日原路退回。", actor="amy",
                            from_domain="lumen.example")
    assert send_reply(store, box, account, PASSWORD) == "sent"
    assert send_reply(store, box, account, PASSWORD) == "skipped"
    assert len(smtp.received) == 1
    envelope = smtp.received[0]
    assert envelope.rcpt_tos == [CUSTOMER] and envelope.mail_from == USER
    sent = BytesParser(policy=policy.default).parsebytes(envelope.original_content)
    assert sent["In-Reply-To"] == "<r1@example.cn>" and sent["References"] == "<r1@example.cn>"
    assert sent["Subject"] == "Re: 退款问题"
    assert sent.get_content().strip() == "您好，退款已于11月20日原路退回。"
    copies = _sent_folder(dovecot, certs)
    assert len(copies) == 1 and sent["Message-ID"].encode() in copies[0]
    assert store.ticket(ticket).status == "pending"
    audit = [a for a in store.audit(ticket) if a["action"] == "sent"]
    assert audit[0]["actor"] == "amy" and audit[0]["edit_distance"] > 0
    # The next sync sees our own reply in no folder it reads, and the thread is whole.
    assert [m.direction for m in store.messages(ticket)] == ["in", "out"]


def test_a_refused_send_stays_in_the_outbox_and_a_retry_sends_once(dovecot, smtp, certs,
                                                                   store):
    dovecot.deliver(customer_mail("<f1@example.cn>", "Lamp", "It flickers."), "m1")
    account = account_for(dovecot, smtp, certs)
    sync_mailbox(store, account, PASSWORD)
    ticket = store.list_tickets()[0].id
    box = store.queue_reply(ticket, "Sorry! A new lamp is on its way.", actor="amy",
                            from_domain="lumen.example")
    smtp.refuse.add(CUSTOMER)
    with pytest.raises(MailError, match="550"):
        send_reply(store, box, account, PASSWORD)
    entry = store.outbox()[0]
    assert entry["status"] == "failed" and "550" in entry["error"] and entry["attempts"] == 1
    assert smtp.received == [] and store.ticket(ticket).status == "new"
    smtp.refuse.clear()
    assert send_reply(store, box, account, PASSWORD) == "sent"
    assert send_reply(store, box, account, PASSWORD) == "skipped"
    assert len(smtp.received) == 1 and store.outbox() == []


def test_a_dead_smtp_server_is_a_clear_error(dovecot, certs, store):
    dovecot.deliver(customer_mail("<x1@example.cn>", "Hi", "Hello."), "m1")
    account = account_for(dovecot, certs=certs, smtp_port=1)   # nothing listens there
    sync_mailbox(store, account, PASSWORD)
    box = store.queue_reply(store.list_tickets()[0].id, "Hello!", actor="amy",
                            from_domain="lumen.example")
    with pytest.raises(MailError, match="refused"):
        send_reply(store, box, account, PASSWORD)
    assert store.outbox()[0]["status"] == "failed"


def test_cli_password_goes_to_the_keyring_and_sync_uses_it(dovecot, certs, tmp_path):
    dovecot.deliver(customer_mail("<c1@example.cn>", "退款问题", "我的退款还没到账。"), "m1")
    ws = tmp_path / "ws"
    (ws / "config").mkdir(parents=True)
    (ws / "config" / "settings.json").write_text(json.dumps({"schema": 1, "values": {
        "mail_address": USER, "imap_host": "127.0.0.1", "imap_port": dovecot.tls_port,
        "mail_ca_file": str(certs["ca"])}}), encoding="utf-8")
    keyring_file = tmp_path / "keyring.json"
    env = {"PYTHON_KEYRING_BACKEND": "tests.memkeyring.FileKeyring",
           "KEFU_TEST_KEYRING_FILE": str(keyring_file)}
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        before = run_kefu("mail", "sync", workspace=ws)
        assert before.returncode != 0 and "kefu mail password" in before.stderr
        stored = run_kefu("mail", "password", workspace=ws, stdin=PASSWORD + "\n")
        assert stored.returncode == 0, stored.stderr
        assert PASSWORD not in (ws / "config" / "settings.json").read_text()
        synced = run_kefu("mail", "sync", workspace=ws)
        assert synced.returncode == 0, synced.stderr
        assert json.loads(synced.stdout)["messages"] == 1
        os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
        refused = run_kefu("mail", "password", workspace=ws, stdin=PASSWORD + "\n")
        assert refused.returncode != 0 and "No usable OS keyring" in refused.stderr
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_polling_picks_up_new_mail_and_reconnects_with_backoff(dovecot, certs, tmp_path):
    import threading
    import time

    from core.inbox.mailclient import Backoff, poll_mailbox

    events: list = []
    stop = threading.Event()
    account = account_for(dovecot, certs=certs)

    def wait_for(predicate, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out; events: {events}")

    worker = threading.Thread(target=poll_mailbox, kwargs=dict(
        open_store=lambda: TicketStore(tmp_path / "tickets.sqlite"), account=account,
        password=PASSWORD, interval=0.2, stop=stop, report=events.append,
        backoff=Backoff(first=0.2, ceiling=0.8)))
    worker.start()
    try:
        dovecot.deliver(customer_mail("<p1@example.cn>", "Hello", "First."), "m1")
        wait_for(lambda: any(getattr(e, "messages", 0) == 1 for e in events))
        seen = len(events)
        dovecot.stop()                                   # the server goes away ...
        wait_for(lambda: sum(isinstance(e, MailError) for e in events) >= 3)
        waits = [e.retry_in for e in events[seen:] if isinstance(e, MailError)][:3]
        assert waits == [0.2, 0.4, 0.8]                  # ... retried ever more slowly
        dovecot.deliver(customer_mail("<p2@example.cn>", "Hello again", "Second."), "m2")
        dovecot.start()                                  # ... and comes back
        failures = len(events)
        wait_for(lambda: any(getattr(e, "messages", 0) == 1 for e in events[failures:]))
    finally:
        stop.set()
        worker.join(timeout=30)
    store = TicketStore(tmp_path / "tickets.sqlite")
    assert store.count_tickets() == 2
    store.close()


def test_the_window_polls_the_mailbox_and_new_mail_joins_the_queue(qtbot, dovecot, certs,
                                                                    tmp_path):
    from app.mainwindow import MainWindow
    from core.inbox.mailclient import Backoff
    from core.inbox.queue import StoreQueue
    from core.paths import Workspace
    from core.settings import Settings
    from tests.fakes import FakeEngine

    workspace = Workspace.at(tmp_path / "ws").ensure()
    first = TicketStore(workspace.tickets_db)
    first.add_many([from_mail_bytes(customer_mail("<w0@example.cn>", "Kettle leaks",
                                                  "It leaks from the bottom."))])
    first.close()
    window = MainWindow(workspace=workspace, settings=Settings(),
                        tickets=StoreQueue(workspace.tickets_db),
                        engine_factory=FakeEngine, model_path=None)
    qtbot.addWidget(window)
    window.show()
    window.queue_view.selectRow(0)
    window.composer.setPlainText("Dear customer, half-written")
    dovecot.deliver(customer_mail("<w1@example.cn>", "台灯坏了", "灯罩裂了。"), "m1")
    try:
        with qtbot.waitSignal(window.mail_synced, timeout=30000,
                              check_params_cb=lambda count: count == 1):
            window.start_mail(account_for(dovecot, certs=certs), PASSWORD, interval=0.2,
                              backoff=Backoff(first=0.2, ceiling=0.4))
        model = window.queue_model
        assert sorted(model.row_data(r).subject for r in range(model.rowCount())) == [
            "Kettle leaks", "台灯坏了"]
        assert window.count_label.text() == "2 tickets"
        # The agent's open ticket and unsent text are untouched by the new mail.
        assert window.current_ticket.subject == "Kettle leaks"
        assert window.composer.toPlainText() == "Dear customer, half-written"
        assert "new message" in window.statusBar().currentMessage()
        dovecot.stop()
        qtbot.waitUntil(lambda: window.statusBar().currentMessage().startswith("Mail: "),
                        timeout=30000)
        assert "Next try in" in window.statusBar().currentMessage()
    finally:
        window.close()


def from_mail_bytes(raw: bytes):
    from core.inbox.importers import from_mail
    from core.mail.parse import parse_message

    return from_mail(parse_message(raw), source="test")


def test_send_from_the_window_on_the_agents_click_once_even_after_a_refusal(
        qtbot, dovecot, smtp, certs, tmp_path):
    from PySide6.QtCore import Qt

    from app.mainwindow import MainWindow
    from core.inbox.queue import StoreQueue
    from core.paths import Workspace
    from core.settings import Settings
    from tests.fakes import FakeEngine

    workspace = Workspace.at(tmp_path / "ws").ensure()
    store = TicketStore(workspace.tickets_db)
    store.add_many([from_mail_bytes(customer_mail("<s0@example.cn>", "退款问题",
                                                  "我的退款还没到账。"))])
    window = MainWindow(workspace=workspace, settings=Settings(),
                        tickets=StoreQueue(workspace.tickets_db), engine_factory=FakeEngine,
                        model_path=None)
    qtbot.addWidget(window)
    window.show()
    try:
        window.queue_view.selectRow(0)
        window.composer.setPlainText("您好，退款已原路退回。")
        assert not window.send_button.isVisible()          # no mailbox, no Send
        window.start_mail(account_for(dovecot, smtp, certs), PASSWORD, interval=60)
        assert window.send_button.isVisible() and window.send_button.isEnabled()

        smtp.refuse.add(CUSTOMER)
        with qtbot.waitSignal(window.reply_failed, timeout=30000):
            qtbot.mouseClick(window.send_button, Qt.MouseButton.LeftButton)
        assert "550" in window.note_label.text() and smtp.received == []
        assert window.composer.toPlainText() == "您好，退款已原路退回。"

        smtp.refuse.clear()
        with qtbot.waitSignal(window.reply_sent, timeout=30000):
            qtbot.mouseClick(window.send_button, Qt.MouseButton.LeftButton)
        assert len(smtp.received) == 1 and window.composer.toPlainText() == ""
        ticket = int(window.current_ticket.id)
        sent = [a for a in store.audit(ticket) if a["action"] == "sent"]
        assert len(sent) == 1 and store.outbox() == []
        assert len(store.db.execute("SELECT id FROM outbox").fetchall()) == 1  # retried, not re-queued
        assert store.ticket(ticket).status == "pending"
    finally:
        window.close()
        store.close()


def test_check_account_logs_in_to_both_servers_and_names_the_one_that_fails(
        dovecot, smtp, certs):
    from core.inbox.mailclient import check_account

    dovecot.deliver(customer_mail("<c1@example.cn>", "Hello", "Hi."), "c1")
    account = account_for(dovecot, smtp, certs)
    assert "INBOX holds 1 message" in check_account(account, PASSWORD)
    with pytest.raises(MailError, match="IMAP 127.0.0.1"):
        check_account(account, "wrong password")
    with pytest.raises(MailError, match="SMTP 127.0.0.1"):
        check_account(account_for(dovecot, smtp, certs, smtp_port=smtp.port + 1000),
                      PASSWORD)


def test_the_account_dialog_connects_the_demo_to_the_mailbox(qtbot, dovecot, smtp, certs,
                                                            tmp_path):
    """From the demo queue, a mailbox set up in the dialog brings its mail into the
    ticket store and the window works from the store from then on."""
    from app.accountdialog import AccountDialog
    from app.mainwindow import MainWindow
    from core.paths import Workspace
    from core.settings import Settings
    from core.tickets import load_demo_tickets
    from tests.fakes import FakeEngine

    workspace = Workspace.at(tmp_path / "ws").ensure()
    window = MainWindow(workspace=workspace, settings=Settings(), tickets=load_demo_tickets(),
                        engine_factory=FakeEngine, model_path=None)
    qtbot.addWidget(window)
    window.show()
    dovecot.deliver(customer_mail("<d1@example.cn>", "台灯坏了", "灯罩裂了。"), "d1")
    try:
        assert not window.queue.can_send
        dialog = AccountDialog(window.settings, window)
        for name, value in (("mail_address", USER), ("imap_host", "127.0.0.1"),
                            ("smtp_host", "127.0.0.1"), ("mail_ca_file", str(certs["ca"]))):
            dialog.editor(name).setText(value)
        dialog.editor("imap_port").setValue(dovecot.tls_port)
        dialog.editor("smtp_port").setValue(smtp.port)
        dialog.editor("smtp_security").setCurrentIndex(
            dialog.editor("smtp_security").findData("starttls"))
        dialog.password_edit.setText(PASSWORD)
        dialog.test_button.click()
        qtbot.waitUntil(lambda: "accepted the login" in dialog.status_label.text(),
                        timeout=30000)
        dialog._accept()
        assert dialog.result_settings is not None
        window.save_settings(dialog.result_settings, reload=False)
        with qtbot.waitSignal(window.mail_synced, timeout=30000):
            window.connect_mailbox(dialog.password)
        assert window.queue.can_send and window.send_button.isVisible()
        subjects = [window.queue_model.row_data(r).subject
                    for r in range(window.queue_model.rowCount())]
        assert subjects == ["台灯坏了"]
        assert window.current_ticket.subject == "台灯坏了"
    finally:
        window.close()
