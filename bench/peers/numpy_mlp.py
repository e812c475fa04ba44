"""The same network and SGD as backprop's, in numpy float32: a peer for `npm run bench`.

Reads the bundled MNIST IDX files, trains 784 → H (ReLU) → 10 (softmax) with minibatch SGD on the
mean cross-entropy, batches in order, and prints one JSON line per configuration with the median
seconds per training epoch. Each repeat trains whole batches for about --seconds (found by a probe
that is also the warm-up) and is scaled to an epoch.

usage: python3 numpy_mlp.py DATA_DIR --hidden 30,256 --batch 100 [--repeats 3] [--seconds 0.3]
       python3 numpy_mlp.py DATA_DIR --seed-run 20
"""
import argparse
import ctypes
import json
import os
import statistics
import time

import numpy as np


def read_idx(path):
    with open(path, "rb") as f:
        data = f.read()
    ndims = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndims).reshape(dims)


def train_batches(x, labels, w1, b1, w2, b2, batch, lr, batches):
    onehot = np.eye(10, dtype=np.float32)
    for i in range(batches):
        xb = x[i * batch : (i + 1) * batch]
        yb = onehot[labels[i * batch : (i + 1) * batch]]
        h = np.maximum(xb @ w1 + b1, 0)
        z = h @ w2 + b2
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        dz = (p - yb) / np.float32(len(xb))
        dh = (dz @ w2.T) * (h > 0)
        w2 -= lr * (h.T @ dz)
        b2 -= lr * dz.sum(axis=0)
        w1 -= lr * (xb.T @ dh)
        b1 -= lr * dh.sum(axis=0)


def seconds_per_epoch(train, batches, seconds, repeats):
    """The median seconds per epoch of `train(count)`, which trains the first `count` of an epoch's
    `batches`, and how many it timed: a probe that is also the warm-up finds how many batches last
    about `seconds`, then each repeat trains that many and is scaled to an epoch."""

    def timed(count):
        start = time.perf_counter()
        train(count)
        return time.perf_counter() - start

    run = 1
    elapsed = timed(run)
    while elapsed < seconds / 4 and run < batches:
        run = min(batches, run * 4)
        elapsed = timed(run)
    run = max(1, min(batches, round(run * seconds / elapsed)))
    return statistics.median(timed(run) * batches / run for _ in range(repeats)), run


def blas_core():
    """The kernel OpenBLAS chose at run time (it reads OPENBLAS_CORETYPE), or which other BLAS this
    process loaded."""
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "blas" in line.lower()}
    for path in paths:
        if "openblas" not in path.lower():
            continue
        lib = ctypes.CDLL(path)
        # numpy's wheels carry OpenBLAS with prefixed, 64-bit-integer names.
        for name in ("openblas_get_corename", "scipy_openblas_get_corename64_", "openblas_get_corename64_"):
            function = getattr(lib, name, None)
            if function:
                function.restype = ctypes.c_char_p
                return "OpenBLAS " + function().decode()
    return "not OpenBLAS: " + (", ".join(sorted(os.path.basename(path) for path in paths)) or "no BLAS library loaded")


def seed_run(data, epochs):
    """The seed's main.py as a user runs it: float64 arrays, 784-30-10, batch 100, lr 0.1, accuracy
    and error on the training and validation sets after every epoch."""
    x = read_idx(f"{data}/train-images-idx3-ubyte").reshape(60000, 784) / 255.0
    labels = read_idx(f"{data}/train-labels-idx1-ubyte")
    xv = read_idx(f"{data}/t10k-images-idx3-ubyte").reshape(10000, 784) / 255.0
    labels_v = read_idx(f"{data}/t10k-labels-idx1-ubyte")
    rng = np.random.default_rng(1)
    w1, b1 = rng.standard_normal((784, 30)) / 10, np.zeros(30)
    w2, b2 = rng.standard_normal((30, 10)) / 10, np.zeros(10)
    onehot = np.eye(10)

    def scores(xs, ys):
        z = np.maximum(xs @ w1 + b1, 0) @ w2 + b2
        z -= z.max(axis=1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float((z.argmax(axis=1) == ys).mean()), float(-log_p[np.arange(len(ys)), ys].mean())

    for _ in range(epochs):
        for i in range(600):
            xb, yb = x[i * 100 : (i + 1) * 100], onehot[labels[i * 100 : (i + 1) * 100]]
            h = np.maximum(xb @ w1 + b1, 0)
            z = h @ w2 + b2
            p = np.exp(z - z.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            dz = (p - yb) / 100
            dh = (dz @ w2.T) * (h > 0)
            w2 -= 0.1 * (h.T @ dz)
            b2 -= 0.1 * dz.sum(axis=0)
            w1 -= 0.1 * (xb.T @ dh)
            b1 -= 0.1 * dh.sum(axis=0)
        train, val = scores(x, labels), scores(xv, labels_v)
    print(json.dumps({"peer": "numpy-seed", "blas": blas_core(), "epochs": epochs, "trainAccuracy": train[0], "valAccuracy": val[0]}), flush=True)


def peer_arguments():
    """The options every peer takes: the MNIST folder, the grid and the timing."""
    parser = argparse.ArgumentParser()
    parser.add_argument("data")
    parser.add_argument("--hidden", default="30")
    parser.add_argument("--batch", default="100")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=0.3)
    return parser


def training_set(data):
    """MNIST's 60,000 training images as float32 rows of pixel / 255, and their labels."""
    x = (read_idx(f"{data}/train-images-idx3-ubyte").reshape(60000, 784) / np.float32(255)).astype(np.float32)
    return x, read_idx(f"{data}/train-labels-idx1-ubyte")


def main():
    parser = peer_arguments()
    parser.add_argument("--seed-run", type=int, metavar="EPOCHS", help="run the seed's main.py instead, for the whole-run comparison")
    args = parser.parse_args()
    if args.seed_run:
        seed_run(args.data, args.seed_run)
        return
    x, labels = training_set(args.data)
    rng = np.random.default_rng(1)
    lr = np.float32(0.1)
    for hidden in [int(h) for h in args.hidden.split(",")]:
        for batch in [int(b) for b in args.batch.split(",")]:
            batches = 60000 // batch
            w1 = (rng.standard_normal((784, hidden)) / 10).astype(np.float32)
            w2 = (rng.standard_normal((hidden, 10)) / 10).astype(np.float32)
            b1 = np.zeros(hidden, np.float32)
            b2 = np.zeros(10, np.float32)

            def train(count):
                train_batches(x, labels, w1, b1, w2, b2, batch, lr, count)

            seconds, run = seconds_per_epoch(train, batches, args.seconds, args.repeats)
            print(json.dumps({"peer": "numpy-f32", "numpy": np.__version__, "blas": blas_core(), "hidden": hidden, "batch": batch,
                              "secondsPerEpoch": seconds, "batchesTimed": run}), flush=True)


if __name__ == "__main__":
    main()
