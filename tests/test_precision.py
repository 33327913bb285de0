"""How the arithmetic is done: mixed precision, channels-last, torch.compile, data on the
device. All on the CPU (bf16 and fp16 autocast run there too); nothing needs a GPU."""

import pytest
import torch

from vaelab.data import ImageDataset
from vaelab.models import VQVAE, VQVAEConfig
from vaelab.runs import train
from vaelab.training import DatasetBatches, TensorBatches
from vaelab import run_files

from test_training import toy_config, toy_data

CONV = ("model.backbone=conv", "model.channels=[8,16]", "model.res_blocks=1")


def weights(run):
    return run_files.read_tensors(run / run_files.CHECKPOINT, run_files.MODEL)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_half_precision_trains_with_float32_losses_and_weights(tmp_path, precision):
    result = train(toy_config(f"train.precision={precision}", "train.epochs=8"), tmp_path / "run", data=toy_data())
    history = result.history
    assert history[-1]["val/loss"] < 0.8 * history[0]["val/loss"]
    assert all(v.dtype == torch.float32 for v in weights(tmp_path / "run").values() if v.is_floating_point())
    reference = train(toy_config("train.epochs=8"), tmp_path / "fp32", data=toy_data()).history
    assert history[-1]["val/loss"] == pytest.approx(reference[-1]["val/loss"], rel=0.1)  # the same run, coarser


def test_the_fp16_gradient_scaler_resumes_exactly(tmp_path):
    straight = train(toy_config("train.precision=fp16"), tmp_path / "straight", data=toy_data())
    train(toy_config("train.precision=fp16", "train.epochs=2"), tmp_path / "split", data=toy_data())
    resumed = train(toy_config("train.precision=fp16"), tmp_path / "split", resume=True, data=toy_data())
    assert run_files.read_metadata(tmp_path / "split" / run_files.CHECKPOINT)["scaler"]["scale"] > 0
    for k, v in weights(tmp_path / "straight").items():
        assert torch.equal(v, weights(tmp_path / "split")[k]), k
    assert resumed.history[-1]["val/loss"] == straight.history[-1]["val/loss"]


def test_the_quantizer_stays_float32_under_autocast():
    model = VQVAE(VQVAEConfig(channels=[8, 16], res_blocks=1, num_codes=8, code_dim=4), (1, 8, 8)).train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(torch.rand(16, 1, 8, 8))
    assert all(v.dtype == torch.float32 for v in out.terms.values()) and out.loss.dtype == torch.float32
    assert model.quantizer.codebook.dtype == torch.float32


def test_channels_last_gives_the_same_run_up_to_rounding(tmp_path):
    plain = train(toy_config(*CONV, "train.epochs=2"), tmp_path / "plain", data=toy_data()).history
    nhwc = train(toy_config(*CONV, "train.epochs=2", "train.channels_last=true"), tmp_path / "nhwc", data=toy_data()).history
    for a, b in zip(plain, nhwc):
        assert b["val/loss"] == pytest.approx(a["val/loss"], rel=1e-3)
    loaded = run_files.read_tensors(tmp_path / "nhwc" / run_files.BEST)  # saved in the usual (contiguous) layout
    assert all(v.is_contiguous() for v in loaded.values())


def test_a_compiled_model_trains_and_saves_the_plain_model_weights(tmp_path):
    result = train(toy_config("train.epochs=2", "train.compile=true"), tmp_path / "run", data=toy_data())
    assert not any("_orig_mod" in k for k in weights(tmp_path / "run"))
    reference = train(toy_config("train.epochs=2"), tmp_path / "plain", data=toy_data())
    # the same training, not the same numbers: compiled kernels fuse (other rounding) and
    # draw their own random numbers for the reparameterisation noise
    assert result.history[-1]["val/loss"] == pytest.approx(reference.history[-1]["val/loss"], rel=0.05)


def test_batches_are_cut_and_converted_on_the_data_device():
    """The meta device stands in for an accelerator: every tensor must end up there."""
    data = ImageDataset(torch.randint(0, 256, (10, 1, 4, 4), dtype=torch.uint8), torch.arange(10), name="t")
    for batches in (DatasetBatches(data, 4, "static"), TensorBatches(torch.zeros(10, 3), torch.arange(10), 4)):
        batches.to("meta")
        order = batches.order(torch.Generator().manual_seed(0), True)
        assert order.device.type == "meta" and batches.num_batches == 3
        x, y = batches.batch(order, 2, torch.Generator())
        assert x.device.type == "meta" and y.device.type == "meta" and len(x) == 2


def test_the_quantizer_reads_its_initialized_flag_only_until_it_is_set(monkeypatch):
    """No host sync per step on a GPU: after k-means ran (or weights saying so were loaded),
    the flag is not read again until the next load."""
    model = VQVAE(VQVAEConfig(channels=[8, 16], res_blocks=1, num_codes=8, code_dim=4), (1, 8, 8)).train()
    q = model.quantizer
    runs = []
    original = type(q)._kmeans_init
    monkeypatch.setattr(type(q), "_kmeans_init", lambda self, flat: (runs.append(1), original(self, flat)))
    model(torch.rand(16, 1, 8, 8))
    q.initialized.fill_(False)  # not read again: nothing runs
    model(torch.rand(16, 1, 8, 8))
    assert len(runs) == 1
    state = model.state_dict()
    model.load_state_dict(state)  # loading says: not initialized (the flag as saved)
    model(torch.rand(16, 1, 8, 8))
    assert len(runs) == 2 and bool(q.initialized)


@pytest.mark.parametrize("quantizer", ["vq", "ema"])
def test_dead_codes_restart_without_a_host_sync_as_they_do_with_one(monkeypatch, quantizer):
    """Off the CPU the restart takes no read-back (a candidate for every code, kept where the
    code is dead); forced here on the CPU, it must restart the same codes the same way."""
    from vaelab.models.quantizers import build_quantizer, vq

    def restarted(sync_free: bool):
        torch.manual_seed(0)
        q = build_quantizer(quantizer, num_codes=6, code_dim=3, kmeans_init=False, dead_code_steps=2).train()
        before = q.codebook.clone()
        q.unused_steps.copy_(torch.tensor([0, 5, 0, 1, 7, 0]))  # one more unused step: 1, 3 and 4 reach 2
        monkeypatch.setattr(vq, "reads_back_cheaply", lambda device: not sync_free)
        flat = torch.randn(40, 3)
        q._restart_dead_codes(flat, torch.tensor([1, 0, 1, 0, 0, 1]))  # codes 1, 3 and 4 unused this step
        return q, before, flat

    for sync_free in (False, True):
        q, before, flat = restarted(sync_free)
        dead = torch.tensor([False, True, False, True, True, False])
        assert torch.equal(q.codebook[~dead], before[~dead])
        assert all(any(torch.equal(v, row) for row in flat) for v in q.codebook[dead])  # encoder outputs
        assert q.unused_steps.tolist() == [0, 0, 0, 0, 0, 0]
        if quantizer == "ema":
            assert q.cluster_size[dead].tolist() == [1.0, 1.0, 1.0] and torch.equal(q.embed_sum[dead], q.codebook[dead])


def test_restored_optimizer_moments_take_their_weights_channels_last_layout():
    from vaelab.training.checkpoint import _match_layouts

    conv = torch.nn.Conv2d(3, 4, 3).to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(conv.parameters())
    conv(torch.rand(1, 3, 5, 5)).sum().backward()
    optimizer.step()
    state = optimizer.state_dict()
    state["state"][0]["exp_avg"] = state["state"][0]["exp_avg"].contiguous()  # as a checkpoint stores it
    optimizer.load_state_dict(state)
    _match_layouts(optimizer)
    moments = optimizer.state[conv.weight]
    assert moments["exp_avg"].stride() == conv.weight.stride() == moments["exp_avg_sq"].stride()
    assert torch.equal(moments["exp_avg"], state["state"][0]["exp_avg"])
