"""The paths only a GPU takes: data held on the device, autocast there, the fp16 scaler
across a resume, seeded sampling with generators on either device, the codebook restart
that never reads back, a one-process NCCL group, channels-last and torch.compile on CUDA.

Marked `gpu` and skipped without CUDA: `pytest -m gpu` runs them where a GPU is, and
benchmarks/device_check.py does so on the machine it checks. Their CPU twins (the same
logic forced on the CPU) are in test_precision.py; here each asserts what only CUDA shows.
"""

import math
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from vaelab import run_files
from vaelab.config import compose
from vaelab.models import build_model, config_class
from vaelab.models.priors import GatedPixelCNN, PixelCNNConfig
from vaelab.quantizers import EMAVQ, VQ
from vaelab.runs import train
from vaelab.training import DatasetBatches

from test_training import toy_data

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ("train.device=cuda", "train.batch_size=32", "train.epochs=4", "train.progress=false", "train.lr=3e-3")
VAE = ("model.latent_dim=4", "model.hidden=[32]")  # test_training's toy VAE
VQVAE = ("model.name=vqvae", "model.channels=[8,16]", "model.res_blocks=1", "model.num_codes=16", "model.code_dim=4")
HALF = {"bf16": torch.bfloat16, "fp16": torch.float16}


def config(*overrides: str, model: tuple[str, ...] = VAE):
    """A run on the GPU of test_training's toy size: 6 steps of 32 images an epoch."""
    return compose({}, [*model, *TRAIN, *overrides], config_class)


def weights(run: Path) -> dict[str, torch.Tensor]:
    return run_files.read_tensors(run / run_files.CHECKPOINT, run_files.MODEL)


class Outputs:
    """Records (module type, training?, dtype, channels-last?) of every module's tensor
    output while in a `with` block (a global forward hook)."""

    def __enter__(self):
        self.seen = []
        self.handle = torch.nn.modules.module.register_module_forward_hook(self._record)
        return self

    def _record(self, module, args, output):
        if isinstance(output, torch.Tensor) and output.is_cuda:
            nhwc = output.dim() == 4 and output.is_contiguous(memory_format=torch.channels_last)
            self.seen.append((type(module), module.training, output.dtype, nhwc))

    def __exit__(self, *exc):
        self.handle.remove()

    def of(self, kind: type, training: bool = True) -> list[tuple]:
        return [s for s in self.seen if issubclass(s[0], kind) and s[1] == training]


def test_the_dataset_is_held_on_the_gpu_and_cut_there(tmp_path, monkeypatch):
    batches = DatasetBatches(toy_data().train, 32, "dynamic").to("cuda")
    order = batches.order(torch.Generator().manual_seed(0), True)
    draw = lambda: batches.batch(order, 1, torch.Generator(device="cuda").manual_seed(3))[0]  # noqa: E731
    x = draw()
    assert order.is_cuda and x.is_cuda and x.dtype == torch.float32 and set(x.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(x, draw())  # the binarization's noise is seeded on the device

    cut_on = []
    original = DatasetBatches.batch
    monkeypatch.setattr(DatasetBatches, "batch", lambda self, *a: (cut_on.append(self.device.type), original(self, *a))[1])
    result = train(config("train.epochs=6"), tmp_path / "on", data=toy_data())
    assert set(cut_on) == {"cuda"} and next(result.model.parameters()).is_cuda
    assert result.history[-1]["val/loss"] < 0.9 * result.history[0]["val/loss"]
    cut_on.clear()
    train(config("train.epochs=1", "train.data_on_device=false"), tmp_path / "off", data=toy_data())
    assert set(cut_on) == {"cpu"}  # kept in host memory: each batch is copied over


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_autocast_runs_the_training_step_in_the_dtype_asked_for(tmp_path, precision):
    with Outputs() as outputs:
        result = train(config(f"train.precision={precision}", "train.epochs=6"), tmp_path / "run",
                       data=toy_data())
    in_step, validating = outputs.of(torch.nn.Linear), outputs.of(torch.nn.Linear, training=False)
    assert in_step and {dtype for _, _, dtype, _ in in_step} == {HALF[precision]}
    assert validating and {dtype for _, _, dtype, _ in validating} == {torch.float32}  # validation runs in fp32
    assert all(v.dtype == torch.float32 for v in weights(tmp_path / "run").values() if v.is_floating_point())
    assert result.history[-1]["val/loss"] < 0.9 * result.history[0]["val/loss"]


def test_a_bf16_conv_vqvae_trains_channels_last_on_the_gpu(tmp_path):
    cfg = config("train.precision=bf16", "train.channels_last=true", "train.epochs=3", model=VQVAE)
    with Outputs() as outputs:
        result = train(cfg, tmp_path / "run", data=toy_data())
    convs = outputs.of(torch.nn.Conv2d)
    assert convs and all(dtype == torch.bfloat16 and nhwc for _, _, dtype, nhwc in convs)
    assert all(math.isfinite(v) for k, v in result.history[-1].items() if k.startswith("val/"))
    assert all(v.is_contiguous() for v in run_files.read_tensors(tmp_path / "run" / run_files.BEST).values())


def test_the_fp16_scaler_state_survives_a_resume_on_the_gpu(tmp_path):
    straight = train(config("train.precision=fp16"), tmp_path / "straight", data=toy_data())
    train(config("train.precision=fp16", "train.epochs=2"), tmp_path / "split", data=toy_data())
    resumed = train(config("train.precision=fp16"), tmp_path / "split", resume=True, data=toy_data())
    scaler = {run: run_files.read_metadata(tmp_path / run / run_files.CHECKPOINT)["scaler"] for run in ("straight", "split")}
    # 4 epochs of 6 steps: a scaler restarted at the resume would count 12 steps since its last change, not 24
    assert scaler["split"] == scaler["straight"] and scaler["split"]["scale"] > 0
    for k, v in weights(tmp_path / "straight").items():  # GPU kernels: close, not bit for bit
        assert torch.allclose(v, weights(tmp_path / "split")[k], rtol=1e-3, atol=1e-4), k
    assert resumed.history[-1]["val/loss"] == pytest.approx(straight.history[-1]["val/loss"], rel=1e-3)


@pytest.mark.parametrize("model", ["vae", "vamp", "hvae"])
def test_a_seed_draws_the_same_samples_with_a_generator_on_either_device(model):
    cfg = config(model={"vae": VAE, "vamp": (*VAE, "model.prior=vamp", "model.pseudo_inputs=5"),
                        "hvae": ("model.name=hvae", "model.hidden=[32]", "model.latent_dims=[4,2]",
                                 "model.ladder_hidden=8")}[model])
    torch.manual_seed(0)
    cpu = build_model(cfg.model, (1, 8, 8)).eval()
    gpu = build_model(cfg.model, (1, 8, 8)).eval()
    gpu.load_state_dict(cpu.state_dict())
    gpu.cuda()
    on_gpu = gpu.sample(16, torch.Generator().manual_seed(1))
    assert on_gpu.is_cuda and torch.equal(on_gpu, gpu.sample(16, torch.Generator().manual_seed(1)))
    assert torch.allclose(on_gpu.cpu(), cpu.sample(16, torch.Generator().manual_seed(1)), atol=1e-4)  # same draws
    own = lambda: gpu.sample(16, torch.Generator(device="cuda").manual_seed(1))  # noqa: E731
    assert own().is_cuda and torch.equal(own(), own())


def test_the_pixelcnn_draws_the_same_grids_from_a_cpu_generator_on_the_gpu(monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)  # TF32 convolutions would round 1000x coarser
    torch.manual_seed(0)
    cpu = GatedPixelCNN(16, PixelCNNConfig(channels=16, layers=2)).eval()
    gpu = GatedPixelCNN(16, PixelCNNConfig(channels=16, layers=2)).eval()
    gpu.load_state_dict(cpu.state_dict())
    gpu.cuda()
    grids = gpu.sample(32, (5, 5), generator=torch.Generator().manual_seed(2))
    reference = cpu.sample(32, (5, 5), generator=torch.Generator().manual_seed(2))
    assert grids.is_cuda and grids.dtype == torch.long
    # the logits differ by float rounding, so a draw within it of a category boundary may flip
    assert (grids.cpu() == reference).flatten(1).all(1).float().mean() >= 0.9
    own = lambda: gpu.sample(32, (5, 5), generator=torch.Generator(device="cuda").manual_seed(2))  # noqa: E731
    assert torch.equal(own(), own()) and int(own().max()) < 16


@pytest.mark.parametrize("layer", [VQ, EMAVQ])
def test_dead_codes_restart_on_the_gpu_without_a_host_sync(layer):
    torch.manual_seed(0)
    q = layer(dim=3, codebook_size=6, kmeans_init=False, dead_code_steps=2).cuda().train()
    before = q.codebook.detach().clone()
    q.unused_steps.copy_(torch.tensor([0, 5, 0, 1, 7, 0]))  # one more unused step: 1, 3 and 4 reach 2
    flat, counts = torch.randn(40, 3, device="cuda"), torch.tensor([1, 0, 1, 0, 0, 1], device="cuda")
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")  # any read-back to the host raises
    try:
        q._restart_dead_codes(flat, counts)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    dead = torch.tensor([False, True, False, True, True, False], device="cuda")
    assert torch.equal(q.codebook[~dead], before[~dead])
    assert all(bool((flat == v).all(1).any()) for v in q.codebook[dead])  # encoder outputs of the batch
    assert q.unused_steps.tolist() == [0] * 6


def test_a_compiled_model_trains_on_the_gpu(tmp_path):
    compiled = train(config("train.epochs=2", "train.compile=true"), tmp_path / "compiled", data=toy_data())
    plain = train(config("train.epochs=2"), tmp_path / "plain", data=toy_data())
    assert not any("_orig_mod" in k for k in weights(tmp_path / "compiled"))
    assert compiled.history[-1]["val/loss"] == pytest.approx(plain.history[-1]["val/loss"], rel=0.05)


NCCL_CHECK = """
import torch, torch.distributed as dist
from vaelab.nn import distributed
torch.cuda.set_device(0)
dist.init_process_group("nccl")
x = torch.arange(4.0, device="cuda")
dist.all_reduce(x)
dist.broadcast(x, src=0)
parts = [torch.empty_like(x)]
dist.all_gather(parts, x)
model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(4, 2).cuda(), device_ids=[0])
model(x[None]).sum().backward()
print("backend", dist.get_backend(), "sum", x.tolist(), "gathered", parts[0].tolist(),
      "grad", bool(model.module.weight.grad.abs().sum() > 0), "vaelab", distributed._backend_device().type)
dist.destroy_process_group()
"""


def test_a_one_process_nccl_group_runs_the_collectives():
    with socket.socket() as s:  # a free port for the rendezvous
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": "0", "WORLD_SIZE": "1",
           "LOCAL_RANK": "0", "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(NCCL_CHECK)], env=env, capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "backend nccl sum [0.0, 1.0, 2.0, 3.0] gathered [0.0, 1.0, 2.0, 3.0] grad True vaelab cuda" in done.stdout
