"""Where Kefu keeps its files.

One ``Workspace`` value says where settings, models, drafts and logs live.
By default these are the platform's user folders (platformdirs); ``--workspace
DIR`` or ``KEFU_HOME`` puts all of them under one folder instead, which is what
tests and automation use so they never touch the user's own data.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "KefuAssist"
ENV_HOME = "KEFU_HOME"


def source_root() -> Path:
    """The folder holding ``core/``, ``app/`` and ``resources/``.

    In a PyInstaller build the bundle's folder plays that role.
    """
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root)
    return Path(__file__).resolve().parent.parent


def resources_dir() -> Path:
    return source_root() / "resources"


def bundled_models_dir() -> Path:
    """``models/`` beside the code: GGUF files shipped with or dropped into the app."""
    return source_root() / "models"


def model_search_dirs(models_dir: Path) -> list[Path]:
    """Where models are looked for, in order: the workspace's own folder (what setup
    installs and the user imports wins), then the one shipped with the app."""
    return [models_dir, bundled_models_dir()]


@dataclass(frozen=True)
class Workspace:
    """The folders one running Kefu reads and writes."""

    config_dir: Path
    data_dir: Path
    cache_dir: Path
    log_dir: Path

    @property
    def settings_file(self) -> Path:
        return self.config_dir / "settings.json"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def kb_dir(self) -> Path:
        return self.data_dir / "kb"

    @property
    def tickets_db(self) -> Path:
        return self.data_dir / "tickets.sqlite"

    @property
    def catalog_db(self) -> Path:
        return self.data_dir / "catalog.sqlite"

    @property
    def drafts_file(self) -> Path:
        return self.data_dir / "drafts.json"

    @classmethod
    def at(cls, root: str | os.PathLike[str]) -> "Workspace":
        """Everything under one folder (``--workspace`` / ``KEFU_HOME``)."""
        base = Path(root).expanduser().resolve()
        return cls(
            config_dir=base / "config",
            data_dir=base / "data",
            cache_dir=base / "cache",
            log_dir=base / "logs",
        )

    @classmethod
    def user_default(cls) -> "Workspace":
        return cls(
            config_dir=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
            data_dir=Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
            cache_dir=Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)),
            log_dir=Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)),
        )

    @classmethod
    def resolve(cls, explicit: str | os.PathLike[str] | None = None) -> "Workspace":
        """``explicit`` (``--workspace``) wins, then ``KEFU_HOME``, then the user folders."""
        if explicit:
            return cls.at(explicit)
        env = os.environ.get(ENV_HOME)
        if env:
            return cls.at(env)
        return cls.user_default()

    def ensure(self) -> "Workspace":
        for folder in (self.config_dir, self.data_dir, self.models_dir, self.cache_dir, self.log_dir):
            folder.mkdir(parents=True, exist_ok=True)
        return self
