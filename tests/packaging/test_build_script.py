"""packaging/build.py's decisions that need no build: names, refusals, command lines."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def build():
    spec = importlib.util.spec_from_file_location("kefu_build_script",
                                                  ROOT / "packaging" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_artifact_is_named_with_the_version(build):
    assert build.artifact_name("0.1.0", "full", "win32", "AMD64") == \
        "kefu-assist-0.1.0-windows-x86_64-setup.exe"
    assert build.artifact_name("0.1.0", "full", "darwin", "arm64") == \
        "kefu-assist-0.1.0-macos-arm64.dmg"
    assert build.artifact_name("0.1.0", "full", "linux", "x86_64") == \
        "kefu-assist-0.1.0-linux-x86_64.tar.gz"
    assert build.artifact_name("0.1.0", "lean", "linux", "aarch64") == \
        "kefu-assist-0.1.0-linux-arm64-nomodel.tar.gz"
    assert build.artifact_name("0.1.0", "lean", "win32", "AMD64", gpu="cuda") == \
        "kefu-assist-0.1.0-windows-x86_64-cuda-nomodel-setup.exe"


def test_the_version_comes_from_the_package(build):
    from core import __version__

    assert build.version() == __version__


def test_the_nsis_command_passes_what_the_script_needs(build, tmp_path):
    command = build.nsis_command("makensis", tmp_path / "kefu", "0.1.0+dirty",
                                 tmp_path / "out.exe")
    assert command[0] == "makensis" and command[-1] == str(build.NSIS_SCRIPT)
    assert "-WX" in command       # an NSIS warning fails the build
    assert f"-DAPP_DIR={tmp_path / 'kefu'}" in command
    assert "-DVERSION=0.1.0" in command
    assert "-DVERSION_4=0.1.0.0" in command      # numeric for the Windows version resource
    assert f"-DOUT_FILE={tmp_path / 'out.exe'}" in command


@pytest.mark.parametrize("version, numeric", [
    ("0.1.0", "0.1.0.0"), ("1.2", "1.2.0.0"), ("0.2.0rc1", "0.2.0.0"),
    ("0.2.0+g1a2b3c", "0.2.0.0"), ("1.2.3.4.5", "1.2.3.4"), ("2.0.0.dev3", "2.0.0.0")])
def test_one_numeric_windows_version_for_the_exe_and_the_installer(build, version, numeric):
    assert build.windows_file_version(version) == numeric


def test_a_dirty_tree_is_refused(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(clone)],
                   check=True)
    (clone / "stray.txt").write_text("not committed", encoding="utf-8")
    done = subprocess.run([sys.executable, "packaging/build.py"], cwd=clone,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "uncommitted changes" in done.stderr and "stray.txt" in done.stderr
    assert not (clone / "build").exists()    # nothing was built


FAKE_APP = """#!/bin/sh
# Stands in for the frozen app: writes the self-test report it was asked for.
while [ $# -gt 0 ]; do
    if [ "$1" = "--report" ]; then printf '{"ok": true, "from": "%s"}' "$0" > "$2"; fi
    shift
done
"""


def _tarball(tmp_path, *, executable=True, folders=("kefu-assist-0.1.0",)):
    import tarfile

    for name in folders:
        app = tmp_path / "src" / name
        app.mkdir(parents=True)
        (app / "kefu").write_text(FAKE_APP, encoding="utf-8")
        (app / "kefu").chmod(0o755 if executable else 0o644)
    out = tmp_path / "kefu-assist-0.1.0-linux-x86_64.tar.gz"
    with tarfile.open(out, "w:gz") as tar:
        for name in folders:
            tar.add(tmp_path / "src" / name, arcname=name)
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the tarball is Linux's")
def test_the_artifact_is_smoke_tested_as_unpacked(build, tmp_path):
    report = build.smoke_test_artifact(_tarball(tmp_path), tmp_path / "m.gguf", "full")
    assert report["ok"] is True and report["exit_code"] == 0
    assert "kefu-artifact-" in report["from"]        # run from the unpacked copy


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the tarball is Linux's")
def test_an_artifact_that_lost_its_exec_bit_fails_the_build(build, tmp_path):
    with pytest.raises(SystemExit, match="cannot be started"):
        build.smoke_test_artifact(_tarball(tmp_path, executable=False), tmp_path / "m.gguf",
                                  "full")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the tarball is Linux's")
def test_an_artifact_with_two_folders_is_refused(build, tmp_path):
    with pytest.raises(SystemExit, match="one folder"):
        build.smoke_test_artifact(_tarball(tmp_path, folders=("a", "b")), tmp_path / "m.gguf",
                                  "full")
