"""Vector quantizer with a loss-trained codebook (van den Oord et al., 2017): K vectors of size D.

    k_i  = argmin_k ||z_e,i - e_k||^2             nearest code (lloyd.nearest_code)
    z_q  = z_e + sg(e_k - z_e)                    straight-through: decoder gradients reach z_e
                                                  (or the rotation trick: estimators.py)
    codebook loss   = ||sg(z_e) - e_k||^2         moves the codewords (the paper's eq. 3, 2nd term)
    commitment loss = beta ||z_e - sg(e_k)||^2    keeps the encoder near its codes (3rd term)

Both losses are summed over positions and dimensions and averaged over the batch, like
every loss in vaelab. `EMAVectorQuantizer` (ema.py) replaces the codebook loss by
moving averages; everything else here is shared by both.

Codebook health: k-means (LBG, the study tool in lloyd.py) on the first training
batch's encoder outputs initialises the codebook; a code unused for `dead_code_steps`
training steps is restarted at a random encoder output of the current batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vaelab.config import at_least, one_of
from vaelab.errors import ConfigError
from vaelab.nn import distributed
from vaelab.models.quantizers.base import Quantizer, QuantizerConfig, QuantizerOutput
from vaelab.models.quantizers.estimators import GRADIENT_ESTIMATORS, gradient_estimator
from vaelab.models.quantizers.lloyd import lbg, nearest_code


def reads_back_cheaply(device: torch.device) -> bool:
    """Whether reading a tensor back to Python costs nothing worth avoiding (the CPU's own memory)."""
    return device.type == "cpu"


@dataclass
class VectorQuantizerConfig(QuantizerConfig):
    """model.quantizer of name vq: VectorQuantizer's arguments (below)."""

    name: str = one_of("vq", default="vq")
    commitment: float = at_least(0, default=0.25)  # beta
    kmeans_init: bool = True  # LBG on the first training batch's encoder outputs
    dead_code_steps: int = at_least(0, default=10)  # restart a code unused this many steps (0: never)
    gradient: str = one_of(*GRADIENT_ESTIMATORS, default="straight_through")  # how z_q's gradient reaches z_e (estimators.py)
    chunk_size: int = at_least(1, default=8192)  # rows searched at a time (memory only)


class VectorQuantizer(Quantizer):
    """Nearest-codeword quantizer whose codebook is an nn.Parameter trained by the codebook loss.

        VectorQuantizer(dim=64, codebook_size=512)(z)    z [B, ..., 64] -> QuantizerOutput

    Args:
        dim: D, the size of each codeword e_k and of each input vector z_e.
        codebook_size: K, the number of codewords e_k.
        commitment: beta, the weight of the commitment loss ||z_e - sg(e)||^2.
        kmeans_init: initialise the codebook by LBG on the first training batch (which
            must then hold at least K vectors).
        dead_code_steps: restart a code unused this many training steps in a row (0: never).
        gradient: how the gradient of z_q reaches z_e: 'straight_through' or
            'rotation' (estimators.py).
        chunk_size: rows of z_e searched at a time (memory O(chunk_size * K)).
        channels_first: inputs [B, D, ...] instead of [B, ..., D] (base.py).
    """

    def __init__(
        self,
        dim: int,
        codebook_size: int,
        *,
        commitment: float = 0.25,
        kmeans_init: bool = True,
        dead_code_steps: int = 10,
        gradient: str = "straight_through",
        chunk_size: int = 8192,
        channels_first: bool = False,
    ):
        estimator = gradient_estimator(gradient)
        if codebook_size < 2 or dim < 1:
            raise ConfigError(f"a codebook needs codebook_size >= 2 and dim >= 1, "
                              f"got codebook_size={codebook_size}, dim={dim}")
        super().__init__(codebook_size, dim, channels_first)
        self.commitment, self.dead_code_steps, self.chunk_size = commitment, dead_code_steps, chunk_size
        self.estimator, self.gradient, self.kmeans_init = estimator, gradient, kmeans_init
        self._make_codebook(torch.empty(codebook_size, dim).uniform_(-1 / codebook_size, 1 / codebook_size))
        self.register_buffer("initialized", torch.tensor(not kmeans_init))
        self.register_buffer("unused_steps", torch.zeros(codebook_size, dtype=torch.long))
        # The buffer is read back (a host sync on a GPU) until it is seen true, then never:
        self._known_initialized = False  # forgotten whenever weights are loaded
        self.register_load_state_dict_post_hook(lambda module, keys: module._forget_initialized())

    def settings(self) -> dict:
        return {"dim": self.dim, "codebook_size": self.num_codes, "commitment": self.commitment,
                "kmeans_init": self.kmeans_init, "dead_code_steps": self.dead_code_steps, "gradient": self.gradient,
                "chunk_size": self.chunk_size, "channels_first": self.channels_first}

    def _forget_initialized(self) -> None:
        self._known_initialized = False

    def _needs_init(self) -> bool:
        """Whether k-means initialisation is still to come (reads the buffer until it is done)."""
        if not self._known_initialized:
            self._known_initialized = bool(self.initialized)
        return not self._known_initialized

    def _make_codebook(self, init: Tensor) -> None:
        self.codebook = nn.Parameter(init)

    def codewords(self) -> Tensor:
        """The K codewords the search compares with, [K, D] (the cosine quantizer normalises them)."""
        return self.codebook

    def code_vectors(self, codes: Tensor) -> Tensor:
        """codes int64 [B, ...] -> their codewords [B, D, ...], in the space the search runs in."""
        vectors = F.embedding(codes, self.codewords())  # (B, ..., D)
        return vectors.movedim(-1, 1)  # (B, D, ...)

    def dequantize(self, codes: Tensor) -> Tensor:
        return self.code_vectors(codes)

    def quantize(self, z_e: Tensor) -> QuantizerOutput:
        flat = z_e.movedim(1, -1).reshape(-1, z_e.shape[1])  # (B * positions, D)
        if self.training and self._needs_init():
            self._kmeans_init(flat.detach())
        codes, _ = nearest_code(flat.detach(), self.codewords().detach(), self.chunk_size)  # (B * positions,)
        counts = self._count(codes)  # (K,): once, for every use below
        if self.training:  # data-parallel: every process counts every process's codes (one codebook)
            counts = distributed.all_sum(counts)
        codes = codes.view(z_e.shape[0], *z_e.shape[2:])  # (B, ...)
        e = self.code_vectors(codes)  # (B, D, ...)
        losses = self.losses(z_e, e)
        if self.training:
            with torch.no_grad():
                self._update_codebook(flat.detach(), codes.flatten(), counts)
                self._restart_dead_codes(flat.detach(), counts)
        return QuantizerOutput(self.estimator(z_e, e), codes, losses, counts)

    def losses(self, z_e: Tensor, e: Tensor) -> dict[str, Tensor]:
        """commitment (see commitment_loss) and codebook = ||sg(z_e) - e||^2, per example."""
        return {"commitment": self.commitment_loss(z_e, e), "codebook": (z_e.detach() - e).pow(2).sum() / z_e.shape[0]}

    def commitment_loss(self, z_e: Tensor, e: Tensor) -> Tensor:
        """beta ||z_e - sg(e)||^2, summed over positions and dimensions, batch mean: moves the encoder only."""
        return self.commitment * (z_e - e.detach()).pow(2).sum() / z_e.shape[0]

    def _update_codebook(self, flat: Tensor, codes: Tensor, counts: Tensor) -> None:
        """Nothing here: the optimizer moves the codewords through the codebook loss."""

    @torch.no_grad()
    def _kmeans_init(self, flat: Tensor) -> None:
        (too_few,) = distributed.any_of(len(flat) < self.num_codes)
        if too_few:  # on any process: every process refuses alike
            raise ConfigError(
                f"k-means initialisation needs at least codebook_size={self.num_codes} vectors in the first training "
                f"batch (of each process's share), got {len(flat)}; pass kmeans_init=False or a batch with at least "
                f"{self.num_codes} vectors"
            )
        self._set_codes(slice(None), distributed.from_main(lbg(flat.float(), self.num_codes, iters=10).codebook))
        self.initialized.fill_(True)
        self._known_initialized = True

    @torch.no_grad()
    def _restart_dead_codes(self, flat: Tensor, counts: Tensor) -> None:
        """A code unused for `dead_code_steps` steps takes a random encoder output of the batch."""
        self.unused_steps.add_(1).masked_fill_(counts > 0, 0)
        if self.dead_code_steps <= 0:
            return
        dead = self.unused_steps >= self.dead_code_steps  # (K,) bool
        if reads_back_cheaply(flat.device):  # draw only for the dead codes (reading `dead` back is free here)
            index = dead.nonzero().squeeze(1)
            if len(index) == 0:
                return
            vectors = flat[torch.randint(len(flat), (len(index),), device=flat.device)]
            self._set_codes(index, distributed.from_main(vectors.contiguous()))  # the same on every process
        else:  # no host sync: a candidate for every code, kept where the code is dead
            candidates = flat[torch.randint(len(flat), (self.num_codes,), device=flat.device)]
            self._replace_codes(dead, distributed.from_main(candidates.contiguous()))
        self.unused_steps.masked_fill_(dead, 0)

    def _replace_codes(self, mask: Tensor, vectors: Tensor) -> None:
        """Codeword k becomes vectors[k] where mask[k] (restarts without a host sync)."""
        self.codebook.data.copy_(torch.where(mask[:, None], vectors.to(self.codebook.dtype), self.codebook))

    def _set_codes(self, index, vectors: Tensor) -> None:
        """Put new codewords at `index` (k-means initialisation, restarts)."""
        self.codebook.data[index] = vectors.to(self.codebook.dtype)
