"""Keyring backends for tests: the real ``keyring`` API over a dict (in-process), or over
a JSON file named by KEFU_TEST_KEYRING_FILE (for a CLI run in a child process, selected
with PYTHON_KEYRING_BACKEND=tests.memkeyring.FileKeyring).  Test use only."""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError


class MemoryKeyring(KeyringBackend):
    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def set_password(self, service, username, password):
        self.items[(service, username)] = password

    def get_password(self, service, username):
        return self.items.get((service, username))

    def delete_password(self, service, username):
        if self.items.pop((service, username), None) is None:
            raise PasswordDeleteError(username)


class FileKeyring(KeyringBackend):
    priority = 1

    @property
    def _path(self) -> Path:
        return Path(os.environ["KEFU_TEST_KEYRING_FILE"])

    def _load(self) -> dict:
        return json.loads(self._path.read_text()) if self._path.exists() else {}

    def set_password(self, service, username, password):
        items = self._load()
        items[f"{service}\0{username}"] = password
        self._path.write_text(json.dumps(items))

    def get_password(self, service, username):
        return self._load().get(f"{service}\0{username}")

    def delete_password(self, service, username):
        items = self._load()
        if items.pop(f"{service}\0{username}", None) is None:
            raise PasswordDeleteError(username)
        self._path.write_text(json.dumps(items))
