"""What every model that codes images as discrete codes shares: it generates through a
CodePrior over its codes, trained after it (`vaelab prior train RUN`), attached with
`attach_prior` and then the submodule `prior` (it moves with the model: .to, .eval).

The model says what shape one image's codes have (`code_shape`) and which prior fits
them (`make_prior`); sampling is then the same for all: draw codes, decode them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from torch import Tensor

from vaelab import run_files
from vaelab.config import to_dict
from vaelab.errors import CapabilityError, ConfigError
from vaelab.models.base import CodeGridModel, CodePrior, GenerativeModel


class CodeModel(GenerativeModel, CodeGridModel):
    """Base of the VQ-VAEs: prior attachment and sampling through it (see the module doc)."""

    def __init__(self, config, data_shape: tuple[int, int, int], num_classes: int | None = None):
        super().__init__(config, data_shape, num_classes)
        # The prior over codes: trained after the model, with its own weights file
        # (RUN/prior/), so it is attached after the model's weights are loaded.
        self.register_module("prior", None)

    @property
    def num_codes(self) -> int:
        return self.config.num_codes

    def attach_prior(self, prior: CodePrior | None) -> None:
        """Make `prior` (a CodePrior over this model's codes, from `make_prior`) the model's
        prior, so that it can sample."""
        if prior is not None and prior.num_codes != self.num_codes:
            raise ConfigError(f"a prior over {prior.num_codes} codes does not fit a model of {self.num_codes} codes")
        self.prior = prior

    @property
    def can_sample(self) -> bool:
        return self.prior is not None

    def weights(self) -> dict[str, Tensor]:
        """The model's own tensors: its prior has a folder of its own (FOLDER/prior/)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("prior.")}

    def save_pretrained(self, folder: str | Path) -> Path:
        """The model's folder (GenerativeModel.save_pretrained) and, when a prior is attached,
        FOLDER/prior/: its PixelCNN config and weights, as `vaelab prior train` writes them."""
        folder = super().save_pretrained(folder)
        prior_folder = folder / run_files.PRIOR_DIR
        if self.prior is None:
            shutil.rmtree(prior_folder, ignore_errors=True)  # an earlier save's prior is not this model's
            return folder
        run_files.write_config(prior_folder, {"pixelcnn": to_dict(self.prior.config)})
        run_files.save_weights(self.prior.state_dict(), prior_folder / run_files.LAST, model="pixelcnn",
                               num_codes=self.num_codes, code_shape=list(self.code_shape),
                               num_classes=self.prior.num_classes)
        return folder

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, labels: Tensor | None = None) -> Tensor:
        if self.prior is None:
            raise CapabilityError(f"this {self.name} has no prior over its codes yet: train one with `vaelab prior train RUN`")
        codes = self.prior.sample(n, self.code_shape, labels=labels, generator=generator)
        return self.decode_codes(codes.to(self.device))

    @property
    def conditional(self) -> bool:  # sampling takes labels when the prior does
        return self.prior is not None and self.prior.num_classes is not None

    @property
    def num_classes(self) -> int | None:
        return None if self.prior is None else self.prior.num_classes
