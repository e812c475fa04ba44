"""The README's 98 % recipe in PyTorch, as a user writes it: a peer for `bench --time-to`.

`backprop train --hidden 512 --optimizer adam --lr 2e-3 --batch 256 --epochs 8 --schedule cosine
--dropout 0.2 --shuffle --val-split 0.1`: 784 → 512 (ReLU, dropout 0.2) → 10 as nn.Sequential,
nn.CrossEntropyLoss, optim.Adam at 2e-3 on a half cosine per step down to 0, weights normal with
std 0.1 and biases zero (backprop's default), batches of 256 from a new shuffle each epoch, trained
on the first 90 % of the training images and validated on the last 10 %, the test set scored once
at the end. Prints a JSON line per epoch (validation accuracy) and one for the test; the caller
times their arrival, so the process start and torch's import count.

usage: python3 torch_recipe.py DATA_DIR [--epochs 8]
"""
import argparse
import json
import math
import os

import numpy as np
import torch
from torch import nn

from numpy_mlp import blas_core, read_idx


def split(data_dir, name):
    pixels = read_idx(os.path.join(data_dir, f"{name}-images-idx3-ubyte")).reshape(-1, 784)
    labels = read_idx(os.path.join(data_dir, f"{name}-labels-idx1-ubyte"))
    return torch.from_numpy(pixels.astype(np.float32) / 255), torch.from_numpy(labels.astype(np.int64))


def accuracy(model, x, labels):
    model.eval()
    with torch.no_grad():
        right = sum(int((model(x[i : i + 1000]).argmax(1) == labels[i : i + 1000]).sum()) for i in range(0, len(x), 1000))
    model.train()
    return right / len(x)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("data")
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()
    torch.manual_seed(1)
    torch.ones(2, 2) @ torch.ones(2, 2)  # loads the BLAS, so that blas_core() can name it
    blas = blas_core()
    # Debian's torch calls OpenBLAS, which runs a thread per core of its own (see torch_mlp.py).
    torch.set_num_threads(1 if blas.startswith("OpenBLAS") else len(os.sched_getaffinity(0)))
    x, labels = split(args.data, "train")
    held = len(x) // 10
    train_x, train_labels, val_x, val_labels = x[:-held], labels[:-held], x[-held:], labels[-held:]
    test_x, test_labels = split(args.data, "t10k")
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Dropout(0.2), nn.Linear(512, 10))
    with torch.no_grad():
        for layer in (model[0], model[3]):
            layer.weight.normal_(0.0, 0.1)
            layer.bias.zero_()
    batch = 256
    steps = args.epochs * math.ceil(len(train_x) / batch)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * step / steps)))
    loss_of = nn.CrossEntropyLoss()
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(len(train_x))
        for i in range(0, len(train_x), batch):
            rows = order[i : i + batch]
            optimizer.zero_grad(set_to_none=True)
            loss_of(model(train_x[rows]), train_labels[rows]).backward()
            optimizer.step()
            schedule.step()
        print(json.dumps({"event": "epoch", "epoch": epoch, "valAccuracy": accuracy(model, val_x, val_labels),
                          "torch": torch.__version__, "blas": blas}), flush=True)
    print(json.dumps({"event": "test", "accuracy": accuracy(model, test_x, test_labels)}), flush=True)


if __name__ == "__main__":
    main()
