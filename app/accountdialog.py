"""The mailbox account dialog: servers in the settings, the password in the OS keyring.

The password goes to the OS keyring and nowhere else.  Where no keyring is usable the
dialog says so plainly and stores no password at all (never a plaintext file); the
other settings can still be saved.
"""

from __future__ import annotations

from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel,
                               QLineEdit, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from app.tasks import run_in_background
from core import secrets
from core.errors import ConfigError, KefuError
from core.settings import Settings

# The settings this dialog edits, in the order shown.
FIELDS = (("mail_address", "Support address"), ("mail_username", "Login name"),
          ("imap_host", "IMAP server"), ("imap_port", "IMAP port"),
          ("imap_security", "IMAP security"), ("imap_folder", "Inbox folder"),
          ("sent_folder", "Sent folder"), ("smtp_host", "SMTP server"),
          ("smtp_port", "SMTP port"), ("smtp_security", "SMTP security"),
          ("mail_ca_file", "Extra CA certificate"), ("mail_poll_seconds", "Check every (s)"))
SECURITY = (("TLS", "tls"), ("STARTTLS", "starttls"))


class AccountDialog(QDialog):
    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Mail account · 邮箱账户")
        self.resize(520, 520)
        self._original = settings
        self._editors: dict[str, QWidget] = {}
        form = QFormLayout()
        for name, label in FIELDS:
            value = getattr(settings, name)
            if name.endswith("_security"):
                editor = QComboBox()
                for text, key in SECURITY:
                    editor.addItem(text, key)
                editor.setCurrentIndex(max(0, editor.findData(value)))
            elif isinstance(value, int):
                editor = QSpinBox()
                editor.setRange(1, 65535)
                editor.setValue(value)
            else:
                editor = QLineEdit(value)
            form.addRow(label, editor)
            self._editors[name] = editor
        self.password_edit = QLineEdit(echoMode=QLineEdit.EchoMode.Password)
        self.password_edit.setPlaceholderText("unchanged" if self._has_password() else "")
        form.addRow("Password", self.password_edit)
        form.addRow("", QLabel("The password is kept in the OS keyring (Keychain, Credential "
                               "Locker, Secret Service), never in a file.", wordWrap=True))
        self.status_label = QLabel(wordWrap=True)
        self.error_label = QLabel(wordWrap=True)
        self.error_label.setStyleSheet("color:#b00020")
        self.test_button = QPushButton("Test connection")
        self.test_button.clicked.connect(self.test_connection)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.addButton(self.test_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.status_label)
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)
        self.result_settings: Settings | None = None
        self.password: str | None = None     # the account's password once saved, if any
        self.keyring_problem = ""
        self._probe_keyring()

    def editor(self, name: str) -> QWidget:
        return self._editors[name]

    def _probe_keyring(self) -> None:
        try:
            secrets.get_password("kefu-probe")
        except KefuError as exc:
            self.keyring_problem = str(exc)
            self.password_edit.setEnabled(False)
            self.password_edit.setPlaceholderText("no OS keyring: cannot be stored")
            self.error_label.setText(f"{exc} The other settings can still be saved; the "
                                     f"mailbox is checked once a keyring is available.")

    def _has_password(self) -> bool:
        try:
            settings = self._original
            if not (settings.mail_address and settings.imap_host):
                return False
            from core.inbox.mailclient import MailAccount

            return secrets.get_password(MailAccount.from_settings(settings).key) is not None
        except KefuError:
            return False

    def values(self) -> dict:
        out = {}
        for name, editor in self._editors.items():
            if isinstance(editor, QComboBox):
                out[name] = editor.currentData()
            elif isinstance(editor, QSpinBox):
                out[name] = editor.value()
            else:
                out[name] = editor.text().strip()
        return out

    def _settings(self) -> Settings | None:
        try:
            return self._original.replace(**self.values())
        except ConfigError as exc:
            self.error_label.setText(str(exc))
            return None

    def _account(self, settings: Settings):
        from core.inbox.mailclient import MailAccount

        return MailAccount.from_settings(settings)

    def _password_for(self, account) -> str | None:
        typed = self.password_edit.text()
        if typed:
            return typed
        try:
            return secrets.get_password(account.key)
        except KefuError:
            return None

    def test_connection(self) -> None:
        """Log in to both servers in the background; nothing is sent or stored."""
        from core.inbox.mailclient import check_account

        settings = self._settings()
        if settings is None:
            return
        try:
            account = self._account(settings)
        except KefuError as exc:
            self.error_label.setText(str(exc))
            return
        password = self._password_for(account)
        if not password:
            self.error_label.setText("Type the password to test the connection.")
            return
        self.error_label.clear()
        self.status_label.setText("Connecting…")
        self.test_button.setEnabled(False)
        run_in_background(lambda: check_account(account, password), parent=self,
                          on_done=self._tested, on_error=self._test_failed)

    def _tested(self, message: str) -> None:
        self.test_button.setEnabled(True)
        self.status_label.setText(message)

    def _test_failed(self, message: str) -> None:
        self.test_button.setEnabled(True)
        self.status_label.clear()
        self.error_label.setText(message)

    def _accept(self) -> None:
        settings = self._settings()
        if settings is None:
            return
        typed = self.password_edit.text()
        account = None
        if settings.mail_address or settings.imap_host:
            try:
                account = self._account(settings)
            except KefuError as exc:
                self.error_label.setText(str(exc))
                return
        if typed and account is not None:
            try:
                secrets.set_password(account.key, typed)
            except KefuError as exc:
                # Never kept anywhere else: say so, and keep the dialog open.
                self.error_label.setText(f"{exc} The password was not saved.")
                return
        self.result_settings = settings
        self.password = self._password_for(account) if account is not None else None
        self.accept()
