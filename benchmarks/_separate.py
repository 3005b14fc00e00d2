"""Run benchmark children in separate processes, alternated over rounds, in two clock modes.

Why separate processes: two frameworks' thread pools in one process distort each other (an idle
pool that spins steals the core the other needs). Why rounds that alternate the order: load from
other jobs on a shared machine then hits every framework alike. Why two modes:

* ``cpu``: one thread per framework, CPU time (``time.process_time``): the work each one does,
  which other jobs barely disturb. The figure to trust on a loaded machine.
* ``wall``: two threads each, wall-clock time: what a user waits, on a quiet machine.

A child is a command that prints one JSON object (name -> seconds) as its last stdout line. The
child learns its mode from ``BENCH_MODE``; :func:`child_setup` applies it (thread counts, timer)
before the framework is imported.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

MODES = ("cpu", "wall")


def child_setup() -> Callable[[], float]:
    """In a child: set the thread counts of this mode before any framework starts; the timer.

    Returns:
        ``time.process_time`` (mode ``cpu``) or ``time.perf_counter`` (mode ``wall``).
    """
    mode = os.environ.get("BENCH_MODE", "wall")
    threads = "1" if mode == "cpu" else os.environ.get("BENCH_THREADS", "2")
    os.environ["MINIKERAS_NUM_THREADS"] = threads  # read at minikeras's first kernel call
    os.environ["BENCH_TORCH_THREADS"] = threads
    return time.process_time if mode == "cpu" else time.perf_counter


def torch_threads() -> int:
    """The thread count a PyTorch child should use (``torch.set_num_threads``)."""
    return int(os.environ.get("BENCH_TORCH_THREADS", "2"))


def uptime() -> str:
    """The machine's ``uptime`` line (load averages)."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "load average: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def run_child(cmd: list[str], mode: str) -> dict[str, float]:
    """Run one child command in ``mode``; its last stdout line, parsed as JSON."""
    env = dict(os.environ, BENCH_MODE=mode)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def alternate(children: dict[str, list[str]], rounds: int, modes=MODES) -> dict:
    """Run every child in every mode, ``rounds`` times, alternating the order each round.

    Args:
        children: Framework name -> command line.
        rounds: How many rounds.
        modes: Which clock modes to run.

    Returns:
        ``{mode: {framework: {key: [seconds per round]}}}``, printing ``uptime`` each round.
    """
    results: dict = {m: {f: {} for f in children} for m in modes}
    names = list(children)
    for r in range(rounds):
        print(f"round {r + 1}/{rounds}: {uptime()}", file=sys.stderr, flush=True)
        order = names if r % 2 == 0 else names[::-1]
        for mode in modes:
            for name in order:
                for key, value in run_child(children[name], mode).items():
                    results[mode][name].setdefault(key, []).append(value)
    print(f"end: {uptime()}", file=sys.stderr, flush=True)
    return results


def ratio_table(results: dict, keys: list[str], num: str = "minikeras", den: str = "pytorch",
                unit: float = 1e3, unit_name: str = "ms") -> str:
    """Medians over rounds and the ratio ``num / den`` for each key, one column pair per mode.

    Returns:
        The table as text (GitHub markdown).
    """
    modes = [m for m in MODES if m in results]
    head = "| measurement |"
    rule = "|---|"
    for m in modes:
        label = "1 thread, CPU" if m == "cpu" else "2 threads, wall"
        head += f" {num} {unit_name} ({label}) | {den} {unit_name} | ratio |"
        rule += "---:|---:|---:|"
    lines = [head, rule]
    for key in keys:
        line = f"| {key} |"
        for m in modes:
            a = statistics.median(results[m][num][key])
            b = statistics.median(results[m][den][key])
            line += f" {a * unit:.2f} | {b * unit:.2f} | **{a / b:.2f}** |"
        lines.append(line)
    per_round = []
    for m in modes:
        for key in keys:
            rs = [a / b for a, b in zip(results[m][num][key], results[m][den][key])]
            per_round.append(f"{m} {key}: " + " ".join(f"{x:.2f}" for x in rs))
    return "\n".join(lines) + "\n\nratio per round: " + "; ".join(per_round)
