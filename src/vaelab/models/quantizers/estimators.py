"""How a gradient crosses the quantizer: the forward pass outputs the codeword e, and
the backward pass needs some stand-in for d e / d z_e, which is zero almost everywhere.

    straight_through   z_q = z_e + sg(e - z_e)           d z_q / d z_e = I
                       (van den Oord et al., 2017; Bengio et al., 2013)
    rotation           z_q = sg(lambda R) z_e             d z_q / d z_e = lambda R
                       (Fifty et al., 2024, "the rotation trick")

For the rotation trick, R is the rotation that turns z_e's direction u = z_e / ||z_e||
onto e's direction q = e / ||e|| inside the plane they span, and lambda = ||e|| / ||z_e||,
so lambda R z_e = e exactly. With r = (u + q) / ||u + q||,

    R = I - 2 r r^T + 2 q u^T          (two reflections, applied without forming R)

Both R and lambda are treated as constants. The gradient that reaches z_e is the
decoder's, rotated by R^T and scaled by lambda: it keeps the angle it made with e and
knows where inside its Voronoi cell z_e sits, which straight-through throws away.

Every tensor here is channels first, [B, D, ...]: vectors lie along dimension 1.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from vaelab.errors import ConfigError

EPS = 1e-8  # keeps a zero vector, or e = -z_e, from dividing by zero


def straight_through(z_e: Tensor, e: Tensor) -> Tensor:
    """e in the forward pass; the identity to z_e in the backward pass. [B, D, ...] -> [B, D, ...]."""
    return z_e + (e - z_e).detach()


def rotation_trick(z_e: Tensor, e: Tensor) -> Tensor:
    """e in the forward pass; lambda R (see the module doc) to z_e in the backward. [B, D, ...] -> [B, D, ...]."""
    with_grad = z_e
    z_e, e = z_e.detach(), e.detach()
    z_norm, e_norm = z_e.norm(dim=1, keepdim=True), e.norm(dim=1, keepdim=True)  # (B, 1, ...)
    u, q = z_e / (z_norm + EPS), e / (e_norm + EPS)  # unit directions, (B, D, ...)
    r = u + q
    r = r / (r.norm(dim=1, keepdim=True) + EPS)
    scale = e_norm / (z_norm + EPS)  # lambda
    along_r = (r * with_grad).sum(1, keepdim=True)  # r^T z_e, (B, 1, ...)
    along_u = (u * with_grad).sum(1, keepdim=True)  # u^T z_e
    rotated = scale * (with_grad - 2 * r * along_r + 2 * q * along_u)  # = e up to rounding
    return rotated + (e - rotated).detach()  # exactly e forward, lambda R backward


Estimator = Callable[[Tensor, Tensor], Tensor]  # (z_e, e) -> z_q, both [B, D, ...]

GRADIENT_ESTIMATORS: dict[str, Estimator] = {
    "straight_through": straight_through,
    "rotation": rotation_trick,
}


def gradient_estimator(name: str) -> Estimator:
    """The estimator called `name`; ConfigError for an unknown one."""
    if name not in GRADIENT_ESTIMATORS:
        raise ConfigError(f"unknown gradient estimator {name!r}; known: {', '.join(GRADIENT_ESTIMATORS)}")
    return GRADIENT_ESTIMATORS[name]
