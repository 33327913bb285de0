"""Every model of the second VAE generation through the command line on a tiny shapes run:
train, evaluate, plot, traverse, report; what does not apply is refused or noted, with
the reason."""

import json

import pytest
import yaml

from vaelab.cli import main

DATA = {"name": "shapes", "image_size": 16, "num_samples": 200, "val": 40, "binarize": "static"}
TRAIN = {"epochs": 2, "batch_size": 40, "progress": False}
MODELS = {
    "iwae": {"name": "vae", "hidden": [32], "latent_dim": 3, "iw_samples": 4},
    "vamp": {"name": "vae", "hidden": [32], "latent_dim": 3, "prior": "vamp", "pseudo_inputs": 10},
    "free-bits": {"name": "vae", "hidden": [32], "latent_dim": 3, "free_bits": 0.5},
    "hvae": {"name": "hvae", "hidden": [32], "latent_dims": [4, 2], "ladder_hidden": 16},
    "beta-tcvae": {"name": "beta-tcvae", "hidden": [32], "latent_dim": 3},
    "factorvae": {"name": "factorvae", "hidden": [32], "latent_dim": 3, "critic_hidden": 16, "critic_layers": 2},
    "oi-vae": {"name": "oi-vae", "hidden": [32], "latent_dim": 3, "patch_size": 8, "group_hidden": 8},
}


@pytest.mark.parametrize("which", list(MODELS))
def test_every_verb_works_on_the_model_or_says_why_not(which, tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"data": DATA, "model": MODELS[which], "train": TRAIN}))
    run = tmp_path / "run"
    assert main(["-q", "train", str(config), "--out", str(run)]) == 0
    assert main(["-q", "evaluate", str(run), "-n", "20", "--k", "8", "--samples", "20"]) == 0
    result = json.loads((run / "evaluation.json").read_text())
    assert result["likelihood"]["is_nll"] > 0 and result["latent"]["active_units"] >= 0
    assert result["likelihood"]["kl_estimate"] in ("closed form", "monte carlo")
    assert main(["-q", "traverse", str(run), "--out", str(tmp_path / "t.png")]) == 0
    assert main(["-q", "plot", str(run)]) == 0
    assert main(["-q", "report", str(run), "--out", str(tmp_path / "r.html")]) == 0
    capsys.readouterr()
    groups = main(["-q", "plot", str(run), "groups"])
    if which == "oi-vae":
        assert groups == 0 and (run / "latent_groups.png").is_file()
    else:  # asked for by name on a model without groups: one line, exit 2
        assert groups == 2 and "groups of observed variables" in capsys.readouterr().err
