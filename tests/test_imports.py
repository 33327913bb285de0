"""Light imports (issue 22): `import vaelab`, the models and the quantizers load no library
they do not need, and `vaelab --help` answers without torch. Each import runs in a fresh
interpreter under `-X importtime`, whose report names every module loaded and who loaded it."""

import os
import subprocess
import sys

import pytest

# Loaded only by the functions that use them (pictures, the explorer, configs, files, progress bars).
HEAVY = ("torch", "numpy", "matplotlib", "PIL", "starlette", "uvicorn", "omegaconf", "tqdm", "safetensors", "yaml")


def imports(*args: str) -> tuple[subprocess.CompletedProcess, dict[str, str]]:
    """Run python -X importtime ARGS; (the process, {heavy module loaded: the vaelab module that loaded it})."""
    proc = subprocess.run([sys.executable, "-X", "importtime", *args], capture_output=True, text=True, timeout=300)
    # one line per module, after its own imports, indented by depth: the next shallower line is its importer
    lines = [line.split("|")[-1] for line in proc.stderr.splitlines() if line.startswith("import time:") and "|" in line]
    names = [(len(line) - len(line.lstrip()), line.strip()) for line in lines[1:]]
    found: dict[str, str] = {}
    for i, (depth, name) in enumerate(names):
        top = name.split(".")[0]
        if top in HEAVY and top not in found:
            importer = "the command itself"
            for parent_depth, parent in names[i + 1:]:
                if parent_depth < depth:
                    depth = parent_depth
                    if parent.startswith("vaelab"):
                        importer = parent
                        break
            found[top] = importer
    return proc, found


@pytest.fixture(scope="module")
def torch_brings():
    """What `import torch` loads by itself (numpy, tqdm for torch.hub): allowed wherever torch is."""
    proc, found = imports("-c", "import torch")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return set(found)


@pytest.mark.parametrize("module, needs_torch", [
    ("vaelab", False),
    ("vaelab.models", True),
    ("vaelab.models.quantizers", True),
    ("vaelab.quantizers", True),
])
def test_an_import_loads_only_what_it_needs(module, needs_torch, torch_brings):
    proc, found = imports("-c", f"import {module}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    allowed = torch_brings if needs_torch else set()
    offenders = {name: importer for name, importer in found.items() if name not in allowed}
    assert not offenders, f"`import {module}` loads " + ", ".join(f"{n} (imported by {i})" for n, i in offenders.items())


def test_vaelab_help_answers_without_torch():
    proc, found = imports("-m", "vaelab", "--help")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("usage: vaelab")
    assert not found, "`vaelab --help` loads " + ", ".join(f"{n} (imported by {i})" for n, i in found.items())


def test_vaelab_configs_answers_without_torch_and_stops_quietly_when_its_reader_does():
    proc, found = imports("-m", "vaelab", "configs")
    assert proc.returncode == 0 and "quickstart" in proc.stdout, proc.stderr[-2000:]
    assert not found, "`vaelab configs` loads " + ", ".join(f"{n} (imported by {i})" for n, i in found.items())
    read, write = os.pipe()
    os.close(read)  # a reader that has already gone, as `| head -1` is after its line
    try:
        gone = subprocess.run([sys.executable, "-m", "vaelab", "configs"], stdout=write, stderr=subprocess.PIPE,
                              text=True, timeout=60)
    finally:
        os.close(write)
    assert gone.returncode == 0 and gone.stderr == "", gone.stderr[-2000:]  # no BrokenPipeError traceback
