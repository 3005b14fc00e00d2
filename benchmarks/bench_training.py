"""Small-model training speed: minikeras ``fit`` against PyTorch eager (and Keras 3) — issue 9.

The digits model: ``Input(8, 8, 1)`` → ``SeparableConv2D(16, 3, same, relu)`` →
``SeparableConv2D(32, 3, same, relu)`` → ``MaxPooling2D(2)`` → ``Flatten`` →
``Dense(10, softmax)``; Adam (lr 1e-3), sparse categorical cross-entropy, batch 32,
15 epochs over 1,400 training images of the bundled 8x8 digits. Each framework runs in
its own process: one warm-up fit (JIT compilation, allocator warm-up) on a throw-away
model, then ``--repeat`` timed fits of fresh models; the best and the median are shown,
with the test accuracy of the last run. Also timed: ``predict`` on 10,000 digits in
batches of 256 (recording off / ``no_grad``).

For minikeras a per-step breakdown (forward + loss, backward, optimizer, the rest of
``fit``) is measured with timers around the same calls ``fit`` makes.

Run:
    python benchmarks/bench_training.py                    # every framework importable here
    python benchmarks/bench_training.py --only minikeras   # one framework
    python benchmarks/bench_training.py --epochs 5 --repeat 1

PyTorch: ``pip install torch==2.13.0`` (the pinned CPU build). Keras 3 is used only if it
is already importable. ``BENCH_TORCH_THREADS`` sets PyTorch's thread count (default 2).
On a busy machine wall times swing by 10x; compare numbers taken in the same run, or use
``--cpu-time``: one thread per framework and CPU time (``time.process_time``), the work each
one does, which other jobs on the machine barely disturb.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

N_TRAIN = 1400
BATCH = 32
LR = 1e-3
PREDICT_N = 10_000
PREDICT_BATCH = 256
TIMER = time.perf_counter  # --cpu-time: time.process_time, with one thread per framework


def load():
    from minikeras.datasets import digits

    (xt, yt), (xs, ys) = digits.load_data(normalize=True)
    xt = np.ascontiguousarray(xt[:N_TRAIN, ..., None], dtype=np.float32)
    xs = np.ascontiguousarray(xs[..., None], dtype=np.float32)
    big = np.ascontiguousarray(np.resize(xs, (PREDICT_N, 8, 8, 1)))
    return xt, yt[:N_TRAIN], xs, ys, big


# --------------------------------------------------------------------------- minikeras
def run_minikeras(epochs: int, repeat: int) -> dict:
    from minikeras import Input, Model, optimizers
    from minikeras.layers import Dense, Flatten, MaxPooling2D, SeparableConv2D
    from minikeras.utils import set_random_seed

    xt, yt, xs, ys, big = load()

    def build():
        i = Input((8, 8, 1))
        h = SeparableConv2D(16, 3, padding="same", activation="relu")(i)
        h = SeparableConv2D(32, 3, padding="same", activation="relu")(h)
        h = MaxPooling2D(2)(h)
        o = Dense(10, activation="softmax")(Flatten()(h))
        m = Model(i, o)
        m.compile(optimizers.Adam(learning_rate=LR), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
        return m

    set_random_seed(0)
    warm = build()
    warm.fit(xt[:256], yt[:256], batch_size=BATCH, epochs=1, verbose=0)
    warm.predict(big[:512], batch_size=PREDICT_BATCH)
    times = []
    for r in range(repeat):
        set_random_seed(r)
        m = build()
        t = TIMER()
        m.fit(xt, yt, batch_size=BATCH, epochs=epochs, verbose=0)
        times.append(TIMER() - t)
    acc = float(m.evaluate(xs, ys, batch_size=256)[1])
    ptimes = []
    for _ in range(3):
        t = TIMER()
        m.predict(big, batch_size=PREDICT_BATCH)
        ptimes.append(TIMER() - t)
    return {"fit": times, "acc": acc, "predict": min(ptimes),
            "steps": epochs * -(-N_TRAIN // BATCH), "breakdown": breakdown(m, xt, yt)}


def breakdown(model, xt, yt, steps: int = 132, repeat: int = 3) -> dict:
    """Time the pieces of a training step with the same calls ``fit`` makes.

    Instrumented steps and plain ``fit`` runs alternate ``repeat`` times and the
    fastest of each is kept, so load from other processes distorts them alike.
    """
    from minikeras.autograd import GradientTape
    from minikeras.engine.base_layer import collect_call_losses

    xs, ys = model._standardize_xy(xt, yt)
    weights = list(model.trainable_weights)
    nb = -(-len(xs[0]) // BATCH)
    best = {"fwd": np.inf, "bwd": np.inf, "opt": np.inf, "fit": np.inf}
    for _ in range(repeat):
        fwd = bwd = opt = 0.0
        for s in range(steps):
            b = s % nb
            xb = [a[b * BATCH:(b + 1) * BATCH] for a in xs]
            yb = [a[b * BATCH:(b + 1) * BATCH] for a in ys]
            t0 = TIMER()
            with GradientTape() as tape, collect_call_losses() as extra:
                outs = model._forward(xb, True)
                total, _ = model._losses_and_metrics(yb, outs, extra)
            t1 = TIMER()
            grads = tape.gradient(total, weights)
            t2 = TIMER()
            model.optimizer.apply_gradients(zip(grads, weights))
            t3 = TIMER()
            fwd += t1 - t0
            bwd += t2 - t1
            opt += t3 - t2
        best["fwd"] = min(best["fwd"], fwd / steps)
        best["bwd"] = min(best["bwd"], bwd / steps)
        best["opt"] = min(best["opt"], opt / steps)
        # the same steps inside fit: what fit adds (shuffling, slicing, logs, callbacks)
        t = TIMER()
        model.fit(xt, yt, batch_size=BATCH, epochs=3, verbose=0)
        best["fit"] = min(best["fit"], (TIMER() - t) / (3 * nb))
    ms = 1e3
    return {"forward+loss+metrics": best["fwd"] * ms, "backward (tape sweep)": best["bwd"] * ms,
            "optimizer": best["opt"] * ms,
            "fit overhead": (best["fit"] - best["fwd"] - best["bwd"] - best["opt"]) * ms}


# --------------------------------------------------------------------------- PyTorch
def run_torch(epochs: int, repeat: int) -> dict:
    import torch
    from torch import nn

    torch.set_num_threads(int(os.environ.get("BENCH_TORCH_THREADS", "2")))
    xt, yt, xs, ys, big = load()
    # NHWC arrays → NCHW tensors (channels_last memory format, PyTorch's fast CPU path)
    def to_t(a):
        return torch.from_numpy(a.transpose(0, 3, 1, 2).copy()).contiguous(
            memory_format=torch.channels_last)

    txt, tyt, txs, tbig = to_t(xt), torch.from_numpy(yt), to_t(xs), to_t(big)

    def build():
        m = nn.Sequential(
            nn.Conv2d(1, 1, 3, padding=1, groups=1, bias=False),   # depthwise (1 channel)
            nn.Conv2d(1, 16, 1), nn.ReLU(),                        # pointwise + bias
            nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False),
            nn.Conv2d(16, 32, 1), nn.ReLU(),
            nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 4 * 4, 10),
        ).to(memory_format=torch.channels_last)
        for p in m.modules():  # Keras's initialisation: glorot uniform, zero biases
            if isinstance(p, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(p.weight)
                if p.bias is not None:
                    nn.init.zeros_(p.bias)
        return m

    def fit(m, x, y, n_epochs):
        opt = torch.optim.Adam(m.parameters(), lr=LR, eps=1e-7)
        loss_fn = nn.CrossEntropyLoss()  # softmax + cross-entropy, as one op
        n = len(x)
        for _ in range(n_epochs):
            perm = torch.randperm(n)
            xp, yp = x[perm], y[perm]
            for s in range(0, n, BATCH):
                xb, yb = xp[s:s + BATCH], yp[s:s + BATCH]
                opt.zero_grad(set_to_none=True)
                out = m(xb)
                loss = loss_fn(out, yb)
                loss.backward()
                opt.step()
                # what Keras-style fit reports per batch: the loss and the accuracy
                _ = (loss.item(), (out.argmax(1) == yb).float().mean().item())

    def predict(m, x):
        with torch.no_grad():
            return torch.cat([torch.softmax(m(x[s:s + PREDICT_BATCH]), 1)
                              for s in range(0, len(x), PREDICT_BATCH)])

    torch.manual_seed(0)
    warm = build()
    fit(warm, txt[:256], tyt[:256], 1)
    predict(warm, tbig[:512])
    times = []
    for r in range(repeat):
        torch.manual_seed(r)
        m = build()
        t = TIMER()
        fit(m, txt, tyt, epochs)
        times.append(TIMER() - t)
    acc = float((predict(m, txs).argmax(1).numpy() == ys).mean())
    ptimes = []
    for _ in range(3):
        t = TIMER()
        predict(m, tbig)
        ptimes.append(TIMER() - t)
    return {"fit": times, "acc": acc, "predict": min(ptimes),
            "version": torch.__version__}


# --------------------------------------------------------------------------- Keras 3
def run_keras(epochs: int, repeat: int) -> dict:
    import keras

    xt, yt, xs, ys, big = load()

    def build():
        i = keras.Input((8, 8, 1))
        h = keras.layers.SeparableConv2D(16, 3, padding="same", activation="relu")(i)
        h = keras.layers.SeparableConv2D(32, 3, padding="same", activation="relu")(h)
        h = keras.layers.MaxPooling2D(2)(h)
        o = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(h))
        m = keras.Model(i, o)
        m.compile(keras.optimizers.Adam(LR), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
        return m

    warm = build()
    warm.fit(xt[:256], yt[:256], batch_size=BATCH, epochs=1, verbose=0)
    warm.predict(big[:512], batch_size=PREDICT_BATCH, verbose=0)
    times = []
    for _ in range(repeat):
        m = build()
        t = TIMER()
        m.fit(xt, yt, batch_size=BATCH, epochs=epochs, verbose=0)
        times.append(TIMER() - t)
    acc = float(m.evaluate(xs, ys, verbose=0)[1])
    t = TIMER()
    m.predict(big, batch_size=PREDICT_BATCH, verbose=0)
    return {"fit": times, "acc": acc, "predict": TIMER() - t,
            "version": keras.__version__}


RUNNERS = {"minikeras": run_minikeras, "pytorch": run_torch, "keras3": run_keras}
IMPORTS = {"minikeras": "minikeras", "pytorch": "torch", "keras3": "keras"}


def importable(module: str) -> bool:
    code = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return subprocess.run([sys.executable, "-c", code]).returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=sorted(RUNNERS))
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cpu-time", action="store_true",
                        help="one thread per framework, CPU time instead of wall time")
    args = parser.parse_args()
    global TIMER
    if args.cpu_time:
        TIMER = time.process_time
        os.environ["MINIKERAS_NUM_THREADS"] = "1"  # read at minikeras's first kernel call
        os.environ["BENCH_TORCH_THREADS"] = "1"

    if args.json:  # child process: run one framework, print its result as JSON
        print(json.dumps(RUNNERS[args.only](args.epochs, args.repeat)))
        return

    names = [args.only] if args.only else list(RUNNERS)
    results = {}
    for name in names:
        if not importable(IMPORTS[name]):
            print(f"{name}: not importable here, skipped")
            continue
        cmd = [sys.executable, __file__, "--only", name, "--json",
               "--epochs", str(args.epochs), "--repeat", str(args.repeat)]
        if args.cpu_time:
            cmd.append("--cpu-time")
        proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
        if proc.returncode != 0:
            print(f"{name}: failed\n{proc.stderr[-2000:]}")
            continue
        results[name] = json.loads(proc.stdout.strip().splitlines()[-1])

    clock = "CPU time, one thread each" if args.cpu_time else "wall time"
    print(f"\nDigits model, {args.epochs} epochs x {N_TRAIN} images, batch {BATCH}, "
          f"best / median of {args.repeat} fits after a warm-up ({clock}); {os.cpu_count()} CPUs, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    header = (f"{'framework':<12}{'fit best (s)':>14}{'fit median':>12}{'ms/step':>9}"
              f"{'test acc':>10}{'predict 10k (s)':>17}{'vs PyTorch':>12}")
    print(header)
    print("-" * len(header))
    base = results.get("pytorch", {}).get("fit")
    steps = args.epochs * -(-N_TRAIN // BATCH)
    for name, r in results.items():
        best, med = min(r["fit"]), statistics.median(r["fit"])
        ratio = f"{best / min(base):.2f}x" if base else "-"
        print(f"{name:<12}{best:>14.3f}{med:>12.3f}{1e3 * best / steps:>9.2f}"
              f"{r['acc']:>10.4f}{r['predict']:>17.3f}{ratio:>12}")
    if "minikeras" in results:
        b = results["minikeras"]["breakdown"]
        print("\nminikeras per-step breakdown (ms; timers around the calls fit makes, and fit's "
              "own time per step minus those):")
        for k, v in b.items():
            print(f"  {k:<26}{v:7.3f}")
        print(f"  {'= fit time per step':<26}{sum(b.values()):7.3f}")


if __name__ == "__main__":
    main()
