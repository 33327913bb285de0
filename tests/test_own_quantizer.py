"""Your own quantizer layer in a VQ-VAE: used as given, written into the model's config as the
section that rebuilds it (quantizer_config, the inverse of build_quantizer), trained through
`vaelab.train` and opened again from the run folder with no code but your networks."""

import inspect

import pytest
import torch
from torch import nn

import vaelab
from vaelab.errors import ConfigError
from vaelab.models import build_model
from vaelab.models.networks import paper_decoder, paper_encoder
from vaelab.models.quantizers import QUANTIZER_CONFIGS, QUANTIZERS, build_quantizer, quantizer_config
from vaelab.models.quantizers import FiniteScalarQuantizerConfig as FSQConfig
from vaelab.models.vqvae import VQVAE, VQVAEConfig
from vaelab.models.vqvae2 import VQVAE2Config
from vaelab.quantizers import EMAVQ, FSQ, VQ, CosineVQ, GumbelQuantizer, ResidualVQ
from user_networks import GridDecoder, GridEncoder

SHAPE = (3, 32, 32)
Enc, Dec = GridEncoder, GridDecoder  # x [B, 3, 32, 32] -> [B, 4, 8, 8] and back


def test_your_fsq_trains_and_the_run_folder_rebuilds_it(tmp_path):
    images = torch.randint(0, 256, (48, *SHAPE), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    fsq = FSQ(levels=[8, 6, 5], dim=4, channels_first=True)
    config = VQVAEConfig()  # num_codes 256 and an ema quantizer: the layer's own replace them
    model = build_model(config, SHAPE, encoder=Enc(), decoder=Dec(), quantizer=fsq)
    assert model.quantizer is fsq and config.quantizer.name == "ema" and config.num_codes == 256  # the caller's kept
    c = model.config
    assert (c.quantizer, c.num_codes, c.code_dim, c.backbone) == (FSQConfig(levels=[8, 6, 5]), 240, 4, "custom")
    start = {k: v.clone() for k, v in fsq.state_dict().items()}

    cfg = vaelab.RunConfig(model=model.config, train=vaelab.TrainConfig(epochs=1, batch_size=16, progress=False))
    vaelab.train(cfg, tmp_path / "run", data=images, model=model)
    assert any(not torch.equal(start[k], v) for k, v in fsq.state_dict().items())  # your layer trained in place

    loaded = vaelab.load(tmp_path / "run", encoder=Enc(), decoder=Dec())
    assert type(loaded.quantizer) is FSQ and loaded.quantizer.levels == [8, 6, 5] and loaded.num_codes == 240
    x = images[:8].float() / 255
    with torch.no_grad():
        assert torch.equal(loaded.reconstruct(x), model.eval().reconstruct(x))


def test_your_layer_sits_between_the_papers_networks():
    ema = EMAVQ(dim=5, codebook_size=16, decay=0.9, kmeans_init=False, channels_first=True)
    model = VQVAE(VQVAEConfig(channels=[16], res_blocks=0), (1, 8, 8), quantizer=ema)
    assert model.quantizer is ema and (model.config.code_dim, model.config.num_codes) == (5, 16)
    assert model.config.quantizer.decay == 0.9
    assert model.encoder(torch.zeros(2, 1, 8, 8)).shape == (2, 5, 4, 4)  # the paper's encoder built for the layer's dim
    rebuilt = build_model(model.config, (1, 8, 8))  # the config alone, as a run folder has it
    assert type(rebuilt.quantizer) is EMAVQ and rebuilt.quantizer.settings() == ema.settings()


# The family, each with options away from the defaults (and once at them): the property
# below must hold for every argument each constructor takes.
LAYERS = {
    "vq": lambda: VQ(dim=3, codebook_size=8, channels_first=True),
    "vq-options": lambda: VQ(dim=3, codebook_size=8, commitment=0.5, kmeans_init=False, dead_code_steps=3,
                             gradient="rotation", chunk_size=16, channels_first=True),
    "ema": lambda: EMAVQ(dim=3, codebook_size=8, decay=0.9, commitment=0.1, dead_code_steps=0, epsilon=1e-3,
                         channels_first=True),
    "cosine": lambda: CosineVQ(dim=5, codebook_size=8, codebook_dim=4, gradient="rotation", channels_first=True),
    "residual": lambda: ResidualVQ(dim=3, codebook_size=8, channels_first=True),
    "residual-options": lambda: ResidualVQ(dim=3, codebook_size=8, num_quantizers=3, shared_codebook=True,
                                           quantizer_dropout=0.5, codebook="vq", decay=0.8, commitment=0.3,
                                           kmeans_init=False, gradient="rotation", channels_first=True),
    "fsq": lambda: FSQ(levels=[8, 6, 5], dim=4, channels_first=True),
    "fsq-two": lambda: FSQ(levels=[2, 3], dim=7, channels_first=True),
    "gumbel": lambda: GumbelQuantizer(dim=3, codebook_size=8, channels_first=True),
    "gumbel-options": lambda: GumbelQuantizer(dim=3, codebook_size=8, temperature=2.0, temperature_end=0.5,
                                              temperature_steps=10, kl_weight=0.3, hard=True, diversity_weight=0.0,
                                              channels_first=True),
}


def test_the_cases_cover_the_family():
    assert {type(make()) for make in LAYERS.values()} == set(QUANTIZERS.values())


@pytest.mark.parametrize("name", QUANTIZERS)
def test_each_quantizers_section_holds_every_argument_of_its_constructor(name):
    """All but what the model gives (dim, codebook_size, channels_first), with the same defaults
    (fsq's levels have none: its section's are Mentzer et al.'s for 2^10 codes)."""
    arguments = {k: p.default for k, p in inspect.signature(QUANTIZERS[name]).parameters.items()
                 if k not in ("dim", "codebook_size", "channels_first")}
    section = QUANTIZER_CONFIGS[name]()
    assert section.name == name and section.arguments() == arguments | ({"levels": [8, 5, 5, 5]} if name == "fsq" else {})


@pytest.mark.parametrize("case", LAYERS)
def test_a_config_rebuilds_the_same_layer(case):
    torch.manual_seed(3)
    layer = LAYERS[case]()
    assert set(layer.settings()) == set(inspect.signature(type(layer)).parameters)  # every argument said
    keys = quantizer_config(layer)
    config = VQVAEConfig(**keys)  # the keys are a valid model config
    torch.manual_seed(3)
    rebuilt = build_quantizer(keys["quantizer"], keys["num_codes"], keys["code_dim"])
    torch.manual_seed(3)
    from_config = build_quantizer(config.quantizer, config.num_codes, config.code_dim)
    for other in (rebuilt, from_config):
        assert type(other) is type(layer) and other.settings() == layer.settings()
        state, other_state = layer.state_dict(), other.state_dict()
        assert state.keys() == other_state.keys()
        assert all(torch.equal(state[k], other_state[k]) for k in state)
    assert quantizer_config(rebuilt) == keys


def test_the_built_in_quantizer_is_still_built_between_the_networks():
    config, shape = VQVAEConfig(channels=[8, 8], res_blocks=1), (1, 16, 16)
    torch.manual_seed(0)
    model = VQVAE(config, shape)
    torch.manual_seed(0)
    parts = [paper_encoder(config, shape),
             build_quantizer(config.quantizer, config.num_codes, config.code_dim),
             paper_decoder(config, shape)]
    for mine, built in zip((model.encoder, model.quantizer, model.decoder), parts):
        assert all(torch.equal(v, built.state_dict()[k]) for k, v in mine.state_dict().items())


class MyVQ(VQ):
    pass


@pytest.mark.parametrize("layer, message", [
    (nn.Identity(), "the VQ-VAE takes a quantizer of vaelab's family (vaelab.quantizers): its config must be able to rebuild it"),
    (MyVQ(dim=4, codebook_size=8, channels_first=True), "vaelab's family"),
    (FSQ(levels=[8, 6, 5], dim=4), "pass channels_first=True: the VQ-VAE's grids are [B, D, h, w]"),
    (FSQ(levels=[8, 6, 5], channels_first=True), "pass dim=D to FSQ"),
    (VQ(dim=4, codebook_size=8, commitment=-1.0, channels_first=True), "model.quantizer.commitment must be >= 0"),
    (FSQ(levels=[8, 6, 5], dim=8, channels_first=True),
     "the encoder returned [2, 4, 8, 8] for x [2, 3, 32, 32]; the quantizer needs a grid [B, 8, h, w] "
     "(your FiniteScalarQuantizer's dim = 8)"),
])
def test_a_layer_no_config_can_say_is_refused_in_one_line(layer, message):
    with pytest.raises(ConfigError) as error:
        build_model(VQVAEConfig(), SHAPE, encoder=Enc(), decoder=Dec(), quantizer=layer)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_vqvae2_builds_its_own_quantizers():
    with pytest.raises(ConfigError, match="vqvae2 builds its two quantizers from its config") as error:
        build_model(VQVAE2Config(), SHAPE, quantizer=FSQ(levels=[8, 6, 5], dim=16, channels_first=True))
    assert "\n" not in str(error.value)
