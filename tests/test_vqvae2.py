"""VQ-VAE-2: a PixelCNN conditioned on a grid of codes, the two-level prior, the model,
and the command line from training to samples."""

import itertools
import json
import math

import pytest
import torch

from training_steps import train_on_batch
from vaelab.cli import main
from vaelab.errors import ConfigError
from vaelab.models import build_model
from vaelab.models.quantizers import EMAVectorQuantizerConfig, FiniteScalarQuantizerConfig
from vaelab.models.priors import GatedPixelCNN, PixelCNNConfig, StackedPrior, TwoLevelPrior, join_levels, split_levels
from vaelab.models.vqvae2 import VQVAE2, VQVAE2Config


def tiny(**kw) -> PixelCNNConfig:
    return PixelCNNConfig(**{"channels": 8, "layers": 2, "kernel_size": 3, "embedding_dim": 4, **kw})


def test_a_context_conditions_every_position_and_the_codes_keep_their_raster_order():
    torch.manual_seed(0)
    model = GatedPixelCNN(5, tiny(context_codes=3))
    codes, context = torch.randint(0, 5, (1, 4, 4)), torch.randint(0, 3, (1, 2, 2))
    base = model.logits(codes, context=context)
    for a, b in itertools.product(range(2), range(2)):  # any context code changes the logits somewhere
        changed = context.clone()
        changed[0, a, b] = (changed[0, a, b] + 1) % 3
        assert not torch.allclose(model.logits(codes, context=changed), base)
    later = codes.clone()
    later[0, 2, 1] = (later[0, 2, 1] + 1) % 5  # a code at (2, 1) changes nothing at or before it
    moved = model.logits(later, context=context)
    flat_equal = (moved == base).all(1).flatten()
    assert flat_equal[: 2 * 4 + 1 + 1].all() and not flat_equal.all()
    with pytest.raises(ConfigError, match="context"):
        model.logits(codes)


@pytest.mark.parametrize("labels", [False, True])
def test_fast_sampling_with_a_context_draws_the_naive_sampler_s_grids(labels):
    torch.manual_seed(1)
    model = GatedPixelCNN(6, tiny(context_codes=4, num_classes=3 if labels else None))
    n = 16
    context = torch.randint(0, 4, (n, 2, 3))
    y = torch.arange(n) % 3 if labels else None
    fast = model.sample(n, (4, 5), y, torch.Generator().manual_seed(2), context=context)
    naive = model.sample_naive(n, (4, 5), y, torch.Generator().manual_seed(2), context=context)
    assert torch.equal(fast, naive)


def test_the_two_level_prior_is_a_normalised_distribution_over_both_grids():
    torch.manual_seed(0)
    prior = TwoLevelPrior(2, (1, 2), (2, 2), tiny())
    every = torch.tensor(list(itertools.product(range(2), repeat=6)))  # all 2^(2 + 4) joined grids
    with torch.no_grad():
        total = torch.logsumexp(prior.log_prob(every), 0)
    assert float(total) == pytest.approx(0.0, abs=1e-5)
    top, bottom = split_levels(every, (1, 2), (2, 2))
    assert torch.equal(join_levels(top, bottom), every)
    parts = prior.level_log_probs(every)
    assert torch.allclose(parts[0] + parts[1], prior.log_prob(every))
    draws = prior.sample(5, generator=torch.Generator().manual_seed(0))
    assert draws.shape == (5, 6) and draws.max() < 2


def test_the_stacked_prior_is_normalised_and_each_stage_sees_the_ones_before():
    torch.manual_seed(0)
    prior = StackedPrior(2, 3, tiny())
    every = torch.tensor(list(itertools.product(range(2), repeat=6))).view(-1, 3, 1, 2)  # all 2^(3 x 2) stacks
    with torch.no_grad():
        assert float(torch.logsumexp(prior.log_prob(every), 0)) == pytest.approx(0.0, abs=1e-5)
        codes = every[37:38]
        changed = codes.clone()
        changed[0, 0, 0, 1] = 1 - changed[0, 0, 0, 1]  # stage 1's second code
        before, after = prior.stage_log_probs(codes), prior.stage_log_probs(changed)
    assert not torch.allclose(before[2], after[2])  # stage 3 is conditioned on stage 1
    draws = prior.sample(4, (3, 1, 2), generator=torch.Generator().manual_seed(0))
    assert draws.shape == (4, 3, 1, 2) and draws.max() < 2


def model(**kw) -> VQVAE2:
    return VQVAE2(VQVAE2Config(**{"channels": [8, 16], "top_channels": [16], "res_blocks": 1, "num_codes": 16,
                                  "code_dim": 4, "quantizer": EMAVectorQuantizerConfig(kmeans_init=False), **kw}),
                  (1, 28, 28))


def test_grids_codes_and_decoding_agree():
    torch.manual_seed(0)
    m = model().eval()
    assert m.grids == ((4, 4), (7, 7)) and m.code_shape == (16 + 49,)
    x = torch.rand(3, 1, 28, 28)
    codes = m.encode_codes(x)
    assert codes.shape == (3, 65) and codes.max() < 16
    assert torch.allclose(m.decode_codes(codes), m.reconstruct(x), atol=1e-5)
    assert torch.allclose(m.decode(m.encode(x)), m.reconstruct(x), atol=1e-5)
    assert m.count_codes(codes).sum() == 3 * 65 and len(m.count_codes(codes)) == 32


def test_the_reconstruction_trains_both_levels_and_the_loss_falls():
    torch.manual_seed(0)
    m = model().train()
    x = (torch.rand(8, 1, 28, 28) > 0.5).float()
    out = m(x)
    assert set(out.terms) == {"recon", "top_commitment", "bottom_commitment", "mse"}
    m.zero_grad()  # the reconstruction term alone (the terms are detached copies)
    m.likelihood.nll(m.decode_levels(*(q.z_q for q in m.quantize(x))), x).mean().backward()
    assert m.top_encoder.net[0].weight.grad.abs().sum() > 0  # the top level is used by the decoder
    assert m.encoder.net[0].weight.grad.abs().sum() > 0
    mses = train_on_batch(m, x, 40, term="mse")
    assert sum(mses[-5:]) < 0.7 * sum(mses[:5])


def test_residual_quantizers_are_refused_at_either_level():
    with pytest.raises(ConfigError, match="vqvae2 takes one code per position"):
        VQVAE2Config(quantizer="residual")
    fsq = FiniteScalarQuantizerConfig(levels=[4, 4])
    assert type(build_model(VQVAE2Config(quantizer=fsq, num_codes=16), (1, 28, 28))) is VQVAE2


def test_train_prior_sample_evaluate_and_report_from_the_command_line(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("data: {name: shapes, image_size: 16, num_samples: 300, val: 60}\n"
                      "model: {name: vqvae2, channels: [8], top_channels: [8], res_blocks: 1, num_codes: 16, code_dim: 4}\n"
                      "train: {epochs: 1, batch_size: 50, progress: false}\n")
    run = str(tmp_path / "run")
    assert main(["train", str(config), "--out", run]) == 0
    argv = ["prior", "train", run, "train.epochs=1", "train.progress=false", "pixelcnn.channels=8", "pixelcnn.layers=1"]
    assert main(argv) == 0
    assert "bits per code (80 codes)" in capsys.readouterr().out  # a 4x4 top grid and an 8x8 bottom grid
    assert main(["sample", run, "-n", "4"]) == 0
    assert main(["interpolate", run, "--from", "0", "--to", "1", "--steps", "4"]) == 0
    assert main(["evaluate", run, "-n", "40"]) == 0
    codebook = json.loads((tmp_path / "run" / "evaluation.json").read_text())["codebook"]
    assert codebook["num_codes"] == 32 and codebook["grid"] == [8, 8] and codebook["prior_nll"] > 0
    assert codebook["prior_bits_per_code"] == pytest.approx(codebook["prior_nll"] / (80 * math.log(2)), rel=1e-6)
    assert main(["report", run, "-o", str(tmp_path / "report.html")]) == 0
