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


#: Feature prefixes Haswell lacks (AVX-512 and after, and the later crypto extensions);
#: :func:`avx2_environment` turns them off for numba.
_BEYOND_AVX2 = ("avx512", "amx", "avx10", "avxvnni", "avxifma", "avxneconvert", "evex512",
                "gfni", "vaes", "vpclmulqdq", "sha")


def avx2_environment() -> dict[str, str]:
    """Environment variables that hold both frameworks to AVX2 on a CPU that has AVX-512.

    For minikeras: numba compiles for Haswell with the host's features minus AVX-512 and later
    (so :func:`minikeras.kernels.lanes.wide_registers` is false and the AVX2 code paths run),
    and OpenBLAS takes its Haswell kernels. For PyTorch: oneDNN (its convolutions) at most AVX2
    (``ONEDNN_MAX_CPU_ISA``), ATen's own kernels at AVX2 (``ATEN_CPU_CAPABILITY``), MKL too.
    The issue's machine had AVX2 only; on an AVX-512 machine this measures its code paths
    (with this CPU's caches and clock, not that machine's). Numba caches these kernels beside
    the native ones: the first run compiles them.

    Returns:
        The variables, to be set before the children start.
    """
    import llvmlite.binding as llvm

    features = []
    for flag in llvm.get_host_cpu_features().flatten().split(","):
        name = flag[1:]
        features.append(("-" + name) if name.startswith(_BEYOND_AVX2) else flag)
    return {
        "NUMBA_CPU_NAME": "haswell",
        "NUMBA_CPU_FEATURES": ",".join(features),
        "OPENBLAS_CORETYPE": "Haswell",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "ATEN_CPU_CAPABILITY": "avx2",
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    }


def add_avx2_option(parser) -> None:
    """Give a benchmark's ``argparse`` parser ``--avx2`` (see :func:`apply_avx2_option`)."""
    parser.add_argument(
        "--avx2",
        action="store_true",
        help="hold both frameworks to AVX2 (numba for Haswell, oneDNN and ATen at AVX2) on a "
        "CPU with AVX-512: the issue's machine had AVX2 only",
    )


def apply_avx2_option(args) -> None:
    """With ``--avx2``, set :func:`avx2_environment` here, for the children to inherit."""
    if args.avx2:
        os.environ.update(avx2_environment())


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


#: After each block a served child waits this long before answering: an OpenMP pool (PyTorch's)
#: keeps spinning for a moment after its work, and would take a core from the other child's block.
SETTLE_SECONDS = 0.02


def serve(steps: dict[str, Callable[[], object]], timer: Callable[[], float]) -> None:
    """In a child: time its steps when the parent asks, until stdin closes (:func:`lockstep`).

    Prints ``ready``, then answers each line ``KEY CALLS`` with the median seconds of ``CALLS``
    timed calls of ``steps[KEY]``, after one untimed call (while this process waited, the other
    one may have pushed its data out of the caches).
    """
    print("ready", flush=True)
    for line in sys.stdin:
        key, calls = line.rstrip("\n").rsplit(" ", 1)
        fn = steps[key]
        fn()
        times = []
        for _ in range(int(calls)):
            start = timer()
            fn()
            times.append(timer() - start)
        time.sleep(SETTLE_SECONDS)
        print(json.dumps(statistics.median(times)), flush=True)


def lockstep(children: dict[str, list[str]], keys: list[str], blocks: int, calls: int,
             modes=MODES) -> dict:
    """Both children alive at once, taking turns block by block: the finest alternation.

    Each framework still runs in its own process, and only one of them works at a time (the
    other waits on its stdin); but they alternate every ``calls`` calls instead of every few
    seconds, so both see the same phase of a machine whose speed drifts (a shared VM's does, by
    30% over minutes). The order within each pair of blocks alternates too.

    Args:
        children: Framework name -> command line of a child that calls :func:`serve`.
        keys: The step names to time.
        blocks: How many blocks of each key per framework.
        calls: Timed calls per block.
        modes: Which clock modes to run.

    Returns:
        ``{mode: {framework: {key: [median seconds per block]}}}``, as :func:`alternate`.
    """
    results: dict = {m: {f: {k: [] for k in keys} for f in children} for m in modes}
    names = list(children)
    for mode in modes:
        print(f"{mode}: {uptime()}", file=sys.stderr, flush=True)
        env = dict(os.environ, BENCH_MODE=mode)
        procs = {
            name: subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                   env=env)
            for name, cmd in children.items()
        }
        try:
            for name, proc in procs.items():
                if proc.stdout.readline().strip() != "ready":
                    raise RuntimeError(f"{name} child did not start: {' '.join(children[name])}")
            for b in range(blocks):
                for i, key in enumerate(keys):
                    order = names if (b + i) % 2 == 0 else names[::-1]
                    for name in order:
                        proc = procs[name]
                        proc.stdin.write(f"{key} {calls}\n")
                        proc.stdin.flush()
                        results[mode][name][key].append(json.loads(proc.stdout.readline()))
        finally:
            for proc in procs.values():
                proc.stdin.close()
                proc.wait()
    print(f"end: {uptime()}", file=sys.stderr, flush=True)
    return results


def ratio_table(results: dict, keys: list[str], num: str = "minikeras", den: str = "pytorch",
                unit: float = 1e3, unit_name: str = "ms") -> str:
    """Medians over rounds, and the ratio ``num / den`` for each key, one column pair per mode.

    The ratio is the median of the rounds' ratios (each round's two figures were taken at
    nearly the same time, so a drift in the machine's speed cancels out of each ratio).

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
            ratio = statistics.median(
                x / y for x, y in zip(results[m][num][key], results[m][den][key])
            )
            line += f" {a * unit:.2f} | {b * unit:.2f} | **{ratio:.2f}** |"
        lines.append(line)
    per_round = []
    for m in modes:
        for key in keys:
            rs = [a / b for a, b in zip(results[m][num][key], results[m][den][key])]
            per_round.append(f"{m} {key}: " + " ".join(f"{x:.2f}" for x in rs))
    return "\n".join(lines) + "\n\nratio per round: " + "; ".join(per_round)
