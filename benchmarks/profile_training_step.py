"""Where a training step of the digits model spends its time, op by op (issue 9).

Runs ``fit`` on the benchmark's digits model under cProfile and prints:

* the step split into forward (model call + loss + metrics), backward (the tape's
  reverse sweep), optimizer and the rest of ``fit``;
* each autograd op's forward and backward time per step (cumulative, so an op's
  kernels are included), largest first.

Profiling adds overhead to every Python call, so absolute numbers are inflated; the
shares are what to read. Run:  python benchmarks/profile_training_step.py [--epochs 3]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys

sys.path.insert(0, os.path.dirname(__file__))

import bench_training  # noqa: E402


def function_classes() -> dict[tuple[str, int], str]:
    """Map the code location of every Function's forward/backward to 'Class.method'."""
    from minikeras.autograd import Function

    found: dict[tuple[str, int], str] = {}
    todo = list(Function.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        for meth in ("forward", "backward"):
            fn = cls.__dict__.get(meth)
            code = getattr(fn, "__code__", None)
            if code is not None:
                found[(code.co_filename, code.co_firstlineno)] = f"{cls.__name__}.{meth}"
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()

    from minikeras import Input, Model, optimizers
    from minikeras.layers import Dense, Flatten, MaxPooling2D, SeparableConv2D

    xt, yt, *_ = bench_training.load()
    i = Input((8, 8, 1))
    h = SeparableConv2D(16, 3, padding="same", activation="relu")(i)
    h = SeparableConv2D(32, 3, padding="same", activation="relu")(h)
    h = MaxPooling2D(2)(h)
    m = Model(i, Dense(10, activation="softmax")(Flatten()(h)))
    m.compile(optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    m.fit(xt[:256], yt[:256], epochs=1, verbose=0)  # JIT warm-up

    prof = cProfile.Profile()
    prof.runcall(m.fit, xt, yt, batch_size=bench_training.BATCH, epochs=args.epochs, verbose=0)
    stats = pstats.Stats(prof).stats  # (file, line, name) -> (cc, nc, tt, ct, callers)
    steps = args.epochs * -(-len(xt) // bench_training.BATCH)

    def cum(name_part: str, file_part: str) -> float:
        return sum(v[3] for k, v in stats.items() if k[2] == name_part and file_part in k[0])

    total = cum("fit", "engine/training.py")
    parts = {
        "forward + loss + metrics": cum("_forward", "engine/training.py")
        + cum("_losses_and_metrics", "engine/training.py"),
        "backward (tape.gradient)": cum("gradient", "autograd/tape.py"),
        "optimizer": cum("apply_gradients", "optimizers.py"),
    }
    parts["rest of fit"] = total - sum(parts.values())
    print(f"digits model, {steps} steps under cProfile: {1e3 * total / steps:.2f} ms/step")
    for k, v in parts.items():
        print(f"  {k:<28}{1e3 * v / steps:8.3f} ms  {100 * v / total:5.1f}%")

    where = function_classes()
    rows = []
    for (filename, line, _name), v in stats.items():
        label = where.get((filename, line))
        if label:
            rows.append((v[3], v[1], label))
    rows.sort(reverse=True)
    print("\nautograd ops (cumulative time per step, kernels included):")
    for ct, calls, label in rows[:20]:
        print(f"  {label:<48}{1e3 * ct / steps:8.3f} ms  ({calls // steps} call(s)/step)")


if __name__ == "__main__":
    main()
