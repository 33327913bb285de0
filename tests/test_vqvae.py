"""The vector quantizer's equations and the VQ-VAE built on it."""

import math

import pytest
import torch

from training_steps import train_on_batch
from vaelab.errors import CapabilityError, ConfigError
from vaelab.models import VQVAE, VQVAEConfig
from vaelab.data import ImageDataset
from vaelab.evaluation import codebook_scores
from vaelab.models.priors import GatedPixelCNN, PixelCNNConfig
from vaelab.models.quantizers import (EMAVectorQuantizer, EMAVectorQuantizerConfig, Quantizer, VectorQuantizer,
                                      VectorQuantizerConfig, build_quantizer)


def quantizer(ema=True, **kw):
    """A small quantizer of the family on [B, D, ...]: the EMA one by default, the loss-trained one with ema=False."""
    base = dict(dim=2, codebook_size=4, kmeans_init=False, dead_code_steps=0, channels_first=True)
    return (EMAVectorQuantizer if ema else VectorQuantizer)(**{**base, **kw})


def test_nearest_code_and_straight_through_gradient():
    q = quantizer(ema=False)
    q.codebook.data = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    z_e = torch.tensor([[[[0.1]], [[0.2]]], [[[0.9]], [[0.8]]]], requires_grad=True)  # [2, D=2, 1, 1]
    out = q(z_e)
    assert out.codes.flatten().tolist() == [0, 3]
    assert torch.equal(out.z_q.detach()[:, :, 0, 0], torch.tensor([[0.0, 0.0], [1.0, 1.0]]))
    upstream = torch.randn_like(z_e)
    (out.z_q * upstream).sum().backward()
    assert torch.equal(z_e.grad, upstream)  # copied to the encoder unchanged


def test_codebook_loss_moves_only_the_codebook_and_commitment_only_the_encoder():
    q = quantizer(ema=False, commitment=0.25)
    z_e = torch.randn(3, 2, 2, 2, requires_grad=True)
    losses = q(z_e).losses
    losses["codebook"].backward(retain_graph=True)
    assert z_e.grad is None and q.codebook.grad.abs().sum() > 0
    q.codebook.grad = None
    losses["commitment"].backward()
    assert z_e.grad.abs().sum() > 0 and q.codebook.grad is None
    e = q.lookup(q(z_e).codes)
    assert torch.allclose(losses["commitment"], 0.25 * (z_e - e).pow(2).sum() / 3)


def test_ema_update_matches_its_formula_on_a_hand_computed_example():
    q = quantizer(dim=1, codebook_size=2, decay=0.5, epsilon=0.0)
    q.codebook.copy_(torch.tensor([[0.0], [10.0]]))
    q.embed_sum.copy_(q.codebook)
    q.train()
    q(torch.tensor([1.0, 2.0, 9.0]).view(3, 1, 1, 1))  # codes 0, 0, 1
    # N = 0.5 * [1, 1] + 0.5 * [2, 1] = [1.5, 1];  m = 0.5 * [0, 10] + 0.5 * [3, 9] = [1.5, 9.5]
    assert torch.allclose(q.cluster_size, torch.tensor([1.5, 1.0]))
    assert torch.allclose(q.embed_sum, torch.tensor([[1.5], [9.5]]))
    assert torch.allclose(q.codebook, torch.tensor([[1.0], [9.5]]))  # m / N (no smoothing with eps = 0)
    # Laplace smoothing: N~_i = (N_i + eps) / (N + K eps) * N
    r = quantizer(dim=1, codebook_size=2, decay=0.5, epsilon=0.5)
    r.codebook.copy_(torch.tensor([[0.0], [10.0]]))
    r.embed_sum.copy_(r.codebook)
    r.train()
    r(torch.tensor([1.0, 2.0, 9.0]).view(3, 1, 1, 1))
    smoothed = (torch.tensor([1.5, 1.0]) + 0.5) / (2.5 + 1.0) * 2.5
    assert torch.allclose(r.codebook[:, 0], torch.tensor([1.5, 9.5]) / smoothed)


def test_an_unused_code_keeps_its_vector_under_ema():
    q = quantizer(decay=0.99)
    start = q.codebook.clone()
    q.codebook[3] = torch.tensor([50.0, 50.0])  # far away: never chosen
    q.embed_sum.copy_(q.codebook)
    q.train()
    for _ in range(20):
        q(torch.randn(8, 2, 1, 1) * 0.01)
    assert torch.isfinite(q.codebook).all()
    assert torch.allclose(q.codebook[3], torch.tensor([50.0, 50.0]), rtol=1e-3)
    assert not torch.equal(q.codebook[:3], start[:3])


def test_chunked_and_full_searches_agree():
    torch.manual_seed(0)
    z = torch.randn(5, 8, 6, 6)
    small, full = quantizer(dim=8, codebook_size=64, chunk_size=7), quantizer(dim=8, codebook_size=64)
    full.codebook.copy_(small.codebook)
    small.eval(), full.eval()
    assert torch.equal(small(z).codes, full(z).codes)


def test_a_dead_code_is_restarted_at_an_encoder_output():
    q = quantizer(dead_code_steps=3)
    q.codebook[2] = torch.tensor([100.0, 100.0])
    q.embed_sum.copy_(q.codebook)
    q.train()
    z = torch.randn(4, 2, 3, 3)
    for _ in range(3):
        q(z)
    restarted = q.codebook[2]
    flat = z.movedim(1, -1).reshape(-1, 2)
    assert (flat - restarted).abs().sum(1).min() < 1e-6  # now one of the encoder's vectors
    assert q.unused_steps[2] == 0 and q.cluster_size[2] == 1.0


def test_kmeans_initialisation_uses_every_code_on_the_first_batch():
    torch.manual_seed(0)
    q = quantizer(dim=3, codebook_size=16, kmeans_init=True)
    q.train()
    z = torch.randn(10, 3, 4, 4)
    q.reset_usage()
    q(z)
    assert bool(q.initialized)
    assert q.usage_stats()["usage"] == 1.0
    with pytest.raises(ConfigError, match="k-means"):
        quantizer(dim=3, codebook_size=64, kmeans_init=True).train()(torch.randn(1, 3, 2, 2))


def test_usage_and_perplexity():
    q = quantizer(dim=1, codebook_size=4)
    q.usage_counts.copy_(torch.tensor([5.0, 5.0, 5.0, 5.0]))
    assert q.usage_stats() == {"usage": 1.0, "perplexity": pytest.approx(4.0)}
    q.usage_counts.copy_(torch.tensor([7.0, 0.0, 0.0, 0.0]))
    assert q.usage_stats() == {"usage": 0.25, "perplexity": pytest.approx(1.0)}


@pytest.mark.parametrize("channels,grid", [([8, 16], (7, 7)), ([8, 16, 16], (4, 4))])
def test_vqvae_shapes_codes_and_loss(channels, grid):
    model = VQVAE(VQVAEConfig(channels=channels, num_codes=32, code_dim=4, res_blocks=1), (1, 28, 28))
    x = torch.rand(4, 1, 28, 28)
    model.train()
    out = model(x)
    assert model.grid == grid
    assert set(out.terms) == {"recon", "commitment", "mse"}
    codes = model.encode_codes(x)
    assert codes.shape == (4, *grid) and codes.dtype == torch.long
    assert model.decode_codes(codes).shape == x.shape
    assert torch.allclose(model.reconstruct(x), model.decode_codes(codes), atol=1e-6)
    with pytest.raises(CapabilityError, match="prior"):
        model.sample(2)


def test_vqvae_learns_and_keeps_its_codebook_in_use():
    torch.manual_seed(0)
    prototypes = (torch.rand(8, 1, 8, 8) > 0.5).float()
    x = prototypes.repeat(8, 1, 1, 1)
    model = VQVAE(VQVAEConfig(channels=[16], num_codes=16, code_dim=4, res_blocks=1,
                                  quantizer=EMAVectorQuantizerConfig(dead_code_steps=20)), (1, 8, 8))
    mses = train_on_batch(model, x, 300, term="mse")
    assert sum(mses[-10:]) / 10 < 0.3 * sum(mses[:10]) / 10
    model.eval()
    model.reset_epoch_stats()
    model(x)
    stats = model.epoch_stats()
    assert stats["usage"] >= 0.5 and 1 <= stats["perplexity"] <= 16 and math.isfinite(stats["perplexity"])


@pytest.mark.parametrize("name", ["vq", "ema", "cosine"])
@pytest.mark.parametrize("positions", [(5,), (3, 3), (2, 2, 2)])
def test_the_nearest_codeword_quantizers_keep_the_output_contract_on_grids_of_any_rank(name, positions):
    """The whole family is checked in test_quantizer_family.py; here the codebook quantizers' own promises."""
    torch.manual_seed(0)
    q = build_quantizer(name, 8, 3, commitment=0.5, kmeans_init=False, dead_code_steps=0)
    assert isinstance(q, Quantizer)
    z_e = torch.randn(4, 3, *positions, requires_grad=True)  # (B, D, ...)
    q.train()
    q.reset_usage()
    out = q(z_e)
    assert out.z_q.shape == z_e.shape and out.codes.shape == (4, *positions) and out.codes.dtype == torch.long
    assert torch.equal(out.counts, torch.bincount(out.codes.flatten(), minlength=8))  # counted once, shared
    assert torch.equal(q.usage_counts, out.counts.float())
    assert "commitment" in out.losses and all(v.shape == () for v in out.losses.values())
    out.z_q.sum().backward()
    if name != "cosine":  # the cosine quantizer projects first
        assert torch.equal(z_e.grad, torch.ones_like(z_e))  # straight-through
    q.eval()  # no codebook update: the quantized vectors are the codewords of the codes
    out = q(z_e)
    assert torch.allclose(q.lookup(out.codes), out.z_q.detach(), atol=1e-6)


def test_the_loss_trained_and_the_ema_codebooks_differ_only_where_the_paper_says():
    vq, ema = build_quantizer("vq", 4, 2), build_quantizer("ema", 4, 2, decay=0.5)
    assert type(vq) is VectorQuantizer and type(ema) is EMAVectorQuantizer
    with pytest.raises(ConfigError, match="the vq quantizer has no option decay"):
        build_quantizer("vq", 4, 2, decay=0.5)
    assert isinstance(vq.codebook, torch.nn.Parameter) and not isinstance(ema.codebook, torch.nn.Parameter)
    assert set(vq(torch.randn(2, 2, 3)).losses) == {"commitment", "codebook"}
    assert set(ema(torch.randn(2, 2, 3)).losses) == {"commitment"}
    with pytest.raises(ConfigError, match="model.quantizer.name must be one of vq, ema"):
        build_quantizer("lfq", 4, 2)
    model = VQVAE(VQVAEConfig(channels=[8], res_blocks=0, num_codes=8, code_dim=2,
                              quantizer=VectorQuantizerConfig(kmeans_init=False)), (1, 8, 8))
    assert type(model.quantizer) is VectorQuantizer and "codebook" in model(torch.rand(2, 1, 8, 8)).terms


def test_codebook_scores_match_the_prior_and_use_labels_for_a_conditional_prior():
    torch.manual_seed(0)
    model = VQVAE(VQVAEConfig(channels=[8], res_blocks=0, num_codes=8, code_dim=2,
                              quantizer=EMAVectorQuantizerConfig(kmeans_init=False)), (1, 8, 8)).eval()
    data = ImageDataset(torch.randint(0, 256, (6, 1, 8, 8), dtype=torch.uint8), torch.tensor([0, 1, 2, 0, 1, 2]))
    assert "prior_nll" not in codebook_scores(model, data)
    model.attach_prior(GatedPixelCNN(8, PixelCNNConfig(channels=4, layers=1, num_classes=3)).eval())
    scores = codebook_scores(model, data, batch_size=4)
    codes = model.encode_codes(data.images.float() / 255)
    counts = torch.bincount(codes.flatten(), minlength=8)
    assert scores["usage"] == pytest.approx(float((counts > 0).float().mean()))
    with torch.no_grad():
        expected = -model.prior.log_prob(codes, data.labels).mean().item()
    assert scores["prior_nll"] == pytest.approx(expected, rel=1e-6)
    assert scores["prior_bits_per_code"] == pytest.approx(expected / (4 * 4 * math.log(2)), rel=1e-6)
