"""`kefu ... | head`: a reader that goes away early ends the command quietly."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT


def test_a_closed_pipe_ends_the_command_without_a_traceback(tmp_path):
    env = dict(os.environ, KEFU_HOME=str(tmp_path / "ws"), PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "app.launcher", "models", "list"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()            # before the command has printed anything
    _, err = proc.communicate(timeout=120)
    assert b"Traceback" not in err and b"BrokenPipeError" not in err, err.decode()
    assert proc.returncode == 1
