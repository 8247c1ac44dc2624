from core.hardware import LlamaBuild, physical_cores, plan_offload

CPU = LlamaBuild(version="x", gpu_offload=False, system_info="CPU : SSE3 = 1 | AVX2 = 1 | ")
GPU = LlamaBuild(version="x", gpu_offload=True, system_info="CUDA : ARCHS = 890 | AVX2 = 1")


def test_auto_offloads_only_when_the_build_can():
    assert plan_offload("auto", GPU).n_gpu_layers == -1
    plan = plan_offload("auto", CPU)
    assert plan.n_gpu_layers == 0 and "no GPU backend" in plan.reason


def test_explicit_layers():
    assert plan_offload("20", GPU).n_gpu_layers == 20
    assert plan_offload("0", GPU).n_gpu_layers == 0
    assert plan_offload("20", CPU).n_gpu_layers == 0


def test_build_description():
    assert CPU.simd_features == ["SSE3", "AVX2"]
    assert CPU.backend == "CPU" and GPU.backend == "CUDA"
    assert physical_cores() >= 1


class FakeGgml:
    """The two C calls of a libggml built with dynamic backends (GGML_BACKEND_DL): the
    registry starts empty and fills when a folder holding a backend module is loaded."""

    def __init__(self, *, built_in: int = 0) -> None:
        self.registered = built_in
        self.loaded_from: list[bytes] = []

        def count():
            return self.registered

        def load_all(path: bytes):
            assert isinstance(path, bytes)
            self.loaded_from.append(path)
            folder = path.decode()
            import os
            self.registered += sum(name.startswith("libggml-cpu-") for name in os.listdir(folder))

        self.ggml_backend_reg_count = count
        self.ggml_backend_load_all_from_path = load_all


def test_an_ordinary_build_loads_nothing(tmp_path):
    from core.hardware import load_backend_modules

    library = FakeGgml(built_in=1)
    assert load_backend_modules(library, tmp_path / "lib") == "built in"
    assert library.loaded_from == []


def test_dynamic_backends_load_from_beside_libggml_or_the_pip_bin_folder(tmp_path):
    from core.hardware import load_backend_modules

    site = tmp_path / "site-packages"
    lib = site / "llama_cpp" / "lib"
    lib.mkdir(parents=True)
    (site / "bin").mkdir()
    (site / "bin" / "libggml-cpu-haswell.so").write_bytes(b"\x7fELF")
    library = FakeGgml()
    assert load_backend_modules(library, lib) == str(site / "bin")
    assert library.loaded_from == [str(lib).encode(), str(site / "bin").encode()]
    assert library.registered == 1


def test_a_dynamic_build_without_its_modules_says_so(tmp_path):
    import pytest

    from core.hardware import load_backend_modules

    lib = tmp_path / "llama_cpp" / "lib"
    lib.mkdir(parents=True)
    with pytest.raises(RuntimeError, match="libggml-cpu"):
        load_backend_modules(FakeGgml(), lib)
