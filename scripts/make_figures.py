"""Every picture of the guide (docs/figures/), from shipped configs and fixed seeds: `make figures`.

Each figure trains what it needs from a config in configs/ (with the overrides listed beside
it), on MNIST's shared test split (first 9000 train, last 1000 held out, as everywhere in
vaelab's measurements), seed 0, and draws one small PNG. About 18 minutes on one CPU thread.

    python scripts/make_figures.py [--only NAME ...] [--mnist FOLDER] [--out docs/figures]
    python scripts/make_figures.py --quick --out /tmp/figures   # tiny settings: checks it runs (tests)

The guide's test (tests/test_docs.py) checks that every picture its pages show is one of
FIGURES, so a page cannot show a picture this script does not make.
"""

from __future__ import annotations

import argparse
import io
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

import vaelab
from vaelab.data import load_dataset
from vaelab.evaluation import save_classifier, train_classifier
from vaelab.evaluation.likelihood import importance_weighted_nll
from vaelab.models.gaussian import kl_to_standard_normal
from vaelab.models.mmd import mmd
from vaelab.models.quantizers.fsq import FiniteScalarQuantizer
from vaelab.models.quantizers.lloyd import lbg, lloyd_max
from vaelab.models.quantizers.residual import ResidualVectorQuantizer
from vaelab.plots.groups import save_group_heatmap
from vaelab.plots.grid import image_grid
from vaelab.plots.run_pictures import save_interpolation, save_traversal
from vaelab.runs.prior import train_prior

ROOT = Path(__file__).resolve().parents[1]
SHARED_MNIST = ROOT.parent / "shared/data/mnist"  # the development machine's copy of MNIST's test split
MNIST = SHARED_MNIST if SHARED_MNIST.is_dir() else Path("~/.cache/vaelab/mnist").expanduser()  # else downloaded there


@dataclass
class Context:
    out: Path  # where the PNGs go
    runs: Path  # where the runs they come from go
    mnist: Path  # MNIST's files (the test split is read)
    quick: bool  # tiny settings: one epoch on a few hundred digits
    trained: dict = field(default_factory=dict)  # run name -> (model, held-out data): each run trains once

    def train(self, name: str, config: str, overrides: list[str] = (), mnist: bool = True):
        """Train configs/<config>.yaml into runs/<name>, on the MNIST split (or, mnist=False, on
        the config's own data): (model, held-out data)."""
        if name in self.trained:
            return self.trained[name]
        keys = [f"data.root={self.mnist}", "data.split=test", "data.val=1000"] if mnist else []
        keys += ["train.seed=0", "train.progress=false", *overrides]
        if self.quick:
            keys += ["train.epochs=1", "data.limit=400", "data.val=100"]
        cfg = vaelab.load_config(ROOT / f"configs/{config}.yaml", keys)
        folder = self.runs / name
        shutil.rmtree(folder, ignore_errors=True)
        vaelab.train(cfg, folder)
        self.trained[name] = vaelab.load(folder), load_dataset(cfg.data).val
        return self.trained[name]


def _figure(width: float, height: float, columns: int = 1):
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig, [fig.add_subplot(1, columns, i + 1) for i in range(columns)]


def _write_png(png: bytes, path: Path) -> None:
    """A picture as a PNG of 64 colours (about a third of the bytes of full colour; the
    pictures are grey levels and a few flat colours, so nothing visible is lost)."""
    Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=64).save(path, optimize=True)


def _save(fig: Figure, path: Path, dpi: int = 80) -> None:
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=dpi, format="png")
    _write_png(buffer.getvalue(), path)


def _show(ax, images: torch.Tensor, nrow: int, title: str) -> None:
    ax.imshow(image_grid(images.float(), nrow=nrow)[..., 0], cmap="gray", vmin=0, vmax=255)  # (H, W) uint8
    ax.set_title(title, fontsize=9)
    ax.axis("off")


# ---- the figures ---------------------------------------------------------------------

def ae_vs_vae_latents(ctx: Context) -> None:
    """A plain autoencoder's 2-D codes and a VAE's, coloured by digit, with N(0, I)'s 1 and 2
    sigma circles; below each, 16 codes drawn from N(0, I) and decoded."""
    fig = Figure(figsize=(9, 8.4))
    FigureCanvasAgg(fig)
    z = torch.randn(16, 2, generator=torch.Generator().manual_seed(0))  # the same prior draws for both
    angle = np.linspace(0, 2 * np.pi, 200)
    for column, (name, config, title) in enumerate([("ae2", "mnist_ae", "autoencoder"), ("vae2", "mnist_vae_mlp", "VAE")]):
        model, held = ctx.train(name, config, ["model.latent_dim=2", "data.binarize=static", "train.epochs=10"])
        with torch.no_grad():
            codes = model.encode(held.images.float() / 255)  # (N, 2): AE codes, VAE posterior means
            decoded = model.decode(z)  # (16, 1, 28, 28)
        ax = fig.add_subplot(2, 2, column + 1)
        ax.scatter(*codes.T, s=3, c=held.labels, cmap="tab10")
        for radius in (1, 2):
            ax.plot(radius * np.cos(angle), radius * np.sin(angle), color="black", linewidth=1)
        ax.set_aspect("equal")
        ax.set_title(f"{title}: held-out codes, N(0, I) circles", fontsize=10)
        _show(fig.add_subplot(2, 2, column + 3), decoded, 4, f"{title}: z ~ N(0, I), decoded")
    _save(fig, ctx.out / "ae_vs_vae_latents.png")


def _vae16(ctx: Context):
    return ctx.train("vae16", "mnist_vae_mlp", ["train.epochs=10"])


def vae_samples(ctx: Context) -> None:
    """Held-out digits, their reconstructions, prior samples as means, and as Bernoulli draws."""
    model, held = _vae16(ctx)
    x = held.images[:16].float() / 255
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        recon = model.reconstruct(x)
        means = model.sample(16, generator=g)
    draws = torch.bernoulli(means, generator=g)
    fig, axes = _figure(10, 2.6, 4)
    for ax, images, title in zip(axes, [x, recon, means, draws],
                                 ["held-out digits", "reconstructions (means)", "samples: means of p(x|z)",
                                  "samples: pixels drawn"]):
        _show(ax, images, 4, title)
    _save(fig, ctx.out / "vae_samples.png")
    save_interpolation(model, held, 0, 1, ctx.out / "vae_interpolation.png", steps=10)
    save_traversal(model, held, 0, ctx.out / "vae_traversal.png", steps=9)


def kl_per_dimension(ctx: Context) -> None:
    """Each of 32 latents' KL (nats, held-out mean): a VAE, a beta-VAE (beta 4) and free bits."""
    common = ["model.latent_dim=32", "train.epochs=20"]
    runs = [("VAE", ctx.train("vae32", "mnist_vae_mlp", common)),
            ("beta-VAE, beta = 4", ctx.train("beta32", "mnist_beta_vae", common + ["model.warmup_steps=1000"])),
            ("free bits, 0.5 nat", ctx.train("freebits32", "mnist_vae_mlp", common + ["model.free_bits=0.5"]))]
    fig, axes = _figure(10, 3, 3)
    for ax, (title, (model, held)) in zip(axes, runs):
        with torch.no_grad():
            mu, logvar = model.posterior(held.images.float() / 255)
        kl = kl_to_standard_normal(mu, logvar).mean(0).sort(descending=True).values  # (D,), nats
        ax.bar(np.arange(len(kl)), kl.numpy(), color="tab:blue")
        ax.set_title(f"{title}: {float(kl.sum()):.1f} nats, {int((kl > 0.1).sum())} above 0.1", fontsize=9)
        ax.set_xlabel("latent (sorted)")
    axes[0].set_ylabel("KL, nats")
    _save(fig, ctx.out / "kl_per_dimension.png")


def is_nll_against_k(ctx: Context) -> None:
    """The importance-weighted bound on -log p(x) against k, for a VAE and an IWAE (k = 5), on
    statically binarized held-out digits."""
    runs = [("VAE (trained on the ELBO)", _vae16(ctx)),
            ("IWAE (trained on L_5)", ctx.train("iwae5", "mnist_iwae", ["train.epochs=10"]))]
    ks = [1, 5] if ctx.quick else [1, 5, 50, 500]
    fig, (ax,) = _figure(5.4, 3.6)
    for title, (model, held) in runs:
        x = (held.images[: 20 if ctx.quick else 200] > 127).float()  # static binarization: a likelihood of binary digits
        nll = [float(importance_weighted_nll(model, x, k=k, generator=torch.Generator().manual_seed(0),
                                             progress=False).mean()) for k in ks]
        ax.plot(ks, nll, "o-", label=title)
        print(f"  {title}: -L_k " + ", ".join(f"k={k} {v:.2f}" for k, v in zip(ks, nll)), flush=True)
    ax.set_xscale("log")
    ax.set_xlabel("k (importance samples)")
    ax.set_ylabel("-L_k, nats (held-out mean)")
    ax.set_title("k = 1 is the ELBO; the bound tightens as k grows", fontsize=10)
    ax.legend(fontsize="small")
    _save(fig, ctx.out / "is_nll_against_k.png")


def vamp_pseudo_inputs(ctx: Context) -> None:
    """A VampPrior's learned pseudo-inputs, and samples from the prior they define."""
    model, _ = ctx.train("vamp", "mnist_vamp", ["train.epochs=10"])
    with torch.no_grad():
        pseudo = model.prior.pseudo_inputs()[:16]  # (16, 1, 28, 28), in (0, 1)
        samples = model.sample(16, generator=torch.Generator().manual_seed(0))
    fig, axes = _figure(7, 3.6, 2)
    _show(axes[0], pseudo, 4, "16 of the 500 pseudo-inputs u_k")
    _show(axes[1], samples, 4, "samples: z ~ q(z | u_k), decoded")
    _save(fig, ctx.out / "vamp_pseudo_inputs.png")


def hvae_samples(ctx: Context) -> None:
    """A two-layer hierarchical VAE: held-out digits, reconstructions, and samples from the top."""
    model, held = ctx.train("hvae", "mnist_hvae", ["train.epochs=10"])
    x = held.images[:16].float() / 255
    with torch.no_grad():
        recon = model.reconstruct(x)
        samples = model.sample(16, generator=torch.Generator().manual_seed(0))
    fig, axes = _figure(8, 2.8, 3)
    for ax, images, title in zip(axes, [x, recon, samples], ["held-out digits", "reconstructions", "samples, top down"]):
        _show(ax, images, 4, title)
    _save(fig, ctx.out / "hvae_samples.png")


def tcvae_traversal(ctx: Context) -> None:
    """A beta-TCVAE's traversal on the shapes data (the smaller setting of the benchmarks)."""
    smaller = ["data.image_size=32", "data.num_samples=20000", "data.val=2000", "model.hidden=[512,512]",
               "train.epochs=10"] + (["data.num_samples=2000", "data.val=200"] if ctx.quick else [])
    model, held = ctx.train("tcvae", "shapes_beta_tcvae", smaller, mnist=False)
    save_traversal(model, held, 0, ctx.out / "tcvae_traversal.png", steps=9)


def oivae_heatmap(ctx: Context) -> None:
    """The oi-VAE's latent x patch weight norms on MNIST (sixteen 7 x 7 patches)."""
    model, _ = ctx.train("oivae", "mnist_oivae", ["train.epochs=10"])
    save_group_heatmap(model, ctx.out / "oivae_heatmap.png")


def quantizer_cells(ctx: Context) -> None:
    """In 2-D: FSQ's cells (a warped grid) and a two-stage residual VQ's coarse cells and fine points."""
    u = torch.linspace(-3, 3, 240)
    grid = torch.stack(torch.meshgrid(u, u, indexing="xy"), -1).reshape(-1, 2)  # (240^2, 2)
    fsq = FiniteScalarQuantizer(levels=[5, 4], channels_first=True)  # no dim: no projection, the levels themselves
    g = torch.Generator().manual_seed(0)
    data = torch.randn(4096, 2, generator=g) * torch.tensor([1.0, 0.6])
    rvq = ResidualVectorQuantizer(dim=2, codebook_size=4, num_quantizers=2, dead_code_steps=0, channels_first=True)
    rvq.train()
    for _ in range(1 if ctx.quick else 50):
        rvq(data.view(-1, 2, 1, 1))  # (B, D, 1, 1): one-position grids; EMA updates in training mode
    rvq.eval()
    with torch.no_grad():
        fsq_codes = fsq(grid.view(-1, 2, 1, 1)).codes.view(240, 240)
        rvq_out = rvq(grid.view(-1, 2, 1, 1))
        points = rvq(data[:400].view(-1, 2, 1, 1)).z_q.view(-1, 2)
    fig, axes = _figure(10, 4.4, 2)
    axes[0].imshow(fsq_codes.numpy() % 7, extent=(-3, 3, -3, 3), origin="lower", cmap="Pastel1")
    axes[0].set_title("FSQ, levels [5, 4]: 20 cells of a tanh-warped grid", fontsize=10)
    coarse = rvq_out.codes[:, 0].reshape(240, 240)  # (240, 240): the first stage's code
    axes[1].imshow(coarse.numpy(), extent=(-3, 3, -3, 3), origin="lower", cmap="Pastel1")
    axes[1].scatter(*data[:400].T, s=2, color="gray")
    axes[1].scatter(*points.T, s=14, color="black", marker="x")
    axes[1].set_title("residual VQ, 2 stages of 4: coarse cells, 16 points", fontsize=10)
    _save(fig, ctx.out / "quantizer_cells.png")


def vqvae2_samples(ctx: Context) -> None:
    """VQ-VAE-2 on MNIST: reconstructions and samples of its two-level PixelCNN prior."""
    epochs = "train.epochs=1" if ctx.quick else "train.epochs=5"
    model, held = ctx.train("vqvae2", "mnist_vqvae2", [epochs])
    train_prior(ctx.runs / "vqvae2", [epochs, "train.progress=false"])
    model = vaelab.load(ctx.runs / "vqvae2")
    x = held.images[:16].float() / 255
    with torch.no_grad():
        recon = model.reconstruct(x)
        samples = model.sample(16, generator=torch.Generator().manual_seed(0))
    fig, axes = _figure(8, 2.8, 3)
    for ax, images, title in zip(axes, [x, recon, samples], ["held-out digits", "reconstructions",
                                                              "samples: top, then bottom"]):
        _show(ax, images, 4, title)
    _save(fig, ctx.out / "vqvae2_samples.png")


def quantizers(ctx: Context) -> None:
    """Lloyd-Max on a Gaussian (levels and thresholds) and LBG's Voronoi cells in 2-D."""
    g = torch.Generator().manual_seed(0)
    scalar = lloyd_max(torch.randn(100_000, generator=g), levels=4)
    points = torch.randn(2000, 2, generator=g) * torch.tensor([1.0, 0.6])
    book = lbg(points, 8, generator=g).codebook  # (8, 2)
    fig, axes = _figure(10, 4, 2)
    t = np.linspace(-3.5, 3.5, 400)
    axes[0].plot(t, np.exp(-t**2 / 2) / np.sqrt(2 * np.pi), color="black")
    for b in scalar.boundaries.tolist():
        axes[0].axvline(b, color="tab:red", linestyle="--")
    axes[0].plot(scalar.levels.numpy(), np.zeros(len(scalar.levels)), "o", color="tab:blue", markersize=8)
    axes[0].set_title("Lloyd-Max, 4 levels (dots), thresholds (dashed)", fontsize=10)
    u = torch.linspace(-3.5, 3.5, 300)
    grid = torch.stack(torch.meshgrid(u, u, indexing="xy"), -1).reshape(-1, 2)
    cell = torch.cdist(grid, book).argmin(1).reshape(300, 300)
    axes[1].imshow(cell.numpy(), extent=(-3.5, 3.5, -3.5, 3.5), origin="lower", cmap="Pastel1", alpha=0.8)
    axes[1].scatter(*points[:600].T, s=2, color="gray")
    axes[1].scatter(*book.T, s=40, color="black", marker="x")
    axes[1].set_title("LBG, 8 codewords and their Voronoi cells", fontsize=10)
    _save(fig, ctx.out / "quantizers.png")


def _vqvae_with_prior(ctx: Context):
    """The VQ-VAE of 5 epochs with its PixelCNN prior (5 epochs), both trained once per run of this
    script: (model, held-out data), as Context.train gives."""
    if "vqvae+prior" not in ctx.trained:
        _, held = ctx.train("vqvae", "mnist_vqvae", ["train.epochs=5"])
        train_prior(ctx.runs / "vqvae", ["train.epochs=1" if ctx.quick else "train.epochs=5", "train.progress=false"])
        ctx.trained["vqvae+prior"] = vaelab.load(ctx.runs / "vqvae"), held
    return ctx.trained["vqvae+prior"]


def vqvae_prior(ctx: Context) -> None:
    """A VQ-VAE decoding uniformly random code grids, beside grids its PixelCNN prior samples."""
    model, _ = _vqvae_with_prior(ctx)
    g = torch.Generator().manual_seed(0)
    codes = model.encode_codes(torch.zeros(16, 1, 28, 28))  # for the grid's shape
    num_codes = vaelab.run_config(ctx.runs / "vqvae").model.num_codes
    random = torch.randint(0, num_codes, codes.shape, generator=g)
    with torch.no_grad():
        decoded = model.decode_codes(random)
        sampled = model.sample(16, generator=g)
    fig, axes = _figure(7, 3.6, 2)
    _show(axes[0], decoded, 4, "uniformly random codes")
    _show(axes[1], sampled, 4, "codes from the PixelCNN prior")
    _save(fig, ctx.out / "vqvae_random_vs_prior.png")


def infovae_codes(ctx: Context) -> None:
    """A VAE and an MMD-VAE (16 latents): the aggregate posterior's first dimension against
    N(0, 1), and the widths of the individual posteriors."""
    runs = [("VAE", _vae16(ctx)), ("MMD-VAE", ctx.train("info16", "mnist_infovae", ["train.epochs=10"]))]
    g = torch.Generator().manual_seed(0)
    fig, axes = _figure(10, 3.6, 2)
    t = np.linspace(-4, 4, 200)
    axes[0].plot(t, np.exp(-t**2 / 2) / np.sqrt(2 * np.pi), color="black", label="N(0, 1)")
    for colour, (title, (model, held)) in zip(["tab:blue", "tab:orange"], runs):
        with torch.no_grad():
            mu, logvar = model.posterior(held.images.float() / 255)  # (N, 16) each
        z = mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=g)  # one draw of q(z | x) per image
        divergence = float(mmd(z, torch.randn(z.shape, generator=g)))
        kl = float(kl_to_standard_normal(mu, logvar).sum(1).mean())
        axes[0].hist(z[:, 0].numpy(), bins=40, range=(-4, 4), density=True, histtype="step", color=colour,
                     linewidth=1.5, label=f"{title}: MMD^2 {divergence:.3f}")
        axes[1].hist((0.5 * logvar).exp().flatten().numpy(), bins=40, range=(0, 1.2), histtype="step", color=colour,
                     linewidth=1.5, label=f"{title}: KL {kl:.0f} nats per image")
    axes[0].set_title("aggregate posterior q(z): first latent, one draw per image", fontsize=10)
    axes[1].set_title("widths sigma of the individual posteriors q(z | x)", fontsize=10)
    for ax in axes:
        ax.legend(fontsize="small")
    _save(fig, ctx.out / "infovae_codes.png")


def cvae_by_class(ctx: Context) -> None:
    """A conditional VAE: one row per digit, the same eight codes z in every row."""
    model, _ = ctx.train("cvae", "mnist_cvae")  # the shipped 100 epochs: at 20 the label is not yet obeyed
    z = torch.randn(8, model.latent_dim, generator=torch.Generator().manual_seed(0))  # (8, D): one style per column
    rows = []
    with torch.no_grad():
        for digit in range(10):
            rows.append(model.decode(z, torch.full((8,), digit)))
    fig, (ax,) = _figure(5, 6.2)
    _show(ax, torch.cat(rows), 8, "one row per label, one column per code z")
    _save(fig, ctx.out / "cvae_by_class.png")


def sharper_reconstructions(ctx: Context) -> None:
    """A conv VAE's reconstructions without and with the perceptual and adversarial losses."""
    folder = ctx.runs / "classifier"
    if not (folder / "classifier.json").is_file():
        data = load_dataset(vaelab.load_config(ROOT / "configs/mnist_vae_conv.yaml",
                                               [f"data.root={ctx.mnist}", "data.split=test", "data.val=1000"]).data)
        train = data.train.subset(slice(0, 400)) if ctx.quick else data.train
        net, _ = train_classifier(train.images, train.labels, epochs=1 if ctx.quick else 5, seed=1, progress=False)
        save_classifier(net, folder, {"dataset": "mnist"})
    epochs = 1 if ctx.quick else 10
    steps = epochs * (4 if ctx.quick else 90)  # 9000 digits in batches of 100
    common = ["data.binarize=none", f"train.epochs={epochs}"]
    sharp = [f"model.perceptual_classifier={folder}", "model.perceptual_weight=40", "model.adversarial_weight=0.5",
             f"model.adversarial_start={steps // 2}"]
    plain, held = ctx.train("vae_conv", "mnist_vae_conv", common)
    sharpened, _ = ctx.train("vae_conv_sharp", "mnist_vae_conv", common + sharp)
    x = held.images[:16].float() / 255
    with torch.no_grad():
        pictures = [x, plain.reconstruct(x), sharpened.reconstruct(x)]
    fig, axes = _figure(8, 2.8, 3)
    for ax, images, title in zip(axes, pictures, ["held-out digits", "VAE", "VAE + perceptual + critic"]):
        _show(ax, images, 4, title)
    _save(fig, ctx.out / "sharper_reconstructions.png")


CHROMIUM = Path("/usr/bin/chromium")  # Debian's, as the browser tests use

# In the page: the canvas point of the emptiest spot in the middle of a plane (its points'
# bounding box, 10-90% of the way along each axis), on a 41 x 41 grid: where a hole would be.
EMPTIEST = """(which) => {
  const plane = which === "main" ? main : beside, points = plane.plane.points;
  const low = [0, 1].map((k) => Math.min(...points.map((p) => p[k]))), high = [0, 1].map((k) => Math.max(...points.map((p) => p[k])));
  let best = null, widest = -1;
  for (let u = 0; u <= 40; u++) for (let v = 0; v <= 40; v++) {
    const q = [0, 1].map((k) => low[k] + (0.1 + 0.02 * (k ? v : u)) * (high[k] - low[k]));
    const gap = Math.min(...points.map((p) => Math.hypot((p[0] - q[0]) / (high[0] - low[0]), (p[1] - q[1]) / (high[1] - low[1]))));
    if (gap > widest) { widest = gap; best = q; }
  }
  return plane.toCanvas(best);
}"""


def _click_canvas(page, selector: str, point) -> None:
    box = page.locator(selector).bounding_box()
    page.mouse.click(box["x"] + point[0], box["y"] + point[1])
    page.wait_for_timeout(400)


def _shoot(page, selectors: list[str], path: Path) -> None:
    """A screenshot of the page region that holds the elements `selectors`, as a 64-colour PNG."""
    boxes = [page.locator(s).bounding_box() for s in selectors]
    x0, y0 = min(b["x"] for b in boxes), min(b["y"] for b in boxes)
    x1, y1 = max(b["x"] + b["width"] for b in boxes), max(b["y"] + b["height"] for b in boxes)
    _write_png(page.screenshot(clip={"x": x0, "y": y0, "width": x1 - x0, "height": y1 - y0}, full_page=True), path)


def _explorer_latent_views(page, out: Path) -> None:
    """The 2-D VAE beside the 2-D autoencoder, each point in its plane's emptiest spot; the 16-D
    VAE on PCA axes with the ends of a path picked by clicking, and its traversal; the CVAE."""
    page.select_option("#beside", "ae2")
    page.wait_for_function("() => document.getElementById('decoded2').src")
    _click_canvas(page, "#plane", page.evaluate(EMPTIEST, "main"))
    _click_canvas(page, "#plane2", page.evaluate(EMPTIEST, "beside"))
    _shoot(page, ["#planes"], out / "explorer_latent.png")
    page.select_option("#run", "vae16")
    page.wait_for_selector("#besidepanel[hidden]", state="attached")
    page.select_option("#axes", "pca")
    page.select_option("#clickmode", "pick")
    page.wait_for_timeout(500)
    for fx, fy in [(0.3, 0.25), (0.7, 0.8)]:
        _click_canvas(page, "#plane", (360 * fx, 360 * fy))
    page.locator("#t").fill("0.5")
    page.wait_for_timeout(600)
    _shoot(page, ["#planes", "#interpolation"], out / "explorer_interpolation.png")
    page.locator("#sliders input").first.fill("2.5")
    page.wait_for_timeout(600)
    _shoot(page, ["#traversal"], out / "explorer_traversal.png")
    page.select_option("#run", "cvae")
    page.wait_for_function("() => document.querySelectorAll('#classes img').length === 10")
    page.wait_for_timeout(400)
    _shoot(page, ["#classbox"], out / "explorer_classes.png")


def _explorer_code_views(page, out: Path) -> None:
    """The VQ-VAE: one cell of a seven repainted; then a prior sample halfway drawn."""
    page.select_option("#run", "vqvae")
    page.wait_for_selector("#grids td")
    page.fill("#paint", "7")
    page.locator("#grids td").nth(24).click()
    page.wait_for_timeout(500)
    _shoot(page, ["#codegrid", "#usagebox"], out / "explorer_codes.png")
    # Stopped after exactly 25 codes: the page reads the pace at each code, so 60 s set while it
    # waits its 400 ms after code 24 holds it after code 25 (slow enough that the script is never late).
    page.fill("#pace", "400")
    page.click("#draw")
    page.wait_for_function("() => Number(document.body.dataset.revealed) >= 24")  # about half the grid
    page.fill("#pace", "60000")
    page.wait_for_function("() => Number(document.body.dataset.revealed) >= 25")
    page.wait_for_timeout(100)
    page.fill("#pace", "40")  # (the minute's wait has begun) as the page would show it
    _shoot(page, ["#codegrid", "#prior"], out / "explorer_sampling.png")


def explorer_views(ctx: Context) -> None:
    """Screenshots of each view of `vaelab explore` (headless Chromium through Playwright)."""
    from playwright.sync_api import sync_playwright

    from vaelab.explore.serve import open_runs, serve_in_background

    two_d = ["model.latent_dim=2", "data.binarize=static", "train.epochs=10"]  # as ae_vs_vae_latents trains them
    ctx.train("vae2", "mnist_vae_mlp", two_d)
    ctx.train("ae2", "mnist_ae", two_d)
    _vae16(ctx)
    ctx.train("cvae", "mnist_cvae")
    _vqvae_with_prior(ctx)
    runs = open_runs([str(ctx.runs / name) for name in ("vae2", "ae2", "vae16", "cvae", "vqvae")])
    for name in ("vae2", "ae2"):  # the numbers the guide quotes beside the side-by-side screenshot
        codes = runs[name].codes  # (N, 2): held-out posterior means (the autoencoder's codes)
        print(f"  {name} held-out codes: mean {codes.mean(0).tolist()}, std {codes.std(0).tolist()}, "
              f"min {codes.min(0).values.tolist()}, max {codes.max(0).values.tolist()}", flush=True)
    server, url = serve_in_background(runs)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-dev-shm-usage"])
            page = browser.new_page(viewport={"width": 1080, "height": 1000})
            page.goto(url)
            page.wait_for_selector("body[data-ready=true]")
            _explorer_latent_views(page, ctx.out)
            _explorer_code_views(page, ctx.out)
            browser.close()
    finally:
        server.should_exit = True


EXPLORER_VIEWS = ["explorer_latent.png", "explorer_interpolation.png", "explorer_traversal.png", "explorer_classes.png",
                  "explorer_codes.png", "explorer_sampling.png"]


FIGURES: dict[str, tuple[Callable[[Context], None], list[str]]] = {
    "ae_vs_vae_latents": (ae_vs_vae_latents, ["ae_vs_vae_latents.png"]),
    "vae_samples": (vae_samples, ["vae_samples.png", "vae_interpolation.png", "vae_traversal.png"]),
    "kl_per_dimension": (kl_per_dimension, ["kl_per_dimension.png"]),
    "is_nll_against_k": (is_nll_against_k, ["is_nll_against_k.png"]),
    "vamp_pseudo_inputs": (vamp_pseudo_inputs, ["vamp_pseudo_inputs.png"]),
    "hvae_samples": (hvae_samples, ["hvae_samples.png"]),
    "tcvae_traversal": (tcvae_traversal, ["tcvae_traversal.png"]),
    "oivae_heatmap": (oivae_heatmap, ["oivae_heatmap.png"]),
    "quantizer_cells": (quantizer_cells, ["quantizer_cells.png"]),
    "vqvae2_samples": (vqvae2_samples, ["vqvae2_samples.png"]),
    "quantizers": (quantizers, ["quantizers.png"]),
    "vqvae_prior": (vqvae_prior, ["vqvae_random_vs_prior.png"]),
    "infovae_codes": (infovae_codes, ["infovae_codes.png"]),
    "cvae_by_class": (cvae_by_class, ["cvae_by_class.png"]),
    "sharper_reconstructions": (sharper_reconstructions, ["sharper_reconstructions.png"]),
    "explorer_views": (explorer_views, EXPLORER_VIEWS),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(FIGURES), default=list(FIGURES))
    parser.add_argument("--mnist", default=str(MNIST), help=f"folder of MNIST's files (default {MNIST}; "
                        "missing files are downloaded)")
    parser.add_argument("--out", default=str(ROOT / "docs/figures"))
    parser.add_argument("--runs", default=str(ROOT / "runs/figures"))
    parser.add_argument("--quick", action="store_true", help="tiny settings (the tests): one epoch, 400 digits")
    args = parser.parse_args(argv)
    ctx = Context(Path(args.out), Path(args.runs), Path(args.mnist), args.quick)
    ctx.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    for name in args.only:
        print(f"figure {name}", flush=True)
        FIGURES[name][0](ctx)


if __name__ == "__main__":
    main()
