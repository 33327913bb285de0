"""The advice a diverged run prints works (issue 25, item 10): `train.lr=1e6` diverges, and
`--resume RUN train.lr=1e-3` then trains to a finite loss, through the command line.

With train.lr=1e6 Adam's first step moves every weight by about 1e6: the weights are still
finite, but the next loss is about 5e28, and a few steps later NaN. A checkpoint taken in
between (here one every step, or every third) used to be kept: its weights were taken after
the first huge step, its exp_avg_sq held inf, and the resume diverged again. Now a checkpoint
is only written when the loss has not exploded and the weights and optimizer state are
finite, and one whose weights gave the first bad loss gives way to the one before it.
"""

import math

import pytest
import torch
import yaml

from vaelab.cli import main
from vaelab import run_files
from vaelab.training import checkpoint as ckpt

CONFIG = {"data": {"name": "shapes", "image_size": 16, "num_samples": 200, "val": 40},
          "model": {"name": "vae", "hidden": [32], "latent_dim": 4},
          "train": {"epochs": 2, "batch_size": 32, "progress": False, "lr": 1.0e6}}


@pytest.mark.parametrize("every", [1, 3], ids=["checkpoint-every-step", "checkpoint-every-3-steps"])
def test_a_run_diverged_at_a_huge_lr_resumes_at_a_sane_lr_to_a_finite_loss(tmp_path, capsys, every):
    config = tmp_path / "huge_lr.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    run = tmp_path / "run"
    assert main(["-q", "train", str(config), "--out", str(run), f"train.checkpoint_steps={every}"]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "diverged" in err[0] and "train.lr" in err[0], err
    kept = run_files.read_tensors(run / run_files.CHECKPOINT)  # weights, optimizer state, sums: all finite
    assert all(torch.isfinite(v).all() for v in kept.values() if v.is_floating_point())
    assert f"(step {ckpt.checkpoint_progress(run).step})" in err[0]  # the step it says it kept

    assert main(["-q", "train", "--resume", str(run), "train.lr=1e-3"]) == 0, capsys.readouterr().err
    history = run_files.read_jsonl(run / run_files.METRICS)
    assert [r["epoch"] for r in history] == [1, 2]
    assert all(math.isfinite(r["train/loss"]) and math.isfinite(r["val/loss"]) for r in history)
    assert history[-1]["val/loss"] < 1000  # nats per 16x16 image: where training starts (~180), not exploded
    assert all(torch.isfinite(v).all() for v in run_files.read_tensors(run / run_files.LAST).values())
    assert not list(run.glob(".*.tmp"))  # the checkpoint kept beside the newest is gone with the run
