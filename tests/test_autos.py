"""What --amp auto resolves to: bf16 only where the device computes in it natively."""
import pytest
import torch

from vipriors.engine import autos


@pytest.mark.parametrize("avx512_bf16, amx, expected", [
    (True, False, "bf16"), (False, True, "bf16"), (True, True, "bf16"),
    # Plain AVX-512: oneDNN still says bf16 is supported (it converts around every operation,
    # several times slower than float32), so its answer must not decide.
    (False, False, "off"),
])
def test_amp_auto_on_a_cpu_takes_bf16_only_with_bf16_instructions(avx512_bf16, amx, expected, monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True, raising=False)
    assert autos.amp_for("auto", "cpu") == expected


def test_without_torchs_cpu_probes_onednn_decides(monkeypatch):
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported", raising=False)
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported", raising=False)
    for answer, expected in ((True, "bf16"), (False, "off")):
        monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda answer=answer: answer, raising=False)
        assert autos.amp_for("auto", "cpu") == expected


@pytest.mark.parametrize("requested", ["bf16", "fp16", "off"])
def test_an_explicit_amp_is_kept(requested, monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    assert autos.amp_for(requested, "cpu") == requested
