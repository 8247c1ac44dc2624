"""Read a GGUF file's metadata (name, architecture, context, quantization, chat
template) without loading tensor data.

The app lists and checks models that can be several GB, so this reads only the
header: scalars and strings are decoded, arrays are skipped by seeking (a
tokenizer's 150k-entry string arrays are walked length by length, never
decoded) and recorded as ``ArrayInfo``.  Every count and length is capped,
so a garbage file fails fast with ``CorruptGGUFError`` instead of allocating
gigabytes.  The tensor table is read to learn where the tensor data ends, which
catches the common real-world failure: an interrupted download or copy.

Format: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md (v2 and v3,
little-endian).  A missing file raises ``FileNotFoundError`` unchanged, so
callers can word "does not exist" themselves; every other problem raises a
``GGUFError``.
"""

from __future__ import annotations

import os
import stat
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from core.errors import ModelError


class GGUFError(ModelError):
    """A file that cannot be read as a GGUF model (a ``ModelError``, so a ``KefuError``)."""


class NotGGUFError(GGUFError):
    """The file does not start with the GGUF magic."""


class CorruptGGUFError(GGUFError):
    """A GGUF header that cannot be parsed or holds impossible values."""


class TruncatedGGUFError(CorruptGGUFError):
    """The file ends before the header or tensor data it declares."""


MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32

# Caps far above any real model (the largest tokenizers have ~256k entries and
# models ~10k tensors) but low enough that garbage is caught before it is used.
MAX_TENSORS = 1_000_000
MAX_KV = 1_000_000
MAX_STRING = 64 * 1024 * 1024
MAX_ARRAY = 100_000_000
MAX_DIMS = 8

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_HEADER = struct.Struct("<QQ")  # tensor_count, kv_count
_DIMS = [struct.Struct(f"<{n}Q") for n in range(MAX_DIMS + 1)]

_STRING, _ARRAY = 8, 9
# GGUF value type -> (name, fixed-size layout); strings and arrays are variable.
_SCALARS: dict[int, tuple[str, struct.Struct]] = {
    0: ("uint8", struct.Struct("<B")), 1: ("int8", struct.Struct("<b")),
    2: ("uint16", struct.Struct("<H")), 3: ("int16", struct.Struct("<h")),
    4: ("uint32", struct.Struct("<I")), 5: ("int32", struct.Struct("<i")),
    6: ("float32", struct.Struct("<f")), 7: ("bool", struct.Struct("<?")),
    10: ("uint64", struct.Struct("<Q")), 11: ("int64", struct.Struct("<q")),
    12: ("float64", struct.Struct("<d")),
}

# ggml_type -> (name, elements per block, bytes per block), from ggml's type_traits.
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 36),
    10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74), 18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50), 20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82), 23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1), 25: ("I16", 1, 2), 26: ("I32", 1, 4), 27: ("I64", 1, 8),
    28: ("F64", 1, 8), 29: ("IQ1_M", 256, 56), 30: ("BF16", 1, 2),
    34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17), 40: ("NVFP4", 64, 36), 41: ("Q1_0", 128, 18),
}
# Ids that once existed; current llama.cpp refuses files that use them.
_REMOVED_GGML_TYPES = {
    4: "Q4_2", 5: "Q4_3", 31: "Q4_0_4_4", 32: "Q4_0_4_8", 33: "Q4_0_8_8",
    36: "IQ4_NL_4_4", 37: "IQ4_NL_4_8", 38: "IQ4_NL_8_8",
}

# general.file_type values: llama.cpp's enum llama_ftype (LLAMA_FTYPE_MOSTLY_*).
LLAMA_FTYPES: dict[int, str] = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 4: "Q4_1_SOME_F16", 7: "Q8_0",
    8: "Q5_0", 9: "Q5_1", 10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L",
    14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K",
    19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS", 23: "IQ3_XXS",
    24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M",
    30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 33: "Q4_0_4_4", 34: "Q4_0_4_8",
    35: "Q4_0_8_8", 36: "TQ1_0", 37: "TQ2_0", 38: "MXFP4_MOE", 39: "NVFP4", 40: "Q1_0",
}
_FTYPE_GUESSED = 1024  # flag llama.cpp ORs in when it guessed the type


@dataclass(frozen=True)
class ArrayInfo:
    """Stands in for an array value, which is skipped rather than loaded."""
    type_name: str  # element type, e.g. "string", "int32"
    length: int


@dataclass(frozen=True)
class GGUFInfo:
    path: Path
    version: int
    file_size: int
    tensor_count: int
    metadata: dict[str, object]  # arrays appear as ArrayInfo
    data_offset: int             # aligned start of tensor data
    data_end: int                # end of the last tensor's data, from file start
    tensor_types: dict[str, int] = field(default_factory=dict)  # ggml type -> elements

    def _str(self, key: str) -> str | None:
        value = self.metadata.get(key)
        return value if isinstance(value, str) else None

    @property
    def name(self) -> str | None:
        return self._str("general.name")

    @property
    def architecture(self) -> str | None:
        return self._str("general.architecture")

    @property
    def context_length(self) -> int | None:
        if not self.architecture:
            return None
        value = self.metadata.get(f"{self.architecture}.context_length")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def quantization(self) -> str | None:
        ftype = self.metadata.get("general.file_type")
        if isinstance(ftype, int) and not isinstance(ftype, bool):
            known = LLAMA_FTYPES.get(ftype & ~_FTYPE_GUESSED)
            if known:
                return known
        # No (or an unknown) file type: name the type holding the most weights,
        # counted by elements because the many small norm vectors are F32.
        if self.tensor_types:
            return max(self.tensor_types, key=lambda name: self.tensor_types[name])
        return None

    @property
    def chat_template(self) -> str | None:
        # A blank template is as good as none: callers then fall back to ChatML.
        value = self._str("tokenizer.chat_template")
        return value if value and value.strip() else None

    @property
    def parameter_count(self) -> int | None:
        return sum(self.tensor_types.values()) if self.tensor_types else None


class _EndOfFile(Exception):
    def __init__(self, needed: int) -> None:
        super().__init__(needed)
        self.needed = needed


class _Reader:
    """A forward window over the file, refilled in 1 MiB reads.

    Parsing a header means hundreds of thousands of tiny reads (every token
    string's length); unpacking from a local window is several times faster
    than a ``read()`` call per field, and skips inside the window cost nothing.
    """

    _CHUNK = 1024 * 1024

    def __init__(self, handle: BinaryIO, size: int) -> None:
        self._handle = handle
        self.size = size
        self._buf = b""
        self._start = 0  # file offset of _buf[0]
        self._i = 0

    @property
    def pos(self) -> int:
        return self._start + self._i

    def _fill(self, n: int) -> None:
        rest = self._buf[self._i:]
        self._handle.seek(self._start + len(self._buf))
        more = self._handle.read(max(self._CHUNK, n - len(rest)))
        self._start += self._i
        self._buf = rest + more
        self._i = 0
        if len(self._buf) < n:
            raise _EndOfFile(self._start + n)

    def unpack(self, layout: struct.Struct) -> tuple[Any, ...]:
        if self._i + layout.size > len(self._buf):
            self._fill(layout.size)
        values = layout.unpack_from(self._buf, self._i)
        self._i += layout.size
        return values

    def u32(self) -> int:
        return self.unpack(_U32)[0]

    def u64(self) -> int:
        return self.unpack(_U64)[0]

    def take(self, n: int) -> bytes:
        if self._i + n > len(self._buf):
            self._fill(n)
        data = self._buf[self._i:self._i + n]
        self._i += n
        return data

    def skip_strings(self, count: int, limit: int) -> int | None:
        """Skip ``count`` length-prefixed strings; return the first length over ``limit``.

        The hot loop of the whole reader (300k strings for a Qwen tokenizer), so
        it works on the window directly instead of calling ``u64``/``skip``.
        """
        unpack = _U64.unpack_from
        buf, i = self._buf, self._i
        for _ in range(count):
            if i + 8 > len(buf):
                self._i = i
                self._fill(8)
                buf, i = self._buf, self._i
            (n,) = unpack(buf, i)
            if n > limit:
                self._i = i + 8
                return n
            i += 8 + n
            if i > len(buf):  # the string runs past the window: jump over it
                self._i = len(buf)
                self.skip(i - len(buf))
                buf, i = self._buf, self._i
        self._i = i
        return None

    def skip(self, n: int) -> None:
        target = self.pos + n
        if target > self.size:
            raise _EndOfFile(target)
        if self._i + n <= len(self._buf):
            self._i += n
        else:
            self._buf, self._start, self._i = b"", target, 0


class _Parser:
    def __init__(self, path: Path, reader: _Reader) -> None:
        self.path = path
        self.r = reader
        self.where = "the header"  # for truncation messages

    def corrupt(self, problem: str) -> CorruptGGUFError:
        return CorruptGGUFError(f"{self.path.name} is not a valid GGUF file: {problem} "
                                f"(in {self.where}).")

    def string_length(self) -> int:
        n = self.r.u64()
        if n > MAX_STRING:
            raise self.corrupt(f"a string claims {n:,} bytes (limit {MAX_STRING:,})")
        return n

    def string(self) -> str:
        # Values are shown, not matched, so a stray bad byte should not make a
        # model unusable; keys use strict decoding (see read_kv).
        return self.r.take(self.string_length()).decode("utf-8", errors="replace")

    def value(self, vtype: int) -> object:
        scalar = _SCALARS.get(vtype)
        if scalar is not None:
            return self.r.unpack(scalar[1])[0]
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            return self.skip_array()
        raise self.corrupt(f"unknown value type {vtype}")

    def skip_array(self) -> ArrayInfo:
        etype, count = self.r.u32(), self.r.u64()
        if count > MAX_ARRAY:
            raise self.corrupt(f"an array claims {count:,} elements (limit {MAX_ARRAY:,})")
        scalar = _SCALARS.get(etype)
        if scalar is not None:
            self.r.skip(count * scalar[1].size)
            return ArrayInfo(scalar[0], count)
        if etype == _STRING:
            # Each length must be read to find the next; the bytes never are.
            too_long = self.r.skip_strings(count, MAX_STRING)
            if too_long is not None:
                raise self.corrupt(f"a string claims {too_long:,} bytes "
                                   f"(limit {MAX_STRING:,})")
            return ArrayInfo("string", count)
        if etype == _ARRAY:
            # The spec allows it but llama.cpp refuses such files, so no model has one.
            raise self.corrupt("nested arrays are not supported")
        raise self.corrupt(f"unknown array element type {etype}")

    def read_kv(self, metadata: dict[str, object], index: int, total: int) -> None:
        self.where = f"metadata entry {index + 1} of {total}"
        raw = self.r.take(self.string_length())
        try:
            key = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.corrupt(f"a metadata key is not UTF-8 ({raw[:40]!r})") from None
        self.where = f"metadata entry {index + 1} of {total} ({key!r})"
        if key in metadata:
            raise self.corrupt(f"duplicate metadata key {key!r}")
        metadata[key] = self.value(self.r.u32())

    def alignment(self, metadata: dict[str, object]) -> int:
        value = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
        if (not isinstance(value, int) or isinstance(value, bool) or value <= 0
                or value & (value - 1)):
            self.where = "the header"
            raise self.corrupt(f"general.alignment is {value!r}, not a power of two")
        return value

    def read_tensor(self, index: int, total: int, alignment: int,
                    names: set[bytes]) -> tuple[str, int, int]:
        """One tensor info; returns (type name, elements, end of data relative to data start)."""
        self.where = f"tensor info {index + 1} of {total}"
        name = self.r.take(self.string_length())
        self.where = f"tensor info {index + 1} of {total} ({name[:80]!r})"
        if name in names:
            raise self.corrupt("duplicate tensor name")
        names.add(name)
        n_dims = self.r.u32()
        if n_dims > MAX_DIMS:
            raise self.corrupt(f"the tensor claims {n_dims} dimensions (limit {MAX_DIMS})")
        dims = self.r.unpack(_DIMS[n_dims])
        ggml_type, offset = self.r.u32(), self.r.u64()
        if ggml_type not in GGML_TYPES:
            removed = _REMOVED_GGML_TYPES.get(ggml_type)
            raise self.corrupt(
                f"tensor type {removed} ({ggml_type}) is no longer supported by llama.cpp; "
                f"re-convert the model" if removed else f"unknown tensor type {ggml_type}")
        type_name, block, block_bytes = GGML_TYPES[ggml_type]
        elements = 1
        for dim in dims:
            elements *= dim
        if elements >= 2 ** 63:
            raise self.corrupt(f"the tensor's shape {list(dims)} is impossibly large")
        if (dims[0] if dims else 1) % block:
            raise self.corrupt(f"a {type_name} row of {dims[0]} elements is not a multiple "
                               f"of its block size {block}")
        if offset % alignment:
            raise self.corrupt(f"tensor data offset {offset} is not aligned to {alignment}")
        return type_name, elements, offset + elements // block * block_bytes


def _parse(path: Path, handle: BinaryIO, size: int, check_size: bool) -> GGUFInfo:
    parser = _Parser(path, _Reader(handle, size))
    try:
        return _parse_with(parser, handle, check_size)
    except _EndOfFile as eof:
        raise TruncatedGGUFError(
            f"{path.name} is truncated: the file has {size:,} bytes but its header needs at "
            f"least {eof.needed:,} (it ends inside {parser.where}).") from None


def _parse_with(p: _Parser, handle: BinaryIO, check_size: bool) -> GGUFInfo:
    path, reader, size = p.path, p.r, p.r.size
    magic = handle.read(4)
    if magic != MAGIC:
        what = "the file is empty" if not magic else f"starts with {magic!r}"
        raise NotGGUFError(f"{path.name} is not a GGUF file ({what}).")
    reader.skip(4)
    version = reader.u32()
    if version not in SUPPORTED_VERSIONS:
        if version == 1:
            hint = "GGUF v1 is obsolete; get or convert a current GGUF"
        elif version in (2 << 24, 3 << 24):  # 2 or 3 written big-endian
            hint = "a big-endian file, which this machine cannot use"
        else:
            hint = "only versions 2 and 3 are supported"
        raise CorruptGGUFError(f"{path.name} uses unsupported GGUF version {version} ({hint}).")
    tensor_count, kv_count = reader.unpack(_HEADER)
    if tensor_count > MAX_TENSORS:
        raise p.corrupt(f"it claims {tensor_count:,} tensors (limit {MAX_TENSORS:,})")
    if kv_count > MAX_KV:
        raise p.corrupt(f"it claims {kv_count:,} metadata entries (limit {MAX_KV:,})")

    metadata: dict[str, object] = {}
    for i in range(kv_count):
        p.read_kv(metadata, i, kv_count)
    alignment = p.alignment(metadata)

    tensor_types: dict[str, int] = {}
    names: set[bytes] = set()
    relative_end = 0
    for i in range(tensor_count):
        type_name, elements, end = p.read_tensor(i, tensor_count, alignment, names)
        tensor_types[type_name] = tensor_types.get(type_name, 0) + elements
        relative_end = max(relative_end, end)

    header_end = reader.pos
    data_offset = -(-header_end // alignment) * alignment
    # Without tensors nothing follows the header, so not even the padding is required.
    data_end = data_offset + relative_end if tensor_count else header_end
    if check_size and size < data_end:
        raise TruncatedGGUFError(
            f"{path.name} is truncated: the file has {size:,} bytes but its tensor data "
            f"needs {data_end:,} ({data_end - size:,} missing); the download or copy did "
            f"not finish.")
    return GGUFInfo(path=path, version=version, file_size=size, tensor_count=tensor_count,
                    metadata=metadata, data_offset=data_offset, data_end=data_end,
                    tensor_types=tensor_types)


def read_gguf(path: str | os.PathLike[str], *, check_size: bool = True) -> GGUFInfo:
    """Read the metadata and tensor table of the GGUF at ``path``.

    ``check_size`` also verifies that the file holds all the tensor data its
    header declares (without reading that data).  Raises ``FileNotFoundError``
    for a missing file and a ``GGUFError`` subclass for everything else.
    """
    path = Path(path)
    if path.is_dir():
        raise GGUFError(f"{path.name} is a folder, not a GGUF file.")
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise GGUFError(f"Cannot read {path.name}: {exc.strerror or exc}.") from None
    with handle:
        try:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise GGUFError(f"{path.name} is not a regular file.")
            return _parse(path, handle, info.st_size, check_size)
        except OSError as exc:
            raise GGUFError(f"Cannot read {path.name}: {exc.strerror or exc}.") from None

