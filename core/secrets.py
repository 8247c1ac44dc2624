"""Credentials in the OS keyring (Windows Credential Locker, macOS Keychain, the Secret
Service on Linux), never in a file of ours.

Where no usable keyring exists (a headless Linux without a Secret Service) every call
raises ``SecretStoreError`` saying so; there is no plaintext fallback.
"""

from __future__ import annotations

from core.errors import SecretStoreError

SERVICE = "Kefu Assist"


def _keyring():
    import keyring
    from keyring.backends import fail

    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring) or getattr(backend, "priority", 1) <= 0:
        raise SecretStoreError(
            "No usable OS keyring is available here, so the password cannot be stored "
            "safely (Kefu never keeps it in a file). On Linux, run a Secret Service such as "
            "GNOME Keyring or KWallet.")
    return keyring


def mail_account_key(username: str, host: str) -> str:
    return f"mail:{username}@{host}"


def set_password(account: str, password: str) -> None:
    keyring = _keyring()
    try:
        keyring.set_password(SERVICE, account, password)
    except Exception as exc:  # noqa: BLE001 - every backend has its own errors
        raise SecretStoreError(f"The OS keyring refused to store the password: {exc}") \
            from None


def get_password(account: str) -> str | None:
    keyring = _keyring()
    try:
        return keyring.get_password(SERVICE, account)
    except Exception as exc:  # noqa: BLE001
        raise SecretStoreError(f"The OS keyring could not be read: {exc}") from None


def delete_password(account: str) -> None:
    keyring = _keyring()
    try:
        keyring.delete_password(SERVICE, account)
    except Exception:  # noqa: BLE001 - already absent is fine
        pass
