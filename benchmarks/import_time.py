"""How long vaelab takes to import, and the `vaelab` command to answer --help (issue 22).

    OMP_NUM_THREADS=1 python benchmarks/import_time.py [--repeats 15]

Each case runs in a fresh interpreter, so nothing is cached in the process; the cases take
turns (one of each per round), so a slow spell of a shared machine falls on all of them alike.
Prints a markdown table: the fastest and the median wall time of each case over the rounds,
interpreter start included (the first row is that start alone). Whatever is first on
PYTHONPATH is the vaelab measured, so an older checkout can be timed with
PYTHONPATH=that/checkout/src.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def cases() -> dict[str, list[str]]:
    """{row label: command}; `vaelab --help` is the console script when installed beside this Python."""
    python = sys.executable
    script = Path(python).parent / "vaelab"
    command = [str(script), "--help"] if script.is_file() else [python, "-m", "vaelab", "--help"]
    return {
        "python (interpreter start)": [python, "-c", "pass"],
        "import torch": [python, "-c", "import torch"],
        "import vaelab": [python, "-c", "import vaelab"],
        "import vaelab.models": [python, "-c", "import vaelab.models"],
        "vaelab --help": command,
    }


def seconds(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="fresh processes per case (default 15)")
    args = parser.parse_args()
    commands = cases()
    times: dict[str, list[float]] = {label: [] for label in commands}
    seconds(commands["import torch"])  # warm the file cache once; not counted
    for _ in range(args.repeats):
        for label, command in commands.items():
            times[label].append(seconds(command))
    print(f"{args.repeats} fresh processes per case, interleaved; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}\n")
    print("| case                       | min (s) | median (s) |")
    print("|----------------------------|---------|------------|")
    for label, values in times.items():
        print(f"| {label:<26} | {min(values):7.2f} | {statistics.median(values):10.2f} |")


if __name__ == "__main__":
    main()
