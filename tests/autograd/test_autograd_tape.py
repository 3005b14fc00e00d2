"""GradientTape semantics and graph regressions."""

from __future__ import annotations

import gc
import sys
import weakref

import numpy as np
import pytest

from minikeras.autograd import GradientTape, Tensor, Variable, no_grad, ops
from minikeras.autograd.tape import STATE


def watched(*values, dtype=np.float64):
    return [Tensor(np.asarray(v, dtype=dtype)) for v in values]


# ---------------------------------------------------------------- graph regressions

def test_x_plus_x_times_x():
    (x,) = watched([1.0, 2.0, -3.0])
    with GradientTape() as tape:
        tape.watch(x)
        y = (x + x) * x
    np.testing.assert_allclose(tape.gradient(y, x), 4 * x.numpy())  # d(2x²)/dx


def test_diamond():
    (x,) = watched(0.7)
    with GradientTape() as tape:
        tape.watch(x)
        a = x * 3.0
        b = ops.exp(a)
        c = a * a
        y = b + c
    # y = exp(3x) + 9x²: both paths from `a` must add up
    np.testing.assert_allclose(tape.gradient(y, x), 3 * np.exp(2.1) + 18 * 0.7)


def test_chain_of_10000_ops_at_default_recursion_limit():
    assert sys.getrecursionlimit() <= 10000
    (x,) = watched(1.0)
    with GradientTape() as tape:
        tape.watch(x)
        y = x
        for _ in range(10_000):
            y = y * 1.0001
    assert len(tape) == 10_000
    np.testing.assert_allclose(tape.gradient(y, x), 1.0001 ** 10_000, rtol=1e-9)


def test_persistent_tape_used_twice_and_with_different_targets():
    (x,) = watched([1.0, 2.0])
    with GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x
        z = y * x
    g1 = tape.gradient(y, x)
    g2 = tape.gradient(y, x)
    g3 = tape.gradient(z, x)
    np.testing.assert_allclose(g1, [2, 4])
    np.testing.assert_allclose(g2, [2, 4])
    np.testing.assert_allclose(g3, [3, 12])
    assert g1 is not g2


def test_non_persistent_tape_refuses_second_call():
    (x,) = watched(2.0)
    with GradientTape() as tape:
        tape.watch(x)
        y = x * x
    tape.gradient(y, x)
    with pytest.raises(RuntimeError, match="non-persistent GradientTape.*persistent=True"):
        tape.gradient(y, x)


def test_nested_tapes_each_see_their_own_ops():
    (x,) = watched(3.0)
    with GradientTape() as outer:
        outer.watch(x)
        with GradientTape() as inner:
            inner.watch(x)
            y = x * x
        dy = inner.gradient(y, x)  # non-persistent inner: must not break the outer tape
        z = y * x
    # TensorFlow 2: the outer tape, recording, also holds the ops that computed dy (two
    # Multiply and an Add) between its own two Multiply; the inner one released its record
    assert [r.op_name for r in outer.records] == ["Multiply", "Multiply", "Multiply", "Add",
                                                  "Multiply"]
    assert len(inner.records) == 0
    np.testing.assert_allclose(dy, 6.0)
    np.testing.assert_allclose(outer.gradient(z, x), 27.0)  # d(x³)/dx


def test_inner_tape_does_not_record_ops_on_tensors_it_does_not_watch():
    a, b = watched(1.0, 2.0)
    with GradientTape() as outer:
        outer.watch(a)
        with GradientTape() as inner:
            inner.watch(b)
            y = a * 2.0
            z = b * 3.0
    assert len(outer.records) == 1 and outer.records[0].output is y
    assert len(inner.records) == 1 and inner.records[0].output is z
    with pytest.raises(ValueError, match="not computed on this tape"):
        inner.gradient(y, a)


def test_no_grad_records_nothing_and_restores():
    (x,) = watched(1.0)
    with GradientTape() as tape:
        tape.watch(x)
        with no_grad():
            y = x * 2.0
            assert STATE.active == []
        z = x * 2.0
    assert len(tape) == 1 and tape.records[0].output is z
    assert STATE.enabled and STATE.active == [] and STATE.tapes == []
    with pytest.raises(ValueError, match="not computed on this tape"):
        tape.gradient(y, x)


def test_no_grad_as_decorator():
    (x,) = watched(1.0)

    @no_grad()
    def f(t):
        return t * t

    with GradientTape() as tape:
        tape.watch(x)
        f(x)
    assert len(tape) == 0


def test_stop_recording():
    (x,) = watched(2.0)
    with GradientTape() as tape:
        tape.watch(x)
        y = x * x
        with tape.stop_recording():
            z = y * 10.0
            assert STATE.active == []
        w = y * x
    assert len(tape) == 2
    np.testing.assert_allclose(tape.gradient(w, x), 12.0)
    with pytest.raises(RuntimeError, match="stop_recording: the tape is not recording"):
        with tape.stop_recording():
            pass
    del z


def test_trainable_variables_are_watched_automatically():
    w = Variable([1.0, 2.0], name="w")
    frozen = Variable([3.0, 4.0], trainable=False, name="frozen")
    with GradientTape() as tape:
        y = (w * frozen).sum()
    gw, gf = tape.gradient(y, [w, frozen])
    np.testing.assert_allclose(gw, [3, 4])
    assert gf is None
    (only,) = tape.watched_variables()
    assert only is w
    with GradientTape(watch_accessed_variables=False) as tape:
        y = (w * w).sum()
    assert len(tape) == 0


def test_watch_of_non_float_raises():
    with GradientTape() as tape:
        with pytest.raises(TypeError, match="only floating tensors.*int64"):
            tape.watch(Tensor(np.array([1, 2])))
        with pytest.raises(TypeError, match="expected a minikeras Tensor, got ndarray"):
            tape.watch(np.zeros(2))


def test_unconnected_gradients_none_and_zero():
    x, u = watched([1.0, 2.0], [[5.0]])
    with GradientTape(persistent=True) as tape:
        tape.watch([x, u])
        y = (x * 2.0).sum()
    assert tape.gradient(y, [x, u])[1] is None
    gz = tape.gradient(y, [x, u], unconnected_gradients="zero")[1]
    np.testing.assert_array_equal(gz, np.zeros((1, 1)))
    assert gz.dtype == np.float64
    with pytest.raises(ValueError, match="unconnected_gradients must be 'none' or 'zero', "
                                         "got 'zeros'"):
        tape.gradient(y, x, unconnected_gradients="zeros")


def test_source_structures_dict_tuple_list_single():
    a, b = watched(1.0, [2.0, 3.0])
    with GradientTape(persistent=True) as tape:
        tape.watch([a, b])
        y = a * b.sum()
    as_dict = tape.gradient(y, {"a": a, "b": b})
    assert isinstance(as_dict, dict) and list(as_dict) == ["a", "b"]
    np.testing.assert_allclose(as_dict["a"], 5.0)
    as_tuple = tape.gradient(y, (a, b))
    assert isinstance(as_tuple, tuple) and len(as_tuple) == 2
    as_list = tape.gradient(y, [b])
    assert isinstance(as_list, list)
    np.testing.assert_allclose(as_list[0], [1.0, 1.0])
    single = tape.gradient(y, b)
    assert isinstance(single, Tensor) and single.shape == (2,)
    assert isinstance(single.numpy(), np.ndarray)


def test_output_gradients_seed_the_sweep():
    (x,) = watched([1.0, 2.0, 3.0])
    with GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x
    seed = np.array([1.0, 0.0, 2.0])
    g = tape.gradient(y, x, output_gradients=seed)
    np.testing.assert_allclose(g, [2.0, 0.0, 12.0])
    g.numpy()[...] = -1  # the returned array is ours; the caller's seed is untouched
    np.testing.assert_array_equal(seed, [1.0, 0.0, 2.0])
    with pytest.raises(ValueError, match=r"output_gradients has shape \(2,\).*shape \(3,\)"):
        tape.gradient(y, x, output_gradients=np.ones(2))


def test_list_of_targets_is_summed_and_nonscalar_target_is_summed():
    (x,) = watched([1.0, 2.0])
    with GradientTape(persistent=True) as tape:
        tape.watch(x)
        y1 = x * 3.0
        y2 = x * x
    np.testing.assert_allclose(tape.gradient([y1, y2], x), [5.0, 7.0])
    np.testing.assert_allclose(tape.gradient([y1, y2], x, output_gradients=[np.ones(2),
                                                                            np.zeros(2)]),
                               [3.0, 3.0])
    np.testing.assert_allclose(tape.gradient(y1, x), [3.0, 3.0])


def test_gradient_of_source_itself_is_ones():
    (x,) = watched([1.0, 2.0])
    with GradientTape() as tape:
        tape.watch(x)
    np.testing.assert_array_equal(tape.gradient(x, x), [1.0, 1.0])


def test_returned_gradients_are_writable_and_not_shared():
    a, b = watched([1.0, 2.0], [3.0, 4.0])
    with GradientTape() as tape:
        tape.watch([a, b])
        y = (a + b).sum()  # Add hands the same array to both inputs; Sum a broadcast view
    ga, gb = tape.gradient(y, [a, b])
    assert ga is not gb
    ga += 1  # would raise on a read-only broadcast view
    np.testing.assert_array_equal(gb, [1.0, 1.0])


def test_broadcast_gradient_is_reduced_to_input_shape_and_dtype():
    x = Tensor(np.ones((1, 3), dtype=np.float32))
    with GradientTape() as tape:
        tape.watch(x)
        y = x * np.ones((4, 1, 3))  # float64 constant: output float64
    g = tape.gradient(y, x)
    assert g.shape == (1, 3) and g.dtype == np.float32
    np.testing.assert_array_equal(g, [[4, 4, 4]])


def test_integer_cast_stops_the_gradient():
    (x,) = watched([1.5, 2.5])
    with GradientTape() as tape:
        tape.watch(x)
        i = ops.cast(x, np.int32)
        y = x * 2.0
    assert i.dtype == np.int32 and len(tape) == 1
    np.testing.assert_allclose(tape.gradient(y, x), [2.0, 2.0])


# ---------------------------------------------------------------- memory

def test_non_persistent_gradient_releases_saved_arrays():
    x = Variable(np.ones((100,)))
    with GradientTape() as tape:
        h = x * 2.0
        y = (h * h).sum()
    records = tape.records
    ctxs = [r.ctx for r in records]
    saved = weakref.ref(ctxs[1].saved[0])  # the array Multiply kept (h's data)
    assert any(c.saved for c in ctxs)
    tape.gradient(y, x)
    assert all(len(c.saved) == 0 and c.released for c in ctxs)
    assert len(tape) == 0 and tape.records == []
    del records, ctxs, h, y
    gc.collect()
    assert saved() is None  # nothing holds h's data any more
    (only,) = tape.watched_variables()
    assert only is x


def test_persistent_tape_keeps_saved_arrays_until_reset():
    (x,) = watched([1.0, 2.0])
    with GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x
    ctx = tape.records[0].ctx
    tape.gradient(y, x)
    assert len(ctx.saved) == 2
    tape.reset()
    assert ctx.released and len(tape) == 0


def test_tapes_leave_no_global_state_behind():
    (x,) = watched(1.0)
    with pytest.raises(ZeroDivisionError):
        with GradientTape() as tape:
            tape.watch(x)
            raise ZeroDivisionError("inside the tape")
    assert STATE.tapes == [] and STATE.active == []
    with pytest.raises(RuntimeError, match="already open"):
        with tape:
            with tape:
                pass
    assert STATE.tapes == []


# ---------------------------------------------------------------- inspection

def test_listing_names_ops_and_shapes():
    w = Variable(np.ones((3, 2)), name="w")
    x = Tensor(np.ones((4, 3)))
    with GradientTape() as tape:
        y = ops.relu(x @ w).sum()
    text = str(tape)
    lines = text.splitlines()
    assert lines[0] == "<GradientTape: 3 ops, persistent=False>"
    assert "MatMul(" in lines[1] and "w[3, 2]" in lines[1] and "[4, 2] = MatMul" in lines[1]
    assert "Relu(" in lines[2] and "Sum(" in lines[3]
    assert tape.listing() == text
    rec = tape.records[0]
    assert rec.op_name == "MatMul" and rec.input_shapes == [(4, 3), (3, 2)]
    assert rec.output_shape == (4, 2)
    assert "op=Relu" in repr(tape.records[1].output)
    assert y.op_name == "Sum"
    assert "empty" in str(GradientTape())


def test_step_backward_walks_the_sweep_and_matches_gradient():
    x = Variable(np.array([1.0, -2.0]), name="x")
    with GradientTape() as tape:
        h = x * 3.0
        r = ops.relu(h)
        y = r.sum()
    steps = list(tape.step_backward(y))
    assert [s.record.op_name for s in steps] == ["Sum", "Relu", "Multiply"]
    record, grads = steps[-1]
    np.testing.assert_allclose(grads[x.uid], [3.0, 0.0])
    np.testing.assert_allclose(steps[0].grads[r.uid], [1.0, 1.0])
    assert h.uid not in steps[0].grads and h.uid in steps[1].grads
    # the walk left the tape intact: a non-persistent tape still answers once
    np.testing.assert_allclose(tape.gradient(y, x), [3.0, 0.0])
    with pytest.raises(RuntimeError, match="non-persistent"):
        tape.step_backward(y)


def test_iteration_and_len():
    (x,) = watched(1.0)
    with GradientTape() as tape:
        tape.watch(x)
        x * 2.0
        x + 1.0
    assert len(tape) == 2 and [r.op_name for r in tape] == ["Multiply", "Add"]


def test_freed_memory_is_kept_in_process_on_glibc():
    # every step frees and re-allocates its arrays; glibc must reuse them, not page-fault them
    # back in (minikeras.autograd._memory). Checked in a fresh process: the setting is global.
    import subprocess

    code = ("import minikeras.autograd._memory as m, minikeras; print(m.applied)")
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True).stdout.strip()
    if not sys.platform.startswith("linux"):
        assert out == "False"
        return
    opted_out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                               env={**env, "MINIKERAS_MALLOC": "default"}, check=True)
    assert opted_out.stdout.strip() == "False"
    assert out in ("True", "False")  # False only where libc is not glibc (e.g. musl)
    import platform

    if platform.libc_ver()[0] == "glibc":
        assert out == "True"


def test_output_gradients_not_copied_but_never_returned():
    # The seed is used as given (no up-front copy) yet never comes back as a result: not when
    # the target is itself a source, nor through an op that passes its gradient through.
    (x,) = watched([1.0, 2.0, 3.0])
    with GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x + 1.0  # Add's backward hands the gradient to x unchanged
    seed = np.array([1.0, 0.0, 2.0])
    for target, source in ((y, x), (y, y), (x, x)):
        g = tape.gradient(target, source, output_gradients=seed)
        np.testing.assert_array_equal(g, seed)
        g = g.numpy()
        assert g is not seed and not np.shares_memory(g, seed) and g.flags.writeable
        g[...] = -1
        np.testing.assert_array_equal(seed, [1.0, 0.0, 2.0])
    two = tape.gradient(y, [x, y], output_gradients=seed)
    two = [g.numpy() for g in two]
    assert not np.shares_memory(two[0], two[1]) and not np.shares_memory(two[0], seed)
