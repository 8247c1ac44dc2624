"""``core`` must import and run headless: no PySide6 module may be loaded by it."""

import subprocess
import sys

from tests.conftest import ROOT


def test_importing_core_loads_no_qt():
    code = (
        "import sys, pkgutil, importlib, core\n"
        "for m in pkgutil.walk_packages(core.__path__, 'core.'):\n"
        "    importlib.import_module(m.name)\n"
        "assert 'core.kb.index' in sys.modules\n"
        "import app.launcher\n"
        "bad = sorted(n for n in sys.modules if n.startswith(('PySide6', 'shiboken6')))\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cli_help_loads_no_qt():
    code = ("import sys\nfrom app.launcher import main\n"
            "try:\n    main(['draft', '--help'])\nexcept SystemExit:\n    pass\n"
            "sys.exit(1 if any(n.startswith('PySide6') for n in sys.modules) else 0)\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
