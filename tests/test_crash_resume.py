"""Kill a training process with SIGKILL at named points (vaelab/crashpoints.py), resume it,
and check that it ends bit for bit where an uninterrupted run with the same seed ends:
the checkpoint's weights (current and best), the exported weights, and every metrics
line but its timing. Also: two trainers on one folder.

All runs are separate processes with one thread each (the same float reductions), on a
tiny VAE (dynamic binarization, KL warm-up, cosine schedule: all their state must resume)
and a tiny VQ-VAE (EMA codebook, dead-code restarts).
"""

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
import yaml

from vaelab.cli import main
from vaelab import run_files
from vaelab.training import checkpoint as ckpt

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
DATA = {"name": "shapes", "image_size": 16, "num_samples": 128, "val": 32, "binarize": "dynamic"}
TRAIN = {"epochs": 3, "batch_size": 32, "progress": False, "checkpoint_steps": 2, "checkpoint_seconds": 1.0e9,
         "lr_schedule": "cosine", "lr": 3.0e-3}
CONFIGS = {
    "vae": {"data": DATA, "model": {"name": "vae", "hidden": [32], "latent_dim": 4, "warmup_steps": 5}, "train": TRAIN},
    "vqvae": {"data": {**DATA, "binarize": "none"}, "train": TRAIN,
              "model": {"name": "vqvae", "channels": [8, 16], "res_blocks": 1, "num_codes": 16, "code_dim": 4,
                        "dead_code_steps": 2}},
    # a critic with its own optimizer group; a hierarchy; a learned prior with pseudo-inputs
    "factorvae": {"data": DATA, "train": TRAIN,
                  "model": {"name": "factorvae", "hidden": [32], "latent_dim": 4, "critic_hidden": 16, "critic_layers": 2}},
    "hvae": {"data": DATA, "train": TRAIN,
             "model": {"name": "hvae", "hidden": [32], "latent_dims": [4, 2], "ladder_hidden": 16, "free_bits": 0.1}},
    "vamp": {"data": DATA, "train": TRAIN,
             "model": {"name": "vae", "hidden": [32], "latent_dim": 4, "prior": "vamp", "pseudo_inputs": 8, "iw_samples": 3}},
}
# 3 steps an epoch, 9 in all; checkpoints: before step 1, after steps 2, 4, 6, 8 and 9 (the last epoch).
KILL_POINTS = [
    ("vae", "config:written@1"),  # before the first checkpoint: the resume starts afresh
    ("vae", "checkpoint:begin@1"),
    ("vae", "step@1"),  # only the initial checkpoint exists
    ("vae", "checkpoint:written@2"),  # a complete temporary file, never renamed in
    ("vae", "checkpoint:committed@2"),
    ("vae", "metrics:appended@1"),  # epoch 1's line written, no checkpoint after it
    ("vae", "step@5"),  # mid-epoch 2, a step after a mid-epoch checkpoint
    ("vae", "validation@2"),  # during epoch 2's held-out pass
    ("vae", "epoch:end@2"),
    ("vae", "checkpoint:written@6"),  # the final checkpoint, not yet renamed in
    ("vae", "checkpoint:committed@6"),  # final checkpoint in, nothing exported
    ("vae", "export:last@1"),  # between the two exported weight files
    ("vae", "export:best@1"),
    ("vae", "pictures@1"),
    ("vqvae", "step@4"),
    ("vqvae", "checkpoint:written@3"),
    ("factorvae", "step@5"),
    ("hvae", "step@5"),
    ("vamp", "step@5"),
]


def vaelab_process(args, crash_at=None, **kwargs):
    env = {**ENV, "VAELAB_CRASH_AT": crash_at} if crash_at else ENV
    return subprocess.run([sys.executable, "-m", "vaelab.cli", "-q", *args], env=env, capture_output=True, text=True, **kwargs)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{(model, point): (killed run folder, its returncode)} and the uninterrupted runs."""
    root = tmp_path_factory.mktemp("crash")
    configs = {}
    for name, config in CONFIGS.items():
        configs[name] = root / f"{name}.yaml"
        configs[name].write_text(yaml.safe_dump(config))
    jobs = [(name, None, root / f"{name}_straight") for name in CONFIGS]
    jobs += [(name, point, root / f"{name}_{point.replace(':', '_').replace('@', '_')}") for name, point in KILL_POINTS]
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = list(pool.map(lambda job: vaelab_process(["train", str(configs[job[0]]), "--out", str(job[2])], job[1]), jobs))
    killed = {(name, point): (folder, result.returncode) for (name, point, folder), result in zip(jobs, done) if point}
    straight = {name: (folder, result) for (name, point, folder), result in zip(jobs, done) if point is None}
    script = "import sys; from vaelab.cli import main; sys.exit(max(main(['-q', 'train', '--resume', r]) for r in sys.argv[1:]))"
    resumed = subprocess.run([sys.executable, "-c", script, *(str(f) for f, _ in killed.values())], env=ENV,
                             capture_output=True, text=True)
    return straight, killed, resumed


def test_every_uninterrupted_run_finishes(runs):
    straight, _, _ = runs
    for name, (_, result) in straight.items():
        assert result.returncode == 0, (name, result.stderr)


def test_each_kill_point_kills_and_every_killed_run_resumes(runs):
    _, killed, resumed = runs
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    for (name, point), (_, returncode) in killed.items():
        assert returncode == -9, (name, point, returncode)  # SIGKILL: the point was reached
    assert len(killed) >= 10


@pytest.mark.parametrize("name,point", KILL_POINTS, ids=[f"{n}-{p}" for n, p in KILL_POINTS])
def test_a_killed_and_resumed_run_matches_an_uninterrupted_one_bit_for_bit(runs, name, point):
    straight, killed, _ = runs
    reference, run = straight[name][0], killed[(name, point)][0]
    # everything in the checkpoint: weights, best weights, optimizer, RNG states, progress
    assert_equal(run_files.read_tensors(reference / run_files.CHECKPOINT), run_files.read_tensors(run / run_files.CHECKPOINT))
    assert run_files.read_metadata(reference / run_files.CHECKPOINT) == run_files.read_metadata(run / run_files.CHECKPOINT)
    for exported in (run_files.LAST, run_files.BEST):
        assert_equal(run_files.read_tensors(reference / exported), run_files.read_tensors(run / exported))
    assert untimed(run_files.read_jsonl(run / run_files.METRICS)) == untimed(run_files.read_jsonl(reference / run_files.METRICS))
    assert not [p.name for p in run.glob(".*") if p.name.endswith(".tmp")]  # stale temporaries removed
    assert (run / "reconstructions.png").is_file()


def assert_equal(a: dict, b: dict):
    assert a.keys() == b.keys() and a
    for k in a:
        assert torch.equal(a[k], b[k]), k


def untimed(history):
    return [{k: v for k, v in r.items() if k != "train/seconds"} for r in history]


def test_a_second_trainer_on_the_same_folder_fails_at_once_and_leaves_the_first_intact(tmp_path, capsys):
    config = tmp_path / "long.yaml"
    # long enough (640 images an epoch) that the first still trains when the second, which
    # estimates its memory first, reaches the lock
    config.write_text(yaml.safe_dump({**CONFIGS["vae"], "data": {**DATA, "num_samples": 640},
                                      "train": {**TRAIN, "epochs": 40}}))
    run = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-m", "vaelab.cli", "-q", "train", str(config), "--out", str(run)],
                             env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (run / run_files.CHECKPOINT).exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert first.poll() is None, "the first trainer ended before the second could start"
    assert main(["-q", "train", str(config), "--out", str(run), "--overwrite"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "in use by another vaelab process" in err[0] and str(first.pid) in err[0]
    _, stderr = first.communicate(timeout=600)
    assert first.returncode == 0, stderr
    assert [r["epoch"] for r in run_files.read_jsonl(run / run_files.METRICS)] == list(range(1, 41))
    assert ckpt.checkpoint_progress(run).epoch == 40
