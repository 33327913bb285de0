"""A property over random damage to a run folder someone handed you (issue 25): links to
outside files and folders at any entry, truncation, bit flips in headers and data, wrong
types in metrics lines, a picture claiming a huge size. Every reading and writing command
then exits 0 or with one line (no traceback), changes nothing outside the folder, and
loses no trained weights (only a resumed training may replace them, by training)."""

import hashlib
import json
import os
import shutil
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from vaelab.cli import main

TINY = """
data: {name: shapes, image_size: 16, num_samples: 96, val: 24}
model: {name: vae, latent_dim: 2, hidden: [8]}
train: {epochs: 1, batch_size: 48, progress: false}
"""
COMMANDS = {  # RUN: the damaged folder; OUT: a fresh folder outside it
    "info": ["info", "RUN"],
    "sample": ["sample", "RUN", "-n", "4"],
    "sample --out": ["sample", "RUN", "-n", "4", "--out", "OUT/s.png"],
    "reconstruct": ["reconstruct", "RUN", "-n", "4"],
    "plot": ["plot", "RUN", "samples", "curves"],
    "evaluate": ["evaluate", "RUN", "-n", "8", "--k", "2"],
    "report": ["report", "RUN", "-o", "OUT/report.html"],
    "resume": ["train", "--resume", "RUN", "train.epochs=2"],
}
WEIGHTS = ("last.safetensors", "best.safetensors", "checkpoint.safetensors")
ENTRIES = ("config.yaml", "metrics.jsonl", "samples.png", "reconstructions.png", ".lock", ".vaelab-run", *WEIGHTS)


@pytest.fixture(scope="module")
def original(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("damage")
    (folder / "c.yaml").write_text(TINY)
    assert main(["train", str(folder / "c.yaml"), "--out", str(folder / "run")]) == 0
    return folder / "run"


def huge_png() -> bytes:
    """A valid PNG header that claims 60000 x 60000 pixels (and no image data)."""
    ihdr = struct.pack(">IIBBBBB", 60000, 60000, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))


def damage(run: Path, outside: Path, kind: str, entry: str, where: float, bit: int) -> None:
    path = run / entry
    if kind == "link to a file":
        path.unlink(missing_ok=True)
        path.symlink_to(outside / "victim.txt")
    elif kind == "link to a folder":
        path = run / ("prior" if entry.endswith(".png") else entry)
        path.unlink(missing_ok=True)
        path.symlink_to(outside / "victim_dir", target_is_directory=True)
    elif kind == "truncate" and path.is_file():
        data = path.read_bytes()
        path.write_bytes(data[:int(len(data) * where)])
    elif kind == "flip a bit" and path.is_file():
        data = bytearray(path.read_bytes())
        if data:
            i = min(int(len(data) * where), len(data) - 1) if where > 0.1 else int(where * 80) % len(data)  # headers often
            data[i] ^= 1 << bit
            path.write_bytes(bytes(data))
    elif kind == "wrong types in metrics":
        lines = (run / "metrics.jsonl").read_text().splitlines()
        record = json.loads(lines[-1])
        key = sorted(record)[int(where * (len(record) - 1))]
        record[key] = ["text", None, [1, 2]][bit % 3]
        (run / "metrics.jsonl").write_text("\n".join(lines[:-1] + [json.dumps(record)]) + "\n")
    elif kind == "huge picture":
        (run / "samples.png").unlink(missing_ok=True)
        (run / "samples.png").write_bytes(huge_png())


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}


@settings(max_examples=int(os.environ.get("VAELAB_DAMAGE_EXAMPLES", "40")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(kind=st.sampled_from(["link to a file", "link to a folder", "truncate", "flip a bit", "wrong types in metrics",
                             "huge picture"]),
       entry=st.sampled_from(ENTRIES), where=st.floats(0, 1), bit=st.integers(0, 7),
       command=st.sampled_from(sorted(COMMANDS)))
def test_any_damage_gives_success_or_one_line_and_touches_nothing_outside(original, tmp_path_factory, capsys, kind,
                                                                          entry, where, bit, command):
    base = tmp_path_factory.mktemp("case")
    run, outside, out = Path(shutil.copytree(original, base / "run")), base / "outside", base / "out"
    (outside / "victim_dir").mkdir(parents=True)
    (outside / "victim.txt").write_text("keep me")
    (outside / "victim_dir" / "precious.txt").write_text("keep me too")
    out.mkdir()
    damage(run, outside, kind, entry, where, bit)
    before_outside, before_weights = snapshot(outside), {w: snapshot(run).get(w) for w in WEIGHTS}
    capsys.readouterr()
    status = main([a.replace("RUN", str(run)).replace("OUT", str(out)) for a in COMMANDS[command]])
    err = capsys.readouterr().err
    event(f"{command}: exit {status}")  # pytest --hypothesis-show-statistics
    assert "Traceback" not in err
    assert status == 0 or len(err.strip().splitlines()) == 1, (status, err)
    assert snapshot(outside) == before_outside
    if command != "resume" or status != 0:
        after = snapshot(run)
        assert all(after.get(w) == before_weights[w] for w in WEIGHTS if before_weights[w] is not None)
