"""The mail account dialog: the password goes to the OS keyring and nowhere else; without
a usable keyring it says so and stores no password at all."""

from __future__ import annotations

import keyring
from keyring.backends import fail

from core import secrets
from core.inbox.mailclient import MailAccount
from core.settings import Settings
from tests.fakes import FakeEngine
from tests.memkeyring import MemoryKeyring

PASSWORD = "s3cret-门-password"


def _fill(dialog, **values):
    from PySide6.QtWidgets import QComboBox, QSpinBox

    for name, value in values.items():
        editor = dialog.editor(name)
        if isinstance(editor, QComboBox):
            editor.setCurrentIndex(editor.findData(value))
        elif isinstance(editor, QSpinBox):
            editor.setValue(value)
        else:
            editor.setText(value)


ACCOUNT = dict(mail_address="help@lumen.example", imap_host="127.0.0.1", imap_port=1993,
               imap_security="starttls", smtp_port=2587, smtp_security="starttls")


def test_the_password_goes_to_the_keyring_only(make_window, memory_keyring, tmp_path):
    from app.accountdialog import AccountDialog

    window, _ = make_window(FakeEngine(), model_path=None)
    dialog = AccountDialog(window.settings, window)
    _fill(dialog, **ACCOUNT)
    dialog.password_edit.setText(PASSWORD)
    dialog._accept()
    assert dialog.result() == dialog.DialogCode.Accepted
    settings = dialog.result_settings
    assert settings.imap_port == 1993 and settings.imap_security == "starttls"
    key = MailAccount.from_settings(settings).key
    assert secrets.get_password(key) == PASSWORD and dialog.password == PASSWORD
    window.save_settings(settings, reload=False)
    # Nothing the app wrote holds the password.
    for path in (tmp_path / "ws").rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path
    # Opened again: the password is known and left as it is unless retyped.
    again = AccountDialog(settings, window)
    assert again.password_edit.placeholderText() == "unchanged"
    again._accept()
    assert again.password == PASSWORD


def test_no_keyring_is_said_plainly_and_nothing_is_stored(make_window, tmp_path):
    from app.accountdialog import AccountDialog

    keyring.set_keyring(fail.Keyring())
    window, _ = make_window(FakeEngine(), model_path=None)
    dialog = AccountDialog(window.settings, window)
    assert "No usable OS keyring" in dialog.error_label.text()
    assert not dialog.password_edit.isEnabled()
    _fill(dialog, **ACCOUNT)
    dialog._accept()            # the other settings still save
    assert dialog.result_settings.mail_address == "help@lumen.example"
    assert dialog.password is None
    window.save_settings(dialog.result_settings, reload=False)
    window.connect_mailbox(dialog.password)
    assert "not being checked" in window.note_label.text()
    assert not window.send_button.isVisible()


class RefusingKeyring(MemoryKeyring):
    def set_password(self, service, username, password):
        raise RuntimeError("the keychain is locked")


def test_a_keyring_that_refuses_keeps_the_dialog_open(make_window):
    from app.accountdialog import AccountDialog

    keyring.set_keyring(RefusingKeyring())
    window, _ = make_window(FakeEngine(), model_path=None)
    dialog = AccountDialog(window.settings, window)
    _fill(dialog, **ACCOUNT)
    dialog.password_edit.setText(PASSWORD)
    dialog._accept()
    assert dialog.result_settings is None
    assert "the keychain is locked" in dialog.error_label.text()
    assert "The password was not saved" in dialog.error_label.text()


def test_an_incomplete_account_is_refused_with_a_reason(make_window):
    from app.accountdialog import AccountDialog

    window, _ = make_window(FakeEngine(), model_path=None)
    dialog = AccountDialog(Settings(), window)
    _fill(dialog, mail_address="help@lumen.example")   # no IMAP server
    dialog._accept()
    assert dialog.result_settings is None
    assert "imap_host" in dialog.error_label.text()
