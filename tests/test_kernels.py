"""Tests of the C cell kernels (through ``seqnet._ops`` and ``_kernels``)
against the NumPy reference ``seqnet._reference``.

The reference's own backward is checked against finite differences in
``test_reference.py``; here the C kernels are checked against the reference:
every forward output and every gradient (dx, dh0, dc0, dW, dU, db, dp, dbh),
for each cell, both directions, both dtypes, on shapes off any tile grid and
with ragged lengths.  Then the contract of ``csrc/seqnet.h`` that the
reference does not share: padding written as exact zeros, activation
gradients overwritten, parameter gradients accumulated, dx optional, NULL
upstream gradients meaning zeros, and bit-identical results for every
thread count on every ISA path.

Tolerances
----------
Each array is compared as a whole: ``max|a - r| <= rtol * max|r| + TINY``.

- float64, ``rtol = 1e-10``: the C kernels and the reference sum in
  different orders (blocked GEMMs against row-by-row matvecs), which moves
  results by a few ulps per operation; over a handful of steps and sums of
  at most T*B terms that stays far below 1e-10 of the array's scale, while
  any real mistake (a wrong index, a missed step, a dropped term) is O(1).
- float32, ``rtol = 1e-4``: the reference is computed in float64 from the
  *same* float32 inputs, so only the kernel's float32 arithmetic is
  measured.  float32 has eps = 1.2e-7 (unit roundoff 6e-8); each step's
  pre-activation sums I + H products, the rounding is carried through up to
  T steps of the recurrence (forward, then back again in BPTT), and the
  weight gradients are sums of up to T*B step contributions.  That gives
  errors of order 1e-6 to 1e-5 of each array's scale; 1e-4 leaves a margin
  and is still far below what a bug produces.
"""

import zlib

import numpy as np
import pytest

from seqnet import _kernels, _ops
from seqnet import _reference as ref

RTOL = {np.float32: 1e-4, np.float64: 1e-10}
TINY = 1e-30
DTYPES = (np.float32, np.float64)

CELLS = ("lstm", "lstm_peepholes", "gru", "elman_tanh", "elman_relu",
         "elman_softsign")

# The cell inputs each kind takes, in the order the backward returns their
# gradients.
INPUTS = {
    "lstm": ("x", "h0", "c0", "W", "U", "b", "p"),
    "gru": ("x", "h0", "W", "U", "b", "bh"),
    "elman": ("x", "h0", "W", "U", "b"),
}
OUTPUTS = {
    "lstm": ("h", "c", "gates", "h_n", "c_n"),
    "gru": ("h", "gates", "hn", "h_n"),
    "elman": ("h", "h_n"),
}
TIME_OUTPUTS = ("h", "c", "gates", "hn")
PARAMETERS = ("W", "U", "b", "p", "bh")     # gradients accumulate
ACTIVATIONS = ("x", "h0", "c0")             # gradients are overwritten
GATES = {"lstm": 4, "gru": 3, "elman": 1}

# name: (T, lengths, I, H).  Every H and I off the 4 x 8 tile grid of the
# portable micro-kernel (and of any wider SIMD tile).
SHAPES = {f"H{H}-I{I}": (6, [6, 4, 3, 1], I, H)
          for H in (1, 5, 17, 33) for I in (1, 3, 7)}
SHAPES.update({
    "equal": (4, [4, 4, 4], 3, 5),
    "short": (6, [4, 2, 2, 1], 3, 17),     # every row ends before T
    "B1": (5, [5], 7, 17),
    "B1-short": (5, [3], 3, 5),
    "T1": (1, [1, 1, 1], 7, 33),
    "T1-B1": (1, [1], 1, 1),
    "big": (7, [7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 3, 2, 2, 1, 1, 1], 9, 47),
    # The two ways recur.c splits the time loop over threads (plan_threads):
    # by batch rows when B >= 8 and T*B*H*G >= 2**20 (Elman: 12*16*96*96),
    # by hidden units when B < 8 and B*H*G >= 2**18 (Elman: 4*260*260).
    "rows": (12, [12, 12, 11, 10, 9, 9, 8, 7, 6, 5, 4, 4, 3, 2, 2, 1], 9, 96),
    "units": (5, [5, 4, 4, 2], 5, 260),
    # Nine full steps, then ragged ones: the weight gradients' stacked GEMM
    # over the full steps is big enough (>= 2**23 multiply-adds, gemm.c's
    # SN_GEMM_MIN_PARALLEL; Elman: (600 + 1 + 96) x 96 x 9*16) to split
    # over threads, by row groups (its rows outnumber its columns); "wide"
    # (LSTM, GRU) has more columns than rows, so its blocks of columns go
    # to the threads.
    "long": (20, [20] * 12 + [15, 15, 9, 9], 600, 96),
    "wide": (20, [20] * 12 + [15, 15, 9, 9], 9, 200),
})
# A relu pre-activation this close to 0 could change sign between float32
# and float64 rounding (errors there are ~1e-7), flipping the derivative.
RELU_MARGIN = 1e-4


def _kind(cell):
    return cell.split("_")[0]


def _activation(cell):
    return cell.split("_", 1)[1] if _kind(cell) == "elman" else None


def _inputs_of(cell):
    names = INPUTS[_kind(cell)]
    return tuple(n for n in names if n != "p" or cell == "lstm_peepholes")


@pytest.fixture(params=_kernels.isa_available())
def isa(request):
    """Run the test on one ISA path, then restore the one in use before."""
    previous = _kernels.isa_current()
    _kernels.set_isa(request.param)
    assert _kernels.isa_current() == request.param
    yield request.param
    _kernels.set_isa(previous)


# ------------------------------------------------------------ random data


def _draw(cell, T, B, I, H, seed):
    """Random float64 inputs; weights scaled by 1/sqrt(fan-in)."""
    rng = np.random.default_rng(seed)
    G = GATES[_kind(cell)] * H
    shapes = {"x": (T, B, I), "h0": (B, H), "c0": (B, H), "W": (I, G),
              "U": (H, G), "b": (G,), "p": (3 * H,), "bh": (H,)}
    # x, h0, c0 at scale 1; weights keep pre-activations O(1), so gates
    # and tanh are neither saturated nor linear.
    scale = {"W": I ** -0.5, "U": H ** -0.5, "b": 0.5, "p": 0.5, "bh": 0.5}
    return {name: rng.normal(scale=scale.get(name, 1.0), size=shapes[name])
            for name in _inputs_of(cell)}


def _relu_preactivations(v, h, lengths, reverse):
    """x_t . W + h_prev . U + b at every valid step, from the saved h."""
    pre = []
    for row, length in enumerate(lengths):
        for t in range(length):
            first = length - 1 if reverse else 0
            if t == first:
                h_prev = v["h0"][row]
            else:
                h_prev = h[t + 1, row] if reverse else h[t - 1, row]
            pre.append(v["x"][t, row] @ v["W"] + h_prev @ v["U"] + v["b"])
    return np.array(pre)


def _case(cell, shape, reverse, dtype, seed):
    """Inputs and upstream gradients in ``dtype``, their exact float64 copy
    (for the reference) and the lengths."""
    T, lengths, I, H = SHAPES[shape]
    lengths = np.array(lengths, dtype=np.int64)
    B = len(lengths)
    while True:
        v = {k: a.astype(dtype) for k, a in _draw(cell, T, B, I, H,
                                                   seed).items()}
        v64 = {k: a.astype(np.float64) for k, a in v.items()}
        if cell != "elman_relu":
            break
        h, _ = ref.elman_forward(v64["x"], v64["h0"], v64["W"], v64["U"],
                                 v64["b"], lengths, "relu", reverse)
        pre = _relu_preactivations(v64, h, lengths, reverse)
        # Away from the kink, and both branches of relu taken (some units
        # live so gradients flow, some dead so the mask matters).
        if (np.min(np.abs(pre)) > RELU_MARGIN and np.any(pre > 0)
                and (pre.size == 1 or np.any(pre < 0))):
            break
        seed += 1000
    rng = np.random.default_rng(seed + 1)
    # dh is random at the padded positions too: they must be ignored.
    up = {"dh": rng.standard_normal((T, B, H)),
          "dh_n": rng.standard_normal((B, H))}
    if _kind(cell) == "lstm":
        up["dc_n"] = rng.standard_normal((B, H))
    up = {k: a.astype(dtype) for k, a in up.items()}
    up64 = {k: a.astype(np.float64) for k, a in up.items()}
    return v, up, v64, up64, lengths


def _seed(*parts):
    """A fixed seed per test case (``hash`` of a str varies per run)."""
    return zlib.crc32(repr(parts).encode())


# ------------------------------------------------- calling the two sides


def _forward(mod, cell, v, lengths, reverse, **kw):
    """Forward outputs by name; ``mod`` is ``_ops`` or ``_reference``."""
    kind = _kind(cell)
    if kind == "lstm":
        res = mod.lstm_forward(v["x"], v["h0"], v["c0"], v["W"], v["U"],
                               v["b"], v.get("p"), lengths, reverse=reverse,
                               **kw)
    elif kind == "gru":
        res = mod.gru_forward(v["x"], v["h0"], v["W"], v["U"], v["b"],
                              v["bh"], lengths, reverse=reverse, **kw)
    else:
        res = mod.elman_forward(v["x"], v["h0"], v["W"], v["U"], v["b"],
                                lengths, activation=_activation(cell),
                                reverse=reverse, **kw)
    return dict(zip(OUTPUTS[kind], res))


def _backward(mod, cell, v, out, up, lengths, reverse, **kw):
    """Gradients keyed like the inputs."""
    kind = _kind(cell)
    if kind == "lstm":
        res = mod.lstm_backward(up.get("dh"), up.get("dh_n"), up.get("dc_n"),
                                v["x"], v["h0"], v["c0"], v["W"], v["U"],
                                v.get("p"), out["h"], out["c"], out["gates"],
                                lengths, reverse=reverse, **kw)
        if "p" not in v:
            assert res[-1] is None
    elif kind == "gru":
        res = mod.gru_backward(up.get("dh"), up.get("dh_n"), v["x"], v["h0"],
                               v["W"], v["U"], out["h"], out["gates"],
                               out["hn"], lengths, reverse=reverse, **kw)
    else:
        res = mod.elman_backward(up.get("dh"), up.get("dh_n"), v["x"],
                                 v["h0"], v["W"], v["U"], out["h"], lengths,
                                 activation=_activation(cell),
                                 reverse=reverse, **kw)
    return dict(zip(_inputs_of(cell), res))


def _workspace(cell, v, n_threads=0):
    T, B, I = v["x"].shape
    size = getattr(_kernels, f"{_kind(cell)}_workspace_size")
    return np.empty(size(v["x"].dtype, T, B, I, v["h0"].shape[1], n_threads),
                    np.uint8)


def _kernels_forward(cell, v, lengths, reverse, fill):
    """Forward through ``_kernels`` into output buffers filled with
    ``fill``."""
    T, B, _ = v["x"].shape
    H = v["h0"].shape[1]
    G = GATES[_kind(cell)] * H
    shapes = {"h": (T, B, H), "c": (T, B, H), "gates": (T, B, G),
              "hn": (T, B, H), "h_n": (B, H), "c_n": (B, H)}
    out = {name: np.full(shapes[name], fill, v["x"].dtype)
           for name in OUTPUTS[_kind(cell)]}
    ws = _workspace(cell, v)
    kind = _kind(cell)
    if kind == "lstm":
        _kernels.lstm_forward(out["h"], out["c"], out["gates"], out["h_n"],
                              out["c_n"], v["x"], v["h0"], v["c0"], v["W"],
                              v["U"], v["b"], v.get("p"), lengths, reverse,
                              ws)
    elif kind == "gru":
        _kernels.gru_forward(out["h"], out["gates"], out["hn"], out["h_n"],
                             v["x"], v["h0"], v["W"], v["U"], v["b"],
                             v["bh"], lengths, reverse, ws)
    else:
        _kernels.elman_forward(out["h"], out["h_n"], v["x"], v["h0"], v["W"],
                               v["U"], v["b"], lengths, _activation(cell),
                               reverse, ws)
    return out


def _kernels_backward(cell, v, out, up, lengths, reverse, grads):
    """Backward through ``_kernels`` into the caller's ``grads`` buffers
    (keyed like the inputs; ``grads["x"]`` may be None)."""
    ws = _workspace(cell, v)
    g = grads
    kind = _kind(cell)
    if kind == "lstm":
        _kernels.lstm_backward(g["x"], g["h0"], g["c0"], g["W"], g["U"],
                               g["b"], g.get("p"), up.get("dh"),
                               up.get("dh_n"), up.get("dc_n"), v["x"],
                               v["h0"], v["c0"], v["W"], v["U"], v.get("p"),
                               out["h"], out["c"], out["gates"], lengths,
                               reverse, ws)
    elif kind == "gru":
        _kernels.gru_backward(g["x"], g["h0"], g["W"], g["U"], g["b"],
                              g["bh"], up.get("dh"), up.get("dh_n"), v["x"],
                              v["h0"], v["W"], v["U"], out["h"],
                              out["gates"], out["hn"], lengths, reverse, ws)
    else:
        _kernels.elman_backward(g["x"], g["h0"], g["W"], g["U"], g["b"],
                                up.get("dh"), up.get("dh_n"), v["x"],
                                v["h0"], v["W"], v["U"], out["h"], lengths,
                                _activation(cell), reverse, ws)


def _assert_close(actual, expected, rtol, what):
    assert actual.shape == expected.shape, what
    assert np.all(np.isfinite(actual)), what
    err = np.max(np.abs(actual.astype(np.float64) - expected), initial=0.0)
    scale = np.max(np.abs(expected), initial=0.0)
    assert err <= rtol * scale + TINY, (
        f"{what}: max error {err:.3g}, max|reference| {scale:.3g}, "
        f"relative {err / max(scale, TINY):.3g} > {rtol:g}")


# ------------------------------------------------ C against the reference


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("cell", CELLS)
def test_matches_reference(isa, cell, shape, reverse, dtype):
    v, up, v64, up64, lengths = _case(cell, shape, reverse, dtype,
                                      _seed(cell, shape, reverse))
    rtol = RTOL[dtype]

    out = _forward(_ops, cell, v, lengths, reverse)
    out_ref = _forward(ref, cell, v64, lengths, reverse)
    assert set(out) == set(out_ref)
    for name in out:
        assert out[name].dtype == dtype, name
        _assert_close(out[name], out_ref[name], rtol, f"forward {name}")

    # Each side differentiates its own forward pass.
    grads = _backward(_ops, cell, v, out, up, lengths, reverse)
    grads_ref = _backward(ref, cell, v64, out_ref, up64, lengths, reverse)
    assert set(grads) == set(grads_ref) == set(_inputs_of(cell))
    for name in grads:
        assert grads[name].dtype == dtype, name
        _assert_close(grads[name], grads_ref[name], rtol, f"d{name}")


def _none_cases():
    cases = []
    for cell in CELLS:
        missing = [("dh",), ("dh_n",), ("dh", "dh_n")]
        if _kind(cell) == "lstm":
            missing = [("dh",), ("dh_n",), ("dc_n",), ("dh_n", "dc_n"),
                       ("dh", "dh_n", "dc_n")]
        cases += [(cell, m) for m in missing]
    return cases


@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("cell, missing", _none_cases(),
                         ids=lambda p: "+".join(p) if isinstance(p, tuple)
                         else p)
def test_none_upstream_means_zeros(cell, missing, reverse):
    shape = "H5-I3"
    v, up, _, _, lengths = _case(cell, shape, reverse, np.float64,
                                 _seed(cell, "none", reverse))
    out = _forward(_ops, cell, v, lengths, reverse)
    with_none = dict(up, **{name: None for name in missing})
    with_zeros = dict(up, **{name: np.zeros_like(up[name])
                             for name in missing})

    grads = _backward(_ops, cell, v, out, with_none, lengths, reverse)
    grads_ref = _backward(ref, cell, v, out, with_none, lengths, reverse)
    grads_zeros = _backward(_ops, cell, v, out, with_zeros, lengths, reverse)
    for name in grads:
        _assert_close(grads[name], grads_ref[name], RTOL[np.float64],
                      f"d{name}")
        assert np.array_equal(grads[name], grads_zeros[name]), name
    if len(missing) == len(up):
        for name in grads:
            assert np.all(grads[name] == 0.0), name
    else:
        assert np.any(grads["W"] != 0.0)


# ------------------------------------------------- the C-only contract


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("cell", CELLS)
def test_padding_is_zero_and_activation_gradients_overwritten(cell, reverse,
                                                              dtype):
    shape = "short"
    v, up, _, _, lengths = _case(cell, shape, reverse, dtype,
                                 _seed(cell, "pad", reverse))
    T, B, I = v["x"].shape
    padded = np.arange(T)[:, None] >= lengths[None, :]

    out = _kernels_forward(cell, v, lengths, reverse, fill=np.nan)
    expected = _forward(_ops, cell, v, lengths, reverse)
    for name in out:
        assert np.array_equal(out[name], expected[name]), name
        if name in TIME_OUTPUTS:
            assert np.all(out[name][padded] == 0.0), name
            assert np.any(out[name][~padded] != 0.0), name

    # Activation gradients start as NaN and must be overwritten (dx with
    # zeros where padded); parameter gradients start at zero.
    grads = {name: (np.full_like(v[name], np.nan) if name in ACTIVATIONS
                    else np.zeros_like(v[name]))
             for name in _inputs_of(cell)}
    _kernels_backward(cell, v, out, up, lengths, reverse, grads)
    expected = _backward(_ops, cell, v, out, up, lengths, reverse)
    for name in grads:
        assert np.array_equal(grads[name], expected[name]), name
    assert np.all(grads["x"][padded] == 0.0)
    assert np.any(grads["x"][~padded] != 0.0)

    # The upstream dh at padded positions (random here) is ignored.
    masked = dict(up, dh=np.where(padded[:, :, None], 0, up["dh"]))
    assert masked["dh"].dtype == dtype
    grads_masked = _backward(_ops, cell, v, out, masked, lengths, reverse)
    for name in grads:
        assert np.array_equal(grads_masked[name], grads[name]), name


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("cell", CELLS)
def test_parameter_gradients_accumulate(cell, reverse, dtype):
    v, up, _, _, lengths = _case(cell, "big", reverse, dtype,
                                 _seed(cell, "acc", reverse))
    out = _forward(_ops, cell, v, lengths, reverse)
    grads = {name: np.zeros_like(v[name]) for name in _inputs_of(cell)}
    _kernels_backward(cell, v, out, up, lengths, reverse, grads)
    once = {name: g.copy() for name, g in grads.items()}
    _kernels_backward(cell, v, out, up, lengths, reverse, grads)

    # Accumulating sums again in a different order: 2x up to rounding.
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    for name in grads:
        if name in ACTIVATIONS:
            assert np.array_equal(grads[name], once[name]), name
        else:
            assert np.any(once[name] != 0.0), name
            _assert_close(grads[name], 2.0 * once[name].astype(np.float64),
                          rtol, f"d{name} after two calls")


@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("cell", CELLS)
def test_dx_is_optional(cell, reverse):
    v, up, _, _, lengths = _case(cell, "H17-I7", reverse, np.float64,
                                 _seed(cell, "dx", reverse))
    out = _forward(_ops, cell, v, lengths, reverse)
    with_dx = _backward(_ops, cell, v, out, up, lengths, reverse)
    grads = {name: np.zeros_like(v[name]) for name in _inputs_of(cell)}
    grads["x"] = None
    _kernels_backward(cell, v, out, up, lengths, reverse, grads)
    for name in grads:
        if name != "x":
            assert np.array_equal(grads[name], with_dx[name]), name
            assert np.any(grads[name] != 0.0), name


# ------------------------------------------------------ thread invariance


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize(
    "cell, shape",
    [(c, s) for c in CELLS for s in ("H5-I3", "big", "rows", "units", "long")]
    + [(c, "wide") for c in CELLS if _kind(c) != "elman"])
def test_thread_count_does_not_change_bits(isa, cell, reverse, shape, dtype):
    v, up, _, _, lengths = _case(cell, shape, reverse, dtype,
                                 _seed(cell, "threads", reverse))
    results = {}
    for n_threads in (1, 2, 3):
        out = _forward(_ops, cell, v, lengths, reverse, n_threads=n_threads)
        grads = _backward(_ops, cell, v, out, up, lengths, reverse,
                          n_threads=n_threads)
        results[n_threads] = {**out, **{"d" + k: g for k, g in grads.items()}}
    for n_threads in (2, 3):
        for name, array in results[1].items():
            assert np.array_equal(results[n_threads][name], array), (
                f"{name} with {n_threads} threads differs from 1 thread")


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("shape", ["H17-I3", "big", "rows", "units", "B1"])
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("cell", ["lstm", "lstm_peepholes", "gru"])
def test_inference_without_gates_gives_the_same_outputs(isa, cell, reverse,
                                                        shape, dtype):
    # keep_gates=False lets the forward keep the post-activations in a
    # scratch row (when x.W is taken step by step, e.g. "rows"); the
    # outputs must not change by a bit, on any thread count.
    v, _, _, _, lengths = _case(cell, shape, reverse, dtype,
                                _seed(cell, "keep", reverse))
    kept = _forward(_ops, cell, v, lengths, reverse, n_threads=1)
    for n_threads in (1, 2, 3):
        out = _forward(_ops, cell, v, lengths, reverse, n_threads=n_threads,
                       keep_gates=False)
        for name in ("h", "c", "h_n", "c_n"):
            if name in kept:
                assert np.array_equal(out[name], kept[name]), (
                    f"{name} without gates, {n_threads} threads")


# ------------------------------------------------------------ one-hot input


def _one_hot_case(cell, shape, reverse, dtype):
    """A case whose x is one-hot at every valid (t, b), never in its last
    column -- padding holds random values, which must not matter -- and
    the same x made dense by a -0.0 in that column of one row: the kernels
    then multiply by W instead of gathering its rows, with the same values.
    """
    v, up, _, _, lengths = _case(cell, shape, reverse, dtype,
                                 _seed(cell, "one-hot", reverse))
    T, B, I = v["x"].shape
    rng = np.random.default_rng(_seed(cell, shape, "codes"))
    x = rng.standard_normal((T, B, I)).astype(dtype)
    valid = np.arange(T)[:, None] < lengths[None, :]
    x[valid] = 0.0
    t, b = np.nonzero(valid)
    x[t, b, rng.integers(0, I - 1, t.size)] = 1.0
    dense = x.copy()
    dense[0, 0, I - 1] = -0.0
    return {**v, "x": x}, {**v, "x": dense}, up, lengths


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("shape", ["H17-I3", "H5-I7", "big", "rows", "units",
                                   "B1", "long"])
@pytest.mark.parametrize("cell", CELLS)
def test_one_hot_input_gathers_rows_of_w(isa, cell, shape, reverse, dtype):
    # Every path of the input projection (step by step, summed with h.U or
    # apart; all steps at once; rows or units per thread) gathers rows of W
    # for a one-hot x.  W's last row, which no row selects, is NaN: a GEMM
    # would spread it (0 * NaN), a gather never reads it.  The forward
    # outputs, and every gradient but dW's and dx's NaN column, are those
    # of the dense path to the bit; dW is summed row by row instead of in
    # GEMM blocks, so it agrees to rounding.  1-3 threads agree exactly.
    hot, dense, up, lengths = _one_hot_case(cell, shape, reverse, dtype)
    want = _forward(_ops, cell, dense, lengths, reverse, n_threads=1)
    want_g = _backward(_ops, cell, dense, want, up, lengths, reverse,
                       n_threads=1)
    hot["W"] = hot["W"].copy()
    hot["W"][-1] = np.nan
    first = None
    for n_threads in (1, 2, 3):
        out = _forward(_ops, cell, hot, lengths, reverse, n_threads=n_threads)
        grads = _backward(_ops, cell, hot, out, up, lengths, reverse,
                          n_threads=n_threads)
        for name, array in want.items():
            assert np.array_equal(out[name], array), (name, n_threads)
        assert np.all(np.isnan(grads["x"][..., -1][
            np.arange(len(out["h"]))[:, None] < lengths[None, :]]))
        grads["x"] = grads["x"][..., :-1]
        want_x = want_g["x"][..., :-1]
        for name, array in {**want_g, "x": want_x}.items():
            if name == "W":
                np.testing.assert_allclose(grads[name], array,
                                           rtol=RTOL[dtype],
                                           atol=RTOL[dtype], err_msg=name)
            else:
                assert np.array_equal(grads[name], array), (name, n_threads)
        if first is None:
            first = grads["W"]
        assert np.array_equal(grads["W"], first), n_threads
    if _kind(cell) != "elman":   # inference keeps no gates
        out = _forward(_ops, cell, hot, lengths, reverse, n_threads=2,
                       keep_gates=False)
        for name in ("h", "h_n", "c", "c_n"):
            if name in want:
                assert np.array_equal(out[name], want[name]), name
