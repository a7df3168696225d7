#!/usr/bin/env python3
"""Writes a small CIFAR-10-format folder for tests: data_batch_1.bin, test_batch.bin,
batches.meta.txt. Each class has its own colour and stripe direction plus noise, so a network can
learn it. Usage: make_cifar.py DIR N_TRAIN N_TEST [SEED]"""
import os
import random
import sys

NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def record(rng, label):
    out = bytearray([label])
    base = [(label * 25 + 40 * c) % 256 for c in range(3)]
    for c in range(3):
        for y in range(32):
            for x in range(32):
                stripe = ((x if label % 2 else y) // (2 + label % 4)) % 2
                v = base[c] + 60 * stripe + rng.randint(-20, 20)
                out.append(max(0, min(255, v)))
    return bytes(out)


def write(path, n, rng, offset):
    with open(path, "wb") as f:
        for i in range(n):
            f.write(record(rng, (i + offset) % 10))


def main():
    d, ntrain, ntest = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    os.makedirs(d, exist_ok=True)
    write(os.path.join(d, "data_batch_1.bin"), ntrain, rng, 0)
    write(os.path.join(d, "test_batch.bin"), ntest, rng, 3)
    with open(os.path.join(d, "batches.meta.txt"), "w") as f:
        f.write("\n".join(NAMES) + "\n\n")


if __name__ == "__main__":
    main()
