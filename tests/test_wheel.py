"""The wheel `python -m build` makes carries what a user needs: installed into a clean venv
beside torch (as the Makefile installs it), its `vaelab` lists the shipped configs and
trains one by name from an empty folder, `vaelab.load_config` finds one by name, and the
Python of the guide's page "vaelab in your own code" runs as a user would run it.

No skip: `build` comes with the dev extra, so a missing build tool fails here. pip installs
with --no-compile (byte-compiling all of torch would take most of the test's time); the
venv is made --without-pip and filled by this interpreter's pip (`pip --python`).
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = ["train.epochs=1", "data.num_samples=64", "data.val=16", "data.image_size=16", "train.batch_size=16", "train.progress=false"]


def run(argv: list, cwd: Path, env: dict | None = None) -> str:
    done = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{argv[:4]} failed:\n{done.stdout[-1500:]}\n{done.stderr[-3000:]}"
    return done.stdout


def build_wheel(tmp_path: Path) -> Path:
    """The wheel, built from a copy of the project (no stale build/ folder can leak in)."""
    source = tmp_path / "source"
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    run([sys.executable, "-m", "build", "--wheel", "--outdir", tmp_path / "dist", source], tmp_path)
    (wheel,) = (tmp_path / "dist").glob("vaelab-*.whl")
    return wheel


def clean_venv(tmp_path: Path, wheel: Path) -> Path:
    """A new venv holding torch, then the wheel and its dependencies; its bin/ folder."""
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], tmp_path)  # from the base Python: no repo packages
    pip = [sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "-q", "--no-compile"]
    constraints = ["-c", ROOT / "constraints.txt"]
    run([*pip, *constraints, "torch"], tmp_path)  # the torch constraints.txt pins, first, as `make setup` does
    run([*pip, *constraints, wheel], tmp_path)
    return venv / "bin"


@pytest.fixture(scope="module")
def venv_bin(tmp_path_factory):
    """The clean venv's bin/ folder, built once for this file's tests; the venv (900 MB with
    torch) is removed afterwards."""
    where = tmp_path_factory.mktemp("wheel")
    yield clean_venv(where, build_wheel(where))
    shutil.rmtree(where / "venv", ignore_errors=True)


def test_the_wheel_lists_and_trains_the_shipped_configs_from_an_empty_folder(venv_bin, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["OMP_NUM_THREADS"] = "1"

    listed = run([venv_bin / "vaelab", "configs"], empty, env).splitlines()
    names = [line.split()[0] for line in listed]
    assert names == sorted(p.stem for p in (ROOT / "src/vaelab/configs").glob("*.yaml"))  # the wheel carries them all
    assert all(len(line.split(maxsplit=1)) == 2 for line in listed)  # each with its description

    out = run([venv_bin / "vaelab", "train", "quickstart", *TINY], empty, env)
    assert "run folder: runs/quickstart" in out and (empty / "runs/quickstart/config.yaml").is_file()

    code = "import vaelab; print(vaelab.__file__); print(vaelab.load_config('quickstart').model.latent_dim)"
    where, latent_dim = run([venv_bin / "python", "-c", code], empty, env).split()
    assert Path(where).is_relative_to(venv_bin.parent) and latent_dim == "10"  # the venv's vaelab, not the repo's


def test_the_wheel_runs_the_guides_own_code_page(venv_bin, tmp_path):
    page = (ROOT / "docs/guide/own-code.md").read_text()
    blocks = [m.group(1) for m in re.finditer(r"^```python\n(.*?)^```", page, re.MULTILINE | re.DOTALL)]
    assert len(blocks) >= 4  # networks and data, scores, quantizer layers, configs, a saved folder
    (tmp_path / "own_code.py").write_text("\n".join(blocks))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    out = run([venv_bin / "python", "own_code.py"], tmp_path, {**env, "OMP_NUM_THREADS": "1"})
    assert "FiniteScalarQuantizer 240 codes" in out and "model.beta must be >= 0, got -3.0" in out
    run([venv_bin / "vaelab", "sample", "models/builtin", "--out", "samples.png"], tmp_path, env)
    assert (tmp_path / "samples.png").is_file()

