"""Tests of the NumPy reference cells in ``seqnet._reference``.

The reference is the oracle for the C kernels, so it is checked on its own
here: its backward against central finite differences of its forward in
float64, and its forward against the semantics fixed in ``csrc/seqnet.h``
(zero padding, final states, reverse direction, batch independence, gate
order).

Gradient check
--------------
Every input (x, the initial states and every parameter) gets random values
and the loss is ``L = sum(h * dh) + sum(h_n * dh_n) [+ sum(c_n * dc_n)]``
with random upstream ``dh``, ``dh_n``, ``dc_n``.  ``dh`` is random at the
padded positions too: ``h`` is zero there so they do not change ``L``, and
the backward must ignore them.  Each element is perturbed by
``EPS = 1e-6`` on both sides.  In float64 the central difference is off by
about ``|L| * 1e-16 / EPS ~ 1e-9`` (rounding) plus ``EPS**2 ~ 1e-12``
(truncation), so gradients are compared with ``rtol=1e-6``, ``atol=1e-8``.
"""

import zlib

import numpy as np
import pytest

from seqnet import _reference as ref

EPS = 1e-6
RTOL = 1e-6
ATOL = 1e-8
# A relu pre-activation closer to 0 than this could let a perturbation of
# EPS (which moves pre-activations by a few EPS at most) cross the kink.
RELU_MARGIN = 1e-4

I, H = 3, 4


# --------------------------------------------------------------- the cells
#
# Each cell is described by the shapes of its inputs, a forward returning a
# dict of named outputs, and a backward returning a dict of gradients keyed
# like the inputs.


def _lstm_shapes(T, B, peepholes):
    shapes = {"x": (T, B, I), "h0": (B, H), "c0": (B, H),
              "W": (I, 4 * H), "U": (H, 4 * H), "b": (4 * H,)}
    if peepholes:
        shapes["p"] = (3 * H,)
    return shapes


def _lstm_forward(activation="tanh"):
    def forward(v, lengths, reverse):
        h, c, gates, h_n, c_n = ref.lstm_forward(
            v["x"], v["h0"], v["c0"], v["W"], v["U"], v["b"], v.get("p"),
            lengths, reverse=reverse, activation=activation)
        return {"h": h, "c": c, "gates": gates, "h_n": h_n, "c_n": c_n}
    return forward


def _lstm_backward(activation="tanh"):
    def backward(v, out, up, lengths, reverse):
        dx, dh0, dc0, dW, dU, db, dp = ref.lstm_backward(
            up["h"], up["h_n"], up["c_n"], v["x"], v["h0"], v["c0"], v["W"],
            v["U"], v.get("p"), out["h"], out["c"], out["gates"], lengths,
            reverse=reverse, activation=activation)
        grads = {"x": dx, "h0": dh0, "c0": dc0, "W": dW, "U": dU, "b": db}
        if "p" in v:
            grads["p"] = dp
        else:
            assert dp is None
        return grads
    return backward


def _gru_shapes(T, B):
    return {"x": (T, B, I), "h0": (B, H), "W": (I, 3 * H),
            "U": (H, 3 * H), "b": (3 * H,), "bh": (H,)}


def _gru_forward(activation="tanh"):
    def forward(v, lengths, reverse):
        h, gates, hn, h_n = ref.gru_forward(
            v["x"], v["h0"], v["W"], v["U"], v["b"], v["bh"], lengths,
            reverse=reverse, activation=activation)
        return {"h": h, "gates": gates, "hn": hn, "h_n": h_n}
    return forward


def _gru_backward(activation="tanh"):
    def backward(v, out, up, lengths, reverse):
        dx, dh0, dW, dU, db, dbh = ref.gru_backward(
            up["h"], up["h_n"], v["x"], v["h0"], v["W"], v["U"], out["h"],
            out["gates"], out["hn"], lengths, reverse=reverse,
            activation=activation)
        return {"x": dx, "h0": dh0, "W": dW, "U": dU, "b": db, "bh": dbh}
    return backward


def _elman_shapes(T, B):
    return {"x": (T, B, I), "h0": (B, H), "W": (I, H), "U": (H, H),
            "b": (H,)}


def _elman_forward(activation):
    def forward(v, lengths, reverse):
        h, h_n = ref.elman_forward(v["x"], v["h0"], v["W"], v["U"], v["b"],
                                   lengths, activation=activation,
                                   reverse=reverse)
        return {"h": h, "h_n": h_n}
    return forward


def _elman_backward(activation):
    def backward(v, out, up, lengths, reverse):
        dx, dh0, dW, dU, db = ref.elman_backward(
            up["h"], up["h_n"], v["x"], v["h0"], v["W"], v["U"], out["h"],
            lengths, activation=activation, reverse=reverse)
        return {"x": dx, "h0": dh0, "W": dW, "U": dU, "b": db}
    return backward


# name: (shapes(T, B), forward, backward, time-indexed outputs, final states)
CELLS = {
    "lstm": (lambda T, B: _lstm_shapes(T, B, False), _lstm_forward(),
             _lstm_backward(), ("h", "c", "gates"), ("h_n", "c_n")),
    "lstm_peepholes": (lambda T, B: _lstm_shapes(T, B, True),
                       _lstm_forward(), _lstm_backward(),
                       ("h", "c", "gates"), ("h_n", "c_n")),
    "gru": (_gru_shapes, _gru_forward(), _gru_backward(),
            ("h", "gates", "hn"), ("h_n",)),
}
for _activation in ("relu", "softsign"):
    CELLS[f"lstm_{_activation}"] = (
        lambda T, B: _lstm_shapes(T, B, True), _lstm_forward(_activation),
        _lstm_backward(_activation), ("h", "c", "gates"), ("h_n", "c_n"))
    CELLS[f"gru_{_activation}"] = (
        _gru_shapes, _gru_forward(_activation), _gru_backward(_activation),
        ("h", "gates", "hn"), ("h_n",))
for _activation in ("tanh", "relu", "softsign"):
    CELLS[f"elman_{_activation}"] = (
        _elman_shapes, _elman_forward(_activation),
        _elman_backward(_activation), ("h",), ("h_n",))

# (T, lengths): all lengths different, all equal, one sequence, one step.
LENGTH_CASES = {
    "ragged": (5, [5, 3, 2, 1]),
    "equal": (4, [4, 4, 4]),
    "single_row": (5, [5]),
    "single_row_short": (5, [3]),
    "single_step": (1, [1, 1]),
}


def _random_inputs(cell, T, lengths, seed, dtype=np.float64):
    """Random inputs of ``cell`` for a batch with the given lengths."""
    shapes = CELLS[cell][0](T, len(lengths))
    rng = np.random.default_rng(seed)
    values = {}
    for name, shape in shapes.items():
        scale = 1.0 if name in ("x", "h0", "c0") else 0.5
        values[name] = rng.normal(scale=scale, size=shape).astype(dtype)
    return values


def _random_upstream(cell, T, B, seed):
    """Random upstream gradients of every output that enters the loss."""
    rng = np.random.default_rng(seed)
    upstream = {"h": rng.normal(size=(T, B, H))}
    for name in CELLS[cell][4]:
        upstream[name] = rng.normal(size=(B, H))
    return upstream


def _loss(cell, values, upstream, lengths, reverse):
    """The scalar whose gradient the backward computes."""
    out = CELLS[cell][1](values, lengths, reverse)
    total = np.sum(out["h"] * upstream["h"])
    for name in CELLS[cell][4]:
        total += np.sum(out[name] * upstream[name])
    return total


def _numerical_gradient(loss, values, name):
    """Central differences of ``loss(values)`` w.r.t. ``values[name]``."""
    array = values[name]
    grad = np.empty_like(array)
    for index in np.ndindex(array.shape):
        original = array[index]
        array[index] = original + EPS
        plus = loss(values)
        array[index] = original - EPS
        minus = loss(values)
        array[index] = original
        grad[index] = (plus - minus) / (2.0 * EPS)
    return grad


def _one_row(values, row):
    """Inputs of a batch of one holding row ``row`` of ``values``."""
    one = dict(values)
    one["x"] = values["x"][:, row:row + 1]
    for name in ("h0", "c0"):
        if name in values:
            one[name] = values[name][row:row + 1]
    return one


def _relu_inputs(cell, values, out, lengths, reverse):
    """Every value a relu cell applies relu to, recomputed from the saved
    forward: Elman's pre-activation, the LSTM's a_g and c, the GRU's a_n."""
    pre = []
    for row, length in enumerate(lengths):
        for t in range(length):
            first = length - 1 if reverse else 0
            if t == first:
                h_prev = values["h0"][row]
            else:
                h_prev = out["h"][t + 1 if reverse else t - 1, row]
            x = values["x"][t, row]
            a = x @ values["W"] + h_prev @ values["U"] + values["b"]
            if cell.startswith("elman"):
                pre.append(a)
            elif cell.startswith("lstm"):
                pre += [a[2 * H:3 * H], out["c"][t, row]]
            else:
                r = out["gates"][t, row, :H]
                a_x = (x @ values["W"] + values["b"])[2 * H:]
                pre.append(a_x + r * out["hn"][t, row])
    return np.concatenate(pre)


# ----------------------------------------------------- gradient correctness


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("case", list(LENGTH_CASES))
@pytest.mark.parametrize("cell", list(CELLS))
def test_backward_matches_finite_differences(cell, case, reverse):
    T, lengths = LENGTH_CASES[case]
    lengths = np.array(lengths, dtype=np.int64)
    seed = zlib.crc32(f"{cell} {case}".encode()) % 100_000
    _, forward, backward, _, _ = CELLS[cell]
    while True:
        values = _random_inputs(cell, T, lengths, seed)
        out = forward(values, lengths, reverse)
        if not cell.endswith("relu"):
            break
        # Away from relu's kink (EPS moves pre-activations by a few EPS),
        # and both of its branches taken.
        pre = _relu_inputs(cell, values, out, lengths, reverse)
        if (np.min(np.abs(pre)) > RELU_MARGIN and np.any(pre > 0)
                and np.any(pre < 0)):
            break
        seed += 100_000
    upstream = _random_upstream(cell, T, len(lengths), seed + 50)
    analytic = backward(values, out, upstream, lengths, reverse)

    assert set(analytic) == set(values)

    def loss(v):
        return _loss(cell, v, upstream, lengths, reverse)
    for name in values:
        numeric = _numerical_gradient(loss, values, name)
        np.testing.assert_allclose(analytic[name], numeric, rtol=RTOL,
                                   atol=ATOL, err_msg=f"gradient of {name}")


@pytest.mark.parametrize("cell", list(CELLS))
def test_backward_ignores_padded_upstream_and_zeroes_padded_dx(cell):
    T, lengths = LENGTH_CASES["ragged"]
    lengths = np.array(lengths, dtype=np.int64)
    values = _random_inputs(cell, T, lengths, seed=7)
    upstream = _random_upstream(cell, T, len(lengths), seed=8)
    _, forward, backward, _, _ = CELLS[cell]
    padded = np.arange(T)[:, None] >= lengths[None, :]

    out = forward(values, lengths, False)
    masked = dict(upstream, h=np.where(padded[:, :, None], 0.0, upstream["h"]))
    grads = backward(values, out, upstream, lengths, False)
    grads_masked = backward(values, out, masked, lengths, False)
    for name in values:
        np.testing.assert_array_equal(grads[name], grads_masked[name])
    assert np.all(grads["x"][padded] == 0.0)


@pytest.mark.parametrize("missing", ["dh", "final_states"])
@pytest.mark.parametrize("cell", list(CELLS))
def test_none_upstream_means_zeros(cell, missing):
    T, lengths = LENGTH_CASES["ragged"]
    lengths = np.array(lengths, dtype=np.int64)
    values = _random_inputs(cell, T, lengths, seed=9)
    _, forward, backward, _, final_states = CELLS[cell]
    out = forward(values, lengths, True)
    upstream = _random_upstream(cell, T, len(lengths), seed=10)
    names = ("h",) if missing == "dh" else final_states
    with_zeros = dict(upstream)
    with_none = dict(upstream)
    for name in names:
        with_zeros[name] = np.zeros_like(upstream[name])
        with_none[name] = None

    grads_zeros = backward(values, out, with_zeros, lengths, True)
    grads_none = backward(values, out, with_none, lengths, True)
    for name in values:
        np.testing.assert_array_equal(grads_none[name], grads_zeros[name])


# ------------------------------------------------------ forward semantics


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("cell", list(CELLS))
def test_padded_outputs_are_zero(cell, reverse):
    T, lengths = LENGTH_CASES["ragged"]
    lengths = np.array(lengths, dtype=np.int64)
    values = _random_inputs(cell, T, lengths, seed=11)
    _, forward, _, time_outputs, _ = CELLS[cell]
    out = forward(values, lengths, reverse)
    padded = np.arange(T)[:, None] >= lengths[None, :]
    for name in time_outputs:
        assert np.all(out[name][padded] == 0.0), name
        # A non-zero valid part shows the mask is not simply everything.
        assert np.any(out[name][~padded] != 0.0), name


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("cell", list(CELLS))
def test_final_state_is_state_after_last_processed_step(cell, reverse):
    T, lengths = LENGTH_CASES["ragged"]
    lengths = np.array(lengths, dtype=np.int64)
    values = _random_inputs(cell, T, lengths, seed=12)
    out = CELLS[cell][1](values, lengths, reverse)
    last = np.zeros_like(lengths) if reverse else lengths - 1
    rows = np.arange(len(lengths))
    np.testing.assert_array_equal(out["h_n"], out["h"][last, rows])
    if "c_n" in out:
        np.testing.assert_array_equal(out["c_n"], out["c"][last, rows])


@pytest.mark.parametrize("cell", list(CELLS))
def test_reverse_equals_forward_on_flipped_sequence(cell):
    T, lengths = LENGTH_CASES["ragged"]
    lengths = np.array(lengths, dtype=np.int64)
    values = _random_inputs(cell, T, lengths, seed=13)
    _, forward, _, time_outputs, final_states = CELLS[cell]
    backwards = forward(values, lengths, True)

    for row, length in enumerate(lengths):
        flipped = _one_row(values, row)
        flipped["x"] = values["x"][length - 1::-1, row:row + 1]
        alone = forward(flipped, np.array([length]), False)
        for name in time_outputs:
            np.testing.assert_allclose(
                backwards[name][:length, row], alone[name][::-1, 0],
                rtol=1e-13, atol=1e-15, err_msg=name)
        for name in final_states:
            np.testing.assert_allclose(backwards[name][row], alone[name][0],
                                       rtol=1e-13, atol=1e-15, err_msg=name)


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("lengths", [[5, 3, 2, 1], [2, 5, 1, 3]],
                         ids=["sorted", "unsorted"])
@pytest.mark.parametrize("cell", list(CELLS))
def test_row_in_batch_equals_row_alone(cell, lengths, reverse):
    T = 5
    lengths = np.array(lengths, dtype=np.int64)
    values = _random_inputs(cell, T, lengths, seed=14)
    _, forward, backward, time_outputs, final_states = CELLS[cell]
    upstream = _random_upstream(cell, T, len(lengths), seed=15)
    batch = forward(values, lengths, reverse)
    batch_grads = backward(values, batch, upstream, lengths, reverse)

    param_grads = {name: 0.0 for name in values if values[name].ndim == 1
                   or name in ("W", "U")}
    for row, length in enumerate(lengths):
        one = _one_row(values, row)
        one_up = {name: (array[:, row:row + 1] if name == "h"
                         else array[row:row + 1])
                  for name, array in upstream.items()}
        alone = forward(one, np.array([length]), reverse)
        alone_grads = backward(one, alone, one_up, np.array([length]),
                               reverse)
        for name in time_outputs:
            np.testing.assert_allclose(batch[name][:, row], alone[name][:, 0],
                                       rtol=1e-13, atol=1e-15, err_msg=name)
        for name in final_states:
            np.testing.assert_allclose(batch[name][row], alone[name][0],
                                       rtol=1e-13, atol=1e-15, err_msg=name)
        np.testing.assert_allclose(batch_grads["x"][:, row],
                                   alone_grads["x"][:, 0], rtol=1e-13,
                                   atol=1e-15)
        for name in ("h0", "c0"):
            if name in values:
                np.testing.assert_allclose(batch_grads[name][row],
                                           alone_grads[name][0], rtol=1e-13,
                                           atol=1e-15, err_msg=name)
        for name in param_grads:
            param_grads[name] = param_grads[name] + alone_grads[name]
    # Parameter gradients of a batch are the sums over its rows.
    for name, total in param_grads.items():
        np.testing.assert_allclose(batch_grads[name], total, rtol=1e-12,
                                   atol=1e-14, err_msg=name)


def _sig(a):
    return 1.0 / (1.0 + np.exp(-a))


# The activations the cells offer, as written in csrc/seqnet.h.
SQUASH = {"tanh": np.tanh, "relu": lambda a: np.where(a > 0.0, a, 0.0),
          "softsign": lambda a: a / (1.0 + np.abs(a))}


@pytest.mark.parametrize("activation", list(SQUASH))
def test_lstm_step_follows_header_equations(activation):
    act = SQUASH[activation]
    values = _random_inputs("lstm_peepholes", 1, [1, 1], seed=16)
    x, h0, c0 = values["x"][0], values["h0"], values["c0"]
    W, U, b, p = values["W"], values["U"], values["b"], values["p"]
    a = x @ W + h0 @ U + b
    block = {name: slice(k * H, (k + 1) * H) for k, name in enumerate("ifgo")}
    i = _sig(a[:, block["i"]] + p[0:H] * c0)
    f = _sig(a[:, block["f"]] + p[H:2 * H] * c0)
    g = act(a[:, block["g"]])
    c = f * c0 + i * g
    o = _sig(a[:, block["o"]] + p[2 * H:3 * H] * c)
    h = o * act(c)

    out = _lstm_forward(activation)(values, np.array([1, 1]), False)
    np.testing.assert_allclose(out["gates"][0], np.hstack([i, f, g, o]),
                               rtol=1e-12)
    np.testing.assert_allclose(out["c"][0], c, rtol=1e-12)
    np.testing.assert_allclose(out["h"][0], h, rtol=1e-12)
    np.testing.assert_allclose(out["c_n"], c, rtol=1e-12)


@pytest.mark.parametrize("activation", list(SQUASH))
def test_gru_step_follows_header_equations(activation):
    values = _random_inputs("gru", 1, [1, 1], seed=17)
    x, h0 = values["x"][0], values["h0"]
    W, U, b, bh = values["W"], values["U"], values["b"], values["bh"]
    r_, z_, n_ = (slice(k * H, (k + 1) * H) for k in range(3))
    r = _sig(x @ W[:, r_] + b[r_] + h0 @ U[:, r_])
    z = _sig(x @ W[:, z_] + b[z_] + h0 @ U[:, z_])
    hn = h0 @ U[:, n_] + bh
    n = SQUASH[activation](x @ W[:, n_] + b[n_] + r * hn)
    h = (1.0 - z) * n + z * h0

    out = _gru_forward(activation)(values, np.array([1, 1]), False)
    np.testing.assert_allclose(out["gates"][0], np.hstack([r, z, n]),
                               rtol=1e-12)
    np.testing.assert_allclose(out["hn"][0], hn, rtol=1e-12)
    np.testing.assert_allclose(out["h"][0], h, rtol=1e-12)


@pytest.mark.parametrize("activation, function", [
    ("tanh", np.tanh),
    ("relu", lambda a: np.where(a > 0.0, a, 0.0)),
    ("softsign", lambda a: a / (1.0 + np.abs(a))),
])
def test_elman_step_follows_header_equations(activation, function):
    values = _random_inputs("elman_tanh", 1, [1, 1], seed=18)
    a = (values["x"][0] @ values["W"] + values["h0"] @ values["U"]
         + values["b"])
    out = _elman_forward(activation)(values, np.array([1, 1]), False)
    np.testing.assert_allclose(out["h"][0], function(a), rtol=1e-12)


@pytest.mark.parametrize("cell", list(CELLS))
def test_float32_in_float32_out(cell):
    T, lengths = LENGTH_CASES["ragged"]
    lengths = np.array(lengths, dtype=np.int64)
    values64 = _random_inputs(cell, T, lengths, seed=19)
    values32 = {name: array.astype(np.float32)
                for name, array in values64.items()}
    upstream = _random_upstream(cell, T, len(lengths), seed=20)
    upstream32 = {name: array.astype(np.float32)
                  for name, array in upstream.items()}
    _, forward, backward, _, _ = CELLS[cell]

    out64 = forward(values64, lengths, False)
    out32 = forward(values32, lengths, False)
    grads64 = backward(values64, out64, upstream, lengths, False)
    grads32 = backward(values32, out32, upstream32, lengths, False)
    for name in out64:
        assert out32[name].dtype == np.float32, name
        np.testing.assert_allclose(out32[name], out64[name], rtol=1e-4,
                                   atol=1e-5, err_msg=name)
    for name in grads64:
        assert grads32[name].dtype == np.float32, name
        np.testing.assert_allclose(grads32[name], grads64[name], rtol=1e-4,
                                   atol=1e-5, err_msg=name)


@pytest.mark.parametrize("lengths", [[0, 1], [6, 1], [3]],
                         ids=["zero", "too_long", "wrong_shape"])
def test_bad_lengths_raise(lengths):
    values = _random_inputs("gru", 5, [1, 1], seed=21)
    with pytest.raises(ValueError, match="lengths|length"):
        _gru_forward()(values, np.array(lengths), False)


def test_unknown_activation_raises():
    values = _random_inputs("elman_tanh", 2, [2], seed=22)
    with pytest.raises(ValueError, match="activation"):
        _elman_forward("sigmoid")(values, np.array([2]), False)
