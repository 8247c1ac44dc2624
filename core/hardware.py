"""What this machine and this llama.cpp build can do: cores, SIMD, GPU offload."""

from __future__ import annotations

import ctypes
import logging
import os
import platform
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

log = logging.getLogger(__name__)

# Ordered from best to worst: the first one present names the CPU's SIMD level.
_SIMD_LEVELS = ("avx512f", "avx2", "avx", "sse4_2", "neon", "asimd")


@lru_cache(maxsize=1)
def physical_cores() -> int:
    """Physical cores; decoding gets nothing from hyper-threads, so count cores not threads."""
    try:
        import psutil

        count = psutil.cpu_count(logical=False)
        if count:
            return int(count)
    except ImportError:  # psutil is a dependency; this only guards odd installs
        pass
    return max(1, (os.cpu_count() or 2) // 2)


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith(("flags", "Features")):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    if platform.machine().lower() in ("arm64", "aarch64"):
        return frozenset({"neon"})
    return frozenset()


def cpu_simd_level() -> str:
    flags = cpu_flags()
    for level in _SIMD_LEVELS:
        if level in flags:
            return {"avx512f": "AVX-512", "sse4_2": "SSE4.2", "asimd": "NEON"}.get(
                level, level.upper())
    return "unknown"


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def backend_module_dirs(lib_dir: Path) -> list[Path]:
    """Where a llama.cpp built with ``GGML_BACKEND_DL`` may keep its backend modules.

    The installers put them beside libggml; a ``pip install`` puts them in the prefix's
    ``bin`` folder (``site-packages/bin``), where ggml's own install rule sends them.
    """
    return [lib_dir, lib_dir.parent.parent / "bin"]


def load_backend_modules(library, lib_dir: Path) -> str:
    """Load the backends of a llama.cpp built with dynamic backends, once, before any model.

    A build made for distribution (``GGML_BACKEND_DL`` with ``GGML_CPU_ALL_VARIANTS``) has
    no backend compiled in: the CPU code for this machine (SSE4.2, AVX2, AVX-512 ...) and
    any GPU backend are modules chosen at start, and llama-cpp-python never loads them.
    ``library`` is the libllama that llama_cpp loaded: its ggml must be the one loading the
    modules (a wheel holds libggml.so and libggml.so.0 as two copies, and loading the other
    file would fill a registry libllama never reads).  Returns what happened, for the log:
    ``"built in"`` for an ordinary build, else the folder the modules came from.  Raises
    ``RuntimeError`` when none can be found.
    """
    if not hasattr(library, "ggml_backend_reg_count"):
        if sys.platform != "win32":
            return "built in"
        # Windows looks up a DLL's own exports only; ggml.dll is loaded once by name.
        library = ctypes.CDLL(str(lib_dir / "ggml.dll"))
    library.ggml_backend_reg_count.restype = ctypes.c_size_t
    if library.ggml_backend_reg_count() > 0:
        return "built in"
    loader = library.ggml_backend_load_all_from_path
    loader.argtypes = [ctypes.c_char_p]
    loader.restype = None
    tried = []
    for folder in backend_module_dirs(lib_dir):
        if folder.is_dir():
            tried.append(str(folder))
            loader(os.fsencode(folder))
            if library.ggml_backend_reg_count() > 0:
                log.info("llama.cpp backends loaded from %s", folder)
                return str(folder)
    raise RuntimeError("This llama.cpp was built with dynamic backends (GGML_BACKEND_DL) but "
                       "no backend module (libggml-cpu-*) was found in "
                       + (", ".join(tried) or str(lib_dir)) + ". Reinstall Kefu Assist.")


@dataclass(frozen=True)
class LlamaBuild:
    """What the installed llama.cpp library was built with."""

    version: str
    gpu_offload: bool
    system_info: str
    backends_from: str = "built in"

    @property
    def simd_features(self) -> list[str]:
        """Features the build enabled (``AVX2 = 1`` style entries of llama's system info)."""
        return [name for name, on in re.findall(r"([A-Z0-9_]+) = (\d)", self.system_info)
                if on == "1"]

    @property
    def backend(self) -> str:
        info = self.system_info.upper()
        for name in ("CUDA", "METAL", "VULKAN", "HIP", "SYCL"):
            if name in info:
                return name
        return "CPU"


@lru_cache(maxsize=1)
def llama_build() -> LlamaBuild:
    """Import llama_cpp (slow, so only when needed) and describe its build."""
    import llama_cpp

    lib_dir = Path(os.environ.get("LLAMA_CPP_LIB_PATH")
                   or Path(llama_cpp.__file__).resolve().parent / "lib")
    # llama-cpp-python prints llama.cpp's messages to stderr by its logger's level; ggml
    # reports each backend it loads as a warning ("loaded CPU backend from ..."), which is
    # logged here instead.
    printer = logging.getLogger("llama-cpp-python")
    level = printer.level
    printer.setLevel(logging.ERROR)
    try:
        backends_from = load_backend_modules(llama_cpp.llama_cpp._lib, lib_dir)
    finally:
        printer.setLevel(level)
    raw = llama_cpp.llama_print_system_info()
    info = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return LlamaBuild(version=getattr(llama_cpp, "__version__", "?"),
                      gpu_offload=bool(llama_cpp.llama_supports_gpu_offload()),
                      system_info=info.strip(), backends_from=backends_from)


@dataclass(frozen=True)
class OffloadPlan:
    n_gpu_layers: int
    reason: str  # shown to the user: why the model runs where it runs


def plan_offload(setting: str, build: LlamaBuild) -> OffloadPlan:
    """Turn the ``n_gpu_layers`` setting into a layer count and a reason a person can read."""
    if setting == "auto":
        if build.gpu_offload:
            return OffloadPlan(-1, f"all layers on the GPU ({build.backend} build)")
        return OffloadPlan(0, "CPU only: this llama.cpp build has no GPU backend "
                              "(install a CUDA, Metal or Vulkan build to offload)")
    layers = int(setting)
    if layers == 0:
        return OffloadPlan(0, "CPU only (n_gpu_layers = 0 in settings)")
    if not build.gpu_offload:
        return OffloadPlan(0, f"CPU only: settings ask for {layers} GPU layers but this "
                              f"llama.cpp build has no GPU backend")
    label = "all layers" if layers < 0 else f"{layers} layers"
    return OffloadPlan(layers, f"{label} on the GPU ({build.backend} build)")
