"""Second-order vs first-order steps on the digits model (issue 13): time per step.

The model of ``bench_training.py`` (two SeparableConv2D with ReLU, max pooling, Dense softmax,
sparse categorical cross-entropy, batch 32). Three steps are timed, alternated, best of
``--repeat`` rounds of ``--steps`` batches each:

* **first order**: forward + loss under a tape, ``tape.gradient`` (what ``fit`` does, without
  the optimizer);
* **gradient, recorded**: the same gradient taken while an outer tape records (its backward made
  of recorded ops, ready to be differentiated: the first half of a second-order step);
* **Hessian-vector product**: ``d/dw <grad(w), v>`` by double backward (the whole second-order
  step: forward, recorded backward, and the backward of that backward).

Run:
    python benchmarks/bench_higher_order.py              # wall time
    python benchmarks/bench_higher_order.py --cpu-time   # one thread, CPU time
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

BATCH = 32


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cpu-time", action="store_true",
                        help="one thread, CPU time (time.process_time) instead of wall time")
    args = parser.parse_args()
    if args.cpu_time:
        os.environ["MINIKERAS_NUM_THREADS"] = "1"  # read at minikeras's first kernel call
    timer = time.process_time if args.cpu_time else time.perf_counter

    from minikeras import Input, Model, losses
    from minikeras.autograd import GradientTape
    from minikeras.datasets import digits
    from minikeras.layers import Dense, Flatten, MaxPooling2D, SeparableConv2D
    from minikeras.utils import set_random_seed

    (xt, yt), _ = digits.load_data(normalize=True)
    xt = np.ascontiguousarray(xt[..., None], dtype=np.float32)
    set_random_seed(0)
    i = Input((8, 8, 1))
    h = SeparableConv2D(16, 3, padding="same", activation="relu")(i)
    h = SeparableConv2D(32, 3, padding="same", activation="relu")(h)
    h = MaxPooling2D(2)(h)
    model = Model(i, Dense(10, activation="softmax")(Flatten()(h)))
    weights = model.trainable_weights
    rng = np.random.default_rng(0)
    v = [rng.standard_normal(w.shape).astype(w.dtype) for w in weights]

    def batch(s: int) -> tuple[np.ndarray, np.ndarray]:
        lo = (s * BATCH) % (len(xt) - BATCH)
        return xt[lo:lo + BATCH], yt[lo:lo + BATCH]

    def first_order(s: int) -> None:
        x, y = batch(s)
        with GradientTape() as tape:
            loss = losses.sparse_categorical_crossentropy(y, model(x, training=True)).mean()
        tape.gradient(loss, weights)

    def recorded_gradient(s: int) -> None:
        x, y = batch(s)
        with GradientTape():
            with GradientTape() as inner:
                loss = losses.sparse_categorical_crossentropy(y, model(x, training=True)).mean()
            inner.gradient(loss, weights)

    def hvp(s: int) -> None:
        x, y = batch(s)
        with GradientTape() as outer:
            with GradientTape() as inner:
                loss = losses.sparse_categorical_crossentropy(y, model(x, training=True)).mean()
            g = inner.gradient(loss, weights)
            dot = sum((gi * vi).sum() for gi, vi in zip(g, v))
        outer.gradient(dot, weights)

    steps = {"first order": first_order, "gradient, recorded": recorded_gradient,
             "Hessian-vector product": hvp}
    for fn in steps.values():
        fn(0)  # warm-up: JIT compilation
    best = dict.fromkeys(steps, np.inf)
    for _ in range(args.repeat):
        for name, fn in steps.items():
            t = timer()
            for s in range(args.steps):
                fn(s)
            best[name] = min(best[name], (timer() - t) / args.steps)
    clock = "CPU time, one thread" if args.cpu_time else "wall time"
    print(f"digits model, batch {BATCH}, best of {args.repeat} x {args.steps} steps ({clock})")
    base = best["first order"]
    for name, sec in best.items():
        print(f"  {name:<24} {sec * 1e3:8.2f} ms/step  {sec / base:5.1f}x first order")


if __name__ == "__main__":
    main()
