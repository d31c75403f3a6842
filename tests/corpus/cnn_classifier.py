"""An image classifier in the common example shape: two convolutions, dropout, log_softmax
output, F.nll_loss, Adadelta with a decaying StepLR, a test pass in eval mode under no_grad, the
best model kept with copy.deepcopy.
Generated 28x28 one-channel images of 10 classes (a class template plus noise), standardised.

Usage: python cnn_classifier.py [--epochs 5] [--bug NAME]
"""

import argparse
import copy

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.lr_scheduler import StepLR
from torch.utils.data import DataLoader, Dataset, TensorDataset

BUGS = ("no-zero-grad", "softmax", "val-from-train", "eval-augment", "lr-growth", "eval-mode", "detach", "nan",
        "clear-before-step", "int-lr-factor")


class Net(nn.Module):
    def __init__(self, bug=None):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, 1)
        self.conv2 = nn.Conv2d(8, 16, 3, 1)
        self.dropout = nn.Dropout(0.25)
        self.fc1 = nn.Linear(16 * 12 * 12, 64)
        self.fc2 = nn.Linear(64, 10)
        self.bug = bug

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        if self.bug == "detach":
            x = x.detach()  # the convolutions never learn
        x = self.dropout(torch.flatten(x, 1))
        x = F.relu(self.fc1(x))
        x = self.fc2(x)
        if self.bug == "softmax":
            return F.softmax(x, dim=1)  # probabilities where nll_loss expects log-probabilities
        return F.log_softmax(x, dim=1)


class Jitter(Dataset):
    """A dataset that adds fresh noise at every read: augmentation."""

    def __init__(self, base):
        self.base = base

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        x, y = self.base[i]
        return x + 0.3 * torch.randn_like(x), y


def make_data(n, generator):
    templates = torch.randn(10, 1, 28, 28, generator=torch.Generator().manual_seed(7))
    labels = torch.randint(0, 10, (n,), generator=generator)
    images = templates[labels] + 0.8 * torch.randn(n, 1, 28, 28, generator=generator)
    return (images - images.mean()) / images.std(), labels


def train(model, loader, optimizer, bug):
    model.train()
    for data, target in loader:
        if bug != "no-zero-grad":
            optimizer.zero_grad()
        output = model(data)
        if bug == "nan":
            output = output * float("nan")
        loss = F.nll_loss(output, target)
        loss.backward()
        if bug == "clear-before-step":
            optimizer.zero_grad()  # tidying up one line too early: the step finds no gradient
        optimizer.step()
        if bug == "eval-mode":
            model.eval()  # an evaluation helper that leaves the model in eval mode


def test(model, loader):
    model.eval()
    loss, correct = 0.0, 0
    with torch.no_grad():
        for data, target in loader:
            output = model(data)
            loss += F.nll_loss(output, target, reduction="sum").item()
            correct += (output.argmax(1) == target).sum().item()
    return loss / len(loader.dataset), correct / len(loader.dataset)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--bug", choices=BUGS)
    args = parser.parse_args()
    torch.manual_seed(1)
    g = torch.Generator().manual_seed(1)
    train_set = TensorDataset(*make_data(512, g))
    test_set = TensorDataset(*make_data(256, g))
    if args.bug == "val-from-train":
        test_set = torch.utils.data.Subset(train_set, range(256))
    if args.bug == "eval-augment":
        test_set = Jitter(test_set)
    train_loader = DataLoader(train_set, batch_size=64, shuffle=True)
    test_loader = DataLoader(test_set, batch_size=128)
    model = Net(args.bug)
    if args.bug == "int-lr-factor":  # the convolutions at a tenth of the rate, by integer division: 1 // 10 == 0
        convolutions = [*model.conv1.parameters(), *model.conv2.parameters()]
        rest = [p for n, p in model.named_parameters() if not n.startswith("conv")]
        optimizer = torch.optim.Adadelta([{"params": convolutions, "lr": 1.0 * (1 // 10)}, {"params": rest}], lr=1.0)
    else:
        optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = StepLR(optimizer, step_size=1, gamma=2.0 if args.bug == "lr-growth" else 0.7)
    best, best_accuracy = None, -1.0
    for epoch in range(1, args.epochs + 1):
        train(model, train_loader, optimizer, args.bug)
        loss, accuracy = test(model, test_loader)
        print(f"epoch {epoch}: test loss {loss:.4f}, accuracy {accuracy:.3f}")
        if accuracy > best_accuracy:
            best, best_accuracy = copy.deepcopy(model), accuracy  # keep the best model
        scheduler.step()
    print(f"best test accuracy {best_accuracy:.3f}, {sum(p.numel() for p in best.parameters())} parameters")


if __name__ == "__main__":
    main()
