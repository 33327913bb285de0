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

import torch
from PIL import Image
from torch import Tensor

from vaelab.data import load_dataset
from vaelab.errors import CapabilityError, ConfigError
from vaelab.evaluation.latent_stats import posterior_means
from vaelab.models.base import CodeGridModel, LatentVectorModel, model_name
from vaelab.models.interpolation import INTERPOLATIONS
from vaelab.models.traversal import dimension_activity
from vaelab.runs import load, run_config

MAX_POINTS = 1000  # held-out images shown on the plane
MAX_COORD = 1000.0  # |z_d| accepted from a request (latent units; the prior's spread is 1)
PREVIEW_SCALE = 4  # decoded images are enlarged this many times (nearest neighbour) for the page


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
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or abs(value) > bound:
        raise ConfigError(f"{what} must be a finite number in [-{bound:g}, {bound:g}], got {value!r}")
    return float(value)


def _index(value, size: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < size:
        raise ConfigError(f"{what} must be an integer in 0..{size - 1}, got {value!r}")
    return value


class ExploredRun:
    """One run folder opened for exploring: its model (eval mode, CPU), held-out images and labels."""

    def __init__(self, folder: str | Path, name: str):
        self.folder, self.name = Path(folder), name
        self.model = load(folder)
        if not isinstance(self.model, (LatentVectorModel, CodeGridModel)):
            raise CapabilityError(f"{folder}: the explorer needs a model with one latent vector per image or a grid "
                                  f"of codes; model {model_name(self.model)!r} has neither")
        data, _ = load_dataset(run_config(folder).data).held_out_or_train()
        self.data = data.subset(slice(0, MAX_POINTS))
        self.labels = self.data.labels
        self.kind = "latent" if isinstance(self.model, LatentVectorModel) else "codes"
        self.codes = posterior_means(self.model, self.data.images, self._labels()) if self.kind == "latent" else None

    def _labels(self) -> Tensor | None:
        return self.labels if self.model.conditional else None

    def _label(self, label) -> Tensor | None:
        """A request's class label as the model takes it (None for unconditional models)."""
        if not self.model.conditional:
            return None
        return torch.tensor([_index(label, self.model.num_classes, "label")])

    def summary(self) -> dict:
        """What the page needs to lay itself out."""
        out = {"name": self.name, "kind": self.kind, "model": model_name(self.model), "images": len(self.data),
               "conditional": bool(self.model.conditional), "classes": self.model.num_classes,
               "class_names": self.data.class_names}
        if self.kind == "latent":
            activity = dimension_activity(self.model, self.data.images.float() / 255, self._labels())
            out |= {"latent_dim": self.codes.shape[1], "order": activity.argsort(descending=True).tolist(),
                    "activity": [round(float(a), 4) for a in activity]}
        else:
            out |= {"grid": list(self.model.grid), "num_codes": self.model.num_codes,
                    "code_shape": list(self.model.code_shape), "can_sample": self.model.can_sample}
        return out

    # ---- latent vector models ----------------------------------------------------------

    def _require_latent(self, what: str) -> None:
        if self.kind != "latent":
            raise CapabilityError(f"{what} needs a model with one latent vector per image; {self.name} has code grids")

    def plane(self, x_dim, y_dim) -> dict:
        """The held-out codes on the plane of latent dimensions (x_dim, y_dim): points and labels."""
        self._require_latent("the latent plane")
        d = self.codes.shape[1]
        x_dim, y_dim = _index(x_dim, d, "x_dim"), _index(y_dim, d, "y_dim")
        points = self.codes[:, [x_dim, y_dim]]  # (N, 2)
        return {"points": points.round(decimals=4).tolist(),
                "labels": None if self.labels is None else self.labels.tolist()}

    def decode(self, z, label=None) -> str:
        """The image for latent point z (a list of latent_dim numbers), as a PNG data URL."""
        self._require_latent("decoding a latent point")
        d = self.codes.shape[1]
        if not isinstance(z, list) or len(z) != d:
            raise ConfigError(f"z must be a list of {d} numbers (the latent dimension)")
        point = torch.tensor([[_number(v, f"z[{i}]") for i, v in enumerate(z)]])  # (1, D)
        with torch.inference_mode():
            image = self.model.decode(point, self._label(label))[0]  # (C, H, W)
        return png_data_url(image)

    def encoding(self, index) -> dict:
        """Held-out image `index`: its picture, its code (posterior mean) and its label."""
        self._require_latent("an image's code")
        i = _index(index, len(self.data), "index")
        return {"image": png_data_url(self.data.images[i].float() / 255), "z": self.codes[i].tolist(),
                "label": None if self.labels is None else int(self.labels[i])}

    def path(self, start, end, t, method: str = "slerp") -> list[float]:
        """The point at fraction t in [0, 1] of the path from image `start`'s code to `end`'s."""
        self._require_latent("interpolation")
        i, j = _index(start, len(self.data), "start"), _index(end, len(self.data), "end")
        t = _number(t, "t", 1.0)
        if method not in INTERPOLATIONS or not 0 <= t <= 1:
            raise ConfigError(f"need t in [0, 1] and method one of {', '.join(INTERPOLATIONS)}, got {t} and {method!r}")
        steps = 101  # the path at every hundredth of the way
        return INTERPOLATIONS[method](self.codes[i], self.codes[j], steps)[round(t * 100)].tolist()

    # ---- code grid models --------------------------------------------------------------

    def _require_codes(self, what: str) -> None:
        if self.kind != "codes":
            raise CapabilityError(f"{what} needs a model with a grid of codes (a VQ-VAE); {self.name} has latent vectors")

    def code_grid(self, index) -> dict:
        """Held-out image `index`: its picture and its codes (nested lists of `code_shape`)."""
        self._require_codes("an image's code grid")
        i = _index(index, len(self.data), "index")
        with torch.inference_mode():
            codes = self.model.encode_codes(self.data.images[i:i + 1].float() / 255)[0]
        return {"image": png_data_url(self.data.images[i].float() / 255), "codes": codes.tolist()}

    def decode_codes(self, codes) -> str:
        """The image of a code grid (nested lists of integers in 0..num_codes-1), as a PNG data URL."""
        self._require_codes("decoding codes")
        try:
            grid = torch.tensor(codes, dtype=torch.int64)
        except (TypeError, ValueError, OverflowError):
            raise ConfigError(f"codes must be nested lists of integers of shape {list(self.model.code_shape)}") from None
        if list(grid.shape) != list(self.model.code_shape) or grid.min() < 0 or grid.max() >= self.model.num_codes:
            raise ConfigError(f"codes must have shape {list(self.model.code_shape)} and values in "
                              f"0..{self.model.num_codes - 1}")
        with torch.inference_mode():
            return png_data_url(self.model.decode_codes(grid[None])[0])

    def sample_codes(self, seed) -> dict:
        """A code grid drawn from the run's prior (seed: an integer), in the order the prior
        draws it: raster order, which the page replays cell by cell."""
        self._require_codes("sampling codes")
        if not self.model.can_sample:
            raise CapabilityError(f"{self.name} has no code prior yet: train one with `vaelab prior train {self.folder}`")
        if self.model.conditional:
            raise CapabilityError(f"{self.name}'s prior is class-conditional: the explorer samples unconditional priors only")
        generator = torch.Generator().manual_seed(_index(seed, 2**32, "seed"))
        with torch.inference_mode():
            codes = self.model.prior.sample(1, self.model.code_shape, generator=generator)
        return {"codes": codes[0].tolist()}

    def usage(self) -> list[int]:
        """How often each codeword is used by the held-out images' codes."""
        self._require_codes("codebook usage")
        with torch.inference_mode():
            codes = self.model.encode_codes(self.data.images.float() / 255)
        return self.model.count_codes(codes).tolist()
