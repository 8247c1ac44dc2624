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
