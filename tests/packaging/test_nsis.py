"""The Windows installer script (packaging/windows/kefu.nsi) compiled by the real
makensis, the way packaging/build.py does it, around a small fake frozen app.

What needs Windows (installing, the running-app check, uninstalling) is not run here;
this proves the script compiles without a warning, carries the whole app folder, says
it needs no admin rights, and refuses to build without its defines."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
SCRIPT = Path("packaging") / "windows" / "kefu.nsi"      # relative, as build.py passes it
VERSION = "0.1.0"

# Incompressible, so the installer's size shows the payload is inside.
PAYLOAD = os.urandom(256 * 1024)
APP_FILES = {
    "kefu.exe": b"MZ" + PAYLOAD,
    "_internal/base_library.zip": b"PK\x05\x06" + bytes(18),
    "_internal/PySide6/plugins/platforms/qwindows.dll": b"MZ qwindows",
    "_internal/resources/说明.txt": "客服助手\n".encode("utf-8"),
}
WARNING = re.compile(r"(?im)^\s*(\d+ )?warnings?( \d+)?:")


@pytest.fixture(scope="module")
def makensis() -> str:
    found = shutil.which("makensis")
    if not found:
        pytest.fail("makensis is missing: run `scripts/dev.sh setup` (it installs the Debian "
                    "package nsis), or `apt-get install nsis`.")
    return found


@pytest.fixture
def app_dir(tmp_path) -> Path:
    """A one-folder app as PyInstaller lays it out on Windows."""
    root = tmp_path / "dist" / "kefu"
    for name, data in APP_FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def compile_nsi(makensis: str, defines: dict[str, str | None], script: Path = SCRIPT,
                cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """makensis as build.py runs it, but verbose (the summary is asserted on) and with
    warnings as errors.  A UTF-8 locale: makensis 3.08 crashes on a non-ASCII file name
    under the C locale."""
    cmd = [makensis, "-WX", "-V4", "-INPUTCHARSET", "UTF8"]
    cmd += [f"-D{k}" if v is None else f"-D{k}={v}" for k, v in defines.items()]
    cmd.append(str(script))
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, timeout=120)
    done.output = (done.stdout + done.stderr).decode("utf-8", errors="replace")
    return done


def defines_for(app_dir: Path, out: Path, **more: str | None) -> dict[str, str | None]:
    return {"VERSION": VERSION, "VERSION_4": f"{VERSION}.0", "APP_DIR": str(app_dir),
            "OUT_FILE": str(out),
            "FAST_COMPRESS": None, **more}


def fixed_file_info(exe: bytes) -> tuple[int, int, int, int]:
    """The file version in the installer's VS_FIXEDFILEINFO resource."""
    at = exe.find(struct.pack("<I", 0xFEEF04BD))
    assert at > 0, "the installer has no version resource"
    _, _, ms, ls = struct.unpack_from("<IIII", exe, at)
    return ms >> 16, ms & 0xFFFF, ls >> 16, ls & 0xFFFF


def version_string(exe: bytes, key: str) -> str:
    """A value of the version resource's string table (UTF-16, DWORD-aligned)."""
    found = re.search(re.escape(f"{key}\0".encode("utf-16-le")) + rb"(?:\0\0)*((?:[^\0]\0)+)",
                      exe)
    assert found, f"no {key} in the version resource"
    return found.group(1).decode("utf-16-le")


def test_compiles_the_app_folder_into_an_installer(makensis, app_dir, tmp_path):
    out = tmp_path / f"kefu-assist-{VERSION}-windows-x86_64-setup.exe"
    done = compile_nsi(makensis, defines_for(app_dir, out))

    assert done.returncode == 0, done.output
    assert not WARNING.search(done.output), done.output
    exe = out.read_bytes()
    assert exe[:2] == b"MZ"
    # The whole folder, nested and non-ASCII names included.
    for name in ("kefu.exe", "base_library.zip", "qwindows.dll", "说明.txt"):
        assert f'File: "{name}"' in done.output, name
    assert len(PAYLOAD) < len(exe) < len(PAYLOAD) + 1024 * 1024
    # English and Simplified Chinese, in the installer and in the uninstaller.
    assert re.search(r"(?m)^Install: .* 2 language tables", done.output), done.output
    assert re.search(r"(?m)^Uninstall: .* 2 language tables", done.output), done.output
    assert 'LangString: "MsgRunning" 1033 ' in done.output
    assert 'LangString: "MsgRunning" 2052 ' in done.output
    # No elevation prompt: the manifest asks for the user's own rights.
    assert b'level="asInvoker"' in exe
    assert fixed_file_info(exe) == (0, 1, 0, 0)
    assert version_string(exe, "ProductName") == "Kefu Assist"
    assert version_string(exe, "ProductVersion") == VERSION


@pytest.mark.parametrize("missing", ["APP_DIR", "VERSION", "VERSION_4", "OUT_FILE"])
def test_refuses_to_compile_without_a_define(makensis, app_dir, tmp_path, missing):
    out = tmp_path / "kefu-assist-setup.exe"
    defines = defines_for(app_dir, out)
    del defines[missing]
    done = compile_nsi(makensis, defines)

    assert done.returncode != 0
    assert f"!error: {missing} is not defined" in done.output, done.output
    assert not out.exists()


def test_refuses_an_app_folder_without_kefu_exe(makensis, app_dir, tmp_path):
    (app_dir / "kefu.exe").unlink()
    out = tmp_path / "kefu-assist-setup.exe"
    done = compile_nsi(makensis, defines_for(app_dir, out))

    assert done.returncode != 0
    assert "has no kefu.exe" in done.output, done.output
    assert not out.exists()


def test_the_file_version_is_the_numeric_one_passed_in(makensis, app_dir, tmp_path):
    out = tmp_path / "kefu-assist-setup.exe"
    done = compile_nsi(makensis, defines_for(app_dir, out, VERSION="0.2.0rc1",
                                             VERSION_4="0.2.0.1"))
    assert done.returncode == 0, done.output
    exe = out.read_bytes()
    assert fixed_file_info(exe) == (0, 2, 0, 1)
    assert version_string(exe, "ProductVersion") == "0.2.0rc1"


def write_icon(path: Path) -> None:
    """A 16x16 32-bit icon."""
    pixels = bytes([0x20, 0x80, 0xE0, 0xFF]) * 256
    mask = bytes(4 * 16)
    header = struct.pack("<IiiHHIIiiII", 40, 16, 32, 1, 32, 0, len(pixels) + len(mask),
                         0, 0, 0, 0)
    image = header + pixels + mask
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack("<HHH", 0, 1, 1)
                     + struct.pack("<BBBBHHII", 16, 16, 0, 0, 1, 32, len(image), 22) + image)


@pytest.mark.parametrize("with_icon", [True, False])
def test_uses_the_icon_only_when_there_is_one(makensis, app_dir, tmp_path, with_icon):
    # A copy of packaging/, so the test does not depend on whether kefu.ico exists yet.
    copy = tmp_path / "repo"
    (copy / SCRIPT).parent.mkdir(parents=True)
    shutil.copy(ROOT / SCRIPT, copy / SCRIPT)
    if with_icon:
        write_icon(copy / "packaging" / "icons" / "kefu.ico")
    out = tmp_path / "kefu-assist-setup.exe"
    done = compile_nsi(makensis, defines_for(app_dir, out), cwd=copy)

    assert done.returncode == 0, done.output
    assert ('!define: "MUI_ICON"' in done.output) is with_icon
    assert ('!define: "MUI_UNICON"' in done.output) is with_icon


def script_lines() -> list[str]:
    """The script's statements, comments dropped."""
    lines = []
    for line in (ROOT / SCRIPT).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith((";", "#")):
            lines.append(line)
    return lines


def test_installs_per_user_and_keeps_data_unless_asked():
    lines = script_lines()
    text = "\n".join(lines)
    assert "RequestExecutionLevel user" in lines
    assert 'InstallDir "$LOCALAPPDATA\\Programs\\${APP_NAME}"' in lines
    # Never the machine's registry or the all-users folders.
    for machine_wide in ("HKLM", "HKEY_LOCAL_MACHINE", "SHCTX", "SHELL_CONTEXT",
                         "SetShellVarContext all", "$PROGRAMFILES", "$COMMONFILES"):
        assert machine_wide not in text, machine_wide
    # Never a recursive delete of the install folder (it may be one the user chose).
    assert not re.search(r'RMDir\s+/r\s+"?\$INSTDIR"?\s*$', text, re.M)
    # The user's data goes only in a section that is unchecked by default.
    sections = re.findall(r"(?ms)^(Section\b[^\n]*)\n(.*?)^SectionEnd", text)
    deleting = [head for head, body in sections if "${DATA_NAME}" in body]
    assert deleting and all(head.startswith('Section /o "un.') for head in deleting)
    assert '${GetOptions} $1 "/DELETEDATA" $2' in lines
