"""Training curves: each loss term of a run, train and validation, against the epoch."""

from __future__ import annotations

import math
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from vaelab.files import atomic_write

FIRST = ("loss", "recon", "kl")  # the usual terms, in this order; the others follow as they appear
# The loss and the likelihood terms are nats per example (see models/base.py); other
# figures a model logs (an MMD, a codebook's usage) are not, and a wrong unit misleads.
NATS = ("loss", "recon", "kl", "nelbo", "mi", "tc", "dim_kl")  # kl1, kl2, ...: a hierarchy's layers, nats too
UNITS = {
    "mmd": "squared MMD, no unit",
    "critic": "discriminator cross-entropy, nats",
    "lasso": "lambda x sum of the group norms",
    "commitment": "squared distance per example",
    "codebook": "squared distance per example",
    "mse": "per pixel, [0, 1] scale",
    "usage": "fraction of codes used",
    "perplexity": "codes",
}


def term_unit(term: str) -> str:
    """What a term is measured in: 'nats per example', another unit, or '' when unknown."""
    layer = term.startswith("kl") and term[2:].isdigit()
    return "nats per example" if term in NATS or layer else UNITS.get(term, "")


def loss_terms(records: list[dict]) -> list[str]:
    """The loss terms present in metrics records: 'train/kl' and 'val/kl' -> 'kl'.

    Keys that are not terms (epoch, step, lr, train/seconds) are left out.
    """
    seen: dict[str, None] = {}  # an ordered set
    for record in records:
        for key in record:
            split, _, term = key.partition("/")
            if split in ("train", "val") and term and term != "seconds":
                seen[term] = None
    return sorted(seen, key=lambda t: FIRST.index(t) if t in FIRST else len(FIRST))


def save_training_curves(metrics_records: list[dict], path: str | Path) -> Path:
    """One panel per loss term (nats per example, see `term_unit`), train and val lines against the epoch, as a PNG.

    metrics_records: the lines of a run's metrics.jsonl, each {"epoch": int,
    "train/<term>": float, "val/<term>": float, ...}. A term missing from some epochs
    is drawn where it is present.
    """
    terms = loss_terms(metrics_records) or ["loss"]  # no terms yet: one empty panel, not an error
    cols = min(3, len(terms))
    rows = math.ceil(len(terms) / cols)
    fig = Figure(figsize=(4.2 * cols, 3.2 * rows))
    FigureCanvasAgg(fig)  # render with Agg whatever pyplot's backend is
    for i, term in enumerate(terms):
        ax = fig.add_subplot(rows, cols, i + 1)
        for split, colour in (("train", "tab:blue"), ("val", "tab:orange")):
            points = [(r["epoch"], r[f"{split}/{term}"]) for r in metrics_records if f"{split}/{term}" in r]
            if points:
                epochs, values = zip(*points)
                ax.plot(epochs, values, color=colour, marker="o", markersize=3, label=split)
        ax.set_title(f"{term} ({term_unit(term)})" if term_unit(term) else term)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no epoch 1.5
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize="small")
    fig.tight_layout()
    path = Path(path)
    description = {"Description": "terms=" + ",".join(terms)}
    atomic_write(path, lambda tmp: fig.savefig(tmp, format=path.suffix[1:] or "png", dpi=100, metadata=description))
    return path
