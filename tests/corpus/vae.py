"""A variational autoencoder in the common example shape: fully connected encoder and decoder,
sigmoid output, binary cross-entropy against the input itself plus the KL term, Adam. The
inputs are pixel intensities in [0, 1], because they are also the targets of the BCE loss.

Usage: python vae.py [--epochs 4] [--bug NAME]
"""

import argparse

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

BUGS = ("no-zero-grad", "logits-loss", "standardised-targets")


class VAE(nn.Module):
    def __init__(self, bug=None):
        super().__init__()
        self.fc1 = nn.Linear(784, 128)
        self.fc21 = nn.Linear(128, 8)
        self.fc22 = nn.Linear(128, 8)
        self.fc3 = nn.Linear(8, 128)
        self.fc4 = nn.Linear(128, 784)

    def encode(self, x):
        h = F.relu(self.fc1(x))
        return self.fc21(h), self.fc22(h)

    def reparameterize(self, mu, logvar):
        return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)

    def decode(self, z):
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z))))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        return self.decode(self.reparameterize(mu, logvar)), mu, logvar


def loss_function(recon, x, mu, logvar, bug):
    if bug == "logits-loss":  # the sigmoid output fed to a loss that applies the sigmoid again
        bce = F.binary_cross_entropy_with_logits(recon, x.view(-1, 784), reduction="sum")
    elif bug == "standardised-targets":  # BCE refused the standardised inputs, so MSE it is: a sigmoid
        bce = F.mse_loss(recon, x.view(-1, 784), reduction="sum")  # cannot reach targets outside [0, 1]
    else:
        bce = F.binary_cross_entropy(recon, x.view(-1, 784), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--bug", choices=BUGS)
    args = parser.parse_args()
    torch.manual_seed(1)
    g = torch.Generator().manual_seed(1)
    strokes = (torch.rand(10, 784, generator=g) > 0.8).float()
    images = (strokes[torch.randint(0, 10, (512,), generator=g)] * 0.9
              + 0.1 * torch.rand(512, 784, generator=g)).view(-1, 1, 28, 28)
    if args.bug == "standardised-targets":  # "inputs should be standardised"
        images = (images - images.mean()) / images.std()
    loader = DataLoader(TensorDataset(images, torch.zeros(512)), batch_size=64, shuffle=True)
    model = VAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(1, args.epochs + 1):
        model.train()
        total = 0.0
        for data, _ in loader:
            if args.bug != "no-zero-grad":
                optimizer.zero_grad()
            recon, mu, logvar = model(data)
            loss = loss_function(recon, data, mu, logvar, args.bug)
            loss.backward()
            total += loss.item()
            optimizer.step()
        print(f"epoch {epoch}: average loss {total / len(loader.dataset):.4f}")


if __name__ == "__main__":
    main()
