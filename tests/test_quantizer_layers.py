"""Every quantizer of the family as a layer in someone else's model (vaelab.quantizers):
one contract over layouts, dtypes and gradients, and the promises beyond it (FSQ's grid,
residual prefixes, the wrong-axis error, build_quantizer's names, counts over processes)."""

import textwrap
from pathlib import Path

import pytest
import torch

import vaelab.quantizers
from test_distributed import TORCHRUN, run
from vaelab.errors import ConfigError
from vaelab.models.quantizers import QUANTIZERS, FiniteScalarQuantizerConfig, build_quantizer
from vaelab.quantizers import FSQ, VQ, CosineVQ, EMAVQ, GumbelQuantizer, ResidualVQ

D = 4
LAYERS = {  # small layers on D channels, every registered quantizer at least once
    "VQ": lambda **kw: VQ(dim=D, codebook_size=8, kmeans_init=False, **kw),
    "EMAVQ": lambda **kw: EMAVQ(dim=D, codebook_size=8, kmeans_init=False, **kw),
    "CosineVQ": lambda **kw: CosineVQ(dim=D, codebook_size=8, codebook_dim=3, kmeans_init=False, **kw),
    "ResidualVQ": lambda **kw: ResidualVQ(dim=D, codebook_size=8, num_quantizers=3, kmeans_init=False, **kw),
    "FSQ": lambda **kw: FSQ(levels=[4, 3], dim=D, **kw),
    "FSQ without dim": lambda **kw: FSQ(levels=[3, 2, 2, 2], **kw),  # D = len(levels): no projection
    "GumbelQuantizer": lambda **kw: GumbelQuantizer(dim=D, codebook_size=8, **kw),
}
# Whether the codebook learns by gradient (a Parameter) or by moving averages (a buffer); FSQ has none.
CODEBOOK_IS_PARAMETER = {"VQ": True, "EMAVQ": False, "CosineVQ": True, "ResidualVQ": False, "GumbelQuantizer": True}
LAYOUTS = {  # name -> (channels_first, input shape)
    "[B, N, D]": (False, (2, 5, D)),
    "[B, H, W, D]": (False, (2, 3, 3, D)),
    "[B, D, H, W]": (True, (2, D, 3, 3)),
    "[B, D, T, H, W]": (True, (2, D, 2, 2, 2)),
}


def to_other_layout(t: torch.Tensor, channels_first: bool) -> torch.Tensor:
    """A tensor in one layout (channels or stages at 1, or last) -> the other."""
    return t.movedim(1, -1) if channels_first else t.movedim(-1, 1)


def test_every_registered_quantizer_is_in_the_contract():
    assert {type(make()) for make in LAYERS.values()} == set(QUANTIZERS.values())


def test_the_short_names_are_the_family_classes_themselves():
    for short, name in [("VQ", "vq"), ("EMAVQ", "ema"), ("CosineVQ", "cosine"), ("ResidualVQ", "residual"),
                        ("FSQ", "fsq"), ("GumbelQuantizer", "gumbel")]:
        assert getattr(vaelab.quantizers, short) is QUANTIZERS[name]


@pytest.mark.parametrize("precision", ["float32", "bf16 autocast", "bf16 input"])
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_every_quantizer_keeps_the_layer_contract(name, layout, precision):
    torch.manual_seed(0)
    channels_first, shape = LAYOUTS[layout]
    q = LAYERS[name](channels_first=channels_first).train()
    dtype = torch.bfloat16 if precision == "bf16 input" else torch.float32
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16 autocast")
    z = torch.randn(shape).to(dtype).requires_grad_()
    with autocast:
        out = q(z)
    positions = shape[2:] if channels_first else shape[1:-1]
    codes_shape = (2, *positions)
    if isinstance(q, ResidualVQ):  # the stage axis sits where the channels sit
        codes_shape = (2, 3, *positions) if channels_first else (2, *positions, 3)
    assert out.z_q.shape == z.shape and out.z_q.dtype == z.dtype
    assert out.codes.shape == codes_shape and out.codes.dtype == torch.long
    assert out.counts.shape == (q.num_codes,) and torch.equal(out.counts, q.count_codes(out.codes))
    assert int(out.counts.sum()) == out.codes.numel() and torch.equal(q.usage_counts, out.counts.float())
    assert all(v.shape == () and torch.isfinite(v) for v in out.losses.values())
    assert torch.equal(out.loss, sum(out.losses.values(), torch.tensor(0.0)))  # 0 when there are none (FSQ)

    (out.z_q.float() * torch.randn(shape)).sum().add(out.loss).backward()
    assert z.grad.float().abs().sum() > 0  # the gradient reaches the input
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in q.parameters())
    if name in CODEBOOK_IS_PARAMETER:  # learned by its loss, or by moving averages with no gradient
        codebooks = [m.codebook for m in q.modules() if isinstance(m, (VQ, GumbelQuantizer))]
        assert all(isinstance(c, torch.nn.Parameter) == CODEBOOK_IS_PARAMETER[name] for c in codebooks)

    q.eval()  # no update: z_q is exactly the vectors of its codes (gumbel: the argmax codeword)
    with autocast:
        out = q(z.detach())
    tolerance = {"atol": 1e-5, "rtol": 1e-2 if dtype == torch.bfloat16 else 1e-5}
    torch.testing.assert_close(q.lookup(out.codes).to(out.z_q.dtype), out.z_q, **tolerance)
    plain = q(z.detach().float())  # the quantizer works in float32, inside autocast or not
    assert torch.equal(plain.codes, out.codes) and torch.allclose(plain.z_q, out.z_q.float(), rtol=1e-2, atol=1e-5)

    twin = LAYERS[name](channels_first=not channels_first).eval()  # the same weights, the other layout
    twin.load_state_dict(q.state_dict())
    other = twin(to_other_layout(z.detach(), channels_first))
    torch.testing.assert_close(other.z_q, to_other_layout(out.z_q, channels_first), **tolerance)
    codes = to_other_layout(out.codes, channels_first) if isinstance(q, ResidualVQ) else out.codes
    assert torch.equal(other.codes, codes)


def test_inside_autocast_z_q_stays_float32_like_autocasts_own_float32_ops():
    q = VQ(dim=D, codebook_size=8, kmeans_init=False).eval()
    z = torch.randn(2, 5, D, dtype=torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert q(z).z_q.dtype == torch.float32
    assert q(z).z_q.dtype == torch.bfloat16


def test_fsq_has_the_product_of_its_levels_as_codes_and_reaches_every_one():
    q = FSQ(levels=[8, 6, 5])  # no dim: the input's 3 channels are the scalars
    assert q.num_codes == 240 and q.dim == 3
    side = torch.linspace(-3, 3, 41)
    grid = torch.stack(torch.meshgrid(side, side, side, indexing="ij"), -1).view(1, -1, 3)  # (1, 41^3, 3)
    out = q(grid)
    assert out.codes.shape == (1, 41 ** 3) and out.counts.min() > 0 and out.counts.sum() == 41 ** 3
    vectors = q.lookup(torch.arange(240).view(1, 240))  # (1, 240, 3): every code a distinct point
    assert vectors.shape == (1, 240, 3) and len(torch.unique(vectors[0].round(decimals=5), dim=0)) == 240


@pytest.mark.parametrize("channels_first", [False, True])
def test_residual_lookup_of_a_prefix_sums_the_first_stages_codewords(channels_first):
    torch.manual_seed(0)
    q = ResidualVQ(dim=D, codebook_size=8, num_quantizers=3, kmeans_init=False, channels_first=channels_first).eval()
    z = torch.randn(2, D, 5) if channels_first else torch.randn(2, 5, D)
    codes = q(z).codes  # (B, S, N) or (B, N, S)
    stage_codes = codes.movedim(1, -1) if channels_first else codes  # (B, N, S)
    for s in (1, 2, 3):
        prefix = codes[:, :s] if channels_first else codes[..., :s]
        expected = sum(q.layers[i].codebook[stage_codes[..., i]] for i in range(s))  # (B, N, D)
        vectors = q.lookup(prefix)
        torch.testing.assert_close(vectors.movedim(1, -1) if channels_first else vectors, expected)
    with pytest.raises(ConfigError, match="num_quantizers=3"):
        q.lookup(torch.zeros(2, 4, 5, dtype=torch.long) if channels_first else torch.zeros(2, 5, 4, dtype=torch.long))


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("channels_first", [False, True])
def test_a_wrong_channel_axis_is_one_line_naming_dim_and_the_layout_switch(name, channels_first):
    q = LAYERS[name](channels_first=channels_first)
    z = torch.randn(2, 10, 32)  # neither axis is D
    with pytest.raises(ConfigError) as error:
        q(z)
    message = str(error.value)
    switch = "channels_first=False" if channels_first else "channels_first=True"
    assert "\n" not in message and f"dim={D}" in message and "[2, 10, 32]" in message and switch in message
    assert "model." not in message  # the layer's own words, not a config key


def test_fsqs_wrong_axis_message_reads_as_documented():
    with pytest.raises(ConfigError) as error:
        FSQ(levels=[8, 6, 5], dim=64)(torch.randn(2, 10, 32))
    assert str(error.value) == ("FiniteScalarQuantizer expected the last dimension to be dim=64, got [2, 10, 32]; "
                                "pass channels_first=True for [B, D, ...] inputs")


def test_kmeans_init_refuses_a_small_batch_in_the_layers_own_words():
    with pytest.raises(ConfigError, match="pass kmeans_init=False") as error:
        VQ(dim=D, codebook_size=64).train()(torch.randn(2, 5, D))
    assert "model." not in str(error.value)


def test_build_quantizer_maps_a_config_section_onto_a_channels_first_layer():
    residual = build_quantizer("residual", 8, 3, num_quantizers=2, decay=0.5)
    assert type(residual) is ResidualVQ and residual.channels_first and residual.stages == 2
    assert residual.layers[0].decay == 0.5 and residual.num_codes == 16
    with pytest.raises(ConfigError, match="^the residual quantizer has no option levels; its options: num_quantizers,"):
        build_quantizer("residual", 8, 3, levels=[4, 3])
    fsq = build_quantizer(FiniteScalarQuantizerConfig(levels=[4, 3]), 12, 3)
    assert type(fsq) is FSQ and fsq.channels_first and fsq.dim == 3 and fsq.num_codes == 12
    assert fsq(torch.randn(2, 3, 5, 5)).codes.shape == (2, 5, 5)  # (B, D, H, W) -> (B, H, W)


def test_the_modules_example_runs():
    example = vaelab.quantizers.__doc__.split("over [B, N, D]:\n\n", 1)[1].split("\n\n", 1)[0]
    torch.manual_seed(0)
    exec(textwrap.dedent(example), {})


def test_two_processes_count_each_others_codes():
    check = Path(__file__).with_name("ddp_quantizer_counts.py")
    result = run([*TORCHRUN, str(check)])
    assert result.returncode == 0, result.stdout + result.stderr[-1500:]
    assert result.stdout.count("counted over both") == 2


def test_fsq_refuses_more_codes_than_it_can_count_exactly():
    with pytest.raises(ConfigError, match=r"FSQ levels=\[8, 8, 8, 8, 8, 8, 8, 8, 8\] make 134217728 codes; at most 16777216"):
        FSQ(levels=[8] * 9)
    assert FSQ(levels=[16, 16, 16, 16, 16, 16]).num_codes == 2**24  # the largest it takes
