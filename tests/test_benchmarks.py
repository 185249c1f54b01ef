"""The benchmark scripts run and print consistent JSON (tiny workloads; no timing asserted)."""
import json
import os
import statistics
import subprocess
import sys

import pytest

from vipriors.engine.autos import amp_for

pytestmark = pytest.mark.slow
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(script, *args):
    result = subprocess.run([sys.executable, os.path.join(REPO, "benchmarks", script), *args],
                            capture_output=True, text=True, timeout=600, cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def test_mix_benchmark_measures_ours_and_the_peers():
    doc = run("mix.py", "--batch", "4", "--size", "24", "--classes", "10", "--runs", "1")
    assert doc["benchmark"] == "mix" and doc["environment"]["torch"]
    names = [r["name"] for r in doc["results"]]
    assert any(n.startswith("torchvision") for n in names) and any(n.startswith("timm") for n in names)
    cutmix = next(c for c in doc["comparisons"] if c["mode"] == "cutmix")
    assert cutmix["fastest_peer_ms"] == min(r["median_ms"] for r in doc["results"] if r.get("peer") and r["mode"] == "cutmix")
    assert cutmix["speedup_vs_fastest_peer"] == pytest.approx(cutmix["fastest_peer_ms"] / cutmix["ours_fp32_ms"], abs=0.01)
    assert cutmix["ours_fp32_vs_copy"] == pytest.approx(cutmix["ours_fp32_ms"] / cutmix["copy_fp32_ms"], abs=0.001)


def test_train_step_benchmark_counts_flops_and_compares_to_the_plain_path(tmp_path):
    doc = run("train_step.py", "--archs", "pyramidnet56_a48_cifar", "--size", "16", "--batch", "4", "--classes", "10",
              "--variants", "plain,eager+cl+bf16+mix,eager+cl+bf16+mix+cpugrads", "--runs", "3", "--steps", "1",
              "--warmup", "1")
    assert doc["workload"]["flops_per_image_fwd_bwd"]["pyramidnet56_a48_cifar"] > 0
    flops = doc["workload"]["flops_per_image_fwd_bwd"]["pyramidnet56_a48_cifar"]
    matmul = doc["workload"]["matmul_bf16_tflops"]
    assert matmul > 0
    for r in doc["results"]:
        assert r["achieved_tflops"] == pytest.approx(r["images_per_sec"] * flops / 1e12, rel=0.01, abs=1e-4), r
        # The step's share of the matrix-product rate measured in the same run.
        assert r["of_matmul"] == pytest.approx(r["images_per_sec"] * flops / 1e12 / matmul, rel=0.01, abs=1e-4), r
        assert len(r["round_images_per_sec"]) == 3
        assert r["images_per_sec"] == pytest.approx(statistics.median(r["round_images_per_sec"]), abs=0.01)
    rounds = {r["variant"]: r["round_images_per_sec"] for r in doc["results"]}
    assert [c["variant"] for c in doc["comparisons"]] == ["eager+cl+bf16+mix", "eager+cl+bf16+mix+cpugrads"]
    for comparison in doc["comparisons"]:
        # The speedup is the median of the ratios taken within each round, not a ratio of medians.
        assert comparison["baseline"] == "eager+nchw+bf16+timm"
        ratios = [a / b for a, b in zip(rounds[comparison["variant"]], rounds["eager+nchw+bf16+timm"])]
        assert comparison["speedup"] == pytest.approx(statistics.median(ratios), abs=0.001)
        assert comparison["range"] == pytest.approx([min(ratios), max(ratios)], abs=0.001)
    # The rendered table gives each speedup with the range of its rounds.
    folder = tmp_path / "cpu"
    folder.mkdir()
    (folder / "train_step.json").write_text(json.dumps(doc))
    result = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "render_benchmarks.py"), str(folder)],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    low, high = doc["comparisons"][0]["range"]
    shown = f"| {doc['comparisons'][0]['speedup']:.2f}x" + (f" ({low:.2f}-{high:.2f})" if f"{low:.2f}" != f"{high:.2f}" else "")
    assert shown + " |" in result.stdout
    # ... and each step's share of the measured matrix-product rate, the rate itself in the heading.
    assert f"{doc['workload']['matmul_bf16_tflops']:.3f} TFLOP/s" in result.stdout
    assert f"| {100 * doc['results'][0]['of_matmul']:.1f}% |" in result.stdout


def test_cpu_grads_benchmark_times_each_layer_and_the_step_both_ways():
    doc = run("cpu_grads.py", "--arch", "resnet9s_cifar", "--size", "16", "--batch", "4", "--classes", "10",
              "--rounds", "1", "--repeat", "1", "--amp", "off")
    assert doc["benchmark"] == "cpu_grads" and doc["workload"]["dtype"] == "fp32"
    names = [r["name"] for r in doc["results"]]
    # resnet9s at 16 px: its convolutions at 16, 8, 4 and 2 px, each distinct shape once.
    assert names.count("conv 256->256 2x2 weight grad") == 1 and "conv 32->64 16x16 weight grad" in names
    for r in doc["results"]:
        if "onednn_ms" in r:
            assert r["speedup"] == pytest.approx(r["onednn_ms"] / r["product_ms"], rel=0.01), r
            assert r["uses_patch_product"] == (r["positions"] <= doc["workload"]["patch_product_max_positions"])
    rates = {r["name"]: r["images_per_sec"] for r in doc["results"] if "images_per_sec" in r}
    assert doc["comparisons"][0]["ratio"] == pytest.approx(
        rates["training step, use_cpu_grads"] / rates["training step, torch's layers"], abs=0.002)


def test_pipeline_benchmark_measures_ours_and_timm():
    doc = run("pipeline.py", "--images", "64", "--batch", "8", "--batches", "2", "--warmup", "2", "--threads", "1")
    assert doc["benchmark"] == "pipeline"
    for r in doc["results"]:
        assert r["speedup"] == pytest.approx(r["ours_images_per_sec"] / r["timm_images_per_sec"], rel=0.01), r


def test_render_writes_tables_and_the_plot(tmp_path):
    import shutil

    source = os.path.join(REPO, "benchmarks", "results", "cpu")
    folder = tmp_path / "cpu"
    shutil.copytree(source, folder)
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- performance:start -->\nold\n<!-- performance:end -->\noutro\n")
    result = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "render_benchmarks.py"), str(folder),
                             "--readme", str(readme)], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    text = readme.read_text()
    assert "old" not in text and "| cutmix |" in text and "timm create_loader" in text and text.endswith("outro\n")
    assert (folder / "train_step.png").exists()


def test_epoch_benchmark_times_ours_the_plain_loop_and_the_step():
    doc = run("epoch.py", "--images", "40", "--batch", "8", "--size", "16", "--min-size", "8", "--step-size", "8",
              "--epochs", "10", "--policy", "randaugment", "--threads", "1")
    assert doc["benchmark"] == "epoch" and doc["workload"]["images"] == 40 and doc["workload"]["threads"] == 1
    assert doc["workload"]["rounds"] == 1 and not any("range" in r for r in doc["results"] + doc["comparisons"])
    assert doc["workload"]["amp"] == amp_for("auto", "cpu"), "every loop at the trainer's own choice for this CPU"
    rates = {r["name"]: r["images_per_sec"] for r in doc["results"]}
    assert set(rates) == {"step alone", "plain loop", "ours at 8px", "ours at 16px", "ours on --data synthetic",
                          "ours with randaugment from the files", "ours with randaugment in memory"}
    ratios = {c["name"]: c for c in doc["comparisons"]}
    assert ratios["ours full size vs plain loop"]["ratio"] == pytest.approx(
        rates["ours at 16px"] / rates["plain loop"], abs=0.01)
    # The schedule of 10 epochs from 8 px, ramp 0.2-0.8: 8 px in 5 epochs, 16 px in 5.
    assert ratios["randaugment: in memory vs from the files"]["ratio"] == pytest.approx(
        rates["ours with randaugment in memory"] / rates["ours with randaugment from the files"], abs=0.01)
    average = ratios["ours progressive average vs plain loop"]["average_images_per_sec"]
    assert average == pytest.approx(10 / (5 / rates["ours at 8px"] + 5 / rates["ours at 16px"]), rel=0.01)


def test_epoch_benchmark_in_rounds_reports_medians_and_ranges(tmp_path):
    doc = run("epoch.py", "--images", "20", "--batch", "4", "--size", "16", "--min-size", "8", "--step-size", "8",
              "--epochs", "10", "--threads", "1", "--rounds", "3", "--out", str(tmp_path / "epoch.json"))
    assert doc["workload"]["rounds"] == 3
    assert [r["name"] for r in doc["results"]] == ["step alone", "plain loop", "ours on --data synthetic",
                                                    "ours at 8px", "ours at 16px"]
    for entry in doc["results"]:
        low, high = entry["range"]
        assert low <= entry["images_per_sec"] <= high, entry
    for entry in doc["comparisons"]:
        low, high = entry["range"]
        assert low <= entry["ratio"] <= high, entry
    # Each ratio is the median of the ratios within a round, which the medians' ratio need not equal,
    # but it cannot leave the range the rounds' own figures allow.
    rates = {r["name"]: r for r in doc["results"]}
    full = next(c for c in doc["comparisons"] if c["name"] == "ours full size vs plain loop")
    assert rates["ours at 16px"]["range"][0] / rates["plain loop"]["range"][1] <= full["ratio"] <= \
        rates["ours at 16px"]["range"][1] / rates["plain loop"]["range"][0]
    sys.path.insert(0, os.path.join(REPO, "scripts"))
    import render_benchmarks

    table = "\n".join(render_benchmarks.epoch_table(doc))
    assert "median of 3 rounds" in table and "| range over the rounds |" in table
    low, high = full["range"]
    assert f"| {full['ratio']:.2f}x | {low:.2f}-{high:.2f}x |" in table


def test_epoch_benchmark_times_autoaugment_in_dali_and_in_torch():
    doc = run("epoch.py", "--images", "40", "--batch", "8", "--size", "16", "--min-size", "16", "--epochs", "2",
              "--policy", "autoaugment", "--threads", "1")
    rates = {r["name"]: r["images_per_sec"] for r in doc["results"]}
    ratios = {c["name"]: c["ratio"] for c in doc["comparisons"]}
    assert ratios["autoaugment in memory: in torch vs in DALI"] == pytest.approx(
        rates["ours with autoaugment in memory, in torch"] / rates["ours with autoaugment in memory"], abs=0.01)


def test_policy_benchmark_times_dali_and_torch_on_the_same_crops(tmp_path):
    doc = run("policy.py", "--images", "48", "--size", "16", "--sizes", "8,16", "--batch", "8", "--pipeline-batch", "16",
              "--threads", "1", "--rounds", "2", "--out", str(tmp_path / "policy.json"))
    assert doc["benchmark"] == "policy" and doc["workload"]["sizes"] == [8, 16]
    rates = {r["name"]: r for r in doc["results"]}
    ways = ["crops and flips alone", "policy in DALI", "policy in DALI, DALI's operators", "policy in torch"]
    assert list(rates) == [f"{way} at {size}px" for size in (8, 16) for way in ways]
    assert [r["name"] for r in doc["results"] if r.get("peer")] == ["policy in DALI at 8px", "policy in DALI at 16px"]
    for c in doc["comparisons"]:
        low, high = c["range"]
        assert low <= c["ratio"] <= high, c
        size = c["name"].rsplit(" at ", 1)[1]
        peer = c["name"].split(" vs ", 1)[1].rsplit(" at ", 1)[0]
        torch_rate, peer_rate = rates[f"policy in torch at {size}"], rates[f"{peer} at {size}"]
        assert torch_rate["range"][0] / peer_rate["range"][1] - 0.01 <= c["ratio"] <= \
            torch_rate["range"][1] / peer_rate["range"][0] + 0.01
    sys.path.insert(0, os.path.join(REPO, "scripts"))
    import render_benchmarks

    table = "\n".join(render_benchmarks.policy_table(doc))
    first = doc["comparisons"][0]
    assert "median of 2 rounds" in table and f"| {first['name']} | {first['ratio']:.2f}x |" in table


@pytest.mark.parametrize("flag,value,words", [("--threads", "0", "--threads 0: give at least 1"),
                                              ("--sizes", "8,64", "--sizes 8,64: each size from 1 to --size 32")])
def test_policy_benchmark_refuses_bad_flags_before_any_work(flag, value, words):
    result = subprocess.run([sys.executable, os.path.join(REPO, "benchmarks", "policy.py"), flag, value],
                            capture_output=True, text=True, timeout=600, cwd=REPO)
    assert result.returncode == 2 and words in result.stderr and not result.stdout


@pytest.mark.parametrize("flag", ["--threads", "--rounds"])
def test_epoch_benchmark_refuses_nothing_to_run_before_any_work(flag):
    result = subprocess.run([sys.executable, os.path.join(REPO, "benchmarks", "epoch.py"), flag, "0"],
                            capture_output=True, text=True, timeout=600, cwd=REPO)
    assert result.returncode == 2 and f"{flag} 0: give at least 1" in result.stderr and not result.stdout


def test_a_cpus_bf16_instructions_are_recorded_and_named_in_the_tables():
    sys.path.insert(0, os.path.join(REPO, "benchmarks"))
    sys.path.insert(0, os.path.join(REPO, "scripts"))
    import common
    import render_benchmarks

    env = common.environment(__import__("torch").device("cpu"))
    assert set(env["cpu_bf16_instructions"]) <= {"AVX512-BF16", "AMX"}
    base = {"cpu": "Some CPU", "cpu_cores": 2, "torch": "2.14.1"}
    assert render_benchmarks.machine({**base, "cpu_bf16_instructions": []}) == \
        "Some CPU (no bf16 instructions), 2 cores, no GPU (torch 2.14.1)"
    assert render_benchmarks.machine({**base, "cpu_bf16_instructions": ["AVX512-BF16", "AMX"]}).startswith(
        "Some CPU (AVX512-BF16 and AMX), 2 cores")
    assert render_benchmarks.machine(base) == "Some CPU, 2 cores, no GPU (torch 2.14.1)"  # files recorded before
