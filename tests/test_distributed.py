"""Data-parallel training with torch.distributed (gloo, two CPU processes under torchrun),
each run a subprocess: it matches one process with the same global batch, keeps one VQ
codebook on every process, resumes after a kill exactly (each process's own noise
included), and trains a VQ-VAE's PixelCNN prior the same way."""

import shutil

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from vaelab import run_files
from vaelab.training import checkpoint as ckpt

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
AE = {"data": {"name": "shapes", "image_size": 16, "num_samples": 160, "val": 32},
      "model": {"name": "ae", "hidden": [32], "latent_dim": 4},
      "train": {"epochs": 3, "batch_size": 32, "progress": False, "lr": 3e-3, "log_every": 2, "checkpoint_steps": 2,
                "checkpoint_seconds": 1.0e9}}
VAE = {**AE, "model": {"name": "vae", "hidden": [32], "latent_dim": 4},
       "train": {**AE["train"], "epochs": 2}}
VQVAE = {"data": AE["data"], "model": {"name": "vqvae", "channels": [8, 16], "res_blocks": 1, "num_codes": 16,
                                       "code_dim": 4},
         "train": {"epochs": 1, "batch_size": 32, "progress": False}}
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]


def run(argv, crash_at=None):
    env = {**ENV, "VAELAB_CRASH_AT": crash_at} if crash_at else ENV
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)


def weights(folder: Path) -> dict:
    return run_files.read_tensors(folder / run_files.CHECKPOINT, run_files.MODEL)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    (root / "ae.yaml").write_text(yaml.safe_dump(AE))
    one = run([sys.executable, "-m", "vaelab", "-q", "train", str(root / "ae.yaml"), "--out", str(root / "one")])
    two = run([*TORCHRUN, "-m", "vaelab", "-q", "train", str(root / "ae.yaml"), "--out", str(root / "two")])
    assert one.returncode == 0 and two.returncode == 0, (one.stderr[-1500:], two.stderr[-1500:])
    return root


def test_two_processes_train_as_one_with_the_same_global_batch(runs):
    one, two = weights(runs / "one"), weights(runs / "two")
    for k in one:
        assert torch.allclose(one[k], two[k], atol=1e-5), k
    a, b = run_files.read_jsonl(runs / "one" / run_files.METRICS), run_files.read_jsonl(runs / "two" / run_files.METRICS)
    assert [r["epoch"] for r in b] == [1, 2, 3]  # one writer: no line twice
    for ra, rb in zip(a, b):
        assert rb["train/loss"] == pytest.approx(ra["train/loss"], rel=1e-5)  # summed over both processes
        assert rb["val/loss"] == pytest.approx(ra["val/loss"], rel=1e-5)


@pytest.mark.parametrize("quantizer", ["ema", "vq"])
def test_every_process_holds_the_same_vq_codebook(tmp_path, quantizer):
    check = Path(__file__).with_name("ddp_codebook_check.py")
    result = run([*TORCHRUN, str(check), str(tmp_path / "run"), quantizer])
    assert result.returncode == 0, result.stdout + result.stderr[-1500:]
    assert result.stdout.count("identical") == 2


def test_a_killed_two_process_run_resumes(runs, tmp_path):
    folder = tmp_path / "killed"
    killed = run([*TORCHRUN, "-m", "vaelab", "-q", "train", str(runs / "ae.yaml"), "--out", str(folder)], "step@7")
    assert killed.returncode != 0 and ckpt.checkpoint_progress(folder).step == 6  # the checkpoint after step 6
    resumed = run([*TORCHRUN, "-m", "vaelab", "-q", "train", "--resume", str(folder)])
    assert resumed.returncode == 0, resumed.stderr[-1500:]
    reference = weights(runs / "two")
    for k, v in weights(folder).items():
        assert torch.allclose(v, reference[k], atol=1e-6), k
    assert [r["epoch"] for r in run_files.read_jsonl(folder / run_files.METRICS)] == [1, 2, 3]


def test_a_killed_two_process_vae_resumes_with_each_process_noise(tmp_path):
    """The VAE draws eps per process: a resume must give every process its own RNG back
    (rank r > 0's is saved as rng/rank{r}/torch), or the weights drift from the run's."""
    (tmp_path / "vae.yaml").write_text(yaml.safe_dump(VAE))
    train = [*TORCHRUN, "-m", "vaelab", "-q", "train", str(tmp_path / "vae.yaml"), "--out"]
    whole, killed = run([*train, str(tmp_path / "whole")]), run([*train, str(tmp_path / "killed")], "step@7")
    assert whole.returncode == 0 and killed.returncode != 0, whole.stderr[-1500:]
    assert "rng/rank1/torch" in run_files.read_tensors(tmp_path / "killed" / run_files.CHECKPOINT)
    resumed = run([*TORCHRUN, "-m", "vaelab", "-q", "train", "--resume", str(tmp_path / "killed")])
    assert resumed.returncode == 0, resumed.stderr[-1500:]
    reference = weights(tmp_path / "whole")
    for k, v in weights(tmp_path / "killed").items():
        assert torch.equal(v, reference[k]), k


def test_the_pixelcnn_prior_trains_on_two_processes_as_on_one(tmp_path):
    (tmp_path / "vq.yaml").write_text(yaml.safe_dump(VQVAE))
    trained = run([sys.executable, "-m", "vaelab", "-q", "train", str(tmp_path / "vq.yaml"), "--out", str(tmp_path / "one")])
    assert trained.returncode == 0, trained.stderr[-1500:]
    shutil.copytree(tmp_path / "one", tmp_path / "two")
    prior = ["prior", "train", "train.epochs=2", "train.batch_size=32", "train.progress=false", "pixelcnn.layers=2",
             "pixelcnn.channels=8"]
    one = run([sys.executable, "-m", "vaelab", "-q", *prior[:2], str(tmp_path / "one"), *prior[2:]])
    two = run([*TORCHRUN, "-m", "vaelab", "-q", *prior[:2], str(tmp_path / "two"), *prior[2:]])
    assert one.returncode == 0 and two.returncode == 0, (one.stderr[-1500:], two.stderr[-1500:])
    a, b = (run_files.read_tensors(tmp_path / r / "prior" / run_files.CHECKPOINT, run_files.MODEL) for r in ("one", "two"))
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-5), k
    lines = run_files.read_jsonl(tmp_path / "two" / "prior" / run_files.METRICS)
    assert [r["epoch"] for r in lines] == [1, 2]
