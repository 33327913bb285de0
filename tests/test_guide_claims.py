"""The guide's derivations, checked numerically: each page links the test that checks its end
result (docs/guide/*.md, "Checked by"). Tests that an earlier file already holds are linked
there instead: the closed-form KL against Monte Carlo (test_math.py), the straight-through
gradient (test_vqvae.py), Lloyd-Max's two conditions at its fixed point (test_quantization.py).
"""

import torch

from linear_gaussian import PPCA
from vaelab.models.gaussian import kl_to_standard_normal, reparameterize
from vaelab.models.likelihoods import Gaussian
from vaelab.models.quantizers import EMAVectorQuantizer


def gaussian_kl(mu_q, var_q, mu_p, var_p):
    """KL(N(mu_q, diag var_q) || N(mu_p, diag var_p)), summed over the last dimension."""
    return 0.5 * (var_q / var_p + (mu_q - mu_p).pow(2) / var_p - 1 + (var_p / var_q).log()).sum(-1)


def test_the_elbo_is_the_log_evidence_minus_the_kl_to_the_true_posterior():
    # log p(x) - KL(q(z|x) || p(z|x)) = ELBO: on probabilistic PCA all three are known exactly.
    exact = PPCA()
    approx = PPCA(shift=0.3, inflate=2.0)  # the same model with a wrong posterior q
    x = exact.draw(4)
    mu_true, logvar_true = exact.posterior(x)
    mu_q, logvar_q = approx.posterior(x)
    kl_to_posterior = gaussian_kl(mu_q, logvar_q.exp(), mu_true, logvar_true.exp())  # [4]
    # the ELBO by Monte Carlo through the model's own log-weights: E_q[log p(x, z) - log q(z | x)]
    eps = torch.randn(4, 200_000, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)  # [B, S, D]
    weights = approx.log_weights(x, None, eps).total()  # [B, S]: log p(x, z_s) - log q(z_s | x)
    elbo, elbo_many = weights[:, :2000].mean(1), weights.mean(1)
    assert torch.allclose(elbo_many, exact.log_marginal(x) - kl_to_posterior, atol=0.01)
    assert (kl_to_posterior > 0.1).all() and (elbo < exact.log_marginal(x)).all()  # a real gap, not 0 = 0


def test_the_reparameterization_gradient_matches_a_finite_difference():
    # d/d(mu, logvar) E_q[cos z], with E_q[cos z] = cos(mu) exp(-sigma^2 / 2) in closed form.
    mu = torch.tensor([0.7, -1.2], dtype=torch.float64, requires_grad=True)
    logvar = torch.tensor([-0.5, 0.4], dtype=torch.float64, requires_grad=True)
    n = 400_000
    z = reparameterize(mu.expand(n, 2), logvar.expand(n, 2), torch.Generator().manual_seed(0))
    torch.cos(z).mean(0).sum().backward()

    def expectation(m, lv):
        return torch.cos(m) * torch.exp(-lv.exp() / 2)

    h = 1e-5
    with torch.no_grad():
        d_mu = (expectation(mu + h, logvar) - expectation(mu - h, logvar)) / (2 * h)
        d_logvar = (expectation(mu, logvar + h) - expectation(mu, logvar - h)) / (2 * h)
    assert torch.allclose(mu.grad, d_mu, atol=3e-3)
    assert torch.allclose(logvar.grad, d_logvar, atol=3e-3)
    assert d_mu.abs().min() > 0.1 and d_logvar.abs().min() > 0.05  # gradients worth checking


def test_a_gaussian_likelihood_of_variance_c_weighs_the_kl_by_lambda_equal_2c():
    # -log N(x; x_hat, c I) + KL = (||x - x_hat||^2 + 2c KL) / (2c) + const: the same minimiser
    # and gradients in proportion 1/(2c) as squared error plus lambda = 2c times the KL.
    torch.manual_seed(0)
    x = torch.rand(5, 1, 4, 4)
    for c in (0.05, 0.5, 2.0):
        x_hat = torch.randn(5, 1, 4, 4, requires_grad=True)
        mu = torch.randn(5, 3, requires_grad=True)
        logvar = torch.randn(5, 3, requires_grad=True)
        params = (x_hat, mu, logvar)
        vae_loss = (Gaussian(variance=c).nll(x_hat, x) + kl_to_standard_normal(mu, logvar).sum(1)).mean()
        weighted = ((x - x_hat).pow(2).flatten(1).sum(1) + 2 * c * kl_to_standard_normal(mu, logvar).sum(1)).mean()
        for g_vae, g_weighted in zip(torch.autograd.grad(vae_loss, params), torch.autograd.grad(weighted, params)):
            assert torch.allclose(g_vae, g_weighted / (2 * c), atol=1e-5)


def test_the_ema_codebook_update_reaches_the_batch_mean_of_its_assigned_vectors():
    # With the same batch again and again, N_i -> n_i and m_i -> sum of its vectors, so
    # e_i = m_i / N_i -> the mean of the encoder outputs assigned to code i.
    q = EMAVectorQuantizer(dim=2, codebook_size=2, decay=0.8, epsilon=0.0, kmeans_init=False, dead_code_steps=0,
                           channels_first=True)
    q.codebook.copy_(torch.tensor([[-1.0, 0.0], [1.0, 0.0]]))
    q.embed_sum.copy_(q.codebook)
    q.train()
    batch = torch.tensor([[-2.0, 1.0], [-1.0, 3.0], [-0.5, -1.0], [2.0, 2.0], [0.5, 0.0]])  # [5, D]
    z_e = batch.view(5, 2, 1, 1)  # (B, D, 1, 1): five one-position grids
    for _ in range(200):
        codes = q(z_e).codes.flatten()
    assert codes.tolist() == [0, 0, 0, 1, 1]
    assert torch.allclose(q.codebook[0], batch[:3].mean(0), atol=1e-5)
    assert torch.allclose(q.codebook[1], batch[3:].mean(0), atol=1e-5)
    assert not torch.allclose(batch[:3].mean(0), torch.tensor([-1.0, 0.0]))  # it moved

