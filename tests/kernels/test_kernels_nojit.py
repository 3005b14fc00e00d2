"""The kernels without the JIT, and what importing the package must not do.

NUMBA_DISABLE_JIT is read when numba is imported, so these run in fresh subprocesses.
"""

from __future__ import annotations

import ctypes
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(args, **env):
    full_env = dict(os.environ, PYTHONPATH=str(ROOT), **env)
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=full_env, cwd=ROOT
    )


def test_jit_tests_pass_with_jit_disabled():
    result = _run(
        [
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/kernels/test_kernels_jit.py",
            "tests/kernels/test_kernels_pool_gather.py",
            "-k",
            "twin or ties or cast",
        ],
        NUMBA_DISABLE_JIT="1",
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    passed = re.search(r"(\d+) passed", result.stdout)
    assert passed and int(passed.group(1)) >= 5, result.stdout[-500:]


def test_kernels_are_plain_python_with_jit_disabled():
    code = (
        "import types\n"
        "from minikeras.kernels import depthwise\n"
        "assert isinstance(depthwise._forward_rows, types.FunctionType)\n"
        "print('plain')\n"
    )
    result = _run(["-c", code], NUMBA_DISABLE_JIT="1")
    assert result.returncode == 0, result.stderr
    assert "plain" in result.stdout


def test_importing_minikeras_does_not_import_numba():
    code = (
        "import sys, minikeras, minikeras.kernels, minikeras.backend.conv\n"
        "print('numba' in sys.modules)\n"
    )
    result = _run(["-c", code])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


_THREADS_REPORT = (
    "import ctypes, numpy as np, numba\n"
    "blas = [l.split()[-1] for l in open('/proc/self/maps') if 'openblas' in l.lower()]\n"
    "get = getattr(ctypes.CDLL(blas[0]), 'scipy_openblas_get_num_threads64_', None)\n"
    "before = get() if get else -1\n"
    "from minikeras import kernels\n"
    # big enough for the parallel path (small problems run serially and start no thread pool)
    "kernels.depthwise_conv2d_forward(np.ones((1, 600, 600, 1)), np.ones((1, 1, 1, 1)))\n"
    "after = get() if get else -1\n"
    "print(numba.threading_layer(), numba.get_num_threads(), before, after)\n"
)


def _clean_env():
    # The defaults only apply when the user has not chosen; start from a clean slate.
    names = (
        "NUMBA_THREADING_LAYER",
        "OPENBLAS_NUM_THREADS",
        "OMP_NUM_THREADS",
        "MINIKERAS_BLAS_THREADS",
        "MINIKERAS_NUM_THREADS",
        "MINIKERAS_THREADING_LAYER",
    )
    return {k: v for k, v in os.environ.items() if k not in names}


def _run_clean(**env):
    full_env = dict(_clean_env(), PYTHONPATH=str(ROOT), **env)
    return subprocess.run(
        [sys.executable, "-c", _THREADS_REPORT], capture_output=True, text=True, env=full_env
    )


def _tbb_loads() -> bool:
    for candidate in ("libtbb.so.12", os.path.join(sys.prefix, "lib", "libtbb.so.12")):
        try:
            ctypes.CDLL(candidate)
        except OSError:
            continue
        return True
    return False


def test_threading_defaults():
    result = _run_clean()
    assert result.returncode == 0, result.stderr
    layer, _, blas_before, blas_after = result.stdout.split()
    # TBB when its library loads (the tbb wheel on Linux x86-64), numba's workqueue otherwise
    assert layer == ("tbb" if _tbb_loads() else "workqueue")
    if blas_before != "-1":  # numpy's bundled OpenBLAS: limited to one thread
        assert blas_after == "1"


def test_threading_user_choices_win():
    result = _run_clean(
        NUMBA_THREADING_LAYER="omp", MINIKERAS_NUM_THREADS="1", MINIKERAS_BLAS_THREADS="0"
    )
    assert result.returncode == 0, result.stderr
    layer, threads, blas_before, blas_after = result.stdout.split()
    assert (layer, threads) == ("omp", "1")
    assert blas_after == blas_before  # 0 = leave OpenBLAS alone
