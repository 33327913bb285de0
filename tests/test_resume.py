"""Trust in long runs, in process: exact resume from mid-epoch checkpoints, honest resume
overrides, divergence that stops (or skips), one writer per folder, a checkpoint of data only.
(tests/test_crash_resume.py kills real processes at named points.)"""

import math

import pytest
import torch
import yaml
from safetensors.torch import load_file

import vaelab
from vaelab.cli import main
from vaelab.errors import ConfigError, RunError, TrainingDiverged
from vaelab.models import VAE
from vaelab.runs import run_config, train
from vaelab import run_files
from vaelab.training import checkpoint as ckpt
from vaelab.training import hold_folder

from test_training import toy_config, toy_data, train_until_ctrl_c


def weights(run, prefix=run_files.MODEL):
    return run_files.read_tensors(run / run_files.CHECKPOINT, prefix)


def assert_same(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def drop_seconds(history):
    return [{k: v for k, v in r.items() if k != "train/seconds"} for r in history]


def test_a_run_trained_in_pieces_ends_bit_for_bit_where_a_straight_one_does(tmp_path):
    """Dynamic binarization, a KL warm-up and a cosine schedule in play: all their state resumes."""
    settings = ("data.binarize=dynamic", "model.warmup_steps=10", "train.lr_schedule=cosine")
    straight = train(toy_config(*settings), tmp_path / "straight", data=toy_data())
    run = tmp_path / "pieces"
    for epochs in (1, 2, 3, 4):  # each piece's cosine schedule is stretched to the 4-epoch end...
        cfg = toy_config(*settings, f"train.epochs={epochs}")
        result = train(cfg, run, resume=epochs > 1, data=toy_data())
    # ...so only the learning rates of the first pieces differ; compare against the same pieces
    assert [r["epoch"] for r in result.history] == [1, 2, 3, 4]
    plain = ("data.binarize=dynamic", "model.warmup_steps=10")
    straight = train(toy_config(*plain), tmp_path / "straight_constant", data=toy_data())
    run = tmp_path / "pieces_constant"
    for epochs in (1, 2, 3, 4):
        result = train(toy_config(*plain, f"train.epochs={epochs}"), run, resume=epochs > 1, data=toy_data())
    assert_same(weights(tmp_path / "straight_constant"), weights(run))
    assert drop_seconds(result.history) == drop_seconds(straight.history)


def test_mid_epoch_checkpoints_record_the_position_in_the_epoch(tmp_path, monkeypatch):
    """A run that dies right after a mid-epoch checkpoint resumes at that batch, exactly."""
    settings = ("data.binarize=dynamic", "train.checkpoint_steps=3")
    straight = train(toy_config(*settings), tmp_path / "straight", data=toy_data())
    original = ckpt.Checkpointer.save
    saves = {"n": 0}

    def save_then_die(self):
        original(self)
        saves["n"] += 1
        if saves["n"] == 4:  # the initial one, steps 3 and 6 (end of epoch 1), then step 9: mid-epoch 2
            raise SystemExit("killed")

    monkeypatch.setattr(ckpt.Checkpointer, "save", save_then_die)
    with pytest.raises(SystemExit):
        train(toy_config(*settings), tmp_path / "run", data=toy_data())
    monkeypatch.setattr(ckpt.Checkpointer, "save", original)
    progress = ckpt.checkpoint_progress(tmp_path / "run")
    assert (progress.epoch, progress.batch, progress.step) == (1, 3, 9)
    resumed = train(toy_config(*settings), tmp_path / "run", resume=True, data=toy_data())
    assert_same(weights(tmp_path / "straight"), weights(tmp_path / "run"))
    assert drop_seconds(resumed.history) == drop_seconds(straight.history)


def test_a_diverging_run_stops_names_the_term_and_keeps_finite_weights(tmp_path, capsys):
    config = tmp_path / "toy.yaml"
    config.write_text(yaml.safe_dump({"data": {"name": "shapes", "image_size": 16, "num_samples": 256, "val": 64},
                                      "model": {"name": "vae", "hidden": [32], "latent_dim": 4},
                                      "train": {"epochs": 3, "batch_size": 32, "progress": False, "lr": 1e6, "log_every": 2}}))
    run = tmp_path / "run"
    assert main(["train", str(config), "--out", str(run)]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "diverged" in err[0] and "step" in err[0] and "epoch 1" in err[0]
    assert any(f"'{term}'" in err[0] for term in ("loss", "recon", "kl"))
    for name in (run_files.LAST, run_files.BEST):
        assert all(torch.isfinite(v).all() for v in load_file(run / name).values()), name
    assert all(torch.isfinite(v).all() for v in weights(run).values())
    assert all(math.isfinite(v) for r in run_files.read_jsonl(run / run_files.METRICS) for v in r.values())
    # a lower learning rate on resume continues from the last finite checkpoint
    assert main(["train", "--resume", str(run), "train.lr=1e-3"]) == 0
    assert run_config(run).train.lr == 1e-3


def poison(monkeypatch, bad_calls):
    """Make the VAE's training loss NaN on the given calls of its forward pass."""
    original, calls = VAE.forward, {"n": 0}

    def forward(self, x, y=None):
        out = original(self, x, y)
        if self.training and x.device.type != "meta":  # the memory estimate's pass holds no numbers
            calls["n"] += 1
            if calls["n"] in bad_calls:
                out.loss = out.loss * math.nan
        return out

    monkeypatch.setattr(VAE, "forward", forward)


def test_a_nan_between_checks_is_found_with_its_exact_step(tmp_path, monkeypatch):
    poison(monkeypatch, {9})
    with pytest.raises(TrainingDiverged, match=r"in epoch 2: the loss term 'loss' is nan at step 9;"):
        train(toy_config("train.log_every=5"), tmp_path / "run", data=toy_data())
    progress = ckpt.checkpoint_progress(tmp_path / "run")
    assert progress.step < 9
    # epoch 1 ended, but no checkpoint after it was due: its line goes with its weights
    assert [r["epoch"] for r in run_files.read_jsonl(tmp_path / "run" / run_files.METRICS)] == list(range(1, progress.epoch + 1))


def test_skip_mode_skips_and_counts_non_finite_batches(tmp_path, monkeypatch):
    poison(monkeypatch, {2, 3, 8})
    result = train(toy_config("train.nonfinite=skip"), tmp_path / "run", data=toy_data())
    assert [r["train/skipped"] for r in result.history] == [2, 1, 0, 0]
    assert all(math.isfinite(r["train/loss"]) for r in result.history)
    assert all(torch.isfinite(v).all() for v in result.model.state_dict().values())


def test_resume_overrides_take_effect_or_are_refused_by_name(tmp_path):
    run = tmp_path / "run"
    train(toy_config("train.epochs=2"), run, data=toy_data())
    result = train(toy_config("train.epochs=3", "train.lr=1e-4"), run, resume=True, data=toy_data())
    assert [r["lr"] for r in result.history] == [3e-3, 3e-3, 1e-4]  # the new rate reached the optimizer
    assert run_config(run).train.lr == 1e-4 and run_config(run).train.epochs == 3  # and config.yaml says so
    for key, value in (("train.batch_size", 16), ("model.latent_dim", 5), ("train.seed", 1), ("data.binarize", "static")):
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            train(toy_config(f"{key}={value}", "train.epochs=4"), run, resume=True, data=toy_data())
    with pytest.raises(ConfigError, match=r"already in \(or past\) epoch 3"):
        train(toy_config("train.epochs=2", "train.lr=1e-4"), run, resume=True, data=toy_data())
    assert run_config(run).train.epochs == 3  # refused: nothing rewritten


def test_a_cosine_schedule_stretches_to_the_new_end_on_resume(tmp_path):
    run = tmp_path / "run"
    train(toy_config("train.epochs=2", "train.lr_schedule=cosine"), run, data=toy_data())
    result = train(toy_config("train.epochs=4", "train.lr_schedule=cosine"), run, resume=True, data=toy_data())
    steps = 6 * 4
    expected = 3e-3 * 0.5 * (1 + math.cos(math.pi * 18 / steps))  # after epoch 3 of the 4-epoch schedule
    assert result.history[2]["lr"] == pytest.approx(expected)


def test_a_second_trainer_on_a_locked_folder_fails_at_once(tmp_path):
    run = tmp_path / "run"
    with hold_folder(run):
        with pytest.raises(RunError, match="in use by another vaelab process"):
            train(toy_config(), run, data=toy_data())
    assert not (run / run_files.CHECKPOINT).exists()
    train(toy_config("train.epochs=1"), run, data=toy_data())  # released: a trainer may start


def test_stale_temporaries_are_removed_at_the_next_start(tmp_path):
    run = tmp_path / "run"
    train(toy_config("train.epochs=1"), run, data=toy_data())
    stale = [run / ".checkpoint.safetensors.abc123.tmp", run / ".metrics.jsonl.x_y.tmp"]
    others = run / ".evaluation.json.q1w2.tmp"  # a reader's write in progress: not the trainer's to remove
    for path in [*stale, others]:
        path.write_bytes(b"half a file")
    train(toy_config("train.epochs=2"), run, resume=True, data=toy_data())
    assert not any(path.exists() for path in stale) and others.exists()


def test_the_checkpoint_is_one_safetensors_file_of_data(tmp_path):
    run = tmp_path / "run"
    train(toy_config("train.epochs=2"), run, data=toy_data())
    names = {p.name for p in run.iterdir()}
    assert run_files.LEGACY_STATE not in names and run_files.CHECKPOINT in names
    tensors = load_file(run / run_files.CHECKPOINT)
    groups = {k.split("/")[0] for k in tensors}
    assert groups <= {"model", "best", "buffers", "optimizer", "rng", "epoch"} and {"model", "optimizer", "rng"} <= groups
    meta = run_files.read_metadata(run / run_files.CHECKPOINT)
    assert meta["progress"]["epoch"] == 2 and meta["model"] == "vae"


def test_a_run_of_vaelab_0_1_loads_but_does_not_resume(tmp_path):
    run = tmp_path / "run"
    train(toy_config("train.epochs=1"), run, data=toy_data())
    (run / run_files.CHECKPOINT).unlink()
    (run / run_files.LEGACY_STATE).write_bytes(b"\x80\x04 a pickle that must never be opened")
    assert isinstance(vaelab.load(run), VAE)
    with pytest.raises(RunError, match="cannot be resumed"):
        train(toy_config("train.epochs=2"), run, resume=True, data=toy_data())


def test_resuming_a_run_killed_before_its_first_checkpoint_starts_it(tmp_path):
    straight = train(toy_config("train.epochs=1"), tmp_path / "straight", data=toy_data())
    run = tmp_path / "run"
    run.mkdir()
    (run / run_files.CONFIG).write_text((tmp_path / "straight" / run_files.CONFIG).read_text())
    resumed = train(toy_config("train.epochs=1"), run, resume=True, data=toy_data())
    assert drop_seconds(resumed.history) == drop_seconds(straight.history)
    assert_same(weights(tmp_path / "straight"), weights(run))


def test_a_metrics_line_cut_short_by_a_kill_is_dropped_on_resume_and_nothing_else_is(tmp_path):
    run = tmp_path / "run"
    train(toy_config("train.epochs=1"), run, data=toy_data())
    good = (run / run_files.METRICS).read_text()
    (run / run_files.METRICS).write_text(good + '{"epoch": 2, "step": 12, "train/lo')  # a kill mid-append
    result = train(toy_config("train.epochs=2"), run, resume=True, data=toy_data())
    assert [r["epoch"] for r in result.history] == [1, 2]
    (run / run_files.METRICS).write_text("not json\n" + good)  # not a cut-short last line: refused
    with pytest.raises(RunError, match="not a metrics file"):
        train(toy_config("train.epochs=3"), run, resume=True, data=toy_data())


def test_starting_over_in_a_run_folder_removes_what_the_old_run_left(tmp_path):
    run = tmp_path / "run"
    train(toy_config("train.epochs=1"), run, data=toy_data())
    (run / "prior").mkdir()
    (run / "prior" / run_files.CHECKPOINT).write_bytes(b"the old model's code prior")
    (run / "evaluation.json").write_text("{}")
    train(toy_config("train.epochs=1", "model.latent_dim=3"), run, data=toy_data(), overwrite=True)
    assert not (run / "prior").exists() and not (run / "evaluation.json").exists()
    assert run_config(run).model.latent_dim == 3


def test_a_run_stopped_mid_epoch_cannot_resume_with_fewer_epochs_than_it_started(tmp_path, monkeypatch):
    train_until_ctrl_c(toy_config(), tmp_path / "run", monkeypatch, at_step=8)  # epoch 2 of 4, 6 steps an epoch
    with pytest.raises(ConfigError, match=r"already in \(or past\) epoch 2"):
        train(toy_config("train.epochs=1"), tmp_path / "run", resume=True, data=toy_data())
    result = train(toy_config("train.epochs=2"), tmp_path / "run", resume=True, data=toy_data())
    assert [r["epoch"] for r in result.history] == [1, 2]
