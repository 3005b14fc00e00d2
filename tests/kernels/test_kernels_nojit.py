"""The kernels without the JIT, and what importing the package must not do.

NUMBA_DISABLE_JIT is read when numba is imported, so these run in fresh subprocesses.
"""

from __future__ import annotations

import os
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
        ["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/kernels/test_kernels_jit.py",
         "-k", "twin or ties or cast"],
        NUMBA_DISABLE_JIT="1",
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "4 passed" in result.stdout or "5 passed" in result.stdout, result.stdout[-500:]


def test_kernels_are_plain_python_with_jit_disabled():
    code = (
        "import types\n"
        "from minikeras.kernels import depthwise\n"
        "assert isinstance(depthwise._forward_stream, types.FunctionType)\n"
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


def test_threading_default_and_user_override():
    code = (
        "import numpy as np, numba\n"
        "from minikeras import kernels\n"
        "kernels.depthwise_conv2d_forward(np.ones((1, 3, 3, 1)), np.ones((1, 1, 1, 1)))\n"
        "print(numba.threading_layer(), numba.get_num_threads())\n"
    )
    default = _run(["-c", code])
    assert default.returncode == 0, default.stderr
    assert default.stdout.split()[0] == "workqueue"
    user = _run(["-c", code], NUMBA_THREADING_LAYER="omp", MINIKERAS_NUM_THREADS="1")
    assert user.returncode == 0, user.stderr
    assert user.stdout.split() == ["omp", "1"]
