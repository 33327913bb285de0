"""The trainer and run folders: loss falls, checkpoints round-trip, runs resume exactly."""

import signal

import pytest
import torch

import vaelab
from vaelab.config import compose
from vaelab.data import DataSplits, ImageDataset
from vaelab.errors import RunError
from vaelab.models import config_class
from vaelab import run_files
from vaelab.training import checkpoint as ckpt
from vaelab.runs import train


def toy_data(n=256, seed=0):
    """Binary 8x8 images from 4 prototypes with a little pixel noise."""
    g = torch.Generator().manual_seed(seed)
    prototypes = torch.rand(4, 1, 8, 8, generator=g) > 0.5
    labels = torch.randint(0, 4, (n,), generator=g)
    flips = torch.rand(n, 1, 8, 8, generator=g) < 0.05
    images = ((prototypes[labels] ^ flips).to(torch.uint8)) * 255
    data = ImageDataset(images, labels, name="toy")
    return DataSplits(data.subset(slice(0, n - 64)), data.subset(slice(n - 64, n)))


def toy_config(*overrides):
    base = ["model.latent_dim=4", "model.hidden=[32]", "train.batch_size=32", "train.epochs=4", "train.progress=false", "train.lr=3e-3"]
    return compose({}, [*base, *overrides], config_class)


def test_training_lowers_the_validation_loss_and_writes_a_run_folder(tmp_path):
    result = train(toy_config("train.epochs=12"), tmp_path / "run", data=toy_data())
    history = result.history
    assert [r["epoch"] for r in history] == list(range(1, 13))
    assert history[-1]["val/loss"] < 0.7 * history[0]["val/loss"]
    assert all(abs(r["val/loss"] - r["val/recon"] - r["val/kl"]) < 1e-3 for r in history)
    for name in (run_files.CONFIG, run_files.CHECKPOINT, run_files.LAST, run_files.BEST, run_files.METRICS, "samples.png", "reconstructions.png"):
        assert (tmp_path / "run" / name).is_file(), name
    assert not list((tmp_path / "run").glob(".*.tmp"))  # atomic writes leave no temporaries


def test_a_loaded_run_gives_identical_outputs(tmp_path):
    result = train(toy_config("train.epochs=1"), tmp_path / "run", data=toy_data())
    loaded = vaelab.load(tmp_path / "run", "last")
    result.model.eval()
    x = torch.rand(5, 1, 8, 8)
    assert torch.equal(loaded.reconstruct(x), result.model.reconstruct(x))
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    assert torch.equal(loaded.sample(4, g()), result.model.sample(4, g()))


def test_resume_continues_exactly_where_the_run_stopped(tmp_path):
    straight = train(toy_config(), tmp_path / "straight", data=toy_data())
    train(toy_config("train.epochs=2"), tmp_path / "split", data=toy_data())
    resumed = train(toy_config(), tmp_path / "split", resume=True, data=toy_data())
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3, 4]
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    assert resumed.history[-1]["val/loss"] == straight.history[-1]["val/loss"]


def train_until_ctrl_c(cfg, run, monkeypatch, at_step: int):
    """Train with a real SIGINT sent right after optimizer step `at_step`; expects the interrupt."""
    original, calls = torch.optim.Adam.step, {"n": 0}

    def step_then_ctrl_c(self, *args, **kwargs):
        calls["n"] += 1
        result = original(self, *args, **kwargs)
        if calls["n"] == at_step:
            signal.raise_signal(signal.SIGINT)
        return result

    monkeypatch.setattr(torch.optim.Adam, "step", step_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, run, data=toy_data())
    monkeypatch.setattr(torch.optim.Adam, "step", original)


def test_ctrl_c_saves_the_exact_step_and_the_resumed_run_matches_an_uninterrupted_one(tmp_path, monkeypatch):
    straight = train(toy_config(), tmp_path / "straight", data=toy_data())
    train_until_ctrl_c(toy_config(), tmp_path / "run", monkeypatch, at_step=10)  # mid-epoch 2 (6 steps an epoch)
    progress = ckpt.checkpoint_progress(tmp_path / "run")
    assert (progress.epoch, progress.step, progress.batch) == (1, 10, 4)
    result = train(toy_config(), tmp_path / "run", resume=True, data=toy_data())
    assert [r["epoch"] for r in result.history] == [1, 2, 3, 4]
    for a, b in zip(straight.model.state_dict().values(), result.model.state_dict().values()):
        assert torch.equal(a, b)
    assert result.history[-1]["train/loss"] == straight.history[-1]["train/loss"]


def test_a_checkpoint_of_another_model_is_refused(tmp_path):
    train(toy_config("model.name=ae", "train.epochs=1"), tmp_path / "ae", data=toy_data())
    train(toy_config("train.epochs=1"), tmp_path / "vae", data=toy_data())
    (tmp_path / "vae" / run_files.CHECKPOINT).write_bytes((tmp_path / "ae" / run_files.CHECKPOINT).read_bytes())
    with pytest.raises(RunError, match="holds a 'ae' model"):
        vaelab.load(tmp_path / "vae")
    with pytest.raises(RunError, match="not found"):
        vaelab.load(tmp_path / "missing")


def test_weights_that_do_not_fit_the_config_are_refused(tmp_path):
    train(toy_config("train.epochs=1"), tmp_path / "run", data=toy_data())
    (tmp_path / "run" / run_files.CONFIG).write_text((tmp_path / "run" / run_files.CONFIG).read_text().replace("latent_dim: 4", "latent_dim: 5"))
    with pytest.raises(RunError, match="does not fit"):
        vaelab.load(tmp_path / "run")
