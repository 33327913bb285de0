"""beta-VAE, KL schedules, the conditional VAE, InfoVAE/MMD, and latent-space operations."""

import math

import pytest
import torch

from vaelab.errors import CapabilityError, ConfigError
from vaelab.models import CVAE, VAE, BetaVAEConfig, CVAEConfig, InfoVAE, InfoVAEConfig, VAEConfig, build_model
from vaelab.models.interpolation import interpolate
from vaelab.models.mmd import mmd
from vaelab.models.schedules import KLSchedule
from vaelab.models.traversal import batch_kl_per_dimension, traverse

SMALL = dict(latent_dim=4, hidden=[32])


def loss_with_seed(model, x, seed=0, y=None):
    torch.manual_seed(seed)
    return model(x, y)


def test_beta_one_is_exactly_the_vae_loss_and_beta_scales_the_kl():
    torch.manual_seed(0)
    vae = VAE(VAEConfig(**SMALL), (1, 8, 8))
    x = torch.rand(6, 1, 8, 8)
    for beta in (1.0, 4.0):
        weighted = VAE(VAEConfig(**SMALL, beta=beta), (1, 8, 8))
        weighted.load_state_dict(vae.state_dict())
        a, b = loss_with_seed(vae, x), loss_with_seed(weighted, x)
        assert torch.equal(b.terms["recon"], a.terms["recon"]) and torch.equal(b.terms["kl"], a.terms["kl"])
        assert torch.allclose(b.loss, a.terms["recon"] + beta * a.terms["kl"])
        if beta == 1.0:
            assert torch.equal(b.loss, a.loss) and "nelbo" not in b.terms
        else:
            assert torch.allclose(b.terms["nelbo"], a.loss)
    assert BetaVAEConfig().beta == 4.0


def test_warm_up_raises_the_weight_linearly_and_only_training_steps_count():
    schedule = KLSchedule(beta=2.0, warmup_steps=10)
    kl = torch.tensor(3.0)
    seen = []
    for _ in range(12):
        seen.append(float(schedule.penalty(kl)))
        schedule.advance()
    assert seen[0] == 0 and seen[5] == pytest.approx(2.0 * 0.5 * 3.0) and seen[10] == seen[11] == pytest.approx(6.0)
    model = VAE(VAEConfig(**SMALL, warmup_steps=10), (1, 8, 8))
    model.train()
    model(torch.rand(2, 1, 8, 8))
    model.eval()
    model(torch.rand(2, 1, 8, 8))
    assert int(model.kl_schedule.step) == 1
    assert "kl_schedule.step" in model.state_dict()  # saved with the weights: resumes continue the ramp


def test_capacity_term_is_zero_at_kl_equal_c_and_grows_either_side():
    schedule = KLSchedule(capacity_max=20.0, capacity_steps=100, gamma=10.0)
    for _ in range(50):
        schedule.advance()
    assert float(schedule.capacity()) == pytest.approx(10.0)
    assert float(schedule.penalty(torch.tensor(10.0))) == 0
    assert float(schedule.penalty(torch.tensor(12.0))) == pytest.approx(20.0)
    assert float(schedule.penalty(torch.tensor(7.0))) == pytest.approx(30.0)
    for _ in range(100):
        schedule.advance()
    assert float(schedule.capacity()) == pytest.approx(20.0)  # held at capacity_max


def toy_classes(n_per_class=24, k=4, seed=0):
    """k random binary 8x8 prototypes (the 'shape' of each class), a few pixels flipped."""
    g = torch.Generator().manual_seed(seed)
    prototypes = (torch.rand(k, 1, 8, 8, generator=g) > 0.5).float()
    y = torch.arange(k).repeat(n_per_class)
    flips = (torch.rand(len(y), 1, 8, 8, generator=g) < 0.03).float()
    return prototypes, (prototypes[y] - flips).abs(), y


def fit(model, x, y=None, steps=300, lr=3e-3):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        loss = model(x, y).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def test_conditional_decoder_output_changes_with_the_label():
    model = CVAE(CVAEConfig(**SMALL), (1, 8, 8), num_classes=3)
    z = torch.randn(5, 4)
    a, b = model.decode(z, torch.zeros(5, dtype=torch.long)), model.decode(z, torch.ones(5, dtype=torch.long))
    assert not torch.allclose(a, b)
    with pytest.raises(CapabilityError, match="needs the labels"):
        model(torch.rand(2, 1, 8, 8))


@pytest.mark.parametrize("embedding", ["onehot", "learned"])
def test_conditional_samples_keep_their_label_shape(embedding):
    torch.manual_seed(0)
    prototypes, x, y = toy_classes()
    model = fit(CVAE(CVAEConfig(**SMALL, label_embedding=embedding), (1, 8, 8), num_classes=4), x, y, steps=600)
    for k in range(4):
        samples = model.sample(64, torch.Generator().manual_seed(k), labels=torch.full((64,), k))
        distances = (samples[:, None] - prototypes[None]).abs().flatten(2).mean(2)  # [64, 4]
        assert (distances.argmin(1) == k).float().mean() >= 0.95, (k, distances.argmin(1))


def test_cvae_needs_classes_and_plain_vae_refuses_labels():
    with pytest.raises(ConfigError, match="labels"):
        CVAE(CVAEConfig(**SMALL), (1, 8, 8))
    assert build_model(CVAEConfig(**SMALL, num_classes=5), (1, 8, 8)).num_classes == 5
    with pytest.raises(CapabilityError, match="not conditional"):
        VAE(VAEConfig(**SMALL), (1, 8, 8)).sample(2, labels=torch.tensor([0, 1]))


def test_mmd_is_near_zero_for_the_prior_itself_and_grows_with_a_shift():
    g = torch.Generator().manual_seed(0)
    prior = lambda n=400: torch.randn(n, 8, generator=g)  # noqa: E731
    for kernel in ("imq", "rbf"):
        same = mmd(prior(), prior(), kernel)
        shifted = [float(mmd(prior() + shift, prior(), kernel)) for shift in (0.25, 0.5, 1.0, 2.0)]
        assert abs(float(same)) < 0.01, kernel
        assert shifted[0] > 3 * abs(float(same)) and shifted == sorted(shifted), (kernel, shifted)
    with pytest.raises(ConfigError):
        mmd(prior(), prior(), "cosine")


def test_infovae_reports_its_terms_and_pulls_q_z_to_the_prior():
    torch.manual_seed(0)
    _, x, _ = toy_classes()
    model = InfoVAE(InfoVAEConfig(**SMALL, mmd_weight=100.0), (1, 8, 8))
    out = model(x)
    assert set(out.terms) == {"recon", "kl", "mmd", "nelbo"}
    assert torch.allclose(out.loss, out.terms["recon"] + 100.0 * out.terms["mmd"], atol=1e-3)  # beta = 0: no KL
    fit(model, x)
    with torch.no_grad():
        codes = model.encode(x)
    assert float(mmd(codes, torch.randn_like(codes), "imq")) < 0.05


def test_traversal_and_interpolation_from_the_python_api():
    model = VAE(VAEConfig(**SMALL), (1, 8, 8)).eval()
    x = torch.rand(10, 1, 8, 8)
    kl = batch_kl_per_dimension(model, x)
    assert kl.shape == (4,) and (kl >= 0).all()
    grid = traverse(model, x[0], dims=[2, 0], values=torch.linspace(-3, 3, 5))
    assert grid.shape == (2, 5, 1, 8, 8)
    z = model.encode(x[:1])[0]
    z[2] = 3.0
    assert torch.allclose(grid[0, -1], model.decode(z[None])[0], atol=1e-6)  # row 0 sweeps dim 2
    path = interpolate(model, x[0], x[1], steps=6, method="linear")
    assert path.shape == (6, 1, 8, 8)
    assert torch.allclose(path[0], model.reconstruct(x[:1])[0], atol=1e-6)


def test_best_checkpoint_waits_for_the_warm_up_to_end():
    """During a warm-up the loss grows with beta: an early epoch must not stay 'best'."""
    from vaelab.training.checkpoint import Progress, is_new_best

    progress = Progress()
    history = [(1, 40.0, False), (2, 45.0, False), (3, 50.0, True), (4, 49.0, True), (5, 49.5, True)]
    chosen = [is_new_best(progress, {"epoch": e, "val/loss": loss}, final) for e, loss, final in history]
    assert chosen == [True, True, True, True, False] and progress.best_epoch == 4
    assert is_new_best(Progress(best=10.0, best_epoch=1), {"epoch": 2, "train/loss": 9.0}, True)  # no held-out set
    assert not is_new_best(Progress(), {"epoch": 1, "val/loss": math.nan}, True)  # a NaN is never a best
    assert not is_new_best(Progress(), {"epoch": 1, "val/loss": math.nan}, False)


def test_the_schedule_reports_when_its_ramps_are_done():
    vae = VAE(VAEConfig(**SMALL, warmup_steps=3), (1, 8, 8)).train()
    done = []
    for _ in range(4):
        done.append(vae.objective_is_final())
        vae(torch.rand(2, 1, 8, 8))
    assert done == [False, False, False, True]
    assert VAE(VAEConfig(**SMALL), (1, 8, 8)).objective_is_final()
    capacity = KLSchedule(capacity_max=5.0, capacity_steps=2)
    capacity.advance()
    assert not capacity.is_done()
    capacity.advance()
    assert capacity.is_done()
