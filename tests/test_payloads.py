"""Files are data: a pickle payload planted in any file a command reads never runs, and the
command fails with one clean line (exit status 2), not a traceback.

The payload's __reduce__ calls os.system to create a marker file: unpickling it (pickle.load,
torch.load with weights_only=False) would run it.
"""

import os
import pickle
import shutil
from pathlib import Path

import pytest

import vaelab
from vaelab.cli import main
from vaelab.errors import VaelabError

DATA = "data: {name: shapes, image_size: 16, num_samples: 160, val: 32}\n"
MODEL = "model: {name: vqvae, channels: [8, 16], res_blocks: 1, num_codes: 16, code_dim: 4}\n"
TRAIN = "train: {epochs: 1, batch_size: 32, progress: false}\n"
PRIOR = ["train.epochs=1", "train.progress=false", "pixelcnn.channels=8", "pixelcnn.layers=1"]


class Payload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A VQ-VAE run with its code prior, and a classifier for the dataset."""
    root = tmp_path_factory.mktemp("payload")
    (root / "c.yaml").write_text(DATA + MODEL + TRAIN)
    assert main(["-q", "train", str(root / "c.yaml"), "--out", str(root / "run")]) == 0
    assert main(["-q", "prior", "train", str(root / "run"), *PRIOR]) == 0
    argv = ["classifier", "train", "--dataset", "shapes", "image_size=16", "num_samples=160", "val=32", "--epochs", "1",
            "--out", str(root / "run" / "clf")]
    assert main(["-q", *argv]) == 0
    return root / "run"


# command (RUN is the run folder) -> the files it reads (relative to RUN)
READS = {
    "train --resume RUN": ["config.yaml", "checkpoint.safetensors", "metrics.jsonl"],
    "sample RUN -n 4": ["config.yaml", "checkpoint.safetensors", "prior/config.yaml", "prior/checkpoint.safetensors"],
    "reconstruct RUN -n 4": ["config.yaml", "checkpoint.safetensors"],
    "evaluate RUN -n 8 --k 2 --samples 8 --classifier RUN/clf": [
        "config.yaml", "checkpoint.safetensors", "prior/checkpoint.safetensors", "clf/classifier.json",
        "clf/classifier.safetensors"],
    "info RUN": ["config.yaml", "checkpoint.safetensors", "metrics.jsonl"],
    "prior train RUN train.epochs=2": ["config.yaml", "checkpoint.safetensors"],
    "prior train RUN --resume train.epochs=2": ["prior/config.yaml", "prior/checkpoint.safetensors", "prior/metrics.jsonl"],
}
CASES = [(command, name) for command, names in READS.items() for name in names]


def planted(base: Path, tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A copy of the run with `name` replaced by the payload; (run, marker)."""
    run = tmp_path / "run"
    shutil.copytree(base, run)
    marker = tmp_path / "PAYLOAD_RAN"
    (run / name).write_bytes(pickle.dumps(Payload(marker)))
    return run, marker


@pytest.mark.parametrize("command,name", CASES, ids=[f"{c.split(' RUN')[0]}|{n}" for c, n in CASES])
def test_a_planted_payload_never_runs_and_the_command_fails_cleanly(base, tmp_path, command, name, capsys):
    run, marker = planted(base, tmp_path, name)
    capsys.readouterr()
    status = main(["-q", *command.replace("RUN", str(run)).split()])
    err = capsys.readouterr().err.strip().splitlines()
    assert not marker.exists(), "the payload ran"
    assert status == 2 and len(err) == 1 and "Traceback" not in err[0], err


@pytest.mark.parametrize("name", ["config.yaml", "checkpoint.safetensors", "prior/config.yaml", "prior/checkpoint.safetensors"])
def test_vaelab_load_refuses_a_payload(base, tmp_path, name):
    run, marker = planted(base, tmp_path, name)
    with pytest.raises(VaelabError):
        vaelab.load(run)
    assert not marker.exists()


@pytest.mark.parametrize("name", ["config.yaml", "checkpoint.safetensors", "metrics.jsonl", "prior/checkpoint.safetensors"])
def test_a_report_of_a_run_with_a_payload_runs_nothing(base, tmp_path, name, capsys):
    run, marker = planted(base, tmp_path, name)
    status = main(["-q", "report", str(run), "-o", str(tmp_path / "r.html")])
    err = capsys.readouterr().err.strip().splitlines()
    assert not marker.exists()
    assert status == 0 or (status == 2 and len(err) == 1), err  # a report says what it could not read


@pytest.mark.parametrize("name", ["best.safetensors", "last.safetensors"])
def test_exported_weights_without_a_checkpoint_are_data_too(base, tmp_path, name, capsys):
    run, marker = planted(base, tmp_path, name)
    (run / "checkpoint.safetensors").unlink()
    if name == "last.safetensors":
        (run / "best.safetensors").unlink()
    assert main(["-q", "sample", str(run), "-n", "4"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1 and not marker.exists()


def test_the_pickled_trainer_state_of_vaelab_0_1_is_never_opened(base, tmp_path, capsys):
    run, marker = planted(base, tmp_path, "trainer_state.pt")
    (run / "checkpoint.safetensors").unlink()
    assert main(["-q", "train", "--resume", str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot be resumed" in err[0] and not marker.exists()
