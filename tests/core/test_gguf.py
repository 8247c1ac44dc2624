"""The GGUF metadata reader, on synthetic files written by a small writer below."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from core.errors import KefuError
from core.gguf import (
    ArrayInfo,
    CorruptGGUFError,
    GGUFError,
    NotGGUFError,
    TruncatedGGUFError,
    read_gguf,
)

from tests.ggufwriter import (  # noqa: F401 - some are used only by a few tests
    ARRAY, BOOL, F32, F64, GGML_F32, GGML_Q4_K, I8, I16, I32, I64, SCALARS, STRING, TEMPLATE, TENSORS, TOKENS, U8, U16, U32, U64, build_gguf, gkv, gstr, gvalue, model_kvs, tensor_nbytes,
)


@pytest.fixture
def write(tmp_path):
    def _write(data: bytes, name: str = "model.gguf") -> Path:
        path = tmp_path / name
        path.write_bytes(data)
        return path
    return _write


@pytest.fixture
def model(write) -> Path:
    return write(build_gguf(model_kvs(), TENSORS))


# --- reading valid files -----------------------------------------------------------

def test_every_metadata_type_round_trips(model):
    info = read_gguf(model)
    for key, vtype, value in SCALARS:
        assert info.metadata[key] == value, key
        assert type(info.metadata[key]) is type(value), key
    assert info.metadata["tokenizer.ggml.token_type"] == ArrayInfo("int32", 1000)
    assert info.version == 3 and info.tensor_count == 3
    assert info.file_size == model.stat().st_size == info.data_end
    assert info.data_offset % 32 == 0


def test_large_string_array_is_skipped_not_loaded(model):
    # 50k tokens (a real tokenizer has ~150k): only their count is kept.
    assert read_gguf(model).metadata["tokenizer.ggml.tokens"] == ArrayInfo("string", 50_000)


def test_convenience_properties(model):
    info = read_gguf(model)
    assert info.name == "Tiny Test"
    assert info.architecture == "qwen2"
    assert info.context_length == 4096
    assert info.quantization == "Q4_K_M"
    assert info.chat_template == TEMPLATE
    assert info.parameter_count == 512 + 8 + 16
    assert info.tensor_types == {"Q4_K": 512, "F32": 24}


@pytest.mark.parametrize("file_type, expected", [(0, "F32"), (1, "F16"), (7, "Q8_0"),
                                                 (18, "Q6_K"), (32, "BF16")])
def test_quantization_names_follow_llama_ftype(write, file_type, expected):
    assert read_gguf(write(build_gguf(model_kvs(file_type=file_type), TENSORS))
                     ).quantization == expected


@pytest.mark.parametrize("file_type", [None, 9999])
def test_quantization_falls_back_to_the_dominant_tensor_type(write, file_type):
    info = read_gguf(write(build_gguf(model_kvs(file_type=file_type), TENSORS)))
    assert info.quantization == "Q4_K"  # most elements, though F32 has more tensors


def test_missing_optional_metadata_gives_none(write):
    info = read_gguf(write(build_gguf([], [])))
    assert (info.name, info.architecture, info.context_length, info.quantization,
            info.chat_template, info.parameter_count) == (None,) * 6
    assert info.metadata == {} and info.tensor_count == 0


def test_blank_chat_template_counts_as_none(write):
    kvs = [("tokenizer.chat_template", STRING, "  \n")]
    assert read_gguf(write(build_gguf(kvs))).chat_template is None


def test_version_2_and_custom_alignment(write):
    kvs = [("general.alignment", U32, 64), ("general.architecture", STRING, "llama")]
    info = read_gguf(write(build_gguf(kvs, TENSORS, version=2, alignment=64)))
    assert info.version == 2 and info.data_offset % 64 == 0
    assert info.data_end == info.file_size


# --- refusing bad files ------------------------------------------------------------

def test_errors_are_kefu_errors():
    assert issubclass(TruncatedGGUFError, CorruptGGUFError)
    assert issubclass(CorruptGGUFError, GGUFError) and issubclass(NotGGUFError, GGUFError)
    assert issubclass(GGUFError, KefuError)


@pytest.mark.parametrize("data, shown", [(b"this is not a model", "starts with b'this'"),
                                         (b"", "the file is empty"), (b"GG", "b'GG'")])
def test_not_a_gguf_file(write, data, shown):
    with pytest.raises(NotGGUFError, match="model.gguf is not a GGUF file") as err:
        read_gguf(write(data))
    assert shown in str(err.value)


def test_folder_and_missing_file(tmp_path):
    (tmp_path / "dir.gguf").mkdir()
    with pytest.raises(GGUFError, match="folder"):
        read_gguf(tmp_path / "dir.gguf")
    with pytest.raises(FileNotFoundError):  # passes through, documented
        read_gguf(tmp_path / "missing.gguf")


def test_cut_in_header_is_truncated(write):
    full = build_gguf(model_kvs(), TENSORS)
    header_end = read_gguf(write(full)).data_offset
    # header_end - 40 is inside the last tensor info (padding is under 32 bytes).
    for cut in (6, 20, 200, 100_000, header_end - 40):
        path = write(full[:cut], f"cut{cut}.gguf")
        with pytest.raises(TruncatedGGUFError) as err:
            read_gguf(path)
        message = str(err.value)
        assert f"cut{cut}.gguf is truncated" in message
        assert f"the file has {cut:,} bytes" in message, message


def test_cut_in_tensor_data_is_truncated_with_sizes(write):
    full = build_gguf(model_kvs(), TENSORS)
    path = write(full[:-100])
    with pytest.raises(TruncatedGGUFError) as err:
        read_gguf(path)
    message = str(err.value)
    assert "truncated" in message
    assert f"the file has {len(full) - 100:,} bytes" in message
    assert f"needs {len(full):,} (100 missing)" in message
    assert read_gguf(path, check_size=False).data_end == len(full)


def _header(version: int = 3, tensors: int = 0, kvs: int = 0) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", version, tensors, kvs)


def _tensor(dims: tuple[int, ...], ggml_type: int, offset: int = 0) -> bytes:
    return (gstr("w") + struct.pack("<I", len(dims)) + struct.pack(f"<{len(dims)}Q", *dims)
            + struct.pack("<IQ", ggml_type, offset))


@pytest.mark.parametrize("data, words", [
    (_header(tensors=2**40), "tensors"),
    (_header(kvs=10**7), "metadata entries"),
    (_header(kvs=1) + struct.pack("<Q", 2**40), "string claims"),
    (_header(kvs=1) + gstr("k") + struct.pack("<IQ", STRING, 65 * 2**20), "string claims"),
    (_header(kvs=1) + gstr("k") + struct.pack("<IIQ", ARRAY, I32, 10**9), "array claims"),
    (_header(kvs=1) + gstr("k") + struct.pack("<IIQ", ARRAY, STRING, 2)
     + struct.pack("<Q", 2**50), "string claims"),
    (_header(kvs=1) + gstr("k") + struct.pack("<I", 13) + b"\0" * 64, "unknown value type 13"),
    (_header(kvs=1) + gstr("k") + struct.pack("<IIQ", ARRAY, ARRAY, 1) + b"\0" * 64,
     "nested arrays"),
    (_header(kvs=2) + gkv("k", U8, 1) + gkv("k", U8, 2), "duplicate metadata key"),
    (_header(kvs=1) + gkv("general.alignment", U32, 24), "alignment"),
    (_header(kvs=1) + gstr(b"\xff\xfe") + struct.pack("<IB", U8, 1), "not UTF-8"),
    (_header(tensors=1) + gstr("w") + struct.pack("<I", 9) + b"\0" * 128, "9 dimensions"),
    (_header(tensors=1) + _tensor((32,), 99) + b"\0" * 64, "unknown tensor type 99"),
    (_header(tensors=1) + _tensor((32,), 31) + b"\0" * 64, "Q4_0_4_4"),
    (_header(tensors=1) + _tensor((100,), GGML_Q4_K) + b"\0" * 64, "block size 256"),
    (_header(tensors=1) + _tensor((2**40, 2**40), GGML_F32) + b"\0" * 64, "impossibly large"),
    (_header(tensors=1) + _tensor((8,), GGML_F32, offset=7) + b"\0" * 64, "not aligned"),
    (_header(tensors=2) + _tensor((8,), GGML_F32) + _tensor((8,), GGML_F32, 32) + b"\0" * 128,
     "duplicate tensor name"),
])
def test_absurd_or_invalid_header_is_corrupt(write, data, words):
    with pytest.raises(CorruptGGUFError) as err:
        read_gguf(write(data))
    assert not isinstance(err.value, TruncatedGGUFError), err.value
    assert words in str(err.value) and "model.gguf" in str(err.value)


@pytest.mark.parametrize("version, words", [(1, "version 1"), (4, "version 4"),
                                            (0, "version 0"), (3 << 24, "big-endian")])
def test_unsupported_versions_are_refused(write, version, words):
    with pytest.raises(CorruptGGUFError, match=words):
        read_gguf(write(build_gguf(model_kvs(), TENSORS, version=version)))
