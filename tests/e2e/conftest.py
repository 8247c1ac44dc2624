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


def modules_after(code: str, timeout: int = 300) -> tuple[str, bool]:
    """Run ``code`` in a fresh interpreter (the project on its path, the real models'
    folder as ``MODELS``) and return what it printed and whether it imported torch."""
    from tests.conftest import REAL_MODELS_DIR

    probe = (f"import sys\nfrom pathlib import Path\nMODELS = Path({str(REAL_MODELS_DIR)!r})\n"
             f"{code}\nprint('torch' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr
    *printed, torch = done.stdout.split("\n")[:-1]
    return "\n".join(printed), torch == "True"


def write_ticket(path: Path, doc: dict) -> Path:
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path
