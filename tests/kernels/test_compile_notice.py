"""The "compiling the kernels" line, and the warm-up that makes it unnecessary.

Compilation depends on numba's on-disk cache, so the end-to-end tests run fresh subprocesses
with their own empty ``NUMBA_CACHE_DIR``.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import types
from pathlib import Path

from minikeras.kernels import compile_notice

ROOT = Path(__file__).resolve().parents[2]

# One cheap kernel: compiles in well under a second.
TINY = (
    "import numpy as np\n"
    "from minikeras.kernels import optimizer_updates as o\n"
    "p, g, v = (np.ones(4, np.float32) for _ in range(3))\n"
    "o.sgd_momentum_update(p, g, v, 0.1, 0.9, False)\n"
    "print('ran', p[0])\n"
)


def _run(args, cache: Path, **env):
    full_env = dict(os.environ, PYTHONPATH=str(ROOT), NUMBA_CACHE_DIR=str(cache), **env)
    full_env.pop("NUMBA_DISABLE_JIT", None)
    full_env.pop("MINIKERAS_COMPILE_NOTICE", None)
    full_env.update(env)
    result = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=full_env, cwd=ROOT
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result


def _event(module: str):
    func = types.SimpleNamespace(__module__=module)
    return types.SimpleNamespace(data={"dispatcher": types.SimpleNamespace(py_func=func)})


def test_one_line_for_nested_kernel_compilations_and_none_for_others():
    out = io.StringIO()
    notice = compile_notice.CompileNotice(stream=out)
    notice.on_start(_event("numpy.something"))
    notice.on_end(_event("numpy.something"))
    assert out.getvalue() == ""
    kernel, callee = _event("minikeras.kernels.depthwise"), _event("minikeras.kernels.depthwise")
    notice.on_start(kernel)
    notice.on_start(callee)  # a kernel's callee compiles inside it
    notice.on_end(callee)
    notice.on_end(kernel)
    notice.wait()
    text = out.getvalue()
    assert text.startswith(compile_notice.MESSAGE)
    assert text.count(compile_notice.MESSAGE) == 1
    assert text.endswith(" s)\n") and " done (" in text
    assert notice.compiled == 1


def test_end_line_closes_an_open_line_at_once():
    out = io.StringIO()
    notice = compile_notice.CompileNotice(stream=out)
    notice.on_start(_event("minikeras.kernels.pool"))
    notice.close()  # what fit's epoch lines do before printing
    assert out.getvalue().endswith(")\n")
    notice.on_end(_event("minikeras.kernels.pool"))
    notice.wait()
    assert out.getvalue().count("\n") == 1


def test_first_compilation_says_so_once_and_a_cached_run_is_silent(tmp_path):
    cold = _run(["-c", TINY], tmp_path)
    assert "ran" in cold.stdout
    assert cold.stderr.count(compile_notice.MESSAGE) == 1, cold.stderr
    assert " done (" in cold.stderr
    warm = _run(["-c", TINY], tmp_path)
    assert "ran" in warm.stdout
    assert compile_notice.MESSAGE not in warm.stderr, warm.stderr


def test_the_notice_can_be_silenced(tmp_path):
    cold = _run(["-c", TINY], tmp_path, MINIKERAS_COMPILE_NOTICE="0")
    assert "ran" in cold.stdout
    assert compile_notice.MESSAGE not in cold.stderr


def test_warmup_compiles_what_the_demo_uses(tmp_path):
    cache = tmp_path / "cache"
    first = _run(["-m", "minikeras.kernels.warmup"], cache)
    assert "kernels compiled and cached" in first.stderr, first.stderr
    again = _run(["-m", "minikeras.kernels.warmup"], cache)
    assert "already compiled" in again.stderr, again.stderr
    demo = _run(
        ["-m", "minikeras.demo", "--epochs", "1", "--out", str(tmp_path / "m.svg")], cache
    )
    assert "Test accuracy" in demo.stdout
    assert compile_notice.MESSAGE not in demo.stderr, demo.stderr
