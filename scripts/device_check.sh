#!/bin/sh
# On a GPU machine with its own Python and PyTorch and no network, from the repository root:
#
#   sh scripts/device_check.sh [benchmarks/device_check.py's options, e.g. --budget 300]
#
# installs from wheels/ (made beforehand by scripts/device_wheels.sh) the packages that this
# Python lacks, into /tmp/vaelab-site and not into its own environment; puts src/ on the path
# (vaelab needs no install, so pip never builds anything there); then runs the check,
# whose JSON goes to $OUT/device_check.json ($OUT: the folder that comes back; else here).
set -u
PYTHON=${PYTHON:-python3}
SITE=/tmp/vaelab-site
missing=""
for package in omegaconf starlette uvicorn anyio idna click h11 typing_extensions tqdm pytest pluggy iniconfig packaging pygments; do
  "$PYTHON" -c "import $package" 2>/dev/null || missing="$missing $package"
done
if [ -n "$missing" ]; then
  echo "installing from wheels/:$missing"
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --find-links wheels --target "$SITE" $missing || exit 1
fi
export PYTHONPATH="$PWD/src:$SITE${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec "$PYTHON" benchmarks/device_check.py --out "${OUT:-.}/device_check.json" "$@"
