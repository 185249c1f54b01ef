"""The trainer's warning when other processes hold the cores its torch threads expect."""
import json
import os
import subprocess
import sys

import pytest
import torch

from vipriors import config as cfg
from vipriors.engine import cpu_share
from vipriors.engine.trainer import train

STAT_BEFORE = """cpu  900 0 100 1000 0 0 0 0 0 0
cpu0 100 0 0 100 0 0 0 0 0 0
cpu1 50 0 0 150 0 0 0 0 0 0
cpu2 0 0 0 200 0 0 0 0 0 0
intr 1 2 3
"""
# cpu0: 50 user + 10 system of 100 new jiffies; cpu1: 30 iowait + 70 idle (free time);
# cpu2 is outside the measured set and fully busy.
STAT_AFTER = """cpu  9999 0 999 9999 0 0 0 0 0 0
cpu0 150 0 10 140 0 0 0 0 0 0
cpu1 50 0 0 220 30 0 0 0 0 0
cpu2 100 0 0 200 0 0 0 0 0 0
intr 1 2 3
"""


def fake_stat(tmp_path, monkeypatch):
    path = tmp_path / "stat"
    path.write_text(STAT_BEFORE)
    monkeypatch.setattr(cpu_share.time, "sleep", lambda seconds: path.write_text(STAT_AFTER))
    return str(path)


def test_busy_cores_counts_the_measured_cores_busy_time(tmp_path, monkeypatch):
    path = fake_stat(tmp_path, monkeypatch)
    # 60 busy of 200 jiffies on two cores: 0.6 of a core; iowait counts as free.
    assert cpu_share.busy_cores(0.1, {0, 1}, path) == pytest.approx(0.6)
    path = fake_stat(tmp_path, monkeypatch)
    assert cpu_share.busy_cores(0.1, {2}, path) == pytest.approx(1.0)


def test_busy_cores_says_nothing_where_proc_stat_cannot_tell(tmp_path, monkeypatch):
    path = fake_stat(tmp_path, monkeypatch)
    assert cpu_share.busy_cores(0.1, {7}, path) is None  # no line for the core
    assert cpu_share.busy_cores(0.1, {0}, str(tmp_path / "missing")) is None


def test_the_warning_asks_for_the_free_cores():
    message = cpu_share.crowding_warning(threads=2, cores=2, busy=1.0)
    assert "1.0 of this machine's 2 cores busy" in message and "OMP_NUM_THREADS=1" in message
    assert "--jobs" in message
    assert "OMP_NUM_THREADS=6" in cpu_share.crowding_warning(threads=8, cores=8, busy=1.7)
    assert cpu_share.crowding_warning(threads=2, cores=2, busy=0.3) is None  # background noise
    assert cpu_share.crowding_warning(threads=1, cores=2, busy=2.0) is None  # one thread waits on nobody
    assert cpu_share.crowding_warning(threads=2, cores=2, busy=None) is None
    assert cpu_share.check(threads=1) is None


@pytest.mark.skipif(not os.path.exists(cpu_share.STAT) or not hasattr(os, "sched_setaffinity"),
                    reason="needs Linux's /proc/stat and CPU affinity")
def test_a_spinning_process_on_the_core_is_measured_busy():
    core = min(cpu_share.this_process_cores())
    spinner = subprocess.Popen([sys.executable, "-c", f"import os; os.sched_setaffinity(0, {{{core}}})\nwhile True: pass"])
    try:
        assert cpu_share.busy_cores(0.5) is not None  # let the spinner start
        assert cpu_share.busy_cores(0.5, {core}) > 0.7
    finally:
        spinner.kill()
        spinner.wait()


@pytest.mark.slow
def test_a_crowded_cpu_training_warns_in_its_output_and_log(builtin_cache, tmp_path, monkeypatch, capsys):
    threads = torch.get_num_threads()
    monkeypatch.setattr(cpu_share, "busy_cores", lambda seconds, cores: float(len(cores)))
    torch.set_num_threads(2)
    try:
        args = ["--arch", "resnet10t", "--image-size", "32", "--epochs", "1", "--output-dir", str(tmp_path),
                "--name", "crowded"]
        summary = train(cfg.resolve(cfg.cli_overrides(cfg.build_parser("t").parse_args(args))))
    finally:
        torch.set_num_threads(threads)
    assert "warning: other processes keep" in capsys.readouterr().out
    with open(os.path.join(summary["run_dir"], "log.jsonl")) as f:
        warnings = [e for e in map(json.loads, f) if e["event"] == "warning"]
    assert len(warnings) == 1 and "OMP_NUM_THREADS=1" in warnings[0]["message"]
