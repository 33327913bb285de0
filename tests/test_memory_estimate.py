"""A run that cannot fit in memory is refused before anything is allocated (issue 25, item 6):
values that each pass their range check (data.num_samples, data.image_size, model.hidden,
model.latent_dim, train.batch_size) but together need more memory than the machine has end
in one line with the estimate and what is available, exit 2, and the run folder untouched;
a run that fits trains as before."""

import pytest
import torch

from vaelab.cli import main
from vaelab.runs import memory

TINY = ["data.image_size=16", "data.num_samples=300", "data.val=60", "model.hidden=[32]", "train.epochs=1",
        "train.progress=false", "train.device=cpu"]
HUGE = 10**12  # more bytes than any machine has, whatever the values multiply it by


def refused(tmp_path, capsys, *overrides: str) -> str:
    """Train quickstart with `overrides` into a fresh folder: exit 2, one line on stderr, no folder made; the line."""
    run = tmp_path / "run"
    assert main(["train", "quickstart", "--out", str(run), "train.device=cpu", *overrides]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "this run needs about" in err and "memory available" in err, err
    assert not run.exists()  # refused before the folder is touched
    return err


def test_more_images_than_memory_are_refused_with_the_estimate(tmp_path, capsys):
    err = refused(tmp_path, capsys, f"data.num_samples={HUGE}")
    assert "(data 4.1 PB," in err and "lower data.num_samples or data.image_size" in err


def test_large_images_are_refused_by_their_size(tmp_path, capsys):
    err = refused(tmp_path, capsys, "data.image_size=1024", "data.num_samples=1000000")
    assert "(data 1.0 TB," in err and "data.image_size" in err


@pytest.mark.parametrize("override, tensor", [("model.hidden=[1000000000]", "[1000000000, 4096]"),
                                              ("model.latent_dim=1000000000", "mu_head.weight [1000000000, 256]")])
def test_a_model_too_large_is_counted_without_allocating_it_and_refused(tmp_path, capsys, override, tensor):
    err = refused(tmp_path, capsys, override)
    assert " TB, activations" in err and "make the model smaller" in err and tensor in err, err


def test_the_estimate_is_checked_against_what_the_machine_has(tmp_path, capsys, monkeypatch):
    """A tiny run fits this machine and trains; on a machine with 100 kB available the same run
    is refused, saying so: the refusal follows the machine, not a fixed bound."""
    assert main(["train", "quickstart", "--out", str(tmp_path / "fits"), *TINY]) == 0
    capsys.readouterr()
    monkeypatch.setattr(memory, "host_available", lambda: 10**5)
    err = refused(tmp_path, capsys, *TINY)
    assert "the machine has 100 kB of memory available" in err


def test_activations_of_a_large_batch_are_counted(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(memory, "host_available", lambda: 4 * 10**9)
    err = refused(tmp_path, capsys, "model.backbone=conv", "data.image_size=256", "data.num_samples=1000",
                  "data.val=100", "train.batch_size=900")
    assert "activations at a batch of 900" in err and err.endswith("lower train.batch_size"), err


def test_the_estimate_counts_the_parameters_of_the_model_it_would_build():
    from vaelab.models import build_model
    from vaelab.runs import load_config

    cfg = load_config("quickstart", TINY)
    need = memory.estimate(cfg, torch.device("cpu"))
    built = sum(p.numel() for p in build_model(cfg.model, (1, 16, 16), 3).parameters())
    assert need.parameters == built * 4 * memory.PARAMETER_COPIES
    assert need.data == 300 * (16 * 16 + memory.SHAPES_EXTRA) and need.batch == 128 and need.activations > 0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_data_held_on_a_gpu_is_checked_against_its_free_memory(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(memory, "host_available", lambda: 10**18)  # the host could hold them; the GPU cannot
    run = tmp_path / "run"
    assert main(["train", "quickstart", "--out", str(run), "train.device=cuda", f"data.num_samples={HUGE}"]) == 2
    err = capsys.readouterr().err.strip()
    assert "on the GPU" in err and "free: lower data.num_samples" in err and "train.data_on_device=false" in err, err
