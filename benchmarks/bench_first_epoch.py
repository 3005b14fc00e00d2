"""The README example's first epoch, with a cold and a warm numba cache (issue 17).

Each measurement is a fresh process running the README's model (two separable convolutions,
``fit`` with validation, batch 32) for two epochs and reporting the first epoch's wall-clock and
CPU time, and the second's (the steady state). "Cold": an empty ``NUMBA_CACHE_DIR``, so every
kernel compiles; "warm": the same directory again, so every kernel comes from the cache.

    python benchmarks/bench_first_epoch.py                      # this checkout, 3 rounds
    python benchmarks/bench_first_epoch.py --before /tmp/old    # alternate with another copy

``--before`` takes a directory holding an older ``minikeras/`` package (e.g. made with
``git archive <commit> minikeras | tar -x -C /tmp/old``); the two are run alternately, cold
then warm each, so load changes on a shared machine hit both alike. ``uptime`` is printed with
every round.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, time
t0, c0 = time.perf_counter(), time.process_time()
from minikeras import Input, Model
from minikeras.callbacks import Callback
from minikeras.datasets import digits
from minikeras.layers import Dense, Flatten, SeparableConv2D
from minikeras.utils import set_random_seed
imported = time.perf_counter() - t0

set_random_seed(0)
(x_train, y_train), (x_test, y_test) = digits.load_data(normalize=True)
x_train, x_test = x_train[..., None], x_test[..., None]
inputs = Input(shape=(8, 8, 1))
x = SeparableConv2D(16, 3, padding="same", activation="relu")(inputs)
x = SeparableConv2D(32, 3, strides=2, activation="relu")(x)
x = Flatten()(x)
outputs = Dense(10, activation="softmax")(x)
model = Model(inputs, outputs)
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])

epochs = []
class Timer(Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.t, self.c = time.perf_counter(), time.process_time()
    def on_epoch_end(self, epoch, logs=None):
        epochs.append((time.perf_counter() - self.t, time.process_time() - self.c))

model.fit(x_train, y_train, epochs=2, batch_size=32, validation_data=(x_test, y_test),
          verbose=0, callbacks=[Timer()])
print(json.dumps({"import": imported, "wall": epochs[0][0], "cpu": epochs[0][1],
                  "steady": epochs[1][0]}))
"""


def run(package_dir: Path, cache: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(package_dir), NUMBA_CACHE_DIR=cache,
               MINIKERAS_COMPILE_NOTICE="0")
    env.pop("NUMBA_DISABLE_JIT", None)
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True,
                         cwd=tempfile.gettempdir(), check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, help="directory holding an older minikeras/")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warm-runs", type=int, default=2, help="warm runs per round")
    args = parser.parse_args()
    copies = {"after": ROOT} if args.before is None else {"before": args.before, "after": ROOT}
    results: dict[str, dict[str, list[dict]]] = {k: {"cold": [], "warm": []} for k in copies}
    for r in range(args.rounds):
        print(f"round {r + 1}: {uptime()}", flush=True)
        for name, where in copies.items():
            with tempfile.TemporaryDirectory() as cache:
                cold = run(where, cache)
                warm = [run(where, cache) for _ in range(args.warm_runs)]
            results[name]["cold"].append(cold)
            results[name]["warm"].extend(warm)
            print(f"  {name:6s} cold first epoch {cold['wall']:5.2f} s wall {cold['cpu']:5.2f} s "
                  f"CPU | warm " + ", ".join(f"{w['wall']:.2f} s wall {w['cpu']:.2f} s CPU"
                                              for w in warm)
                  + f" | steady epoch {warm[-1]['steady']:.3f} s"
                  + f" | import {warm[-1]['import']:.2f} s",
                  flush=True)
    print(f"end: {uptime()}")
    print("\nmedians (first epoch, s)      cold wall  cold CPU  warm wall  warm CPU")
    for name, res in results.items():
        med = {f"{k} {m}": statistics.median(x[m] for x in res[k])
               for k in ("cold", "warm") for m in ("wall", "cpu")}
        print(f"  {name:27s} {med['cold wall']:9.2f} {med['cold cpu']:9.2f} "
              f"{med['warm wall']:10.2f} {med['warm cpu']:9.2f}")


if __name__ == "__main__":
    main()
