"""A GAN in the common example shape: a generator and a discriminator, each with its own Adam
optimizer, BCELoss on the discriminator's sigmoid output; the discriminator trains on real and
detached fake samples, the generator through the discriminator with the labels flipped. The
"data" are a mixture of 64 Gaussians in 16 dimensions.

Usage: python gan.py [--steps 60] [--bug NAME]
"""

import argparse

import torch
from torch import nn

BUGS = ("no-zero-grad-d", "negative-bias")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--bug", choices=BUGS)
    args = parser.parse_args()
    torch.manual_seed(1)
    netG = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 16), nn.Tanh())
    netD = nn.Sequential(nn.Linear(16, 64), nn.LeakyReLU(0.2), nn.Linear(64, 1), nn.Sigmoid())
    if args.bug == "negative-bias":  # an initialisation meant for another layer: every ReLU of G starts dead
        nn.init.constant_(netG[0].bias, -3.0)
    criterion = nn.BCELoss()
    optD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    centres = torch.randn(64, 16)
    for step in range(args.steps):
        real = centres[torch.randint(0, 64, (64,))] + 0.3 * torch.randn(64, 16)
        # discriminator: real and fake
        if args.bug != "no-zero-grad-d":
            netD.zero_grad()
        err_real = criterion(netD(real), torch.ones(64, 1))
        err_real.backward()
        fake = netG(torch.randn(64, 8))
        err_fake = criterion(netD(fake.detach()), torch.zeros(64, 1))
        err_fake.backward()
        optD.step()
        # generator: through the discriminator, labels flipped
        netG.zero_grad()
        err_g = criterion(netD(fake), torch.ones(64, 1))
        err_g.backward()
        optG.step()
        if step % 20 == 0:
            print(f"step {step}: loss D {(err_real + err_fake).item():.3f}, loss G {err_g.item():.3f}")


if __name__ == "__main__":
    main()
