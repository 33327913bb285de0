"""A run folder someone else made cannot make vaelab write outside it, delete work, or crash a
command (issue 25, items 1-5): links are refused, resume never retrains over weights,
--overwrite deletes only vaelab's runs, every writer of a folder takes its one lock, and a
full disk or a read-only folder is one line. Each case goes through the command line."""

import errno
import hashlib
import os
import shutil
from pathlib import Path

import pytest

from vaelab import files
from vaelab.cli import main
from vaelab.run_files import CHECKPOINT, LAST, MARKER
from vaelab.training import hold_folder

TINY = """
data: {name: shapes, image_size: 16, num_samples: 120, val: 24}
model: {name: NAME, latent_dim: 3, hidden: [16]}
train: {epochs: 1, batch_size: 48, progress: false}
"""
TINY_VQ = """
data: {name: shapes, image_size: 16, num_samples: 120, val: 24}
model: {name: vqvae, channels: [8, 8], res_blocks: 0, num_codes: 8, code_dim: 4, quantizer: {name: ema, kmeans_init: false}}
train: {epochs: 1, batch_size: 48, progress: false}
"""


def trained(folder: Path, text: str = TINY.replace("NAME", "vae")) -> Path:
    config = folder.parent / f"{folder.name}.yaml"
    config.write_text(text)
    assert main(["train", str(config), "--out", str(folder)]) == 0
    return folder


@pytest.fixture(scope="module")
def original(tmp_path_factory) -> Path:
    return trained(tmp_path_factory.mktemp("safety") / "run")


@pytest.fixture
def run(original, tmp_path) -> Path:
    """A copy of a trained run for one test to damage."""
    return Path(shutil.copytree(original, tmp_path / "run"))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err.strip()


@pytest.mark.parametrize("entry, argv", [
    ("samples.png", ["sample", "RUN"]),
    ("reconstructions.png", ["reconstruct", "RUN"]),
    ("samples.png", ["plot", "RUN", "samples"]),
    (".lock", ["train", "--resume", "RUN"]),
    ("reconstructions.png", ["train", "--resume", "RUN", "train.epochs=2"]),
    ("evaluation.json", ["evaluate", "RUN", "-n", "8", "--k", "2"]),
])
def test_a_link_in_a_run_folder_is_refused_and_nothing_outside_changes(run, tmp_path, capsys, entry, argv):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (run / entry).unlink(missing_ok=True)
    (run / entry).symlink_to(victim)
    assert main([str(run) if a == "RUN" else a for a in argv]) == 2
    assert f"{run / entry} is a symbolic link" in one_line(capsys)
    assert victim.read_text() == "keep me"


def test_a_linked_prior_folder_is_refused_and_never_deleted_through(run, tmp_path, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious.txt").write_text("keep me")
    (run / "prior").symlink_to(elsewhere, target_is_directory=True)
    config = tmp_path / "c.yaml"
    config.write_text(TINY.replace("NAME", "vae"))
    assert main(["train", str(config), "--out", str(run), "--overwrite"]) == 2
    assert "prior is a symbolic link" in one_line(capsys)
    assert (elsewhere / "precious.txt").read_text() == "keep me"


def test_resume_without_a_checkpoint_never_retrains_over_the_weights(run, capsys):
    (run / CHECKPOINT).unlink()
    before = digest(run / LAST)
    assert main(["train", "--resume", str(run)]) == 2
    message = one_line(capsys)
    assert f"no {CHECKPOINT} to resume from" in message and "last.safetensors" in message
    assert digest(run / LAST) == before


def test_overwrite_deletes_only_a_run_vaelab_made(tmp_path, capsys):
    foreign = tmp_path / "theirs"
    (foreign / "tensorboard").mkdir(parents=True)
    (foreign / "tensorboard" / "events").write_text("their events")
    for name in ("config.yaml", "metrics.jsonl", "evaluation.json"):
        (foreign / name).write_text("theirs\n")
    config = tmp_path / "c.yaml"
    config.write_text(TINY.replace("NAME", "vae"))
    assert main(["train", str(config), "--out", str(foreign), "--overwrite"]) == 2
    assert "is not a run vaelab made" in one_line(capsys)
    kept = sorted(p.name for p in foreign.rglob("*") if p.name != ".lock")  # the lock it took, empty, stays
    assert kept == ["config.yaml", "evaluation.json", "events", "metrics.jsonl", "tensorboard"]
    assert all((foreign / n).read_text() == "theirs\n" for n in ("config.yaml", "metrics.jsonl", "evaluation.json"))
    mine = trained(tmp_path / "mine")
    assert (mine / MARKER).is_file()
    assert main(["train", str(config), "--out", str(mine), "--overwrite"]) == 0  # vaelab's own: started over


def test_a_run_made_before_the_marker_is_still_vaelabs(run, tmp_path, capsys):
    (run / MARKER).unlink()  # as runs of earlier versions are: their weights carry vaelab's format
    config = tmp_path / "c.yaml"
    config.write_text(TINY.replace("NAME", "vae"))
    assert main(["train", str(config), "--out", str(run), "--overwrite"]) == 0


def test_every_writer_of_a_run_folder_takes_its_one_lock(tmp_path, capsys):
    run = trained(tmp_path / "vq", TINY_VQ)
    prior = ["prior", "train", str(run), "train.epochs=1", "train.progress=false", "pixelcnn.channels=4",
             "pixelcnn.layers=1"]
    with hold_folder(run):  # another writer, e.g. `train --out RUN --overwrite`, holds the run
        assert main(prior) == 2
        assert "is in use by another vaelab process" in one_line(capsys)
    with hold_folder(run / "prior"):  # and the prior's own writer blocks nothing else
        assert main(prior) == 2
        capsys.readouterr()
    assert main(prior) == 0


def refuse(monkeypatch, code: int) -> None:
    """Make every new file fail as a full disk (ENOSPC) or a read-only folder (EROFS) does."""
    def failing(*args, **kwargs):
        raise OSError(code, os.strerror(code))
    monkeypatch.setattr(files.tempfile, "mkstemp", failing)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
@pytest.mark.parametrize("argv, written", [
    (["sample", "RUN"], "samples_2.png"),  # training drew samples.png: a new picture takes a new name
    (["reconstruct", "RUN"], "reconstructions_2.png"),
    (["plot", "RUN", "samples"], "samples.png"),  # plot redraws the run's own
    (["sample", "RUN", "--out", "OUT/s.png"], "s.png"),
])
def test_a_full_disk_or_a_read_only_folder_is_one_line_naming_the_file(run, tmp_path, capsys, monkeypatch, code,
                                                                        argv, written):
    refuse(monkeypatch, code)
    argv = [a.replace("RUN", str(run)).replace("OUT", str(tmp_path)) for a in argv]
    assert main(argv) == 2
    message = one_line(capsys)
    assert message.endswith(f"{written}: {os.strerror(code)}")


def test_evaluate_refuses_a_read_only_folder_before_its_work(run, capsys, monkeypatch):
    refuse(monkeypatch, errno.EROFS)
    monkeypatch.setattr("vaelab.runs.scorecard.load", lambda *a, **k: pytest.fail("evaluate worked first"))
    assert main(["evaluate", str(run), "-n", "8"]) == 2
    assert "Read-only file system" in one_line(capsys)


def test_training_on_a_full_disk_stops_in_one_line_and_keeps_the_last_checkpoint(run, capsys, monkeypatch):
    before = digest(run / CHECKPOINT)
    refuse(monkeypatch, errno.ENOSPC)
    assert main(["train", "--resume", str(run), "train.epochs=2"]) == 2
    assert "No space left on device" in one_line(capsys)
    assert digest(run / CHECKPOINT) == before
