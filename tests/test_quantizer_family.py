"""The second generation of quantizers: each one's own equations (rounding grid, residual
prefixes, rotation, temperature, KL), and a VQ-VAE trained with each. The layer contract
(layouts, dtypes, lookup, gradients) they all keep is in test_quantizer_layers.py."""

import math

import pytest
import torch

from training_steps import train_on_batch
from vaelab.errors import ConfigError
from vaelab.models import VQVAE, VQVAEConfig
from vaelab.models.quantizers import (QUANTIZERS, CosineVectorQuantizer, FiniteScalarQuantizer, GumbelQuantizer,
                                      ResidualVectorQuantizer, build_quantizer, quantizer_section)
from vaelab.runs import load_config
from vaelab.models.quantizers.estimators import rotation_trick, straight_through

FAMILY = {  # name -> (K, options): small members of every quantizer, as its config section sets them
    "vq": (8, {"kmeans_init": False}), "ema": (8, {"kmeans_init": False}),
    "cosine": (8, {"codebook_dim": 2, "kmeans_init": False}),
    "residual": (8, {"num_quantizers": 3, "kmeans_init": False}), "fsq": (12, {"levels": [4, 3]}), "gumbel": (8, {}),
}


def test_every_registered_quantizer_trains_a_vqvae_here():
    assert set(FAMILY) == set(QUANTIZERS)


def rotation_matrix(u, q):
    """R = I - 2 r r^T + 2 q u^T for unit u, q, r = (u + q) / |u + q| (the estimator's, formed)."""
    r = (u + q) / (u + q).norm()
    return torch.eye(len(u), dtype=u.dtype) - 2 * torch.outer(r, r) + 2 * torch.outer(q, u)


def test_the_rotation_trick_outputs_the_codeword_and_rotates_the_gradient():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(5, 4, generator=g, dtype=torch.float64)
    e = torch.randn(5, 4, generator=g, dtype=torch.float64)
    z_live = z.clone().requires_grad_()
    out = rotation_trick(z_live, e)  # vectors along dim 1
    assert torch.allclose(out, e, atol=1e-12)
    upstream = torch.randn(5, 4, generator=g, dtype=torch.float64)
    (out * upstream).sum().backward()
    for i in range(5):
        u, q = z[i] / z[i].norm(), e[i] / e[i].norm()
        rot = rotation_matrix(u, q)
        assert torch.allclose(rot @ rot.T, torch.eye(4, dtype=torch.float64), atol=1e-10)  # a rotation
        assert torch.allclose(rot @ u, q, atol=1e-10)  # that turns z's direction onto e's
        scale = e[i].norm() / z[i].norm()
        assert torch.allclose(z_live.grad[i], scale * rot.T @ upstream[i], atol=1e-8)
    # straight-through would have passed the upstream gradient unchanged
    z_st = z.clone().requires_grad_()
    (straight_through(z_st, e) * upstream).sum().backward()
    assert torch.equal(z_st.grad, upstream) and not torch.allclose(z_live.grad, upstream)


def test_the_rotation_trick_is_the_identity_when_z_already_points_at_its_codeword():
    z = torch.randn(3, 6, 2, requires_grad=True)
    out = rotation_trick(z, 2 * z.detach())  # same direction, twice the length
    upstream = torch.randn_like(out)
    (out * upstream).sum().backward()
    assert torch.allclose(z.grad, 2 * upstream, atol=1e-5)  # lambda = 2, R = I


def test_fsq_rounds_each_channel_to_exactly_its_levels():
    q = FiniteScalarQuantizer(levels=[5, 4])
    z = torch.linspace(-20, 20, 4001).view(1, 1, -1).expand(1, 2, -1)  # (1, d=2, L): far past the bounds
    digits = q.bound(z).round()
    assert digits[0, 0].unique().tolist() == [-2, -1, 0, 1, 2]  # odd: symmetric
    assert digits[0, 1].unique().tolist() == [-2, -1, 0, 1]  # even: one more below
    assert q.bound(torch.zeros(1, 2, 1)).abs().max() < 1e-6  # zero stays at zero


def test_fsq_reaches_every_code_and_its_codes_name_distinct_points():
    torch.manual_seed(0)
    q = FiniteScalarQuantizer(levels=[3, 4, 2], channels_first=True).eval()  # no dim: the scalars themselves
    assert q.num_codes == 24
    with torch.no_grad():
        out = q(torch.randn(1, 3, 20000) * 3)
    assert out.counts.min() > 0 and out.losses == {}  # all 24 codes in use; no codebook loss
    vectors = q.lookup(torch.arange(24).view(1, 24))  # (1, D, 24)
    assert len(torch.unique(vectors[0].T.round(decimals=5), dim=0)) == 24


def test_fsq_refuses_a_codebook_size_that_is_not_the_product_of_its_levels():
    with pytest.raises(ConfigError, match="num_codes=1000"):
        build_quantizer("fsq", 256, 4, levels=[8, 5, 5, 5])
    with pytest.raises(ConfigError, match="num_codes=240"):
        VQVAEConfig(quantizer=quantizer_section("fsq", levels=[8, 6, 5]))


def test_residual_stages_each_take_away_error_and_any_prefix_decodes():
    torch.manual_seed(0)
    q = ResidualVectorQuantizer(dim=2, codebook_size=16, num_quantizers=4, dead_code_steps=0, channels_first=True)
    q.train()
    z = torch.randn(256, 2, 4)  # (B, D, L)
    q(z)  # k-means starts each stage on the first batch's residuals
    q.eval()
    out = q(z)
    errors = [float((q.lookup(out.codes[:, :s]) - z).pow(2).mean()) for s in range(1, 5)]
    assert all(b < a for a, b in zip(errors, errors[1:])), errors
    assert torch.allclose(q.lookup(out.codes), out.z_q, atol=1e-6)


def test_quantizer_dropout_trains_prefixes_and_evaluation_uses_every_stage():
    torch.manual_seed(0)
    q = ResidualVectorQuantizer(dim=2, codebook_size=4, num_quantizers=3, quantizer_dropout=1.0, kmeans_init=False,
                                dead_code_steps=0, channels_first=True)
    depths = {q(torch.randn(8, 2, 3)).codes.shape[1] for _ in range(40)}
    assert depths == {1, 2, 3}
    q.eval()
    assert q(torch.randn(8, 2, 3)).codes.shape[1] == 3


def test_a_shared_residual_codebook_is_one_codebook():
    shared = ResidualVectorQuantizer(dim=2, codebook_size=8, num_quantizers=3, shared_codebook=True)
    separate = ResidualVectorQuantizer(dim=2, codebook_size=8, num_quantizers=3)
    assert len(shared.layers) == 1 and shared.num_codes == 8
    assert len(separate.layers) == 3 and separate.num_codes == 24  # usage counts every stage's codewords


def test_cosine_lookup_picks_the_most_similar_normalised_codeword():
    torch.manual_seed(0)
    q = CosineVectorQuantizer(dim=5, codebook_size=6, codebook_dim=3, kmeans_init=False, dead_code_steps=0,
                              channels_first=True).eval()
    z = torch.randn(10, 5, 4)  # (B, D, L)
    out = q(z)
    low = q.project_in(z).movedim(1, -1)  # (B, L, d)
    similarity = torch.nn.functional.normalize(low, dim=-1) @ torch.nn.functional.normalize(q.codebook, dim=1).T
    assert torch.equal(out.codes, similarity.argmax(-1))
    assert torch.allclose(q.codewords().norm(dim=1), torch.ones(6))


def test_gumbel_temperature_falls_geometrically_and_then_stays():
    q = GumbelQuantizer(dim=2, codebook_size=4, temperature=1.0, temperature_end=1 / 16, temperature_steps=10,
                        channels_first=True)
    assert float(q.current_temperature()) == pytest.approx(1.0)
    q.step.fill_(5)
    assert float(q.current_temperature()) == pytest.approx(0.25)  # sqrt(1 * 1/16): halfway in log
    q.step.fill_(50)
    assert float(q.current_temperature()) == pytest.approx(1 / 16)
    q.train()
    q.step.zero_()
    q(torch.randn(2, 2, 3))
    assert int(q.step) == 1  # one training step, one tick


def test_gumbel_kl_to_the_uniform_prior_is_zero_when_uniform_and_log_k_when_certain():
    q = GumbelQuantizer(dim=3, codebook_size=8, kl_weight=1.0, channels_first=True).eval()
    with torch.no_grad():
        q.to_logits.weight.zero_()
        q.to_logits.bias.zero_()
    assert float(q(torch.randn(2, 3, 5)).losses["kl"].detach()) == pytest.approx(0.0, abs=1e-6)
    with torch.no_grad():
        q.to_logits.bias.copy_(torch.tensor([1000.0] + [0.0] * 7))
    out = q(torch.randn(2, 3, 5))  # 5 positions, each certain of code 0: 5 log 8 per example
    assert float(out.losses["kl"].detach()) == pytest.approx(5 * math.log(8), rel=1e-5)
    assert (out.codes == 0).all()


def test_hard_gumbel_samples_are_codewords_and_soft_ones_mix_them():
    torch.manual_seed(0)
    hard = GumbelQuantizer(dim=3, codebook_size=4, hard=True, channels_first=True).train()
    z_q = hard(torch.randn(6, 3, 2)).z_q.movedim(1, -1).reshape(-1, 3)
    assert torch.cdist(z_q, hard.codebook.detach()).min(1).values.max() < 1e-5
    soft = GumbelQuantizer(dim=3, codebook_size=4, temperature=5.0, temperature_end=5.0, channels_first=True).train()
    z_q = soft(torch.randn(6, 3, 2)).z_q.movedim(1, -1).reshape(-1, 3)
    assert torch.cdist(z_q, soft.codebook.detach()).min(1).values.min() > 1e-3


@pytest.mark.parametrize("name", sorted(FAMILY))
def test_a_vqvae_trains_with_every_quantizer(name):
    torch.manual_seed(0)
    k, options = FAMILY[name]
    cfg = VQVAEConfig(channels=[8], res_blocks=0, num_codes=k, code_dim=3, quantizer=quantizer_section(name, **options))
    model = VQVAE(cfg, (1, 8, 8))
    x = (torch.rand(8, 1, 8, 8) > 0.5).float()
    losses = train_on_batch(model, x, 60, term="mse")
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5, (losses[:5], losses[-5:])


@pytest.mark.parametrize("quantizer", ["fsq", "gumbel"])
def test_the_rotation_trick_is_refused_where_there_is_no_nearest_codeword(quantizer):
    with pytest.raises(ConfigError, match=f"the {quantizer} quantizer has no option gradient"):
        quantizer_section(quantizer, gradient="rotation")
    with pytest.raises(ConfigError, match=f"Key 'gradient' not in '\\w+' \\(key: model.quantizer.gradient\\)"):
        load_config("mnist_vqvae", [f"model.quantizer={quantizer}", "model.gradient=rotation"])


def test_gumbel_diversity_is_zero_for_uniform_code_use_and_p_log_k_for_one_code():
    # D = K, so that the logits can be fed directly below
    q = GumbelQuantizer(dim=4, codebook_size=4, kl_weight=0.0, diversity_weight=1.0, channels_first=True).eval()
    with torch.no_grad():
        q.to_logits.weight.zero_()
        q.to_logits.bias.zero_()
    assert float(q(torch.randn(3, 4, 5)).losses["diversity"].detach()) == pytest.approx(0.0, abs=1e-6)
    with torch.no_grad():
        q.to_logits.bias.copy_(torch.tensor([1000.0, 0.0, 0.0, 0.0]))
    # every position certain of code 0: the batch's use is one-hot, 5 positions x log 4
    assert float(q(torch.randn(3, 4, 5)).losses["diversity"].detach()) == pytest.approx(5 * math.log(4), rel=1e-5)
    q.to_logits = torch.nn.Identity()  # feed logits directly: the term must reach them
    logits = torch.randn(3, 4, 5, generator=torch.Generator().manual_seed(0), requires_grad=True)
    q(logits).losses["diversity"].backward()
    assert logits.grad.abs().sum() > 0
