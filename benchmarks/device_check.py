"""One command for a machine with an accelerator: what the device is, whether vaelab's GPU
paths work there, and how fast vaelab trains and samples on it, within a fixed time.

    python benchmarks/device_check.py [--device cuda|cpu] [--budget 480] [--out device_check.json] [--tiny]

Sections, in this order; each records its status (done, skipped (budget), or failed with
its error in one line), and a failed one does not stop the others:
  device             name, memory, torch, CUDA and cuDNN versions
  gpu_tests          `pytest -m gpu` in a subprocess (tests/test_gpu.py): passed, failed,
                     skipped, the failures' names and messages. With --device cpu the GPU
                     is hidden from it, so they skip.
  matmul_peak        the best FLOP/s of a square bf16 (and fp32) matrix product, doubled in
                     size until one takes 10 ms (8192 at most): the device's dense ceiling
  models             the shipped MLP VAE, conv VAE and VQ-VAE (mnist_vae_mlp, mnist_vae_conv,
                     mnist_vqvae) on random binary 28x28 images, in fp32 and bf16: vaelab's
                     trainer (one epoch of vaelab.train, its train/seconds) against a bare loop
                     driving the same module with the same fused Adam and autocast on the same
                     device, alternating for a few rounds; the median and min of vaelab/bare
                     seconds per round, and the FLOP/s of each (the step's matrix products and
                     convolutions, torch.utils.flop_counter) as a fraction of the bf16 peak
  pixelcnn_sampling  64 grids of 7x7 codes (mnist_vqvae's) from an untrained default gated
                     PixelCNN over 256 codes, with a generator on the device and on the CPU
  transformer_prior  not built yet

The budget (seconds from the start) is shared out as the sections come: each gets its
weight's share of what is left, so time one leaves goes to the next; a section (or model)
whose share is under its minimum is skipped. The JSON is rewritten after every section,
so a run stopped from outside leaves what it had. The exit status is 0 unless the script
itself breaks.

Sizes: on a GPU, epochs of 20000 images at the configs' batch of 100 (200 steps), up to 5
rounds. On the CPU (or with --tiny) 32 images at batch 16 and one torch thread: a check
that the script works, not a measurement; there a CPU without bf16 matrix units makes the
bf16 product slow, so the fractions of its peak exceed 1. MNIST-sized models at batch 100
are far too small to fill a GPU: expect small fractions there, which is what they measure.
"""

from __future__ import annotations

import time

START = time.perf_counter()  # the budget counts from here, imports included

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import xml.etree.ElementTree as ET  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("vaelab") is None:  # a machine where vaelab is not installed: this tree's
    sys.path.insert(0, str(ROOT / "src"))

from shipped_vs_bare import vaelab_epoch  # noqa: E402  (benchmarks/: one epoch of vaelab.train, its train/seconds)
from vaelab.data import DataSplits, ImageDataset, to_float  # noqa: E402
from vaelab.models import build_model  # noqa: E402
from vaelab.models.priors import GatedPixelCNN, PixelCNNConfig  # noqa: E402
from vaelab.runs import load_config  # noqa: E402

MODELS = {"mlp_vae": "mnist_vae_mlp", "conv_vae": "mnist_vae_conv", "vqvae": "mnist_vqvae"}
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}
WEIGHTS = {"gpu_tests": 0.4, "matmul_peak": 0.05, "models": 0.45, "pixelcnn_sampling": 0.12}  # shares of what is left
MINIMUM = {"gpu_tests": 5.0, "matmul_peak": 0.5, "models": -math.inf, "pixelcnn_sampling": 1.0}  # seconds
MODEL_MINIMUM = 1.0  # seconds: the models section is never skipped whole, each model is
SKIPPED = "skipped (budget)"


@dataclass
class Sizes:
    images: int  # per epoch: random binary 28x28 images
    batch_size: int | None  # None: the shipped config's (100)
    rounds: int  # at most, after one warm-up round
    repeats: int  # PixelCNN sampling calls timed, at most


FULL, TINY = Sizes(20000, None, 5, 5), Sizes(32, 16, 3, 3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--budget", type=float, default=480.0, help="seconds for everything, from the start")
    parser.add_argument("--out", default="device_check.json")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes (always on the CPU)")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(1)  # a shared machine: one thread times steadily
    sizes = TINY if args.tiny or device.type == "cpu" else FULL
    report = {"budget_s": args.budget, "sizes": vars(sizes), "device": section(lambda end: device_info(device), math.inf, 0),
              "transformer_prior": {"status": "not built", "note": "vaelab has no transformer prior yet"}}
    print(f"device: {describe_device(report['device'])}; budget {args.budget:.0f} s", flush=True)
    steps = {"gpu_tests": lambda end: gpu_tests(device, end),
             "matmul_peak": lambda end: matmul_peak(device),
             "models": lambda end: models(device, sizes, end, report["matmul_peak"].get("bf16_flop_per_s")),
             "pixelcnn_sampling": lambda end: pixelcnn_sampling(device, sizes, end)}
    for i, (name, step) in enumerate(steps.items()):
        share = (START + args.budget - time.perf_counter()) * WEIGHTS[name] / sum(list(WEIGHTS.values())[i:])
        report[name] = section(step, share, MINIMUM[name])
        print(f"{name}: {report[name]['status']}", flush=True)
        write(report, args.out)
    report["seconds"] = round(time.perf_counter() - START, 1)
    write(report, args.out)
    print_table(report)
    return 0


def section(step, share: float, minimum: float) -> dict:
    """{'status': 'done', **step(end)} with `share` seconds from now (end: a perf_counter time),
    or skipped when the share is under `minimum`, or failed with its one-line error."""
    if share < minimum:
        return {"status": SKIPPED, "share_s": round(share, 1), "minimum_s": minimum}
    start = time.perf_counter()
    try:
        result = step(start + share)
    except Exception as e:  # noqa: BLE001  (recorded: the other sections go on)
        return {"status": "failed", "error": one_line(e), "seconds": round(time.perf_counter() - start, 1)}
    return {"status": "done", **result, "seconds": round(time.perf_counter() - start, 1)}


def one_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0] if lines else ''}"[:300]


def write(report: dict, out: str) -> None:
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(report, indent=1) + "\n")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device) -> float:
    """Seconds of fn(), the device's queued work included."""
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


# -- device ----------------------------------------------------------------------------

def device_info(device: torch.device) -> dict:
    info = {"type": device.type, "torch": torch.__version__, "cuda": torch.version.cuda,
            "python": platform.python_version()}
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        return {**info, "name": p.name, "memory_gib": round(p.total_memory / 2**30, 1),
                "capability": f"{p.major}.{p.minor}", "multiprocessors": p.multi_processor_count,
                "cudnn": torch.backends.cudnn.version()}
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {**info, "name": platform.processor() or platform.machine(), "memory_gib": round(memory, 1),
            "cpus": os.cpu_count(), "threads": torch.get_num_threads()}


def describe_device(d: dict) -> str:
    if d["status"] != "done":
        return f"{d['status']}: {d.get('error', '')}"
    return (f"{d['name']} ({d['type']}), {d['memory_gib']} GiB, torch {d['torch']}, CUDA {d['cuda']}, "
            f"Python {d['python']}")


# -- the GPU tests ---------------------------------------------------------------------

def gpu_tests(device: torch.device, end: float) -> dict:
    """`pytest -m gpu` over the test files that mark tests gpu; counts from its JUnit XML."""
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_*.py") if "mark.gpu" in p.read_text())
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}
    if device.type != "cuda":
        env["CUDA_VISIBLE_DEVICES"] = ""  # checking the CPU: the GPU tests skip
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "gpu.xml"
        command = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}",
                   *files]
        allowed = end - time.perf_counter()
        try:
            done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=allowed)
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"pytest -m gpu ran past its share of the budget ({allowed:.0f} s)") from None
        if not xml.exists():
            raise RuntimeError(f"pytest exited {done.returncode} with no report: {(done.stdout + done.stderr)[-300:]}")
        return {"files": files, "exit_code": done.returncode, **junit_counts(xml)}


def junit_counts(xml: Path) -> dict:
    """passed, failed, errors, skipped, and the names and messages of the failed tests."""
    suite = ET.parse(xml).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    failed = {}
    for case in suite.iter("testcase"):
        for problem in (*case.findall("failure"), *case.findall("error")):
            message = (problem.get("message") or "").split("\n")[0]
            failed[f"{case.get('classname')}::{case.get('name')}"] = message[:300]
    return {"passed": counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"],
            "failed": counts["failures"], "errors": counts["errors"], "skipped": counts["skipped"],
            "failures": sorted(failed), "failure_messages": failed}


# -- the device's matrix-product ceiling ------------------------------------------------

def matmul_peak(device: torch.device) -> dict:
    result = {}
    for name, dtype in (("bf16", torch.bfloat16), ("fp32", torch.float32)):
        result[f"{name}_flop_per_s"], result[f"{name}_n"] = matmul_flops(device, dtype)
    return result


def matmul_flops(device: torch.device, dtype: torch.dtype, products: int = 5) -> tuple[float, int]:
    """(best FLOP/s, n) of n x n by n x n products, n doubled from 256 until one takes 10 ms."""
    n = 256
    while True:
        a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
        run = lambda: [a @ b for _ in range(products)]  # noqa: E731
        run()  # warm-up
        best = min(timed(run, device) for _ in range(3)) / products
        if best > 0.01 or n >= 8192:
            return 2 * n**3 / best, n
        n *= 2


# -- vaelab's trainer against a bare loop ----------------------------------------------

def models(device: torch.device, sizes: Sizes, end: float, peak: float | None) -> dict:
    """Every model in every precision, each with an equal share of what is left of `end`."""
    cells = [(name, precision) for name in MODELS for precision in PRECISIONS]
    result = {name: {} for name in MODELS}
    for i, (name, precision) in enumerate(cells):
        share = (end - time.perf_counter()) / (len(cells) - i)
        result[name][precision] = section(lambda stop: model_cell(name, precision, device, sizes, stop, peak),
                                          share, MODEL_MINIMUM)
        print(f"  {name} {precision}: {result[name][precision]['status']}", flush=True)
    statuses = {cell["status"] for per_model in result.values() for cell in per_model.values()}
    worst = next(s for s in ("failed", SKIPPED, "done") if s in statuses)
    return {**result, "status": worst}


def model_cell(name: str, precision: str, device: torch.device, sizes: Sizes, end: float, peak: float | None) -> dict:
    """Rounds of one bare epoch and one vaelab epoch (alternating which goes first) after a
    warm-up round, as many as fit before `end`: at least one, at most sizes.rounds."""
    overrides = ["train.epochs=1", "train.progress=false", f"train.device={device}", f"train.precision={precision}"]
    cfg = load_config(MODELS[name], overrides + ([f"train.batch_size={sizes.batch_size}"] if sizes.batch_size else []))
    g = torch.Generator().manual_seed(0)
    images = (torch.rand(sizes.images, 1, 28, 28, generator=g) > 0.5).to(torch.uint8) * 255  # [N, 1, 28, 28]
    data = DataSplits(ImageDataset(images, None, name="random"), None)  # nothing held out
    x = to_float(images).to(device)  # the bare loop's copy: float [N, 1, 28, 28] on the device
    sides = {"bare": lambda r: bare_epoch(cfg, x, PRECISIONS[precision], r),
             "vaelab": lambda r: vaelab_epoch(cfg, data, r)}
    for side in sides.values():  # warm-up: first calls, allocations, a VQ-VAE's k-means
        side(0)
    seconds, round_start = {"bare": [], "vaelab": []}, time.perf_counter()
    for r in range(sizes.rounds):
        for side in (("bare", "vaelab") if r % 2 == 0 else ("vaelab", "bare")):  # alternate who goes first
            seconds[side].append(sides[side](r + 1))
        last, round_start = time.perf_counter() - round_start, time.perf_counter()
        if round_start + last > end:  # another round would not fit
            break
    rounds = len(seconds["bare"])
    steps = math.ceil(sizes.images / cfg.train.batch_size)
    flops = step_flops(cfg, x[: cfg.train.batch_size]) * steps  # an epoch's
    ratios = [v / b for v, b in zip(seconds["vaelab"], seconds["bare"])]
    fraction = lambda s: None if not peak else flops / statistics.median(s) / peak  # noqa: E731
    return {"rounds": rounds, "steps": steps, "batch_size": cfg.train.batch_size,
            "bare_ms_per_step": 1e3 * statistics.median(seconds["bare"]) / steps,
            "vaelab_ms_per_step": 1e3 * statistics.median(seconds["vaelab"]) / steps,
            "time_ratio_median": statistics.median(ratios), "time_ratio_min": min(ratios),
            "gflop_per_step": flops / steps / 1e9,
            "bare_fraction_of_bf16_peak": fraction(seconds["bare"]),
            "vaelab_fraction_of_bf16_peak": fraction(seconds["vaelab"])}


def bare_epoch(cfg, x: torch.Tensor, dtype: torch.dtype | None, seed: int) -> float:
    """Seconds of one epoch of the plainest loop over the config's own module on x's device
    (shipped_vs_bare.bare_epoch's, plus the device and autocast)."""
    torch.manual_seed(seed)
    model = build_model(cfg.model, tuple(x.shape[1:])).to(x.device).train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr, fused=True)
    dynamic, b = cfg.data.binarize == "dynamic", cfg.train.batch_size

    def epoch():
        order = torch.randperm(len(x), device=x.device)
        for i in range(0, len(x), b):
            xb = x[order[i : i + b]]
            with torch.autocast(x.device.type, dtype=dtype, enabled=dtype is not None):
                loss = model(torch.bernoulli(xb) if dynamic else xb).loss
            opt.zero_grad()
            loss.backward()
            opt.step()

    return timed(epoch, x.device)


def step_flops(cfg, x: torch.Tensor) -> float:
    """FLOPs of one training step's forward and backward on the batch x (matrix products
    and convolutions; the optimizer's and the elementwise work are not counted)."""
    torch.manual_seed(0)
    model = build_model(cfg.model, tuple(x.shape[1:])).to(x.device).train()
    model(x)  # a VQ-VAE's k-means initialisation, not counted
    with FlopCounterMode(display=False) as counter:
        model(x).loss.backward()
    return float(counter.get_total_flops())


# -- PixelCNN sampling -----------------------------------------------------------------

def pixelcnn_sampling(device: torch.device, sizes: Sizes, end: float, n: int = 64, grid=(7, 7)) -> dict:
    """Median seconds of sample(64 grids): a generator on the device, and (off the CPU) a
    CPU one, as `vaelab sample --seed` uses; repeats as fit before `end`, after a warm-up."""
    torch.manual_seed(0)
    model = GatedPixelCNN(256, PixelCNNConfig()).to(device).eval()
    kinds = {"device_generator": device, **({} if device.type == "cpu" else {"cpu_generator": "cpu"})}
    result = {"grids": n, "grid": list(grid), "num_codes": 256}
    for i, (kind, where) in enumerate(kinds.items()):
        draw = lambda: model.sample(n, grid, generator=torch.Generator(device=where).manual_seed(0))  # noqa: E731
        first = timed(draw, device)  # warm-up
        left = (end - time.perf_counter()) / (len(kinds) - i)
        times = [timed(draw, device) for _ in range(max(1, min(sizes.repeats, int(left / first))))]
        result[f"{kind}_seconds"] = statistics.median(times)
    return result


# -- the table -------------------------------------------------------------------------

def print_table(report: dict) -> None:
    print(f"\n# {describe_device(report['device'])}; {report['seconds']} s of a {report['budget_s']:.0f} s budget")
    print("| section | status | result |\n|---|---|---|")
    for name in ("gpu_tests", "matmul_peak", "pixelcnn_sampling", "transformer_prior"):
        print(f"| {name} | {report[name]['status']} | {summary(name, report[name])} |")
    print("\n| model | precision | bare ms/step | vaelab ms/step | vaelab/bare median | min | "
          "vaelab fraction of bf16 peak | status |\n|---|---|---|---|---|---|---|---|")
    for name in MODELS:
        for precision in PRECISIONS:
            c = report["models"].get(name, {}).get(precision, report["models"])  # the section's own error, if it raised
            if c["status"] != "done":
                print(f"| {name} | {precision} | | | | | | {c['status']} {c.get('error', '')}".rstrip() + " |")
                continue
            fraction = "" if c["vaelab_fraction_of_bf16_peak"] is None else f"{c['vaelab_fraction_of_bf16_peak']:.4f}"
            print(f"| {name} | {precision} | {c['bare_ms_per_step']:.2f} | {c['vaelab_ms_per_step']:.2f} | "
                  f"{c['time_ratio_median']:.3f} | {c['time_ratio_min']:.3f} | {fraction} | done |")


def summary(name: str, s: dict) -> str:
    if s["status"] != "done":
        return s.get("error") or s.get("note", "")
    if name == "gpu_tests":
        names = ", ".join(s["failures"])
        return f"{s['passed']} passed, {s['failed']} failed, {s['errors']} errors, {s['skipped']} skipped {names}".strip()
    if name == "matmul_peak":
        return (f"bf16 {s['bf16_flop_per_s'] / 1e12:.3f} TFLOP/s (n={s['bf16_n']}), "
                f"fp32 {s['fp32_flop_per_s'] / 1e12:.3f} (n={s['fp32_n']})")
    times = ", ".join(f"{k.removesuffix('_seconds')} {v:.3f} s" for k, v in s.items() if k.endswith("generator_seconds"))
    return f"{s['grids']} grids {s['grid'][0]}x{s['grid'][1]}: {times}"


if __name__ == "__main__":
    sys.exit(main())
