"""Damaged run files are refused by name, through the command line (issue 25, items 7 and 8).

Tensors: every safetensors file vaelab writes records the SHA-256 of each tensor, and every
command that reads tensors checks them: a flipped exponent bit, a zeroed tensor or a NaN
written into checkpoint.safetensors, last/best.safetensors or prior/checkpoint.safetensors
makes `sample`, `info`, `reconstruct`, `evaluate` and `train --resume` exit 2 with one line
naming the file, where they used to run on the damage (and `train --resume` re-exported it).
Files of earlier versions carry no digests: they load, unless they hold NaN or inf.

Metrics lines: a metrics.jsonl line with a string, null, list or object where a number
belongs is one line naming the file and the line (`info`), or a note in the page (`report`),
where both used to end in a traceback.
"""

import json
import shutil
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from safetensors import safe_open

from vaelab.cli import main
from vaelab import run_files

DATA = "data: {name: shapes, image_size: 16, num_samples: 160, val: 32}\n"
TRAIN = "train: {epochs: 1, batch_size: 32, progress: false}\n"
VAE = "model: {name: vae, hidden: [32], latent_dim: 4}\n"
VQVAE = "model: {name: vqvae, channels: [8, 16], res_blocks: 1, num_codes: 16, code_dim: 4}\n"
PRIOR = ["train.epochs=1", "train.progress=false", "pixelcnn.channels=8", "pixelcnn.layers=1"]
WEIGHT = "model/encoder.net.1.weight"  # the VAE's first layer, in its checkpoint


def trained(root: Path, model: str, prior: bool = False) -> Path:
    """A one-epoch run of `model` (a YAML line) trained through the command line, with its code prior if asked."""
    (root / "config.yaml").write_text(DATA + model + TRAIN)
    assert main(["-q", "train", str(root / "config.yaml"), "--out", str(root / "run")]) == 0
    assert not prior or main(["-q", "prior", "train", str(root / "run"), *PRIOR]) == 0
    return root / "run"


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    return trained(tmp_path_factory.mktemp("damaged"), VAE)


@pytest.fixture(scope="module")
def vqvae_run(tmp_path_factory):
    return trained(tmp_path_factory.mktemp("damaged_prior"), VQVAE, prior=True)


def copied(run: Path, tmp_path: Path) -> Path:
    shutil.copytree(run, tmp_path / "run")
    return tmp_path / "run"


def span(path: Path, name: str) -> tuple[int, int]:
    """Where tensor `name`'s bytes lie in a safetensors file: (start, end) from the file's start."""
    blob = path.read_bytes()
    (header_size,) = struct.unpack("<Q", blob[:8])
    begin, end = json.loads(blob[8:8 + header_size])[name]["data_offsets"]
    return 8 + header_size + begin, 8 + header_size + end


def damage(path: Path, name: str, how: str) -> None:
    """Damage tensor `name` of `path` in place, leaving its header (and recorded digests) as they are."""
    start, end = span(path, name)
    blob = bytearray(path.read_bytes())
    if how == "bit":  # the highest exponent bit of the first float32: a small weight becomes ~1e38
        blob[start + 3] ^= 0x40
    elif how == "zeros":
        blob[start:end] = bytes(end - start)
    else:  # "nan" in the first element
        blob[start:start + 4] = struct.pack("<f", float("nan"))
    path.write_bytes(bytes(blob))


def as_earlier_version(path: Path, change=None) -> None:
    """Rewrite `path` as vaelab wrote it before digests (same tensors and metadata, no sha256),
    after `change(tensors)`."""
    with safe_open(str(path), framework="pt") as f:
        metadata = {k: v for k, v in f.metadata().items() if k != run_files.DIGESTS}
    tensors = load_file(path)
    if change is not None:
        change(tensors)
    save_file(tensors, str(path), metadata=metadata)


def run_cli(argv: list[str], capsys) -> tuple[int, list[str]]:
    capsys.readouterr()
    status = main(["-q", *argv])
    return status, capsys.readouterr().err.strip().splitlines()


def assert_refused(status: int, err: list[str], *words: str) -> None:
    assert status == 2 and len(err) == 1 and "Traceback" not in err[0], (status, err)
    assert all(word in err[0] for word in words), err


COMMANDS = {
    "sample": "sample RUN -n 4 --out OUT/s.png",
    "info": "info RUN",
    "reconstruct": "reconstruct RUN -n 4 --out OUT/r.png",
    "evaluate": "evaluate RUN -n 8 --k 2 --samples 8",
    "resume": "train --resume RUN train.epochs=2",
}
CASES = [(how, command) for how in ("bit", "zeros", "nan") for command in ("sample", "info", "resume")]
CASES += [("bit", "reconstruct"), ("bit", "evaluate")]


def argv(command: str, run: Path, tmp_path: Path) -> list[str]:
    return COMMANDS[command].replace("RUN", str(run)).replace("OUT", str(tmp_path)).split()


@pytest.mark.parametrize("how,command", CASES, ids=[f"{h}-{c}" for h, c in CASES])
def test_a_damaged_checkpoint_is_refused_by_every_command_that_reads_it(vae_run, tmp_path, capsys, how, command):
    run = copied(vae_run, tmp_path)
    checkpoint = run / run_files.CHECKPOINT
    damage(checkpoint, WEIGHT, how)
    exported = {name: (run / name).read_bytes() for name in (run_files.LAST, run_files.BEST)}
    status, err = run_cli(argv(command, run, tmp_path), capsys)
    assert_refused(status, err, str(checkpoint), "SHA-256", "damaged or edited")
    assert {name: (run / name).read_bytes() for name in exported} == exported  # nothing re-exported


@pytest.mark.parametrize("name,command", [(run_files.LAST, "info"), (run_files.BEST, "sample")])
def test_damaged_exported_weights_are_refused_when_they_travel_without_the_checkpoint(vae_run, tmp_path, capsys,
                                                                                      name, command):
    run = copied(vae_run, tmp_path)
    (run / run_files.CHECKPOINT).unlink()  # the weights shared alone, as the README suggests
    damage(run / name, WEIGHT.removeprefix(run_files.MODEL), "bit")
    status, err = run_cli(argv(command, run, tmp_path), capsys)
    assert_refused(status, err, str(run / name), "SHA-256")


def test_a_report_says_the_weights_are_damaged_and_is_still_written(vae_run, tmp_path, capsys):
    run = copied(vae_run, tmp_path)
    damage(run / run_files.CHECKPOINT, WEIGHT, "zeros")
    status, err = run_cli(["report", str(run), "-o", str(tmp_path / "report.html")], capsys)
    assert status == 0, err
    assert "do not match the SHA-256" in (tmp_path / "report.html").read_text()


def test_a_damaged_code_prior_is_refused_where_sampling_used_to_crash(vqvae_run, tmp_path, capsys):
    run = copied(vqvae_run, tmp_path)
    path, prefix = run_files.weights_source(run / run_files.PRIOR_DIR, "best")
    name = next(k for k in load_file(path) if k.startswith(prefix) and k.endswith("weight"))
    damage(path, name, "nan")
    status, err = run_cli(argv("sample", run, tmp_path), capsys)
    assert_refused(status, err, str(path), "SHA-256")


def test_a_code_prior_of_an_earlier_version_holding_nan_is_refused_by_name(vqvae_run, tmp_path, capsys):
    run = copied(vqvae_run, tmp_path)
    path, prefix = run_files.weights_source(run / run_files.PRIOR_DIR, "best")
    name = next(k for k in load_file(path) if k.startswith(prefix) and k.endswith("weight"))
    as_earlier_version(path, lambda tensors: tensors[name].view(-1).__setitem__(0, float("nan")))
    status, err = run_cli(argv("sample", run, tmp_path), capsys)
    assert_refused(status, err, str(path), name, "NaN or inf")


@pytest.mark.parametrize("command", ["sample", "info", "resume"])
def test_weights_of_an_earlier_version_load_unchecked_but_nan_is_refused_by_name(vae_run, tmp_path, capsys, command):
    run = copied(vae_run, tmp_path)
    checkpoint = run / run_files.CHECKPOINT
    as_earlier_version(checkpoint)  # no digests: still opens
    status, err = run_cli(argv(command, run, tmp_path), capsys)
    assert status == 0, err
    as_earlier_version(checkpoint, lambda tensors: tensors[WEIGHT].view(-1).__setitem__(3, float("inf")))
    status, err = run_cli(argv(command, run, tmp_path), capsys)
    assert_refused(status, err, str(checkpoint), WEIGHT, "NaN or inf")


def test_a_resume_refuses_an_optimizer_state_holding_infinities(vae_run, tmp_path, capsys):
    """The state a diverged run of an earlier version kept (Adam's exp_avg_sq at inf) is not trained on."""
    run = copied(vae_run, tmp_path)
    checkpoint = run / run_files.CHECKPOINT
    name = next(k for k in load_file(checkpoint) if k.startswith("optimizer/") and k.endswith("exp_avg_sq"))
    as_earlier_version(checkpoint, lambda tensors: tensors[name].view(-1).__setitem__(0, float("inf")))
    last = (run / run_files.LAST).read_bytes()
    status, err = run_cli(argv("resume", run, tmp_path), capsys)
    assert_refused(status, err, str(checkpoint), name, "NaN or inf")
    assert (run / run_files.LAST).read_bytes() == last


def test_malformed_recorded_digests_are_refused(vae_run, tmp_path, capsys):
    run = copied(vae_run, tmp_path)
    checkpoint = run / run_files.CHECKPOINT
    with safe_open(str(checkpoint), framework="pt") as f:
        metadata = {**f.metadata(), run_files.DIGESTS: "[1, 2"}
    save_file(load_file(checkpoint), str(checkpoint), metadata=metadata)
    status, err = run_cli(argv("sample", run, tmp_path), capsys)
    assert_refused(status, err, str(checkpoint), "SHA-256")


def test_every_tensor_file_a_run_writes_records_the_sha256_of_each_tensor(vqvae_run):
    files = [vqvae_run / n for n in (run_files.CHECKPOINT, run_files.LAST, run_files.BEST)]
    files += [vqvae_run / run_files.PRIOR_DIR / n for n in (run_files.CHECKPOINT, run_files.LAST, run_files.BEST)]
    for path in files:
        with safe_open(str(path), framework="pt") as f:
            digests = json.loads(f.metadata()[run_files.DIGESTS])
            assert digests.keys() == set(f.keys()), path
            assert all(digests[k] == run_files.tensor_digest(f.get_tensor(k)) for k in f.keys()), path


# Metrics lines (item 8)

BAD_VALUES = {"string": '"0.5"', "null": "null", "list": "[1.0, 2.0]", "object": '{"mean": 1.0}', "boolean": "true"}


def with_bad_line(run: Path, value: str) -> Path:
    """Replace the value of val/loss in the run's first metrics line; returns the metrics file."""
    metrics = run / run_files.METRICS
    lines = metrics.read_text().splitlines()
    record = json.loads(lines[0])
    record["val/loss"] = "PLACEHOLDER"
    lines[0] = json.dumps(record).replace('"PLACEHOLDER"', value)
    metrics.write_text("\n".join(lines) + "\n")
    return metrics


@pytest.mark.parametrize("kind", BAD_VALUES)
def test_info_refuses_a_metrics_line_with_a_non_number_by_file_and_line(vae_run, tmp_path, capsys, kind):
    run = copied(vae_run, tmp_path)
    metrics = with_bad_line(run, BAD_VALUES[kind])
    status, err = run_cli(["info", str(run)], capsys)
    assert_refused(status, err, str(metrics), "line 1", "'val/loss'", "number")


@pytest.mark.parametrize("kind", ["string", "null", "list"])
def test_report_notes_a_metrics_line_with_a_non_number_and_is_still_written(vae_run, tmp_path, capsys, kind):
    run = copied(vae_run, tmp_path)
    with_bad_line(run, BAD_VALUES[kind])
    status, err = run_cli(["report", str(run), "-o", str(tmp_path / "report.html")], capsys)
    assert status == 0, err
    page = (tmp_path / "report.html").read_text()
    assert "line 1" in page and "val/loss" in page and "where a number belongs" in page


def test_numbers_of_every_kind_stay_readable(vae_run, tmp_path, capsys):
    """NaN and infinities are numbers (a diverged epoch's), and so are ints."""
    run = copied(vae_run, tmp_path)
    with_bad_line(run, "NaN")
    status, err = run_cli(["info", str(run)], capsys)
    assert status == 0, err
    assert run_files.read_jsonl(run / run_files.METRICS)[0]["epoch"] == 1
