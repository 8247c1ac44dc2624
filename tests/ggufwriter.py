"""A minimal GGUF writer for tests: valid synthetic files of any shape."""

from __future__ import annotations

import struct

U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
_FMT = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f",
        BOOL: "<?", U64: "<Q", I64: "<q", F64: "<d"}
GGML_F32, GGML_Q4_K = 0, 12


def gstr(text: str | bytes) -> bytes:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


def gvalue(vtype: int, value: object) -> bytes:
    if vtype == STRING:
        return gstr(value)  # type: ignore[arg-type]
    if vtype == ARRAY:
        etype, items = value  # type: ignore[misc]
        return struct.pack("<IQ", etype, len(items)) + b"".join(gvalue(etype, v) for v in items)
    return struct.pack(_FMT[vtype], value)


def gkv(key: str, vtype: int, value: object) -> bytes:
    return gstr(key) + struct.pack("<I", vtype) + gvalue(vtype, value)


def tensor_nbytes(ggml_type: int, dims: tuple[int, ...]) -> int:
    elements = 1
    for d in dims:
        elements *= d
    return elements * 4 if ggml_type == GGML_F32 else elements // 256 * 144


def build_gguf(kvs: list[tuple[str, int, object]],
               tensors: list[tuple[str, tuple[int, ...], int]] = (), *,  # type: ignore[assignment]
               version: int = 3, alignment: int = 32) -> bytes:
    """A complete GGUF: header, metadata, tensor infos, padding and (zero) tensor data."""
    infos, offset, ends = b"", 0, []
    for name, dims, ggml_type in tensors:
        infos += (gstr(name) + struct.pack("<I", len(dims))
                  + struct.pack(f"<{len(dims)}Q", *dims) + struct.pack("<IQ", ggml_type, offset))
        ends.append(offset + tensor_nbytes(ggml_type, dims))
        offset = -(-ends[-1] // alignment) * alignment
    head = (b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
            + b"".join(gkv(*kv) for kv in kvs) + infos)
    head += b"\0" * (-len(head) % alignment)
    return head + b"\x11" * (ends[-1] if ends else 0)


TOKENS = [f"tok{i}" for i in range(50_000)]
TEMPLATE = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}{% endfor %}"
SCALARS = [
    ("t.u8", U8, 200), ("t.i8", I8, -5), ("t.u16", U16, 60_000), ("t.i16", I16, -300),
    ("t.u32", U32, 4_000_000_000), ("t.i32", I32, -2_000_000_000), ("t.f32", F32, 1.5),
    ("t.bool", BOOL, True), ("t.str", STRING, "你好, GGUF"), ("t.u64", U64, 2**40 + 1),
    ("t.i64", I64, -(2**40)), ("t.f64", F64, 3.25),
]
TENSORS = [("token_embd.weight", (256, 2), GGML_Q4_K), ("norm.weight", (8,), GGML_F32),
           ("out.bias", (4, 4), GGML_F32)]


def model_kvs(*, file_type: int | None = 15) -> list[tuple[str, int, object]]:
    kvs = [("general.architecture", STRING, "qwen2"), ("general.name", STRING, "Tiny Test"),
           ("qwen2.context_length", U32, 4096), ("tokenizer.chat_template", STRING, TEMPLATE),
           ("tokenizer.ggml.tokens", ARRAY, (STRING, TOKENS)),
           ("tokenizer.ggml.token_type", ARRAY, (I32, [1] * 1000)), *SCALARS]
    if file_type is not None:
        kvs.append(("general.file_type", U32, file_type))
    return kvs
