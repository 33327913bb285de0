"""vaelab from Python: save and load like the hub libraries, train on your own tensors under
the command line's rules, and never evaluate a run on data it was not trained on."""

import json
import subprocess
import sys
import textwrap

import pytest
import torch

import vaelab
from vaelab.cli import main
from vaelab.config import DataConfig, RunConfig, TrainConfig
from vaelab.data import DataSplits, ImageDataset
from vaelab.data.given import data_record, given_dataset
from vaelab.errors import DataError, RunError
from vaelab.models import build_model, config_class
from vaelab.models.priors import PixelCNNConfig
from vaelab.models.quantizers import quantizer_section
from vaelab.run_files import LAST, read_metadata

SHAPE = (1, 12, 12)


def small_vae():
    return config_class("vae")(latent_dim=2, hidden=[16])


def digits(n=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, *SHAPE), dtype=torch.uint8, generator=g), torch.randint(0, 4, (n,), generator=g)


def quick(cfg_model=None, **data):
    return RunConfig(data=DataConfig(**data), model=cfg_model or small_vae(),
                     train=TrainConfig(epochs=1, batch_size=16, progress=False))


def test_save_pretrained_writes_a_folder_that_load_opens_with_the_same_weights(tmp_path):
    torch.manual_seed(0)
    model = build_model(small_vae(), SHAPE)
    folder = model.save_pretrained(tmp_path / "vae")
    assert sorted(p.name for p in folder.iterdir()) == ["config.yaml", LAST]
    again = vaelab.load(folder)
    assert again.config == model.config
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    assert read_metadata(folder / LAST)["data_shape"] == list(SHAPE)


def test_a_vqvae_is_saved_with_its_code_prior_and_samples_after_loading(tmp_path):
    cfg = config_class("vqvae")(channels=[8], res_blocks=0, num_codes=8, code_dim=2,
                                quantizer=quantizer_section("ema", kmeans_init=False))
    model = build_model(cfg, (1, 8, 8))
    model.attach_prior(model.make_prior(PixelCNNConfig(channels=8, layers=1)))
    folder = model.save_pretrained(tmp_path / "vq")
    again = vaelab.load(folder)
    assert again.can_sample
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    assert torch.equal(again.sample(2, generator=g()), model.eval().sample(2, generator=g()))


def test_a_saved_folder_opens_in_a_new_process_without_vaelabs_training_code(tmp_path):
    torch.manual_seed(0)
    build_model(small_vae(), SHAPE).save_pretrained(tmp_path / "vae")
    script = textwrap.dedent(f"""
        import sys, vaelab
        model = vaelab.load({str(tmp_path / 'vae')!r})
        print(tuple(model.sample(3).shape), 'vaelab.training' in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[0] == "(3, 1, 12, 12) False"


@pytest.mark.parametrize("make", [
    lambda x, y: x,                                   # uint8 [N, C, H, W]
    lambda x, y: x.float() / 255,                     # float in [0, 1]
    lambda x, y: x[:, 0],                             # [N, H, W]: one channel
])
def test_your_tensors_become_the_same_uint8_images(make):
    x, y = digits()
    data = given_dataset(make(x, y), labels=y)
    assert data.images.dtype == torch.uint8 and torch.equal(data.images, x) and torch.equal(data.labels, y)


def test_a_torch_dataset_of_pairs_brings_its_labels():
    x, y = digits()
    data = given_dataset(torch.utils.data.TensorDataset(x.float() / 255, y))
    assert torch.equal(data.images, x) and torch.equal(data.labels, y) and data.name == "TensorDataset"


@pytest.mark.parametrize("bad, message", [
    (lambda x: x.float(), "float images must lie in [0, 1], got values in [0, 255]"),
    (lambda x: x.float() / 255 * float("nan"), "float images must lie in [0, 1]"),
    (lambda x: x.int(), "images must be uint8 (0..255) or float in [0, 1], got torch.int32"),
    (lambda x: x[0, 0, 0], "images must be [N, C, H, W] (or [N, H, W]), got [12]"),
    (lambda x: x.tolist(), "data must be a tensor of images, an ImageDataset or a torch Dataset, not a list"),
])
def test_data_that_are_not_images_are_refused_in_one_line(bad, message):
    with pytest.raises(DataError) as info:
        given_dataset(bad(digits()[0]))
    assert str(info.value).startswith(message)


def test_the_data_record_tells_whether_data_are_the_same():
    x, y = digits()
    splits = DataSplits(given_dataset(x[:30], y[:30]), given_dataset(x[30:], y[30:]))
    record = data_record(splits)
    assert record["train"] == [30, *SHAPE] and record["held_out"] == [10, *SHAPE] and record["labels"]
    changed = x.clone()
    changed[35, 0, 0, 0] ^= 1  # one bit of one held-out pixel
    assert data_record(DataSplits(given_dataset(changed[:30], y[:30]), given_dataset(changed[30:], y[30:])))["sha256"] \
        != record["sha256"]
    assert data_record(splits) == record


def test_training_on_tensors_holds_out_as_the_config_says_and_records_the_data(tmp_path):
    x, y = digits()
    result = vaelab.train(quick(val=10), tmp_path / "run", data=x, labels=y)
    meta = read_metadata(tmp_path / "run" / LAST)
    assert meta["data"]["name"] == "tensors" and meta["data"]["train"] == [30, *SHAPE]
    assert meta["data"]["held_out"] == [10, *SHAPE]
    assert vaelab.run_config(tmp_path / "run").data.name == "none"
    assert "val/loss" in result.history[-1]


def test_commands_refuse_a_run_whose_data_came_from_python(tmp_path, capsys):
    vaelab.train(quick(), tmp_path / "run", data=digits()[0])
    capsys.readouterr()
    for command in (["evaluate", str(tmp_path / "run")], ["reconstruct", str(tmp_path / "run")]):
        assert main(command) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and err.startswith("vaelab: error: data.name=none"), err
    assert main(["sample", str(tmp_path / "run"), "--out", str(tmp_path / "s.png")]) == 0  # no data needed


def test_the_scorecard_takes_the_data_from_python(tmp_path):
    x, _ = digits()
    vaelab.train(quick(val=10), tmp_path / "run", data=x)
    from vaelab.runs import EvalOptions, evaluate_run
    scores = evaluate_run(tmp_path / "run", EvalOptions(k=4, n=10, samples=0), data=x)
    assert scores["images_from"].startswith("held-out") and scores["held_out_images"] == 10
    assert scores["dataset"] == "tensors" and scores["likelihood"]["is_nll"] > 0


def test_a_used_folder_is_refused_unless_told_to_resume_or_start_over(tmp_path):
    x, _ = digits()
    vaelab.train(quick(), tmp_path / "run", data=x)
    before = (tmp_path / "run" / LAST).read_bytes()
    with pytest.raises(RunError, match="already holds a run: resume=True continues it, overwrite=True starts over"):
        vaelab.train(quick(), tmp_path / "run", data=x)
    assert (tmp_path / "run" / LAST).read_bytes() == before
    vaelab.train(quick(), tmp_path / "run", data=x, overwrite=True)
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 1


def test_a_data_set_loaded_from_its_config_keeps_its_name(tmp_path):
    cfg = quick(name="shapes", image_size=16, num_samples=40, val=8)
    cfg = RunConfig(data=cfg.data, model=config_class("vae")(latent_dim=2, hidden=[16]), train=cfg.train)
    from vaelab.data import load_dataset
    vaelab.train(cfg, tmp_path / "run", data=load_dataset(cfg.data))
    assert vaelab.run_config(tmp_path / "run").data.name == "shapes"
    assert json.loads(json.dumps(read_metadata(tmp_path / "run" / LAST)["data"]))["name"] == "shapes"


def test_info_tells_what_data_and_networks_a_run_from_python_used(tmp_path, capsys):
    x, y = digits()
    vaelab.train(quick(val=10), tmp_path / "run", data=x, labels=y)
    capsys.readouterr()
    assert main(["info", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    sha = read_metadata(tmp_path / "run" / LAST)["data"]["sha256"][:16]
    assert f"data:   tensors: uint8 [30, 1, 12, 12], held out [10, 1, 12, 12], labels yes, sha256 {sha}" in out


def test_the_command_line_starts_over_in_a_used_folder_only_with_overwrite(tmp_path, capsys):
    config = tmp_path / "tiny.yaml"
    config.write_text("data: {name: shapes, image_size: 16, num_samples: 40, val: 8}\n"
                      "model: {name: vae, latent_dim: 2, hidden: [16]}\ntrain: {epochs: 1, batch_size: 16, progress: false}\n")
    run = str(tmp_path / "run")
    assert main(["-q", "train", str(config), "--out", run]) == 0
    capsys.readouterr()
    assert main(["-q", "train", str(config), "--out", run]) == 2
    assert "already holds a run: --resume" in capsys.readouterr().err
    assert main(["-q", "train", str(config), "--out", run, "--overwrite"]) == 0

