"""The app checks the mailbox only when one is set up and its password is in the keyring,
and says why not otherwise."""

from __future__ import annotations

from types import SimpleNamespace

import keyring

from app.main import _start_mail
from core import secrets
from core.settings import Settings

MAILBOX = dict(mail_address="support@lumen.example", imap_host="imap.lumen.example")


class Window:
    def __init__(self) -> None:
        self.started = []

    def start_mail(self, account, password, *, interval):
        self.started.append((account.key, password, interval))


def test_no_mailbox_no_polling_and_no_complaint():
    window = Window()
    assert _start_mail(window, SimpleNamespace(settings=Settings())) == []
    assert window.started == []


def test_a_missing_password_is_named_and_a_stored_one_starts_polling():
    window = Window()
    ctx = SimpleNamespace(settings=Settings().replace(**MAILBOX, mail_poll_seconds=30))
    (problem,) = _start_mail(window, ctx)
    assert "no password" in problem and "kefu mail password" in problem
    secrets.set_password("support@lumen.example@imap.lumen.example:993", "pw")
    assert _start_mail(window, ctx) == []
    assert window.started == [("support@lumen.example@imap.lumen.example:993", "pw", 30)]


def test_no_usable_keyring_is_said_plainly():
    from keyring.backends import fail

    keyring.set_keyring(fail.Keyring())   # the autouse fixture restores the test backend
    (problem,) = _start_mail(Window(), SimpleNamespace(settings=Settings().replace(**MAILBOX)))
    assert "No usable OS keyring" in problem
