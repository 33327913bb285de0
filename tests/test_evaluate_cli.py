"""vaelab evaluate / classifier train / prior train end to end on tiny shapes runs."""

import json

import pytest

from vaelab.cli import main

DATA = "data: {name: shapes, image_size: 16, num_samples: 400, val: 80}\n"
TRAIN = "train: {epochs: 2, batch_size: 50, progress: false}\n"


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clf") / "shapes"
    argv = ["classifier", "train", "--dataset", "shapes", "image_size=16", "num_samples=400", "val=80", "--epochs", "2", "--out", str(folder)]
    assert main(argv) == 0
    meta = json.loads((folder / "classifier.json").read_text())
    assert len(meta["id"]) == 12 and meta["held_out_accuracy"] is not None
    return folder


def train(tmp_path, model: str) -> str:
    config = tmp_path / "c.yaml"
    config.write_text(DATA + f"model: {model}\n" + TRAIN)
    assert main(["train", str(config), "--out", str(tmp_path / "run")]) == 0
    return str(tmp_path / "run")


def test_evaluate_a_vae_with_every_measure(tmp_path, classifier, capsys):
    run = train(tmp_path, "{name: vae, latent_dim: 3, hidden: [32]}")
    argv = ["evaluate", run, "--k", "8", "-n", "40", "--samples", "40", "--classifier", str(classifier)]
    assert main(argv) == 0
    result = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    lk = result["likelihood"]
    assert lk["is_nll"] <= lk["nelbo"] + 1.0  # k samples tighten the bound (up to noise)
    assert len(result["latent"]["kl_per_dim"]) == 3
    assert 0 <= result["recon"]["mse_per_pixel_01"] <= 1
    assert result["quality"]["classifier"] == result["classifier"]["id"]
    assert 0 <= result["retained"]["cas"] <= 1 and 0 <= result["retained"]["linear_probe"] <= 1
    assert set(result["disentangle"]) >= {"mig", "beta_vae_score", "factor_vae_score"}
    out = capsys.readouterr().out
    assert "IS-NLL (k=8)" in out and "bits/dim" in out and "per pixel, [0, 1] scale" in out
    assert_every_figure_printed(result, out)


def figures(result: dict):
    """(name, value) of every figure in a scorecard: 'section.key' for each key of a section."""
    for section, content in result.items():
        if section == "notes":
            continue
        if isinstance(content, dict):
            yield from ((f"{section}.{key}", value) for key, value in content.items())
        else:
            yield section, content


def assert_every_figure_printed(result: dict, out: str):
    """The CLI prints what the scorecard returns, whatever its keys: each figure on a line of
    its own, with its value, and every note."""
    lines = out.splitlines()
    for name, value in figures(result):
        line = next((ln for ln in lines if ln.split()[:1] == [name]), None)
        assert line is not None, f"{name} not printed"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            assert any(abs(float(tok) - value) <= 1e-4 * max(1.0, abs(value)) for tok in line.split()[1:2]), line
    for note in result["notes"]:
        assert f"note: {note}" in out


def test_evaluate_a_conditional_vae_on_shapes_skips_disentanglement_and_says_why(tmp_path, classifier, capsys):
    run = train(tmp_path, "{name: cvae, latent_dim: 3, hidden: [32]}")
    assert main(["evaluate", run, "--k", "4", "-n", "40", "--samples", "30", "--classifier", str(classifier)]) == 0
    result = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    assert "disentangle" not in result and any("disentanglement" in n for n in result["notes"])
    assert result["retained"]["cas_trained_on"] == "class-conditional samples"
    assert_every_figure_printed(result, capsys.readouterr().out)


def test_vqvae_prior_then_samples_and_evaluation(tmp_path, capsys):
    run = train(tmp_path, "{name: vqvae, channels: [8, 16], res_blocks: 1, num_codes: 16, code_dim: 4}")
    assert main(["sample", run, "-n", "4"]) == 2
    assert "vaelab prior train" in capsys.readouterr().err
    argv = ["prior", "train", run, "train.epochs=1", "train.progress=false", "pixelcnn.channels=8", "pixelcnn.layers=2"]
    assert main(argv) == 0
    assert "bits per code" in capsys.readouterr().out
    assert main(["sample", run, "-n", "4"]) == 0
    assert main(["interpolate", run, "--from", "0", "--to", "1", "--steps", "5"]) == 0
    assert main(["traverse", run]) == 2  # a grid of codes has no latent dimensions to sweep
    capsys.readouterr()
    assert main(["evaluate", run, "-n", "40"]) == 0
    result = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    codebook = result["codebook"]
    assert 0 < codebook["usage"] <= 1 and codebook["grid"] == [4, 4] and codebook["prior_nll"] > 0
    assert "likelihood" not in result and any("posterior q(z|x) to sample" in n for n in result["notes"])
    assert_every_figure_printed(result, capsys.readouterr().out)


def test_a_prior_needs_a_vqvae_run(tmp_path, capsys):
    run = train(tmp_path, "{name: ae, latent_dim: 3, hidden: [32]}")
    assert main(["prior", "train", run]) == 2
    assert "VQ-VAE" in capsys.readouterr().err
