"""Builds vipriors, its extension vipriors._C and its DALI plugin vipriors._dali_plugin.

C++ CPU kernels are always built. CUDA kernels are built whenever a CUDA toolkit and a
CUDA build of torch are present, even on a machine without a GPU; set VIPRIORS_CPU_ONLY=1
to skip them. TORCH_CUDA_ARCH_LIST defaults to "8.0;9.0" (A100, H100/H200).

`python setup.py develop` installs in editable mode against the torch of the current
environment (setuptools >= 80 turned `develop` into `pip install -e .`, which by default
builds in an isolated environment without torch; we pass --no-build-isolation).
"""
import glob
import importlib.util
import os
import subprocess
import sys

from setuptools import find_packages, setup
from setuptools.command.develop import develop as _develop

ROOT = os.path.dirname(os.path.abspath(__file__))


def _load_build_env():
    spec = importlib.util.spec_from_file_location("_vipriors_build_env", os.path.join(ROOT, "vipriors", "build_env.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _requirements():
    with open(os.path.join(ROOT, "requirements.txt")) as f:
        lines = (line.split("#", 1)[0].strip() for line in f)
        return [line for line in lines if line]


class develop(_develop):
    """Editable install that builds against the torch already installed here."""

    def run(self):
        cmd = [sys.executable, "-m", "pip", "install", "--no-build-isolation", "-e", ROOT]
        cmd += ["--no-deps"] * bool(self.no_deps)
        cmd += ["--user"] * bool(self.user)
        cmd += ["--prefix", self.prefix] * bool(self.prefix)
        cmd += ["--index-url", self.index_url] * bool(self.index_url)
        subprocess.check_call(cmd, cwd=ROOT)


def _extension_modules():
    try:
        import torch
    except ImportError:
        sys.exit(
            "vipriors: building the extension needs torch in this environment, and none was found.\n"
            "  Install the requirements first:  pip install -r requirements.txt\n"
            "  then build without pip's isolated build env:  python setup.py develop\n"
            "  (or: pip install --no-build-isolation -e .)"
        )
    build_env = _load_build_env()
    cuda_home = None
    if build_env.cpu_only_requested():
        print(f"vipriors: {build_env.CPU_ONLY_ENV} set, building CPU kernels only")
    elif torch.version.cuda is None:
        print("vipriors: torch is a CPU-only build, building CPU kernels only")
    else:
        cuda_home = build_env.find_cuda_home()
        if cuda_home is None:
            print("vipriors: no CUDA toolkit found (set CUDA_HOME), building CPU kernels only")
        else:
            os.environ["CUDA_HOME"] = cuda_home  # read by cpp_extension at import time
            os.environ.setdefault("TORCH_CUDA_ARCH_LIST", build_env.DEFAULT_ARCH_LIST)
            print(f"vipriors: CUDA kernels with {cuda_home} for arch {os.environ['TORCH_CUDA_ARCH_LIST']}")

    from torch.utils.cpp_extension import BuildExtension, CppExtension, CUDAExtension

    sources = sorted(glob.glob("csrc/*.cpp")) + sorted(glob.glob("csrc/cpu/*.cpp"))
    # The C++ standard is the one torch's headers ask for. No FMA contraction, on either
    # compiler: the kernels (csrc/mix_semantics.h, shared by both) must round exactly like
    # their PyTorch references (mul, then add), and so like each other.
    cxx_flags = ["-O3", "-fopenmp", "-ffp-contract=off"]
    extension, extra = CppExtension, {"cxx": cxx_flags}
    define_macros, include_dirs = [], []
    if cuda_home is not None:
        sources += sorted(glob.glob("csrc/cuda/*.cu"))
        extension = CUDAExtension
        extra = {"cxx": cxx_flags, "nvcc": ["-O3", "--expt-relaxed-constexpr", "--fmad=false"]}
        include_dirs += build_env.pip_cuda_include_dirs()
        define_macros.append(("VIPRIORS_WITH_CUDA", None))
    module = extension(
        "vipriors._C",
        sources,
        extra_compile_args=extra,
        extra_link_args=["-fopenmp"],
        define_macros=define_macros,
        include_dirs=include_dirs,
        py_limited_api=False,
    )
    modules = [module] + [m for m in [_dali_plugin(build_env, CppExtension)] if m is not None]
    return modules, {"build_ext": BuildExtension.with_options(use_ninja=True), "develop": develop}


def _dali_plugin(build_env, CppExtension):
    """vipriors._dali_plugin: our DALI operators (csrc/dali), loaded by DALI's plugin manager,
    not imported. Built where DALI and the CUDA headers (which DALI's own headers include)
    are found; without it the CPU pipeline uses DALI's resize (vipriors.data.dali_plugin)."""
    try:
        from nvidia.dali import sysconfig as dali_sysconfig
    except ImportError:
        print("vipriors: DALI is not installed here, the DALI plugin is not built")
        return None
    cuda_home = build_env.find_cuda_home()
    if cuda_home is None or not os.path.exists(os.path.join(cuda_home, "include", "cuda_runtime.h")):
        print("vipriors: no CUDA headers found (DALI's headers include them; set CUDA_HOME), the DALI plugin is not built")
        return None
    flags = dali_sysconfig.get_compile_flags()
    dali_lib = dali_sysconfig.get_lib_dir()
    print(f"vipriors: DALI plugin against {dali_lib}")
    return CppExtension(
        "vipriors._dali_plugin",
        sorted(glob.glob("csrc/dali/*.cpp")),
        include_dirs=[f[2:] for f in flags if f.startswith("-I")] + [os.path.join(cuda_home, "include")],
        extra_compile_args=["-O3"] + [f for f in flags if not f.startswith("-I")],
        library_dirs=[dali_lib],
        libraries=["dali"],
        runtime_library_dirs=[dali_lib],
        py_limited_api=False,
    )


ext_modules, cmdclass = _extension_modules()

setup(
    name="vipriors",
    version="0.1.0",
    description="Fast data-efficient image classification from scratch (VIPriors method): "
    "DALI pipeline, fused C++/CUDA mixing kernels, compiled AMP trainer.",
    python_requires=">=3.10",
    packages=find_packages(include=["vipriors", "vipriors.*"]),
    install_requires=_requirements(),
    ext_modules=ext_modules,
    cmdclass=cmdclass,
)
