"""Each optimizer against its Keras 2 update rule, written out by hand."""

import numpy as np
import pytest

from minikeras import optimizers
from minikeras.autograd import GradientTape, Variable

P0 = np.array([0.5, -1.5, 2.0])
GRADS = [np.array([0.1, -0.2, 0.3]), np.array([-0.4, 0.05, 0.2]), np.array([0.3, 0.3, -0.1])]


def run(opt, grads=GRADS, p0=P0, constraint=None):
    v = Variable(p0.copy(), dtype=np.float64, name="w", constraint=constraint)
    for g in grads:
        opt.apply_gradients([(g, v)])
    return v.data


def test_sgd_plain_and_decay():
    p = P0.copy()
    lr, decay = 0.1, 0.5
    for t, g in enumerate(GRADS):
        p = p - lr / (1 + decay * t) * g
    np.testing.assert_allclose(run(optimizers.SGD(lr=lr, decay=decay)), p, rtol=1e-12)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum(nesterov):
    p, v = P0.copy(), np.zeros(3)
    lr, mu = 0.05, 0.9
    for g in GRADS:
        v = mu * v - lr * g
        p = p + mu * v - lr * g if nesterov else p + v
    got = run(optimizers.SGD(learning_rate=lr, momentum=mu, nesterov=nesterov))
    np.testing.assert_allclose(got, p, rtol=1e-12)


def test_rmsprop():
    p, a = P0.copy(), np.zeros(3)
    lr, rho, eps = 0.01, 0.9, 1e-7
    for g in GRADS:
        a = rho * a + (1 - rho) * g**2
        p = p - lr * g / (np.sqrt(a) + eps)
    np.testing.assert_allclose(run(optimizers.RMSprop(lr)), p, rtol=1e-12)


def test_adagrad():
    p, a = P0.copy(), np.zeros(3)
    lr, eps = 0.01, 1e-7
    for g in GRADS:
        a = a + g**2
        p = p - lr * g / (np.sqrt(a) + eps)
    np.testing.assert_allclose(run(optimizers.Adagrad()), p, rtol=1e-12)


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam(amsgrad):
    p, m, v, vhat = P0.copy(), np.zeros(3), np.zeros(3), np.zeros(3)
    lr, b1, b2, eps = 0.001, 0.9, 0.999, 1e-7
    for t, g in enumerate(GRADS, start=1):
        lr_t = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        vhat = np.maximum(vhat, v)
        p = p - lr_t * m / (np.sqrt(vhat if amsgrad else v) + eps)
    np.testing.assert_allclose(run(optimizers.Adam(amsgrad=amsgrad)), p, rtol=1e-12)


def test_adadelta():
    # Keras 2.0.8: new accumulator, *old* delta accumulator, then the delta accumulator
    p, a, d = P0.copy(), np.zeros(3), np.zeros(3)
    lr, rho, eps, decay = 1.0, 0.95, 1e-7, 0.1
    for t, g in enumerate(GRADS):
        a = rho * a + (1 - rho) * g**2
        u = g * np.sqrt(d + eps) / np.sqrt(a + eps)
        p = p - lr / (1 + decay * t) * u
        d = rho * d + (1 - rho) * u**2
    np.testing.assert_allclose(run(optimizers.Adadelta(decay=decay)), p, rtol=1e-12)


def test_adamax():
    p, m, u = P0.copy(), np.zeros(3), np.zeros(3)
    lr, b1, b2, eps = 0.002, 0.9, 0.999, 1e-7
    for t, g in enumerate(GRADS, start=1):
        m = b1 * m + (1 - b1) * g
        u = np.maximum(b2 * u, np.abs(g))
        p = p - lr / (1 - b1**t) * m / (u + eps)
    np.testing.assert_allclose(run(optimizers.Adamax()), p, rtol=1e-12)


def nadam_reference(grads, steps_before=0, m=None, v=None, p=P0):
    p, m, v = p.copy(), np.zeros(3) if m is None else m, np.zeros(3) if v is None else v
    lr, b1, b2, eps, sd = 0.002, 0.9, 0.999, 1e-7, 0.004
    m_schedule = 1.0
    for t in range(1, steps_before + 1):
        m_schedule *= b1 * (1 - 0.5 * 0.96 ** (t * sd))
    for t, g in enumerate(grads, start=steps_before + 1):
        mu_t = b1 * (1 - 0.5 * 0.96 ** (t * sd))
        mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * sd))
        m_schedule_new = m_schedule * mu_t
        m_schedule_next = m_schedule * mu_t * mu_next
        m_schedule = m_schedule_new
        g_prime = g / (1 - m_schedule_new)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_bar = (1 - mu_t) * g_prime + mu_next * m / (1 - m_schedule_next)
        p = p - lr * m_bar / (np.sqrt(v / (1 - b2**t)) + eps)
    return p


def test_nadam_rule_and_no_decay_argument():
    np.testing.assert_allclose(run(optimizers.Nadam()), nadam_reference(GRADS), rtol=1e-12)
    with pytest.raises(TypeError, match="decay"):
        optimizers.Nadam(decay=0.1)  # Keras 2.0.8's Nadam has no decay either
    assert "decay" not in optimizers.Nadam().get_config()


def test_nadam_state_round_trip_restores_the_momentum_schedule():
    a = optimizers.Nadam()
    va = Variable(P0.copy(), dtype=np.float64)
    for g in GRADS[:2]:
        a.apply_gradients([(g, va)])
    b = optimizers.Nadam()
    vb = Variable(va.data.copy(), dtype=np.float64)
    b.build([vb])
    b.set_state(a.get_state())
    a.apply_gradients([(GRADS[2], va)])
    b.apply_gradients([(GRADS[2], vb)])
    np.testing.assert_allclose(vb.data, va.data, rtol=1e-12)
    np.testing.assert_allclose(va.data, nadam_reference(GRADS), rtol=1e-12)


def test_lower_case_aliases_and_case_insensitive_deserialize():
    assert optimizers.sgd is optimizers.SGD and optimizers.rmsprop is optimizers.RMSprop
    assert optimizers.adagrad is optimizers.Adagrad and optimizers.adadelta is optimizers.Adadelta
    assert optimizers.adam is optimizers.Adam and optimizers.adamax is optimizers.Adamax
    assert optimizers.nadam is optimizers.Nadam
    config = {"class_name": "AdaMax", "config": {"lr": 0.5}}
    opt = optimizers.deserialize(config)
    assert isinstance(opt, optimizers.Adamax) and opt.lr == 0.5
    assert config["class_name"] == "adamax"  # Keras 2.0.8 lower-cases it in place
    custom = {"class_name": "MyOpt", "config": {}}
    assert isinstance(optimizers.deserialize(custom, {"MyOpt": optimizers.SGD}), optimizers.SGD)
    assert custom["class_name"] == "MyOpt"  # only built-in names are rewritten


def test_clipnorm_uses_global_norm_and_clipvalue():
    g1, g2 = np.array([3.0, 0.0]), np.array([0.0, 4.0])  # global norm 5
    a, b = Variable(np.zeros(2), dtype=np.float64), Variable(np.zeros(2), dtype=np.float64)
    optimizers.SGD(1.0, clipnorm=1.0).apply_gradients([(g1, a), (g2, b)])
    np.testing.assert_allclose(a.data, [-0.6, 0.0])
    np.testing.assert_allclose(b.data, [0.0, -0.8])
    c = Variable(np.zeros(2), dtype=np.float64)
    optimizers.SGD(1.0, clipvalue=0.5).apply_gradients([(np.array([2.0, -0.1]), c)])
    np.testing.assert_allclose(c.data, [-0.5, 0.1])
    # Keras 2: clipnorm=0 / clipvalue=0 mean no clipping
    d = Variable(np.zeros(2), dtype=np.float64)
    optimizers.SGD(1.0, clipnorm=0, clipvalue=0.0).apply_gradients([(np.array([2.0, -3.0]), d)])
    np.testing.assert_allclose(d.data, [-2.0, 3.0])
    c = Variable(np.zeros(2), dtype=np.float64)
    optimizers.SGD(1.0, clipvalue=0.5).apply_gradients([(np.array([2.0, -0.1]), c)])
    np.testing.assert_allclose(c.data, [-0.5, 0.1])


def test_constraint_applied_after_step():
    got = run(optimizers.SGD(1.0), grads=[np.array([-5.0, 0, 0])],
              constraint=lambda w: np.clip(w, -1, 1))
    np.testing.assert_allclose(got, [1.0, -1.0, 1.0])


def test_defaults_and_names():
    assert optimizers.SGD().lr == 0.01
    assert optimizers.RMSprop().learning_rate == 0.001
    assert optimizers.Adagrad().lr == 0.01
    adam = optimizers.get("Adam")
    assert isinstance(adam, optimizers.Adam) and adam.lr == 0.001 and adam.epsilon == 1e-7
    with pytest.raises(ValueError, match="known optimizers"):
        optimizers.get("adamw2")
    with pytest.raises(TypeError, match="unexpected keyword"):
        optimizers.SGD(momentun=0.9)


def test_config_round_trip():
    opt = optimizers.Adam(learning_rate=0.01, beta_1=0.8, amsgrad=True, clipnorm=2.0, decay=0.1)
    again = optimizers.deserialize(optimizers.serialize(opt))
    assert again.get_config() == opt.get_config()
    assert optimizers.SGD.from_config({"lr": 0.3, "momentum": 0.5}).learning_rate == 0.3
    # Keras 2.0 code reads config["lr"]; Keras 2.3+ code reads config["learning_rate"]
    config = optimizers.SGD(lr=0.25).get_config()
    assert config["lr"] == config["learning_rate"] == 0.25


def test_state_round_trip_continues_identically():
    a = optimizers.Adam(0.01)
    va = Variable(P0.copy(), dtype=np.float64)
    for g in GRADS[:2]:
        a.apply_gradients([(g, va)])
    state = a.get_state()
    assert int(state[0]) == 2 and len(state) == 3
    b = optimizers.Adam(0.01)
    vb = Variable(va.data.copy(), dtype=np.float64)
    b.set_state(state)  # before the variables are known: kept until build
    b.build([vb])
    a.apply_gradients([(GRADS[2], va)])
    b.apply_gradients([(GRADS[2], vb)])
    np.testing.assert_array_equal(va.data, vb.data)


def test_set_state_mismatch_is_clear_and_changes_nothing():
    opt = optimizers.RMSprop()
    v = Variable(np.ones(3))
    opt.build([v])
    before = opt.get_state()
    with pytest.raises(ValueError, match="shape"):
        opt.set_state([np.array(5), np.zeros(4)])
    with pytest.raises(ValueError, match="expected 2 arrays"):
        opt.set_state([np.array(5)])
    after = opt.get_state()
    assert int(after[0]) == int(before[0]) == 0


def test_none_gradient_leaves_variable_and_minimize_descends():
    v = Variable(np.ones(2))
    optimizers.SGD(0.1).apply_gradients([(None, v)])
    np.testing.assert_array_equal(v.data, [1, 1])
    w = Variable(np.array([3.0]))
    opt = optimizers.SGD(0.1)
    for _ in range(50):
        opt.minimize(lambda: (w * w).sum(), [w])
    assert abs(float(w.data[0])) < 0.01


def test_gradient_shape_mismatch():
    v = Variable(np.ones(2))
    with pytest.raises(ValueError, match="gradient of shape"):
        optimizers.Adam().apply_gradients([(np.ones(3), v)])


def test_works_with_tape_gradients_float32():
    w = Variable(np.array([1.0, 2.0], dtype=np.float32))
    with GradientTape() as tape:
        loss = (w * w).sum()
    (g,) = tape.gradient(loss, [w])
    optimizers.Adam(0.1).apply_gradients([(g, w)])
    assert w.dtype == np.float32
    np.testing.assert_allclose(w.data, [0.9, 1.9], rtol=1e-5)


@pytest.mark.parametrize("make", [
    lambda: optimizers.SGD(0.1, momentum=0.9, nesterov=True),
    lambda: optimizers.RMSprop(0.01),
    lambda: optimizers.Adagrad(0.1),
    lambda: optimizers.Adam(0.01, amsgrad=True),
])
def test_fused_kernel_matches_numpy_path(monkeypatch, make):
    rng = np.random.default_rng(1)
    grads = [rng.normal(size=(4, 3)).astype(np.float32) for _ in range(4)]
    results = []
    for use_jit in (True, False):
        monkeypatch.setattr(optimizers, "_USE_JIT", use_jit)
        v = Variable(np.ones((4, 3), np.float32))
        opt = make()
        for g in grads:
            opt.apply_gradients([(g, v)])
        results.append(v.data.copy())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-5, atol=1e-7)


def test_non_contiguous_gradient_takes_numpy_path():
    v = Variable(np.zeros((3, 2)))
    g = np.arange(6.0).reshape(2, 3).T  # a transposed view
    optimizers.SGD(1.0, momentum=0.5).apply_gradients([(g, v)])
    np.testing.assert_allclose(v.data, -g)
