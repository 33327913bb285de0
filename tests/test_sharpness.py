"""The sharpening losses: the hinge critic, the adaptive weight, the perceptual distance,
who gets which gradient, and the keys' refusals."""

import json

import pytest
import torch

from vaelab.cli import main
from vaelab.config import compose
from vaelab.errors import ConfigError
from vaelab.evaluation import SmallCNN, save_classifier
from vaelab.models import VAE, VQVAE, VAEConfig, VQVAEConfig, config_class
from vaelab.models.quantizers import EMAVectorQuantizerConfig
from vaelab.models.sharpness import adaptive_weight, hinge_critic_loss, perceptual_distance
from vaelab.training.optim import build_optimizer
from vaelab.config import TrainConfig


def test_the_hinge_critic_loss_is_zero_beyond_the_margins_and_two_at_zero():
    assert float(hinge_critic_loss(torch.full((3,), 2.0), torch.full((3,), -2.0))) == 0.0
    assert float(hinge_critic_loss(torch.zeros(3), torch.zeros(3))) == 2.0
    assert float(hinge_critic_loss(torch.full((3,), 0.5), torch.full((3,), 0.5))) == pytest.approx(0.5 + 1.5)


def test_the_adaptive_weight_is_the_ratio_of_the_two_gradient_norms():
    w = torch.randn(4, 3, requires_grad=True)
    recon, adversarial = (3 * w).sum(), (w * torch.tensor([1.0, -1.0, 1.0])).sum()
    assert float(adaptive_weight(recon, adversarial, w)) == pytest.approx(3.0, rel=1e-3)


def test_the_perceptual_distance_is_zero_for_the_same_images_and_trains_only_the_reconstruction():
    torch.manual_seed(0)
    net = SmallCNN((1, 16, 16), 3, width=4, feature_dim=8).requires_grad_(False)
    x = torch.rand(5, 1, 16, 16)
    assert float(perceptual_distance(net, x, x)) == 0.0
    x_hat = torch.rand(5, 1, 16, 16, requires_grad=True)
    d = perceptual_distance(net, x_hat, x)
    d.backward()
    assert d > 0 and x_hat.grad.abs().sum() > 0


def vqvae(**kw) -> VQVAE:
    return VQVAE(VQVAEConfig(**{"channels": [8], "res_blocks": 0, "num_codes": 8, "code_dim": 2,
                                "quantizer": EMAVectorQuantizerConfig(kmeans_init=False),
                                "adversarial_weight": 0.5, "critic_channels": 4, "critic_layers": 2, **kw}), (1, 8, 8))


def test_one_backward_trains_the_critic_on_its_loss_and_the_decoder_against_the_frozen_critic():
    torch.manual_seed(0)
    model = vqvae(quantizer="vq").train()  # a codebook that one forward does not move
    x = torch.rand(6, 1, 8, 8)
    out = model(x)
    assert {"adversarial", "critic"} <= set(out.terms)
    out.loss.backward()
    together = {k: p.grad.clone() for k, p in model.sharpener.critic.named_parameters()}
    model.zero_grad()
    x_hat = model.likelihood.mean(model.decoder(model.quantizer(model.encoder(x)).z_q)).detach()
    hinge_critic_loss(model.sharpener.critic(x), model.sharpener.critic(x_hat)).backward()
    for k, p in model.sharpener.critic.named_parameters():  # the critic learns from its own loss alone
        assert torch.allclose(together[k], p.grad, atol=1e-6), k
    # the decoder feels the critic: its gradient changes with the adversarial weight
    grads = []
    for weight in (0.0, 0.5):
        torch.manual_seed(0)
        m = vqvae(adversarial_weight=weight) if weight else vqvae(adversarial_weight=1e-9)
        m.train()
        torch.manual_seed(1)
        m(x).loss.backward()
        grads.append(m.decoder.net[-1].weight.grad.clone())
    assert not torch.allclose(grads[0], grads[1])


def test_before_the_start_step_the_critic_neither_plays_nor_learns():
    torch.manual_seed(0)
    model = vqvae(adversarial_start=2).train()
    x = torch.rand(4, 1, 8, 8)
    for step in range(3):
        out = model(x)
        model.zero_grad()
        out.loss.backward()
        playing = step >= 2
        assert (float(out.terms["critic"]) != 0) == playing
        assert (model.sharpener.critic.net[0].weight.grad.abs().sum() > 0) == playing
    assert int(model.sharpener.step) == 3


def test_the_critic_gets_its_own_parameter_group_and_models_without_it_keep_their_keys():
    model = vqvae()
    optimizer = build_optimizer(model, TrainConfig(lr=1e-3))
    assert len(optimizer.param_groups) == 2 and optimizer.param_groups[1]["lr"] == 1e-4
    assert optimizer.param_groups[1]["betas"] == (0.5, 0.9)
    plain = VAE(VAEConfig(hidden=[8], latent_dim=2), (1, 8, 8))
    assert len(build_optimizer(plain, TrainConfig()).param_groups) == 1
    assert not any("sharpener" in k for k in plain.state_dict())  # old checkpoints load as they are


@pytest.mark.parametrize("overrides,match", [
    (["model.perceptual_weight=1"], "perceptual_classifier"),
    (["model.name=beta-tcvae", "model.adversarial_weight=1"], "does not take the sharpening"),
    (["model.iw_samples=5", "model.adversarial_weight=1"], "iw_samples"),
])
def test_the_keys_that_mean_nothing_together_are_refused(overrides, match):
    with pytest.raises(ConfigError, match=match):
        compose({"model": {"name": "vae"}}, overrides, config_class)


def test_a_vae_trains_with_both_losses_from_the_command_line(tmp_path):
    torch.manual_seed(0)
    save_classifier(SmallCNN((1, 16, 16), 3, width=4, feature_dim=8), tmp_path / "clf")
    config = tmp_path / "c.yaml"
    config.write_text("data: {name: shapes, image_size: 16, num_samples: 200, val: 40}\n"
                      "model: {name: vae, latent_dim: 3, hidden: [32], perceptual_weight: 1.0, "
                      f"perceptual_classifier: {tmp_path / 'clf'}, adversarial_weight: 0.1, critic_channels: 4}}\n"
                      "train: {epochs: 2, batch_size: 50, progress: false}\n")
    assert main(["train", str(config), "--out", str(tmp_path / "run")]) == 0
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    last = records[-1]
    assert {"train/perceptual", "train/adversarial", "train/critic", "train/nelbo"} <= set(last)
    assert "val/perceptual" not in last  # training-only terms
    assert main(["sample", str(tmp_path / "run"), "-n", "4"]) == 0
