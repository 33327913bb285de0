"""Every model: shapes, the loss it reports, and a few training steps that lower it."""

import pytest
import torch

from training_steps import train_on_batch
from vaelab.errors import CapabilityError, ConfigError
from vaelab.models import AE, VAE, AEConfig, VAEConfig, build_model
from vaelab.models.interpolation import lerp, slerp
from vaelab.nn import ConvDecoder, ConvEncoder


def tiny(config_cls, **kw):
    base = dict(latent_dim=4, hidden=[32], channels=[8, 16], res_blocks=1)
    return config_cls(**{**base, **kw})


@pytest.mark.parametrize(
    "shape,channels,bottom",
    [((1, 28, 28), [8, 16], 7), ((1, 28, 28), [8, 8, 16], 4), ((3, 32, 32), [8, 16, 16], 4), ((1, 64, 64), [8, 8, 16, 16], 4)],
)
def test_conv_backbone_shapes(shape, channels, bottom):
    x = torch.rand(2, *shape)
    enc, dec = ConvEncoder(shape, channels), ConvDecoder(shape, channels)
    h = enc(x)
    assert h.shape == (2, channels[-1], bottom, bottom)
    assert dec(h).shape == x.shape


def test_conv_backbone_rejects_sizes_it_cannot_halve():
    with pytest.raises(ConfigError, match="cannot be halved"):
        ConvEncoder((1, 4, 4), [8, 8, 8])


@pytest.mark.parametrize("backbone", ["mlp", "conv"])
@pytest.mark.parametrize("name", ["ae", "vae"])
def test_model_shapes(name, backbone):
    cfg = tiny(AEConfig if name == "ae" else VAEConfig, backbone=backbone)
    model = build_model(cfg, (1, 28, 28))
    x = torch.rand(3, 1, 28, 28)
    assert model.encode(x).shape == (3, 4)
    assert model.decode(torch.randn(3, 4)).shape == x.shape
    recon = model.reconstruct(x)
    assert recon.shape == x.shape and recon.min() >= 0 and recon.max() <= 1
    out = model(x)
    assert out.loss.ndim == 0 and out.loss.requires_grad
    assert "recon" in out.terms and not out.terms["recon"].requires_grad


def test_vae_loss_is_recon_plus_kl_in_nats_per_example():
    torch.manual_seed(0)
    model = VAE(tiny(VAEConfig), (1, 8, 8))
    x = torch.bernoulli(torch.full((5, 1, 8, 8), 0.3))
    torch.manual_seed(1)
    out = model(x)
    assert torch.allclose(out.loss, out.terms["recon"] + out.terms["kl"])
    # recomputed by hand from the same noise
    torch.manual_seed(1)
    mu, logvar = model.posterior(x)
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    logits = model.decoder(z)
    recon = torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="sum") / 5
    kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum() / 5
    assert torch.allclose(out.terms["recon"], recon, atol=1e-4) and torch.allclose(out.terms["kl"], kl, atol=1e-5)


def test_gradients_reach_both_heads_and_the_decoder():
    model = VAE(tiny(VAEConfig), (1, 8, 8))
    model(torch.rand(4, 1, 8, 8)).loss.backward()
    for name in ("mu_head.weight", "logvar_head.weight", "encoder.net.1.weight"):
        assert model.get_parameter(name).grad.abs().sum() > 0, name
    assert any(p.grad.abs().sum() > 0 for p in model.decoder.parameters())


@pytest.mark.parametrize(
    "cfg",
    [
        tiny(AEConfig),
        tiny(VAEConfig),
        tiny(VAEConfig, backbone="conv"),
        tiny(VAEConfig, likelihood="gaussian", variance=0.1),
        tiny(VAEConfig, likelihood="gaussian-learned"),
    ],
    ids=["ae", "vae-mlp", "vae-conv", "vae-gaussian", "vae-gaussian-learned"],
)
def test_a_few_steps_lower_the_loss(cfg):
    torch.manual_seed(0)
    prototypes = (torch.rand(4, 1, 8, 8) > 0.5).float()
    x = prototypes.repeat(8, 1, 1, 1)  # structure that a 4-d latent can capture
    model = build_model(cfg, (1, 8, 8))
    losses = train_on_batch(model, x)
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < first - 0.25 * abs(first), (first, last)


def test_vae_samples_and_ae_refuses():
    vae = VAE(tiny(VAEConfig), (3, 8, 8))
    s1 = vae.sample(5, torch.Generator().manual_seed(0))
    s2 = vae.sample(5, torch.Generator().manual_seed(0))
    assert s1.shape == (5, 3, 8, 8) and torch.equal(s1, s2)
    with pytest.raises(CapabilityError):
        AE(tiny(AEConfig), (3, 8, 8)).sample(5)


def test_unknown_likelihood_and_backbone_are_config_errors():
    with pytest.raises(ConfigError, match="likelihood"):
        VAE(tiny(VAEConfig, likelihood="poisson"), (1, 8, 8))
    with pytest.raises(ConfigError, match="backbone"):
        VAE(tiny(VAEConfig, backbone="transformer"), (1, 8, 8))


def test_lerp_and_slerp_end_points_and_norms():
    z0, z1 = torch.randn(16), torch.randn(16)
    z1 = z1 / z1.norm() * z0.norm()
    for f in (lerp, slerp):
        path = f(z0, z1, 7)
        assert path.shape == (7, 16)
        assert torch.allclose(path[0], z0, atol=1e-5) and torch.allclose(path[-1], z1, atol=1e-5)
    assert torch.allclose(slerp(z0, z1, 9).norm(dim=1), z0.norm().expand(9), rtol=1e-4)
    assert lerp(z0, z1, 9).norm(dim=1)[4] < z0.norm() * 0.999  # the straight line cuts inside
