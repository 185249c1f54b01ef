import os

from vipriors import build_env


def fake_toolkit(root):
    (root / "bin").mkdir(parents=True)
    (root / "include").mkdir()
    (root / "bin" / "nvcc").write_text("#!/bin/sh\n")
    (root / "bin" / "nvcc").chmod(0o755)
    (root / "include" / "cuda_runtime.h").write_text("")
    return root


def test_wrapper_on_path_is_not_taken_for_the_toolkit(tmp_path):
    toolkit = fake_toolkit(tmp_path / "cuda-13.0")
    wrapper_bin = tmp_path / "usr-local" / "bin"
    wrapper_bin.mkdir(parents=True)
    (wrapper_bin / "nvcc").write_text(f"#!/bin/sh\nexec {toolkit}/bin/nvcc \"$@\"\n")
    (wrapper_bin / "nvcc").chmod(0o755)
    environ = {"PATH": str(wrapper_bin), "CUDA_HOME": str(tmp_path / "usr-local"), "CUDA_PATH": str(toolkit)}
    assert build_env.find_cuda_home(environ) == os.path.realpath(toolkit)


def test_symlinked_nvcc_leads_to_its_toolkit(tmp_path):
    toolkit = fake_toolkit(tmp_path / "cuda-13.0")
    links = tmp_path / "links"
    links.mkdir()
    (links / "nvcc").symlink_to(toolkit / "bin" / "nvcc")
    assert build_env.find_cuda_home({"PATH": str(links)}) == os.path.realpath(toolkit)


def test_cpu_only_switch():
    assert build_env.cpu_only_requested({"VIPRIORS_CPU_ONLY": "1"})
    assert not build_env.cpu_only_requested({"VIPRIORS_CPU_ONLY": "0"})
    assert not build_env.cpu_only_requested({})
