"""A CIFAR-sized MobileNet-style network: one training step and ``predict``, vs PyTorch eager.

The model (issue 17), the same in both frameworks: a 32x32x3 input; four blocks of
``SeparableConv2D`` (3x3, no bias) -> ``BatchNormalization`` -> ReLU with 32, 64, 128 and 256
filters and strides 1, 2, 1, 2 (spatial sizes 32, 16, 16, 8); global average pooling;
``Dense(10)`` with softmax; sparse categorical cross-entropy and Adam; batch 64. PyTorch runs it
as depthwise ``Conv2d(groups=C)`` + 1x1 ``Conv2d`` + ``BatchNorm2d`` + ``ReLU`` in
``channels_last``, eager mode; a stride-2 block pads 1 on every side (TF's "same" pads 0 before
and 1 after: the same shapes and work).

Measured, each framework in its own process, alternated over rounds, in two modes (one thread
and CPU time; two threads and wall-clock time; see ``benchmarks/_separate.py``):

* ``step``: one training step on a batch of 64 (forward, loss, backward, optimizer update):
  minikeras ``train_on_batch``; PyTorch ``zero_grad``, forward, loss, ``backward``, ``step``.
* ``predict``: 512 images in batches of 64, inference mode (minikeras ``predict``; PyTorch
  ``no_grad`` and ``eval``).

Run::

    python benchmarks/bench_mobilenet.py                # 3 rounds, both modes
    python benchmarks/bench_mobilenet.py --rounds 5 --modes cpu
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import _separate  # noqa: E402

BATCH = 64
PREDICT_N = 512
BLOCKS = ((32, 1), (64, 2), (128, 1), (256, 2))  # (filters, stride)
STEPS = 20  # timed training steps per child (median kept)
LR = 1e-3


def data(n: int = PREDICT_N):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 32, 32, 3), dtype=np.float32)
    y = rng.integers(0, 10, n)
    return x, y


def median_time(timer, fn, repeat: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = timer()
        fn()
        times.append(timer() - t)
    return statistics.median(times)


def run_minikeras() -> dict:
    timer = _separate.child_setup()
    from minikeras import Input, Model, optimizers
    from minikeras.layers import (
        Activation,
        BatchNormalization,
        Dense,
        GlobalAveragePooling2D,
        SeparableConv2D,
    )
    from minikeras.utils import set_random_seed

    set_random_seed(0)
    inputs = Input((32, 32, 3))
    h = inputs
    for filters, stride in BLOCKS:
        h = SeparableConv2D(filters, 3, strides=stride, padding="same", use_bias=False)(h)
        h = BatchNormalization()(h)
        h = Activation("relu")(h)
    outputs = Dense(10, activation="softmax")(GlobalAveragePooling2D()(h))
    model = Model(inputs, outputs)
    model.compile(optimizers.Adam(learning_rate=LR), "sparse_categorical_crossentropy")
    x, y = data()
    xb, yb = x[:BATCH], y[:BATCH]
    step = median_time(timer, lambda: model.train_on_batch(xb, yb), STEPS)
    predict = median_time(timer, lambda: model.predict(x, batch_size=BATCH), 5, warmup=1)
    return {"step": step, "predict": predict}


def run_torch() -> dict:
    timer = _separate.child_setup()
    import torch
    from torch import nn

    torch.set_num_threads(_separate.torch_threads())
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    cin = 3
    for filters, stride in BLOCKS:
        layers += [
            nn.Conv2d(cin, cin, 3, stride=stride, padding=1, groups=cin, bias=False),
            nn.Conv2d(cin, filters, 1, bias=False),
            nn.BatchNorm2d(filters, eps=1e-3, momentum=0.01),  # Keras's defaults
            nn.ReLU(),
        ]
        cin = filters
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 10)]
    model = nn.Sequential(*layers).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=LR, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    x, y = data()
    tx = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).contiguous(
        memory_format=torch.channels_last)
    ty = torch.from_numpy(y)
    xb, yb = tx[:BATCH], ty[:BATCH]

    def step():
        model.train()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        return loss.item()  # what train_on_batch returns

    def predict():
        model.eval()
        with torch.no_grad():
            out = [torch.softmax(model(tx[s:s + BATCH]), 1) for s in range(0, len(tx), BATCH)]
            return torch.cat(out).numpy()

    return {"step": median_time(timer, step, STEPS),
            "predict": median_time(timer, predict, 5, warmup=1)}


RUNNERS = {"minikeras": run_minikeras, "pytorch": run_torch}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--modes", nargs="+", default=list(_separate.MODES),
                        choices=_separate.MODES)
    parser.add_argument("--child", choices=sorted(RUNNERS), help=argparse.SUPPRESS)
    _separate.add_avx2_option(parser)
    args = parser.parse_args()
    _separate.apply_avx2_option(args)
    if args.child:
        print(json.dumps(RUNNERS[args.child]()))
        return
    children = {name: [sys.executable, __file__, "--child", name] for name in RUNNERS}
    results = _separate.alternate(children, args.rounds, args.modes)
    print(f"\nMobileNet-style CIFAR model, batch {BATCH}: medians over {args.rounds} rounds "
          "(ms); ratio = minikeras / PyTorch")
    print(_separate.ratio_table(results, ["step", "predict"]))


if __name__ == "__main__":
    main()
