#!/bin/sh
# wheels/: the pure-Python packages that vaelab and its GPU tests need, for a GPU machine
# that has Python and PyTorch but no network (see README, "On a GPU machine").
#
#   sh scripts/device_wheels.sh        (or: make device-wheels), here, with PyPI reachable
#
# The versions are those of this checkout's .venv (the ones the suite passes with), the
# wheels those for Python 3.12 (the GPU image's). scripts/device_check.sh installs there
# only the ones its Python lacks. Not here: torch (the machine's own) and the compiled
# dependencies (numpy, safetensors, pyyaml, pillow, matplotlib), which that image has.
set -eu
PYTHON=${PYTHON:-.venv/bin/python}
# omegaconf: configs; starlette, uvicorn (and anyio, idna, click, h11, typing_extensions):
# vaelab explore; tqdm: progress bars; pytest (pluggy, iniconfig, packaging, pygments): the tests
PACKAGES="omegaconf starlette uvicorn anyio idna click h11 typing_extensions tqdm pytest pluggy iniconfig packaging pygments"
pins=$("$PYTHON" -c 'import sys, importlib.metadata as m; print(" ".join(f"{p}=={m.version(p)}" for p in sys.argv[1:]))' $PACKAGES)
rm -rf wheels
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 -c constraints.txt -d wheels $pins
ls wheels
