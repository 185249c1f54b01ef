"""scripts/device_check.sh in its dry mode (no GPU here): every step runs and reports."""
import json
import os
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_dry_run_completes_every_step(tmp_path):
    import sys

    env = dict(os.environ, OUT=str(tmp_path), PYTHON=sys.executable, BUDGET="1500")
    result = subprocess.run(["bash", os.path.join(REPO, "scripts", "device_check.sh"), "--dry-run"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=1500)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert result.returncode == 0, result.stdout[-3000:]
    assert summary["dry_run"] == 1
    assert [s["step"] for s in summary["steps"]] == ["environment", "build", "mix_benchmark", "train_step", "trainer",
                                                     "trainer_resume"]
    assert all(s["status"] == "ok" for s in summary["steps"])
    assert json.loads((tmp_path / "mix.json").read_text())["benchmark"] == "mix"
    assert list((tmp_path / "build" / "vipriors").glob("_C*.so")), "the build step produced no extension"
    files = sorted(p.name for p in tmp_path.iterdir() if p.is_file())
    assert files == ["device-check.log", "mix.json", "summary.json", "train_step.json", "trainer.jsonl"]  # <= 8 return
    # The trainer ran its epoch, then the resume ran one more from its checkpoint.
    log = [json.loads(line) for line in (tmp_path / "trainer.jsonl").read_text().splitlines()]
    log = [e for e in log if e["event"] != "warning"]  # a crowded machine's warnings aside
    assert [e["event"] for e in log] == ["start", "epoch", "end", "start", "epoch", "end"]
    assert log[3]["start_epoch"] == 1 and all(e["images_per_sec"] > 0 for e in log if e["event"] == "epoch")
    assert not (tmp_path / ".runs").exists()
    assert "== mix_benchmark" in (tmp_path / "device-check.log").read_text()


def test_every_step_is_capped_by_the_budget(tmp_path):
    import sys

    env = dict(os.environ, OUT=str(tmp_path), PYTHON=sys.executable, BUDGET="5")
    result = subprocess.run(["bash", os.path.join(REPO, "scripts", "device_check.sh"), "--dry-run"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert result.returncode == 0 and summary["budget_seconds"] == 5
    assert {s["status"] for s in summary["steps"]} == {"skipped"}
