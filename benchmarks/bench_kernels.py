"""Benchmark minikeras's separable_conv2d against PyTorch (CPU, channels_last) and numpy.

Times, in one process, forward and forward+backward (gradients for the input, the depthwise
kernel, the pointwise kernel and the bias) of a depthwise 3x3 (or 5x5) convolution followed by a
1x1 convolution plus bias, on the four workloads of issue 3. Prints medians and the ratio
minikeras / PyTorch (when torch is importable) and minikeras / numpy reference. Then measures the
first call in a fresh process (warm numba cache), ``import minikeras`` time, and the peak memory
of one W1 forward+backward step.

Usage::

    python benchmarks/bench_kernels.py --vs-torch      # minikeras and PyTorch in separate
                                                       # processes, alternated, both clock modes
    python benchmarks/bench_kernels.py --vs-torch --rounds 5 --modes cpu --workloads W1 W2
    python benchmarks/bench_kernels.py --vs-torch --lockstep --rounds 20 --repeat 10
    python benchmarks/bench_kernels.py --before /tmp/old --rounds 20   # this checkout against
                                                       # another one's minikeras/, in lockstep
    python benchmarks/bench_kernels.py                 # one process: everything, numpy too
    python benchmarks/bench_kernels.py --repeat 50 --workloads W1 W2
    python benchmarks/bench_kernels.py --skip-extras   # only the table

``--vs-torch`` is the comparison to quote (issue 17): each framework runs in its own process
(two thread pools in one process distort each other), the two alternate over ``--rounds``
rounds, and ratios are printed for one thread / CPU time and two threads / wall time, with
``uptime`` each round (see ``benchmarks/_separate.py``). The one-process table below remains for
the numpy column and quick looks.

``--before DIR`` measures a change: minikeras from this checkout against minikeras from ``DIR``
(a directory holding an older ``minikeras/`` package, e.g. a ``git worktree``), each in its own
process, in lockstep, both clock modes; ratios are after / before. Warm both numba caches first
(one run each), or the first blocks time compilation.

Measurements alternate between the frameworks in blocks, so a noisy neighbour on the machine slows
all of them alike instead of whichever happened to run at that moment. The output gradient (all
ones) is made once, outside the timed steps, for every framework.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# --before's child imports minikeras from the other checkout (BENCH_MINIKERAS_FROM)
sys.path.insert(0, os.environ.get("BENCH_MINIKERAS_FROM") or str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import _separate  # noqa: E402

from minikeras.autograd import GradientTape, Tensor  # noqa: E402
from minikeras.backend.conv import separable_conv2d  # noqa: E402
from minikeras.kernels import reference as ref  # noqa: E402
from minikeras.kernels.padding import explicit_pads  # noqa: E402

# name: (batch, size, channels, depth_multiplier, filters, kernel, stride, padding)
WORKLOADS = {
    "W1": (32, 32, 32, 1, 64, 3, 1, "same"),
    "W2": (64, 16, 128, 1, 128, 3, 1, "same"),
    "W3": (16, 64, 16, 2, 32, 3, 2, "valid"),
    "W4": (128, 8, 64, 1, 64, 5, 1, "same"),
}


def make_arrays(spec, seed=0):
    n, size, c, dm, f, k, _, _ = spec
    rng = np.random.default_rng(seed)
    return (
        rng.standard_normal((n, size, size, c), dtype=np.float32),
        rng.standard_normal((k, k, c, dm), dtype=np.float32) * 0.3,
        rng.standard_normal((1, 1, c * dm, f), dtype=np.float32) * 0.1,
        rng.standard_normal((f,), dtype=np.float32),
    )


# ------------------------------------------------------------------------------ minikeras


def minikeras_steps(spec, arrays):
    _, _, _, _, _, _, s, pad = spec
    x, dk, pk, b = (Tensor(a) for a in arrays)

    def forward():
        return separable_conv2d(x, dk, pk, strides=s, padding=pad, bias=b)

    seed = np.ones(forward().shape, np.float32)

    def forward_backward():
        with GradientTape() as tape:
            tape.watch([x, dk, pk, b])
            z = separable_conv2d(x, dk, pk, strides=s, padding=pad, bias=b)
        return tape.gradient(z, [x, dk, pk, b], output_gradients=seed)

    return forward, forward_backward


# ------------------------------------------------------------------------------ numpy


def numpy_steps(spec, arrays):
    _, size, c, dm, f, k, s, pad = spec
    x, dk, pk, b = arrays
    strides = (s, s)
    pads = explicit_pads(pad, (size, size), (k, k), strides, (1, 1))
    p2 = pk.reshape(c * dm, f)

    def forward():
        y = ref.depthwise_conv2d_forward(x, dk, strides, (1, 1), pads)
        return y @ p2 + b

    g = np.ones_like(forward())

    def forward_backward():
        y = ref.depthwise_conv2d_forward(x, dk, strides, (1, 1), pads)
        z = y @ p2 + b  # the forward output, as the other frameworks compute it too
        gb = g.reshape(-1, f).sum(axis=0)
        gp = y.reshape(-1, c * dm).T @ g.reshape(-1, f)
        gy = g @ p2.T
        gx = ref.depthwise_conv2d_grad_input(gy, dk, x.shape, strides, (1, 1), pads)
        gk = ref.depthwise_conv2d_grad_kernel(x, gy, dk.shape, strides, (1, 1), pads)
        return z, (gx, gk, gp, gb)

    return forward, forward_backward


# ------------------------------------------------------------------------------ torch


def torch_steps(spec, arrays, torch):
    _, _, c, _, _, k, s, pad = spec
    x0, dk0, pk0, b0 = arrays
    cl = torch.channels_last
    x = torch.from_numpy(x0).permute(0, 3, 1, 2).contiguous(memory_format=cl).requires_grad_()
    # torch depthwise weight: (C*dm, 1, kh, kw), output channel c*dm + m, same order as Keras.
    dk = torch.from_numpy(dk0).permute(2, 3, 0, 1).reshape(-1, 1, k, k).contiguous()
    dk.requires_grad_()
    pk = torch.from_numpy(pk0).permute(3, 2, 0, 1).contiguous(memory_format=cl).requires_grad_()
    b = torch.from_numpy(b0).clone().requires_grad_()
    padding = "same" if pad == "same" and s == 1 else 0
    if pad == "same" and s > 1:
        raise ValueError("strided 'same' needs TF-style asymmetric padding; not in the workloads")
    conv = torch.nn.functional.conv2d

    def forward():
        with torch.no_grad():
            return conv(conv(x, dk, stride=s, padding=padding, groups=c), pk, b)

    seed = torch.ones_like(forward())

    def forward_backward():
        z = conv(conv(x, dk, stride=s, padding=padding, groups=c), pk, b)
        return torch.autograd.grad(z, [x, dk, pk, b], grad_outputs=seed)

    return forward, forward_backward


def load_torch(threads):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


# ------------------------------------------------------------------------------ timing


TIMER = time.perf_counter  # --cpu-time switches to time.process_time


def interleaved_medians(candidates, repeat, warmup, rounds=3):
    """Median seconds per candidate, running them in turn, in blocks of ``repeat // rounds``.

    Blocks rather than single calls: after a call, the other framework's idle thread pool may
    still be spinning for a moment, which would slow whichever runs next. Several rounds
    spread a noisy neighbour's bursts over all candidates alike.
    """
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in candidates}
    block = max(1, repeat // rounds)
    for _ in range(rounds):
        for name, fn in candidates.items():
            for _ in range(block):
                start = TIMER()
                fn()
                times[name].append(TIMER() - start)
    return {name: float(np.median(t)) for name, t in times.items()}


def check_agreement(spec, arrays, torch):
    """The frameworks must compute the same thing, or the timing means nothing."""
    mk_f, mk_fb = minikeras_steps(spec, arrays)
    np_f, np_fb = numpy_steps(spec, arrays)
    scale = lambda a: max(1.0, float(np.abs(a).max()))  # noqa: E731
    z_mk, z_np = mk_f().numpy(), np_f()
    assert np.abs(z_mk - z_np).max() < 1e-3 * scale(z_np), "minikeras forward != numpy"
    for g_mk, g_np in zip(mk_fb(), np_fb()[1]):
        g_mk = g_mk.numpy() if hasattr(g_mk, "numpy") else g_mk
        assert np.abs(g_mk - g_np).max() < 1e-3 * scale(g_np), "minikeras gradient != numpy"
    if torch is not None:
        t_f, _ = torch_steps(spec, arrays, torch)
        z_t = t_f().permute(0, 2, 3, 1).numpy()
        assert np.abs(z_t - z_np).max() < 1e-3 * scale(z_np), "torch forward != numpy"


def run_table(names, repeat, warmup, threads, with_numpy=True):
    torch = load_torch(threads)
    rows = []
    for name in names:
        spec = WORKLOADS[name]
        arrays = make_arrays(spec)
        check_agreement(spec, arrays, torch)
        mk = minikeras_steps(spec, arrays)
        npy = numpy_steps(spec, arrays)
        th = torch_steps(spec, arrays, torch) if torch is not None else None
        for phase, index in (("fwd", 0), ("fwd+bwd", 1)):
            candidates = {"minikeras": mk[index]}
            if th is not None:
                candidates["torch"] = th[index]
            result = interleaved_medians(candidates, repeat, warmup)
            if with_numpy:  # 10-100x slower: a few repetitions are enough
                result["numpy"] = interleaved_medians(
                    {"numpy": npy[index]}, max(3, repeat // 10), 1, rounds=1
                )["numpy"]
            rows.append((name, phase, result))
    print_table(rows, torch is not None)
    return rows


def print_table(rows, with_torch):
    head = f"{'workload':8} {'phase':8} {'minikeras ms':>12}"
    if with_torch:
        head += f" {'torch ms':>9} {'mk/torch':>8}"
    if rows and "numpy" in rows[0][2]:
        head += f" {'numpy ms':>9} {'mk/numpy':>8}"
    print(head)
    print("-" * len(head))
    for name, phase, r in rows:
        line = f"{name:8} {phase:8} {1e3 * r['minikeras']:12.2f}"
        if with_torch:
            line += f" {1e3 * r['torch']:9.2f} {r['minikeras'] / r['torch']:8.2f}"
        if "numpy" in r:
            line += f" {1e3 * r['numpy']:9.2f} {r['minikeras'] / r['numpy']:8.3f}"
        print(line)


# ------------------------------------------------------------------------------ extras

_COLD = """
import time, numpy as np
t0 = time.perf_counter()
import minikeras
from minikeras.autograd import GradientTape, Tensor
from minikeras.backend.conv import separable_conv2d
t1 = time.perf_counter()
rng = np.random.default_rng(0)
x = Tensor(rng.standard_normal((32, 32, 32, 32), dtype=np.float32))
dk = Tensor(rng.standard_normal((3, 3, 32, 1), dtype=np.float32))
pk = Tensor(rng.standard_normal((1, 1, 32, 64), dtype=np.float32))
b = Tensor(np.zeros(64, np.float32))
t2 = time.perf_counter()
with GradientTape() as tape:
    tape.watch([x, dk, pk, b])
    z = separable_conv2d(x, dk, pk, padding="same", bias=b)
tape.gradient(z, [x, dk, pk, b], output_gradients=np.ones(z.shape, np.float32))
t3 = time.perf_counter()
print(f"{t1 - t0:.4f} {t3 - t2:.4f}")
"""

_IMPORT = "import time; t = time.perf_counter(); import minikeras; print(time.perf_counter() - t)"


def run_python(code):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    return [float(v) for v in out.stdout.split()]


def cold_start():
    run_python(_COLD)  # make sure the numba cache is warm (compiles on a first-ever run)
    firsts = sorted(run_python(_COLD)[1] for _ in range(3))
    imports = sorted(run_python(_IMPORT)[0] for _ in range(5))
    print(f"first W1 fwd+bwd in a fresh process, warm cache: median {firsts[1]:.3f} s")
    print(f"import minikeras: median {imports[2]:.3f} s (min {imports[0]:.3f} s)")


def peak_memory():
    spec = WORKLOADS["W1"]
    arrays = make_arrays(spec)
    _, step = minikeras_steps(spec, arrays)
    step()  # compile and warm up outside the measurement
    tracemalloc.start()
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    grads = step()
    peak = tracemalloc.get_traced_memory()[1] - before
    tracemalloc.stop()
    n, size, c, dm, f, _, _, _ = spec
    pixels = n * size * size * 4  # float32 bytes per channel
    # What any implementation must hold at once during backward: the depthwise output y
    # (saved for the pointwise kernel gradient), the output gradient, the gradient w.r.t. y,
    # and the input gradient being produced -- plus the returned output itself.
    needed = pixels * (c * dm + f + f + c * dm + c)
    print(
        f"peak memory of one W1 fwd+bwd step: {peak / 2**20:.1f} MiB traced "
        f"(minimum about {needed / 2**20:.1f} MiB: y, z, dz, dy, dx); "
        f"{len(grads)} gradients returned"
    )


def child_steps(framework: str, names: list[str]) -> dict:
    """In a child: ``{"W1 fwd": fn, ...}`` for one framework, each checked against numpy."""
    torch = load_torch(_separate.torch_threads()) if framework == "pytorch" else None
    steps = {}
    for name in names:
        spec = WORKLOADS[name]
        arrays = make_arrays(spec)
        if framework == "pytorch":
            fwd, fwd_bwd = torch_steps(spec, arrays, torch)
            z = fwd().permute(0, 2, 3, 1).numpy()
        else:
            fwd, fwd_bwd = minikeras_steps(spec, arrays)
            z = fwd().numpy()
        # each child checks its forward against the numpy twins, or the timing means nothing
        z_np = numpy_steps(spec, arrays)[0]()
        assert np.abs(z - z_np).max() < 1e-3 * max(1.0, float(np.abs(z_np).max())), name
        steps[f"{name} fwd"], steps[f"{name} fwd+bwd"] = fwd, fwd_bwd
    return steps


def child(framework: str, names: list[str], repeat: int, warmup: int) -> dict[str, float]:
    """One framework alone in this process: median seconds per ``"W1 fwd"``-style key."""
    global TIMER
    TIMER = _separate.child_setup()
    return {
        key: interleaved_medians({framework: fn}, repeat, warmup)[framework]
        for key, fn in child_steps(framework, names).items()
    }


def vs_torch(names: list[str], repeat: int, warmup: int, rounds: int, modes: list[str],
             lockstep: bool = False) -> None:
    """The separate-process comparison: children alternated over rounds, both clock modes.

    With ``lockstep``, both children stay alive and take turns every ``repeat`` calls, for
    ``rounds`` blocks of each measurement (:func:`_separate.lockstep`).
    """
    keys = [f"{n} {p}" for n in names for p in ("fwd", "fwd+bwd")]
    if lockstep:
        children = {fw: [sys.executable, __file__, "--serve", fw, "--workloads", *names]
                    for fw in ("minikeras", "pytorch")}
        results = _separate.lockstep(children, keys, rounds, repeat, modes)
        what = f"{rounds} blocks of {repeat} calls, the two processes taking turns"
    else:
        common = ["--workloads", *names, "--repeat", str(repeat), "--warmup", str(warmup)]
        children = {fw: [sys.executable, __file__, "--child", fw, *common]
                    for fw in ("minikeras", "pytorch")}
        results = _separate.alternate(children, rounds, modes)
        what = f"{rounds} rounds of {repeat} calls"
    print(f"\nseparable_conv2d, medians over {what} (ms); "
          "ratio = minikeras / PyTorch channels_last, the median of the rounds' ratios")
    print(_separate.ratio_table(results, keys))


def vs_before(before: str, names: list[str], repeat: int, rounds: int, modes: list[str]) -> None:
    """This checkout's minikeras against ``before``'s, two processes in lockstep.

    Ratios are after (this checkout) / before.
    """
    keys = [f"{n} {p}" for n in names for p in ("fwd", "fwd+bwd")]
    serve = [sys.executable, __file__, "--serve", "minikeras", "--workloads", *names]
    children = {"after": serve, "before": ["env", f"BENCH_MINIKERAS_FROM={before}", *serve]}
    results = _separate.lockstep(children, keys, rounds, repeat, modes)
    print(f"\nseparable_conv2d, medians over {rounds} blocks of {repeat} calls (ms); "
          f"ratio = this checkout / {before}, the median of the blocks' ratios")
    print(_separate.ratio_table(results, keys, num="after", den="before"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vs-torch", action="store_true",
                        help="separate processes, alternated, both clock modes (issue 17)")
    parser.add_argument("--rounds", type=int, default=3, help="with --vs-torch")
    parser.add_argument("--modes", nargs="+", default=list(_separate.MODES),
                        choices=_separate.MODES, help="with --vs-torch")
    parser.add_argument("--lockstep", action="store_true",
                        help="with --vs-torch: both processes alive, taking turns every --repeat "
                        "calls, --rounds blocks (the steadiest ratios on a drifting machine)")
    parser.add_argument("--before", metavar="DIR",
                        help="this checkout's minikeras against DIR's (DIR/minikeras), in "
                        "lockstep: --rounds blocks of --repeat calls")
    parser.add_argument("--child", choices=("minikeras", "pytorch"), help=argparse.SUPPRESS)
    parser.add_argument("--serve", choices=("minikeras", "pytorch"), help=argparse.SUPPRESS)
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--torch-threads", type=int, default=2)
    parser.add_argument("--skip-extras", action="store_true", help="only the timing table")
    parser.add_argument("--no-numpy", action="store_true", help="skip the (slow) numpy reference")
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="one thread everywhere and CPU time instead of wall time: a comparison of the "
        "work each framework does that other jobs on the machine barely disturb",
    )
    _separate.add_avx2_option(parser)
    args = parser.parse_args()
    _separate.apply_avx2_option(args)
    if args.child:
        import json

        print(json.dumps(child(args.child, args.workloads, args.repeat, args.warmup)))
        return
    if args.serve:
        import minikeras

        source = os.environ.get("BENCH_MINIKERAS_FROM")
        if source and not minikeras.__file__.startswith(str(Path(source).resolve())):
            sys.exit(f"{source} has no minikeras/: imported {minikeras.__file__}")
        timer = _separate.child_setup()
        steps = child_steps(args.serve, args.workloads)
        for fn in steps.values():  # warm up (compiles) before the first block
            for _ in range(args.warmup):
                fn()
        _separate.serve(steps, timer)
        return
    if args.before:
        vs_before(args.before, args.workloads, args.repeat, args.rounds, args.modes)
        return
    if args.vs_torch:
        vs_torch(args.workloads, args.repeat, args.warmup, args.rounds, args.modes, args.lockstep)
        return
    global TIMER
    if args.cpu_time:
        TIMER = time.process_time
        args.torch_threads = 1
        os.environ["MINIKERAS_NUM_THREADS"] = "1"  # read at minikeras's first kernel call
    # torch first, so it starts with its own defaults: minikeras's first kernel call may set
    # OMP_WAIT_POLICY (for numba's OpenMP layer), which torch's OpenMP would otherwise pick up.
    load_torch(args.torch_threads)
    from minikeras.kernels.threads import num_threads

    env = {k: v for k, v in os.environ.items() if k.startswith(("NUMBA_", "OMP_", "OPENBLAS_"))}
    print(f"numba threads: {num_threads()}, env: {env or 'defaults'}")
    print(f"load average before: {os.getloadavg()[0]:.2f} (other processes skew timings)")
    run_table(args.workloads, args.repeat, args.warmup, args.torch_threads, not args.no_numpy)
    import numba

    print(f"numba threading layer: {numba.threading_layer()}")
    if not args.skip_extras:
        cold_start()
        peak_memory()


if __name__ == "__main__":
    main()
