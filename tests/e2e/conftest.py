from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.model


def run_kefu(*args: str, workspace: Path, timeout: int = 600, guard: Path | None = None,
             stdin: str | None = None) -> subprocess.CompletedProcess:
    """Run the real CLI in a child process, as a user would."""
    env = dict(os.environ, KEFU_HOME=str(workspace), PYTHONPATH=str(ROOT))
    if guard is not None:
        cmd = [sys.executable, str(ROOT / "tests" / "e2e" / "netguard.py"), str(guard), *args]
    else:
        cmd = [sys.executable, "-m", "app.launcher", *args]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout, input=stdin)


def write_ticket(path: Path, doc: dict) -> Path:
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path
