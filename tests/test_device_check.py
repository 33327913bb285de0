"""benchmarks/device_check.py on the CPU, at tiny sizes, so that the one command meant for
the rare GPU machine cannot rot between its runs: every section is in its JSON, the
ratios are numbers, and a budget too small for anything skips sections instead of
failing them. No timing is asserted."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("device", "gpu_tests", "matmul_peak", "models", "pixelcnn_sampling", "transformer_prior")
MODELS, PRECISIONS = ("mlp_vae", "conv_vae", "vqvae"), ("fp32", "bf16")


def device_check(tmp_path: Path, budget: float) -> tuple[dict, str]:
    out = tmp_path / "r.json"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "device_check.py"), "--device", "cpu",
                           "--budget", str(budget), "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(out.read_text()), done.stdout


def positive(value) -> bool:
    return isinstance(value, float) and math.isfinite(value) and value > 0


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    return device_check(tmp_path_factory.mktemp("device_check"), budget=60)


def test_every_section_is_done_on_the_cpu(report):
    result, stdout = report
    assert all(name in result for name in SECTIONS)
    assert result["device"]["status"] == "done" and result["device"]["type"] == "cpu" and result["device"]["torch"]
    tests = result["gpu_tests"]
    assert tests["status"] == "done" and tests["skipped"] > 0 and tests["passed"] == tests["failed"] == 0  # no GPU here
    assert "tests/test_gpu.py" in tests["files"]
    assert result["matmul_peak"]["status"] == "done" and positive(result["matmul_peak"]["bf16_flop_per_s"])
    sampling = result["pixelcnn_sampling"]
    assert sampling["status"] == "done" and sampling["grids"] == 64 and positive(sampling["device_generator_seconds"])
    assert result["transformer_prior"]["status"] == "not built"
    assert "| mlp_vae | bf16 |" in stdout and "| transformer_prior | not built |" in stdout  # the table


def test_each_model_is_timed_against_the_bare_loop_in_fp32_and_bf16(report):
    models = report[0]["models"]
    for name in MODELS:
        for precision in PRECISIONS:
            cell = models[name][precision]
            assert cell["status"] == "done", (name, precision, cell)
            for key in ("time_ratio_median", "time_ratio_min", "bare_ms_per_step", "vaelab_ms_per_step",
                        "gflop_per_step", "vaelab_fraction_of_bf16_peak", "bare_fraction_of_bf16_peak"):
                assert positive(cell[key]), (name, precision, key, cell[key])
            assert cell["time_ratio_min"] <= cell["time_ratio_median"] and cell["rounds"] >= 1


def test_a_budget_too_small_skips_sections_instead_of_failing_them(tmp_path):
    result, _ = device_check(tmp_path, budget=1)
    assert all(name in result for name in SECTIONS)
    for name in ("gpu_tests", "matmul_peak", "pixelcnn_sampling"):
        assert result[name]["status"] == "skipped (budget)", (name, result[name])
    assert {result["models"][m][p]["status"] for m in MODELS for p in PRECISIONS} == {"skipped (budget)"}
    assert result["device"]["status"] == "done" and result["transformer_prior"]["status"] == "not built"
