"""What the latent explorer asks of one run folder: its held-out codes on a plane, and images
decoded from points the user moves. Pure computations on a loaded model; the web layer
(app.py) only parses requests and calls these.

A run is explored through the capabilities its model declares: a LatentVectorModel (AE,
VAE family) gets the plane, decoding, traversals and interpolation; a CodeGridModel
(VQ-VAEs) gets its code grids, painting and codebook usage. Anything else is refused when
the explorer starts. Every value a request brings is checked here and refused with a
ConfigError (the app answers 400), never passed on to the model unchecked.
"""

from __future__ import annotations

import base64
import io
import math
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import Tensor

from vaelab.data.given import run_data
from vaelab.errors import CapabilityError, ConfigError
from vaelab.evaluation.latent_stats import posterior_means
from vaelab.models.base import CodeGridModel, LatentVectorModel, model_name
from vaelab.models.interpolation import INTERPOLATIONS
from vaelab.models.traversal import dimension_activity
from vaelab.plots.latent_space import pca_axes
from vaelab.runs import load, run_config

MAX_POINTS = 1000  # held-out images shown on the plane
MAX_COORD = 1000.0  # |z_d| accepted from a request (latent units; the prior's spread is 1)
PREVIEW_SCALE = 4  # decoded images are enlarged this many times (nearest neighbour) for the page
MAX_BATCH = 64  # latent points decoded in one request (a path strip, a row of classes)
PATH_STEPS = 101  # an interpolation path: every hundredth of the way
MAX_FRAMES = 64  # pictures of a prior sample as it fills


def png_data_url(image: Tensor, scale: int = PREVIEW_SCALE) -> str:
    """One image [C, H, W] in [0, 1] as a data: URL of a PNG, enlarged `scale` times."""
    pixels = (image.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu()  # (C, H, W)
    array = pixels.permute(1, 2, 0).numpy()  # (H, W, C)
    picture = Image.fromarray(array[..., 0] if array.shape[2] == 1 else array)
    picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _number(value, what: str, bound: float = MAX_COORD) -> float:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= bound:
        return float(value)  # (a huge int would overflow math.isfinite)
    if not isinstance(value, float) or not math.isfinite(value) or abs(value) > bound:
        raise ConfigError(f"{what} must be a finite number in [-{bound:g}, {bound:g}], got {value!r:.40}")
    return float(value)


def _index(value, size: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < size:
        raise ConfigError(f"{what} must be an integer in 0..{size - 1}, got {value!r:.40}")
    return value


class ExploredRun:
    """One run folder opened for exploring: its model (eval mode, CPU), held-out images and labels.

    From Python, a run trained on your own data or with your own networks opens with them:
    `data` (and `labels`) as `vaelab.train` took them (the same held-out part), and
    `networks` as `vaelab.load` takes them (encoder=..., decoder=...).
    """

    def __init__(self, folder: str | Path, name: str, data: Any = None, labels: Tensor | None = None,
                 **networks: torch.nn.Module):
        self.folder, self.name = Path(folder), name
        self.model = load(folder, **networks)
        if not isinstance(self.model, (LatentVectorModel, CodeGridModel)):
            raise CapabilityError(f"{folder}: the explorer needs a model with one latent vector per image or a grid "
                                  f"of codes; model {model_name(self.model)!r} has neither")
        data, _ = run_data(run_config(folder).data, data, labels).held_out_or_train()
        self.data = data.subset(slice(0, MAX_POINTS))
        self.images = self.data.images.float() / 255  # (N, C, H, W) in [0, 1]
        self.labels = self.data.labels
        self.kind = "latent" if isinstance(self.model, LatentVectorModel) else "codes"
        if self.kind == "latent":
            self.codes = posterior_means(self.model, self.data.images, self._held_out_labels())  # (N, D)
            self.activity = dimension_activity(self.model, self.images, self._held_out_labels())  # (D,)
            self.limits = (self.codes.abs().amax(0).ceil() + 1).clamp_min(4.0)  # (D,) each traversal slider's reach
        else:
            with torch.inference_mode():
                self.code_counts = self.model.count_codes(self.model.encode_codes(self.images))  # (books K,)
                black = torch.zeros(1, *self.images.shape[1:])  # (1, C, H, W)
                self.blank_codes = self.model.encode_codes(black).flatten()  # (P,) a black image's codes

    def _held_out_labels(self) -> Tensor | None:
        """The held-out labels when the model takes labels, else None."""
        return self.labels if self.model.conditional else None

    def summary(self) -> dict:
        """What the page needs to lay itself out."""
        out = {"name": self.name, "kind": self.kind, "model": model_name(self.model), "images": len(self.data),
               "conditional": bool(self.model.conditional), "classes": self.model.num_classes,
               "class_names": self.data.class_names}
        if self.kind == "latent":
            out |= {"latent_dim": self.codes.shape[1], "order": self.activity.argsort(descending=True).tolist(),
                    "activity": [round(float(a), 4) for a in self.activity],
                    "limits": self.limits.tolist()}
        else:
            tables = [{"name": name, "rows": h, "cols": w} for name, (h, w) in self.model.code_tables()]
            out |= {"num_codes": self.model.num_codes, "code_shape": list(self.model.code_shape), "tables": tables,
                    "can_sample": self.model.can_sample}
        return out

    # ---- latent vector models ----------------------------------------------------------

    def _require_latent(self, what: str) -> None:
        if self.kind != "latent":
            raise CapabilityError(f"{what} needs a model with one latent vector per image; {self.name} has code grids")

    def plane(self, axes: str = "dims", x_dim=0, y_dim=1) -> dict:
        """The held-out codes on a plane through latent space, and the plane itself: a point (a, b)
        on it is the code origin + a axes[0] + b axes[1] (axes: two orthonormal rows [2, D]), and a
        code z sits at ((z - origin) . axes[0], (z - origin) . axes[1]).

        axes="dims": latent dimensions x_dim and y_dim through 0 (a 1-D latent: z0 against nothing);
        axes="pca": the codes' first two principal axes through their mean, for any latent size.
        """
        self._require_latent("the latent plane")
        d = self.codes.shape[1]
        if axes == "pca" and d >= 2:
            mean, directions, share = pca_axes(self.codes.double().numpy())
            origin, basis = torch.from_numpy(mean).float(), torch.from_numpy(directions).float()  # (D,), (2, D)
            names = [f"PC{k + 1} ({100 * share[k]:.0f}% of the variance)" for k in range(2)]
        elif axes == "dims":
            x_dim, y_dim = _index(x_dim, d, "x_dim"), _index(y_dim, d, "y_dim")
            if x_dim == y_dim and d > 1:
                raise ConfigError(f"x_dim and y_dim must be two different dimensions, got {x_dim} twice")
            origin, basis = torch.zeros(d), torch.zeros(2, d)
            basis[0, x_dim] = 1.0
            basis[1, y_dim] = float(d > 1)  # a 1-D latent: the plane's second axis is empty
            names = [f"z{x_dim}", f"z{y_dim}" if d > 1 else "(none)"]
        else:
            raise ConfigError(f"axes must be dims or pca (pca needs 2 or more latents), got {axes!r} with {d}")
        points = (self.codes - origin) @ basis.T  # (N, D) @ (D, 2) -> (N, 2)
        return {"points": points.round(decimals=4).tolist(), "origin": origin.tolist(), "axes": basis.tolist(),
                "names": names, "labels": None if self.labels is None else self.labels.tolist()}

    def decode(self, zs, labels=None) -> list[str]:
        """The images of latent points zs (a list of up to MAX_BATCH points, each a list of
        latent_dim numbers; labels: one class per point for a conditional model), decoded in
        one batch, as PNG data URLs."""
        self._require_latent("decoding latent points")
        d = self.codes.shape[1]
        if not isinstance(zs, list) or not 1 <= len(zs) <= MAX_BATCH:
            raise ConfigError(f"points must be a list of 1 to {MAX_BATCH} latent points")
        if any(not isinstance(z, list) or len(z) != d for z in zs):
            raise ConfigError(f"each latent point must be a list of {d} numbers (the latent dimension)")
        points = torch.tensor([[_number(v, f"z[{i}]") for i, v in enumerate(z)] for z in zs])  # (B, D)
        with torch.inference_mode():
            images = self.model.decode(points, self._request_labels(labels, len(zs)))  # (B, C, H, W)
        return [png_data_url(image) for image in images]

    def _request_labels(self, labels, count: int) -> Tensor | None:
        """A request's class labels as the model takes them (None for unconditional models)."""
        if not self.model.conditional:
            return None
        if not isinstance(labels, list) or len(labels) != count:
            raise ConfigError(f"a conditional model needs one label per point: a list of {count} class indices")
        return torch.tensor([_index(k, self.model.num_classes, "label") for k in labels])

    def encoding(self, index) -> dict:
        """Held-out image `index`: its picture, its code (posterior mean) and its label."""
        self._require_latent("an image's code")
        i = _index(index, len(self.data), "index")
        return {"image": png_data_url(self.images[i]), "z": self.codes[i].tolist(),
                "label": None if self.labels is None else int(self.labels[i])}

    def path(self, start, end, method: str = "slerp") -> list[list[float]]:
        """The path from held-out image `start`'s code to `end`'s, at every hundredth of the way:
        101 points, the page's slider picks one."""
        self._require_latent("interpolation")
        i, j = _index(start, len(self.data), "start"), _index(end, len(self.data), "end")
        if not isinstance(method, str) or method not in INTERPOLATIONS:
            raise ConfigError(f"method must be one of {', '.join(INTERPOLATIONS)}, got {method!r}")
        return INTERPOLATIONS[method](self.codes[i], self.codes[j], PATH_STEPS).tolist()

    # ---- code grid models --------------------------------------------------------------

    def _require_codes(self, what: str) -> None:
        if self.kind != "codes":
            raise CapabilityError(f"{what} needs a model with a grid of codes (a VQ-VAE); {self.name} has latent vectors")

    def code_grid(self, index) -> dict:
        """Held-out image `index`: its picture and its codes (nested lists of `code_shape`)."""
        self._require_codes("an image's code grid")
        i = _index(index, len(self.data), "index")
        with torch.inference_mode():
            codes = self.model.encode_codes(self.images[i:i + 1])[0]
        return {"image": png_data_url(self.images[i]), "codes": codes.tolist()}

    def decode_codes(self, codes) -> str:
        """The image of a code grid (nested lists of integers in 0..num_codes-1), as a PNG data URL."""
        self._require_codes("decoding codes")
        try:
            grid = torch.tensor(codes)  # integers only: no dtype, so that 1.5 or true is refused, not rounded
        except (TypeError, ValueError, OverflowError, RuntimeError):
            raise ConfigError(f"codes must be nested lists of integers of shape {list(self.model.code_shape)}") from None
        if grid.dtype != torch.int64 or list(grid.shape) != list(self.model.code_shape) or grid.min() < 0 \
                or grid.max() >= self.model.num_codes:
            raise ConfigError(f"codes must have shape {list(self.model.code_shape)} and values in "
                              f"0..{self.model.num_codes - 1}")
        with torch.inference_mode():
            return png_data_url(self.model.decode_codes(grid[None])[0])

    def sample_codes(self, seed, label=None) -> dict:
        """A code grid drawn from the run's prior (seed: an integer; label: the class, for a
        class-conditional prior), and pictures of it filling.

        The prior draws codes in raster order (the grid flattened), each given those before it;
        `frames[i]` is the grid decoded when the first `shown[i]` codes are drawn, the cells not
        drawn yet holding the codes of a black image (a neutral stand-in: on MNIST, background;
        the commonest code of each cell among the held-out images would draw an average digit
        there). The page replays the order and shows each frame as it is reached.
        """
        self._require_codes("sampling codes")
        if not self.model.can_sample:
            raise CapabilityError(f"{self.name} has no code prior yet: train one with `vaelab prior train {self.folder}`")
        if self.model.conditional != (label is not None):
            raise ConfigError(f"{self.name}'s prior is " + ("class-conditional: say which class to draw (label=k)"
                                                            if self.model.conditional else "not class-conditional: no label"))
        labels = self._request_labels(None if label is None else [label], 1)  # (1,), or None
        generator = torch.Generator().manual_seed(_index(seed, 2**32, "seed"))
        with torch.inference_mode():
            codes = self.model.prior.sample(1, self.model.code_shape, labels=labels, generator=generator)[0]  # (*code_shape)
            cells = codes.numel()
            shown = torch.linspace(0, cells, min(cells, MAX_FRAMES) + 1).round().long().unique()  # (F,)
            drawn = torch.arange(cells)[None, :] < shown[:, None]  # (F, P): which cells each frame has
            grids = torch.where(drawn, codes.flatten()[None, :], self.blank_codes[None, :])  # (F, P)
            images = self.model.decode_codes(grids.view(len(shown), *self.model.code_shape))  # (F, C, H, W)
        return {"codes": codes.tolist(), "shown": shown.tolist(), "frames": [png_data_url(im) for im in images]}

    def usage(self) -> list[dict]:
        """How often each codeword is used by the held-out images' codes: one {"name", "counts"}
        per codebook (VQ-VAE-2's top and bottom, a residual quantizer's stages, or just one)."""
        self._require_codes("codebook usage")
        counts = self.code_counts  # (books K,)
        books = counts.numel() // self.model.num_codes
        tables = [name for name, _ in self.model.code_tables()]
        names = tables if len(tables) == books else ["codebook"] if books == 1 else [f"codebook {b + 1}" for b in range(books)]
        return [{"name": name, "counts": part.tolist()} for name, part in zip(names, counts.view(books, -1))]
