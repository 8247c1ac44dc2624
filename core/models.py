"""The model manager: which GGUF models exist here, and importing new ones.

Models are looked for in the workspace's models folder (where setup assembles
the default model and where imports go) and in ``models/`` beside the code.
Every file is checked by reading its GGUF header; a file that fails is listed
with the reason instead of being hidden, so the user can see why.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from core.errors import ModelError, ModelNotFoundError
from core.gguf import GGUFError, GGUFInfo, read_gguf
from core.fsutil import atomic_file
from core.modelpack import DEFAULT_PACK, PACKS, file_sha256
from core.paths import Workspace, model_search_dirs

log = logging.getLogger("kefu.models")

_COPY_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class ModelEntry:
    path: Path
    size: int
    info: GGUFInfo | None
    error: str = ""

    @property
    def usable(self) -> bool:
        return self.info is not None

    def to_json(self) -> dict:
        info = self.info
        return {
            "path": str(self.path), "file": self.path.name, "size": self.size,
            "usable": self.usable, "error": self.error or None,
            "name": info.name if info else None,
            "architecture": info.architecture if info else None,
            "context_length": info.context_length if info else None,
            "quantization": info.quantization if info else None,
            "parameters": info.parameter_count if info else None,
            "chat_template": bool(info and info.chat_template),
        }


def model_dirs(workspace: Workspace) -> list[Path]:
    return model_search_dirs(workspace.models_dir)


def inspect(path: Path) -> ModelEntry:
    try:
        size = path.stat().st_size
    except OSError as exc:
        return ModelEntry(path=path, size=0, info=None, error=f"cannot read: {exc.strerror}")
    try:
        return ModelEntry(path=path, size=size, info=read_gguf(path))
    except GGUFError as exc:
        return ModelEntry(path=path, size=size, info=None, error=str(exc))
    except OSError as exc:
        return ModelEntry(path=path, size=size, info=None, error=f"cannot read: {exc}")


def discover(workspace: Workspace) -> list[ModelEntry]:
    """Every ``*.gguf`` in the model folders (missing folders are simply empty)."""
    seen: set[Path] = set()
    entries = []
    for folder in model_dirs(workspace):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.gguf")):
            real = path.resolve()
            if real in seen or not path.is_file():
                continue
            seen.add(real)
            entries.append(inspect(path))
    return entries


def default_model_path(workspace: Workspace, configured: str = "") -> Path:
    """The model to draft with: the configured file, else the default pack, else any usable one."""
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise ModelNotFoundError(f"The model set in settings, {path}, does not exist. "
                                     f"Pick another model or clear the setting.")
        return path
    entries = discover(workspace)
    by_name = {e.path.name: e for e in entries if e.usable}
    for pack in (DEFAULT_PACK, *PACKS.values()):
        if pack.filename in by_name:
            return by_name[pack.filename].path
    usable = [e for e in entries if e.usable]
    if usable:
        return usable[0].path
    folders = " or ".join(str(f) for f in model_dirs(workspace))
    broken = [e for e in entries if not e.usable]
    hint = (" Found only unusable files: " + "; ".join(f"{e.path.name}: {e.error}"
                                                      for e in broken) + ".") if broken else ""
    raise ModelNotFoundError(
        f"No GGUF model found in {folders}.{hint} Run `kefu models install default`, "
        f"or import a GGUF with `kefu models import PATH`.")


def import_model(source: Path, workspace: Workspace) -> ModelEntry:
    """Copy a user's GGUF into the models folder, verified; refuse anything unusable."""
    source = Path(source).expanduser()
    if not source.is_file():
        raise ModelError(f"{source} is not a file.")
    try:
        read_gguf(source)
    except GGUFError as exc:
        raise ModelError(f"Not imported: {exc}") from None
    dest_dir = workspace.models_dir
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / source.name
    if dest.exists() and dest.resolve() == source.resolve():
        return inspect(dest)
    if dest.exists():
        raise ModelError(f"A model named {dest.name} is already in {dest_dir}; rename the "
                         f"file or remove the old one first.")
    needed = source.stat().st_size
    free = shutil.disk_usage(dest_dir).free
    if free < needed:
        raise ModelError(f"Not enough disk space in {dest_dir}: {needed:,} bytes needed, "
                         f"{free:,} free.")
    src_hash = hashlib.sha256()

    def check(copy: Path) -> None:
        if file_sha256(copy) != src_hash.hexdigest():
            raise ModelError(f"The copy of {source.name} does not match the original "
                             f"(disk error?); nothing was imported.")
        entry = inspect(copy)
        if not entry.usable:
            raise ModelError(f"The copy of {source.name} is unusable: {entry.error}")

    with open(source, "rb") as src, atomic_file(dest, mode=0o644, verify=check) as out:
        while block := src.read(_COPY_CHUNK):
            src_hash.update(block)
            out.write(block)
    log.info("Imported %s into %s", source, dest)
    return inspect(dest)
