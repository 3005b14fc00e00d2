"""What loading the JIT kernels does to the process: no scipy import, numba's BLAS still there."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CODE = """
import sys
import numpy as np
from minikeras.kernels import optimizer_updates as o
p, g, v = (np.ones(4, np.float32) for _ in range(3))
o.sgd_momentum_update(p, g, v, 0.1, 0.9, False)
print("scipy.linalg loaded:", "scipy.linalg" in sys.modules)
import numba
@numba.njit
def f(a, b):
    return np.dot(a, b), np.convolve(a, b)[1]
print("user numba BLAS:", f(np.arange(3.0), np.arange(3.0)))
"""


@pytest.mark.skipif(importlib.util.find_spec("scipy") is None, reason="scipy not installed")
def test_kernels_skip_numbas_scipy_probe_and_user_blas_code_still_works():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("NUMBA_DISABLE_JIT", None)
    result = subprocess.run(
        [sys.executable, "-c", CODE], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "scipy.linalg loaded: False" in result.stdout
    assert "user numba BLAS: (5.0, 0.0)" in result.stdout


def test_load_tbb_says_no_without_a_tbb_library(monkeypatch):
    # no libtbb anywhere (or not Linux): False, and configure() then keeps numba's workqueue
    import ctypes

    from minikeras.kernels import threads

    def missing(name, *args, **kwargs):
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(ctypes, "CDLL", missing)
    assert threads.load_tbb() is False
    monkeypatch.setattr(sys, "platform", "darwin")
    assert threads.load_tbb() is False


@pytest.mark.parametrize("layer, cheap", [("tbb", True), ("omp", True), ("workqueue", False)])
def test_python_pool_kept_where_numba_loops_start_slowly(monkeypatch, layer, cheap):
    from minikeras.kernels import threads

    threads.configure()
    monkeypatch.setattr(threads._numba.config, "THREADING_LAYER", layer)
    assert threads.cheap_parallel_loops() is cheap
