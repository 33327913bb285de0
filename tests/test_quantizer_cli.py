"""Every quantizer of the family through the command line: train, prior, sample,
evaluate, report (or a one-line refusal where a step does not apply yet)."""

import json

import pytest

from vaelab.cli import main

DATA = "data: {name: shapes, image_size: 16, num_samples: 300, val: 60}\n"
TRAIN = "train: {epochs: 1, batch_size: 50, progress: false}\n"
NET = "name: vqvae, channels: [8, 16], res_blocks: 1, code_dim: 4"
QUANTIZERS = {
    "fsq": "quantizer: {name: fsq, levels: [4, 3]}",  # num_codes follows the levels: 12
    "gumbel": "quantizer: {name: gumbel, temperature_steps: 6}, num_codes: 16",
    "cosine": "quantizer: {name: cosine, codebook_dim: 3}, num_codes: 16",
    "rotation": "quantizer: ema, gradient: rotation, num_codes: 16",  # as vaelab wrote it before sections: flat
}


def train(tmp_path, model: str) -> str:
    config = tmp_path / "c.yaml"
    config.write_text(DATA + "model: {" + NET + ", " + model + "}\n" + TRAIN)
    assert main(["train", str(config), "--out", str(tmp_path / "run")]) == 0
    return str(tmp_path / "run")


@pytest.mark.parametrize("name", sorted(QUANTIZERS))
def test_a_quantizer_run_gets_a_prior_samples_an_evaluation_and_a_report(tmp_path, name, capsys):
    run = train(tmp_path, QUANTIZERS[name])
    argv = ["prior", "train", run, "train.epochs=1", "train.progress=false", "pixelcnn.channels=8", "pixelcnn.layers=2"]
    assert main(argv) == 0
    assert main(["sample", run, "-n", "4"]) == 0
    assert main(["evaluate", run, "-n", "40"]) == 0
    codebook = json.loads((tmp_path / "run" / "evaluation.json").read_text())["codebook"]
    assert 0 < codebook["usage"] <= 1 and codebook["grid"] == [4, 4] and codebook["prior_nll"] > 0
    assert main(["report", run, "-o", str(tmp_path / "report.html")]) == 0
    assert "codes used" in (tmp_path / "report.html").read_text()  # the codebook scores are in the report


def test_a_residual_run_gets_a_prior_over_its_stacked_codes(tmp_path, capsys):
    run = train(tmp_path, "quantizer: {name: residual, num_quantizers: 2}, num_codes: 8")
    argv = ["prior", "train", run, "train.epochs=1", "train.progress=false", "pixelcnn.channels=8", "pixelcnn.layers=1"]
    assert main(argv) == 0
    assert "bits per code (32 codes)" in capsys.readouterr().out  # 2 stages x a 4x4 grid
    assert main(["sample", run, "-n", "4"]) == 0
    assert main(["evaluate", run, "-n", "40"]) == 0
    codebook = json.loads((tmp_path / "run" / "evaluation.json").read_text())["codebook"]
    assert codebook["num_codes"] == 16 and 0 < codebook["usage"] <= 1  # both stages' codewords counted
    assert codebook["prior_nll"] > 0
    assert main(["report", run, "-o", str(tmp_path / "report.html")]) == 0
