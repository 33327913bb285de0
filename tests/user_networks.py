"""Networks a user might bring, for 3x32x32 images: the tests of your-own-networks models
import them (and a fresh process does, with tests/ on its path)."""

from torch import nn


class Encoder(nn.Module):  # x [B, 3, 32, 32] -> features [B, 32 * 8 * 8]
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 16, 4, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 4, 2, 1), nn.ReLU(),
                                 nn.Flatten())

    def forward(self, x):
        return self.net(x)


class Decoder(nn.Module):  # z [B, d] -> Bernoulli logits [B, 3, 32, 32]
    def __init__(self, latent_dim=8):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent_dim, 32 * 8 * 8), nn.Unflatten(1, (32, 8, 8)),
                                 nn.ConvTranspose2d(32, 16, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(16, 3, 4, 2, 1))

    def forward(self, z):
        return self.net(z)


class GridEncoder(nn.Module):  # x [B, 3, 32, 32] -> vectors [B, 4, 8, 8]
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 16, 4, 2, 1), nn.ReLU(), nn.Conv2d(16, 4, 4, 2, 1))

    def forward(self, x):
        return self.net(x)


class GridDecoder(nn.Module):  # [B, 4, 8, 8] -> Gaussian means [B, 3, 32, 32]
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.ConvTranspose2d(4, 16, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(16, 3, 4, 2, 1))

    def forward(self, z):
        return self.net(z)
