"""What every model that codes images as discrete codes shares: it generates through a
CodePrior over its codes, trained after it (`vaelab prior train RUN`), attached with
`attach_prior` and then the submodule `prior` (it moves with the model: .to, .eval).

The model says what shape one image's codes have (`code_shape`) and which prior fits
them (`make_prior`); sampling is then the same for all: draw codes, decode them.
"""

from __future__ import annotations

import torch
from torch import Tensor

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
