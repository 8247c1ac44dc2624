"""Small file helpers shared by the stores: atomic writes that never leave half a file,
and reads that never take more than a set size."""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

from core.errors import KefuError


@contextmanager
def atomic_file(dest: Path, *, mode: int = 0o600,
                verify: Callable[[Path], None] | None = None) -> Iterator[BinaryIO]:
    """Write ``dest`` through a temporary file beside it, renamed only when complete.

    A crash, an error in the caller or a failed ``verify(temp_path)`` leaves the old
    file (or none) and no partial file behind.  ``mode`` defaults to private, since
    most of what Kefu writes holds customer data.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if verify is not None:
            verify(tmp)
        os.chmod(tmp, mode)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_file(path) as handle:
        handle.write(data)


def atomic_write_json(path: Path, value: Any) -> None:
    text = json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))


def jsonl_objects(text: str, *, name: str, error: type[KefuError] = KefuError,
                  on_error: Callable[[int, str], None] | None = None
                  ) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line.  A bad line raises ``error``
    naming it, or, with ``on_error``, is reported as (line number, reason) and skipped."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            reason = f"is not JSON ({exc.msg})"
        else:
            if isinstance(value, dict):
                yield number, value
                continue
            reason = "is not a JSON object"
        if on_error is None:
            raise error(f"{name} line {number} {reason}.")
        on_error(number, reason)


class FileTooLarge(Exception):
    """A file over the size its reader accepts; each caller words its own error."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"{size} bytes, over the {limit}-byte limit")
        self.size = size
        self.limit = limit


def read_bounded(path: Path, limit: int) -> bytes:
    """The bytes of ``path``, or ``FileTooLarge`` when it holds more than ``limit``.

    The size is checked before reading and again while reading, so a file that grows in
    between, or a device whose size says 0 (``/dev/zero`` named ``.txt``), cannot make a
    reader take more memory than the limit.  ``OSError`` passes through.
    """
    size = path.stat().st_size
    if size > limit:
        raise FileTooLarge(size, limit)
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise FileTooLarge(len(data), limit)
    return data
