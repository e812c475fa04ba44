"""The same network and SGD as backprop's, in PyTorch as a user writes it: a peer for `npm run
bench`, run when a python3 on the machine imports torch.

784 → H (ReLU) → 10 as nn.Sequential, nn.CrossEntropyLoss (the mean over the batch), optim.SGD
with learning rate 0.1, weights drawn normal with std 0.1 and biases zero as the seed draws them,
float32 tensors, the batches in order, its products on one thread per core the process may run on
(as OpenBLAS runs numpy's). Prints one JSON line per configuration with the median seconds per
training epoch, timed as numpy_mlp.py times its own, and the BLAS torch ran with.

usage: python3 torch_mlp.py DATA_DIR --hidden 30,256 --batch 100 [--repeats 3] [--seconds 0.3]
"""
import json
import os

import numpy as np
import torch
from torch import nn

from numpy_mlp import blas_core, peer_arguments, seconds_per_epoch, training_set


def network(hidden):
    model = nn.Sequential(nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, 10))
    with torch.no_grad():
        for layer in (model[0], model[2]):
            layer.weight.normal_(0.0, 0.1)
            layer.bias.zero_()
    return model


def main():
    args = peer_arguments().parse_args()
    pixels, digits = training_set(args.data)
    x = torch.from_numpy(pixels)
    labels = torch.from_numpy(digits.astype(np.int64))
    torch.manual_seed(1)
    cores = len(os.sched_getaffinity(0))
    torch.ones(2, 2) @ torch.ones(2, 2)  # loads the BLAS, so that blas_core() can name it
    blas = blas_core()
    # Debian's torch calls the system BLAS, which as libopenblas0-pthread runs a thread per core of
    # its own: torch's threads beside them oversubscribe the cores (H=256, batch 100, 2 cores: 6.8 s
    # an epoch with both, 1.9 s with OpenBLAS's alone). A torch with MKL threads through its own.
    torch.set_num_threads(1 if blas.startswith("OpenBLAS") else cores)
    loss_of = nn.CrossEntropyLoss()
    for hidden in [int(h) for h in args.hidden.split(",")]:
        for batch in [int(b) for b in args.batch.split(",")]:
            model = network(hidden)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

            def train(count):
                for i in range(count):
                    optimizer.zero_grad(set_to_none=True)
                    loss_of(model(x[i * batch : (i + 1) * batch]), labels[i * batch : (i + 1) * batch]).backward()
                    optimizer.step()

            seconds, run = seconds_per_epoch(train, 60000 // batch, args.seconds, args.repeats)
            print(json.dumps({"peer": "torch-f32", "torch": torch.__version__, "blas": blas, "threads": cores,
                              "hidden": hidden, "batch": batch, "secondsPerEpoch": seconds, "batchesTimed": run}), flush=True)


if __name__ == "__main__":
    main()
