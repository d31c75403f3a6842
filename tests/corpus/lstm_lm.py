"""A recurrent language model in the common example shape: embedding, LSTM, linear decoder with
log_softmax, NLLLoss, truncated backpropagation through time, gradient clipping, and the weights
updated by hand (p -= lr * grad) or, with --optimizer, by SGD; the model is saved with
torch.save at the end. The "corpus" is a generated token sequence with a repeating pattern.

Usage: python lstm_lm.py [--epochs 3] [--optimizer] [--save PATH] [--bug NAME]
"""

import argparse

import torch
import torch.nn.functional as F
from torch import nn

BUGS = ("no-zero-grad",)


class RNNModel(nn.Module):
    def __init__(self, ntoken=50, ninp=32, nhid=64):
        super().__init__()
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid)
        self.decoder = nn.Linear(nhid, ntoken)

    def forward(self, tokens, hidden):
        output, hidden = self.rnn(self.encoder(tokens), hidden)
        return F.log_softmax(self.decoder(output), dim=-1), hidden


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--optimizer", action="store_true")
    parser.add_argument("--save", default=None)
    parser.add_argument("--bug", choices=BUGS)
    args = parser.parse_args()
    torch.manual_seed(1)
    pattern = torch.randint(0, 50, (37,))
    data = pattern.repeat(60)[: 20 * 100].view(-1, 20)  # (time, batch)
    model = RNNModel()
    criterion = nn.NLLLoss()
    lr, bptt = 2.0 if not args.optimizer else 1.0, 20
    optimizer = torch.optim.SGD(model.parameters(), lr=lr) if args.optimizer else None
    for epoch in range(1, args.epochs + 1):
        hidden, total = None, 0.0
        for i in range(0, data.size(0) - 1, bptt):
            seq = min(bptt, data.size(0) - 1 - i)
            x, y = data[i:i + seq], data[i + 1:i + 1 + seq]
            if hidden is not None:
                hidden = tuple(h.detach() for h in hidden)
            if args.bug != "no-zero-grad":
                model.zero_grad()
            output, hidden = model(x, hidden)
            loss = criterion(output.view(-1, 50), y.reshape(-1))
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 0.25)
            if optimizer:
                optimizer.step()
            else:
                for p in model.parameters():
                    p.data.add_(p.grad, alpha=-lr)
            total += loss.item()
        print(f"epoch {epoch}: mean loss {total / ((data.size(0) - 1 + bptt - 1) // bptt):.3f}")
    if args.save:
        torch.save(model, args.save)
        print(f"saved {args.save}")


if __name__ == "__main__":
    main()
