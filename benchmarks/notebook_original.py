"""The notebook's training algorithm, kept as the notebook wrote it, for side-by-side timing.

Per-sequence SGD (lr 0.005, 1000 iterations) with the hand-written cell and the T x 1 x T
"one-hot in time" input, on a sinecli dataset. Two lines had to change to run at all:
`np.float` (removed from numpy) and `add_(-lr, grad)` (removed from torch). `random_example`
keeps its off-by-one (`high=N-1`) because it is part of the algorithm being timed.

Prints one JSON object: train_seconds (the loop), held-out accuracy and per-class Brier.
Usage: python notebook_original.py TRAIN.npz TEST.npz
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import torch
import torch.nn as nn
from sklearn.metrics import brier_score_loss

np.random.seed(37)
torch.manual_seed(37)
device = torch.device("cpu")


def signal_to_tensor(s):
    n = len(s)
    tensor = torch.zeros(n, 1, n, dtype=torch.float, device=device)
    for t, y in enumerate(s):
        tensor[t][0][t] = y
    return tensor


def random_example(X, y):
    idx = np.random.randint(low=0, high=X.shape[0] - 1)
    return signal_to_tensor(X[idx, :]), torch.tensor([y[idx]], dtype=torch.long, device=device)


class RNN(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.i2h = nn.Linear(input_size + hidden_size, hidden_size)
        self.i2o = nn.Linear(input_size + hidden_size, output_size)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, data, hidden):
        combined = torch.cat((data, hidden), 1)
        hidden = self.i2h(combined)
        output = self.i2o(combined)
        output = self.softmax(output)
        return output, hidden

    def initHidden(self):  # noqa: N802 (the notebook's name)
        return torch.zeros(1, self.hidden_size, device=device)


def train_one(X, y, rnn, criterion, learning_rate):
    hidden = rnn.initHidden()
    rnn.zero_grad()
    for i in range(X.size()[0]):
        output, hidden = rnn(X[i], hidden)
    loss = criterion(output, y)
    loss.backward()
    for p in rnn.parameters():
        p.data.add_(p.grad.data, alpha=-learning_rate)
    return output, loss.item()


def predict(X, rnn):
    with torch.no_grad():
        hidden = rnn.initHidden()
        for i in range(X.size()[0]):
            output, hidden = rnn(X[i], hidden)
    return np.exp(output[0].numpy()) / np.exp(output[0].numpy()).sum()


def main() -> None:
    train, test = np.load(sys.argv[1]), np.load(sys.argv[2])
    X, y = train["X"].astype(np.float64), train["y"]
    rnn = RNN(X.shape[1], 128, 3).to(device)
    criterion = nn.NLLLoss()
    t0 = time.perf_counter()
    for _ in range(1000):
        x_t, y_t = random_example(X, y)
        train_one(x_t, y_t, rnn, criterion, 0.005)
    seconds = time.perf_counter() - t0
    Xt, yt = test["X"].astype(np.float64), test["y"]
    proba = np.stack([predict(signal_to_tensor(row), rnn) for row in Xt])
    brier = [brier_score_loss(yt == k, proba[:, k]) for k in range(proba.shape[1])]
    print(json.dumps({
        "train_seconds": seconds,
        "accuracy": float((proba.argmax(1) == yt).mean()),
        "brier": brier,
        "brier_max": max(brier),
    }))


if __name__ == "__main__":
    main()
