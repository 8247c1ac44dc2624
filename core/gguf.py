"""Read a GGUF file's metadata without loading its tensors.

Fast on multi-GB files: the header is parsed with buffered reads, arrays (the
150,000-entry tokenizer vocabulary) are skipped rather than decoded, and the
size the tensors declare is checked against the file, so a truncated download
is caught here with a clear message rather than deep inside llama.cpp.
"""

from __future__ import annotations

import os
import struct
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from core.errors import ModelError

MAGIC = b"GGUF"
MAX_COUNT = 1_000_000
MAX_STRING = 64 * 1024 * 1024
MAX_ARRAY = 100_000_000
MAX_DIMS = 8
DEFAULT_ALIGNMENT = 32


class GGUFError(ModelError):
    """A file that cannot be used as a GGUF model."""


class NotGGUFError(GGUFError):
    pass


class CorruptGGUFError(GGUFError):
    pass


class TruncatedGGUFError(CorruptGGUFError):
    pass


@dataclass(frozen=True)
class ArrayInfo:
    """An array value that was skipped, not loaded."""

    type_name: str
    length: int


# GGUF metadata value types: id -> (name, struct format or None).
_SCALARS = {0: ("u8", "<B"), 1: ("i8", "<b"), 2: ("u16", "<H"), 3: ("i16", "<h"),
            4: ("u32", "<I"), 5: ("i32", "<i"), 6: ("f32", "<f"), 7: ("bool", "<?"),
            10: ("u64", "<Q"), 11: ("i64", "<q"), 12: ("f64", "<d")}
_STRING, _ARRAY = 8, 9

# ggml tensor types: id -> (name, elements per block, bytes per block), from ggml.c.
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 36),
    10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74), 18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50), 20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82), 23: ("IQ4_XS", 256, 136), 24: ("I8", 1, 1), 25: ("I16", 1, 2),
    26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8), 29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2), 34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17),
}

# llama.cpp's LLAMA_FTYPE (general.file_type) -> the name people use.
FILE_TYPES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS",
    23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S",
    29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0", 37: "TQ2_0",
    38: "MXFP4_MOE",
}


@dataclass(frozen=True)
class GGUFInfo:
    path: Path
    version: int
    file_size: int
    tensor_count: int
    metadata: dict[str, object]
    data_offset: int
    data_end: int
    tensor_types: dict[str, int]   # ggml type name -> number of tensors
    parameter_count: int

    def _get(self, key: str) -> object:
        return self.metadata.get(key)

    @property
    def name(self) -> str | None:
        value = self._get("general.name")
        return value if isinstance(value, str) else None

    @property
    def architecture(self) -> str | None:
        value = self._get("general.architecture")
        return value if isinstance(value, str) else None

    @property
    def context_length(self) -> int | None:
        value = self._get(f"{self.architecture}.context_length") if self.architecture else None
        return int(value) if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def quantization(self) -> str | None:
        value = self._get("general.file_type")
        if isinstance(value, int) and value in FILE_TYPES:
            return FILE_TYPES[value]
        if self.tensor_types:
            return max(self.tensor_types.items(), key=lambda kv: kv[1])[0]
        return None

    @property
    def chat_template(self) -> str | None:
        value = self._get("tokenizer.chat_template")
        return value if isinstance(value, str) and value.strip() else None


class _Reader:
    def __init__(self, handle: BinaryIO, path: Path, size: int) -> None:
        self.h = handle
        self.path = path
        self.size = size

    def read(self, n: int) -> bytes:
        data = self.h.read(n)
        if len(data) != n:
            raise TruncatedGGUFError(
                f"{self.path.name} is truncated: its header ends early at byte "
                f"{self.h.tell():,} of {self.size:,} (an incomplete download or copy?).")
        return data

    def unpack(self, fmt: str):
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    def u32(self) -> int:
        return self.unpack("<I")

    def u64(self) -> int:
        return self.unpack("<Q")

    def string_length(self) -> int:
        n = self.u64()
        if n > MAX_STRING:
            raise CorruptGGUFError(f"{self.path.name} is corrupt: a {n:,}-byte string in "
                                   f"its header.")
        return n

    def string(self) -> str:
        return self.read(self.string_length()).decode("utf-8", errors="replace")

    def skip(self, n: int) -> None:
        if self.h.tell() + n > self.size:
            self.read(self.size - self.h.tell() + 1)  # raises the truncation error
        self.h.seek(n, os.SEEK_CUR)

    def value(self, vtype: int) -> object:
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype][1])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            etype = self.u32()
            length = self.u64()
            if length > MAX_ARRAY:
                raise CorruptGGUFError(f"{self.path.name} is corrupt: an array of "
                                       f"{length:,} entries in its header.")
            if etype in _SCALARS:
                name, fmt = _SCALARS[etype]
                self.skip(struct.calcsize(fmt) * length)
                return ArrayInfo(name, length)
            if etype == _STRING:
                for _ in range(length):
                    self.skip(self.string_length())
                return ArrayInfo("string", length)
            if etype == _ARRAY:
                for _ in range(length):
                    self.value(_ARRAY)
                return ArrayInfo("array", length)
            raise CorruptGGUFError(f"{self.path.name} is corrupt: unknown array element "
                                   f"type {etype}.")
        raise CorruptGGUFError(f"{self.path.name} is corrupt: unknown metadata value type "
                               f"{vtype}.")


def read_gguf(path: str | os.PathLike[str], *, check_size: bool = True) -> GGUFInfo:
    """Parse the header of ``path``; raise a ``GGUFError`` saying what is wrong.

    A missing path raises ``FileNotFoundError``; a directory raises ``GGUFError``.
    """
    path = Path(path)
    if path.is_dir():
        raise GGUFError(f"{path} is a folder, not a GGUF file.")
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(4)
        if head != MAGIC:
            shown = head if head else b""
            raise NotGGUFError(f"{path.name} is not a GGUF file (it starts with {shown!r}, "
                               f"not b'GGUF'{'; it is empty' if not head else ''}).")
        r = _Reader(handle, path, size)
        version = r.u32()
        if version not in (2, 3):
            raise CorruptGGUFError(f"{path.name} uses GGUF version {version}; only versions "
                                   f"2 and 3 are supported (convert it with a current "
                                   f"llama.cpp).")
        tensor_count = r.u64()
        kv_count = r.u64()
        if tensor_count > MAX_COUNT or kv_count > MAX_COUNT:
            raise CorruptGGUFError(f"{path.name} is corrupt: it claims {tensor_count:,} "
                                   f"tensors and {kv_count:,} metadata entries.")
        metadata: dict[str, object] = {}
        for _ in range(kv_count):
            key = r.string()
            metadata[key] = r.value(r.u32())

        types: Counter[str] = Counter()
        data_end = 0
        parameters = 0
        for _ in range(tensor_count):
            name = r.string()
            n_dims = r.u32()
            if n_dims > MAX_DIMS:
                raise CorruptGGUFError(f"{path.name} is corrupt: tensor {name!r} has "
                                       f"{n_dims} dimensions.")
            elements = 1
            for _ in range(n_dims):
                elements *= r.u64()
            ggml_type = r.u32()
            offset = r.u64()
            if ggml_type not in GGML_TYPES:
                raise CorruptGGUFError(f"{path.name}: tensor {name!r} has ggml type "
                                       f"{ggml_type}, which this version does not know.")
            type_name, block, block_bytes = GGML_TYPES[ggml_type]
            types[type_name] += 1
            parameters += elements
            data_end = max(data_end, offset + (elements + block - 1) // block * block_bytes)

        alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
        if not isinstance(alignment, int) or alignment <= 0:
            alignment = DEFAULT_ALIGNMENT
        here = handle.tell()
        data_offset = (here + alignment - 1) // alignment * alignment
    info = GGUFInfo(path=path, version=version, file_size=size, tensor_count=tensor_count,
                    metadata=metadata, data_offset=data_offset,
                    data_end=data_offset + data_end, tensor_types=dict(types),
                    parameter_count=parameters)
    if check_size and size < info.data_end:
        raise TruncatedGGUFError(
            f"{path.name} is truncated: its tensors need {info.data_end:,} bytes but the file "
            f"has {size:,} (an incomplete download or copy?).")
    return info
