"""Tests of the C cell kernels (through ``seqnet._ops`` and ``_kernels``)
against the NumPy reference ``seqnet._reference``.

The reference's own backward is checked against finite differences in
``test_reference.py``; here the C kernels are checked against the reference:
every forward output and every gradient (dx, dh0, dc0, dW, dU, db, dp, dbh),
for each cell, both directions, both dtypes, on shapes off any tile grid and
with ragged lengths.  Then the contract of ``csrc/seqnet.h`` that the
reference does not share: padding written as exact zeros, activation
gradients overwritten, parameter gradients accumulated, dx optional, NULL
upstream gradients meaning zeros, bit-identical results for every thread
count on every ISA path, and token codes giving the bits of their one-hot
rows (codes outside the vocabulary refused, the padding's never read).

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

CELLS = ("lstm", "lstm_peepholes", "lstm_softsign", "lstm_relu", "gru",
         "gru_softsign", "gru_relu", "elman_tanh", "elman_relu",
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
    """The activation a case names ("elman_relu", "lstm_softsign"); None
    for the default (tanh)."""
    part = cell.split("_", 1)[1] if "_" in cell else None
    return part if part in ("tanh", "relu", "softsign") else None


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


def _relu_inputs(cell, v, out, lengths, reverse):
    """Every value a relu case applies relu to, from the saved forward:
    Elman's pre-activation x_t . W + h_prev . U + b, the LSTM's a_g and c,
    the GRU's a_n."""
    kind, H = _kind(cell), v["h0"].shape[1]
    pre = []
    for row, length in enumerate(lengths):
        for t in range(length):
            first = length - 1 if reverse else 0
            if t == first:
                h_prev = v["h0"][row]
            else:
                h_prev = out["h"][t + 1 if reverse else t - 1, row]
            a = v["x"][t, row] @ v["W"] + h_prev @ v["U"] + v["b"]
            if kind == "elman":
                pre.append(a)
            elif kind == "lstm":
                pre += [a[2 * H:3 * H], out["c"][t, row]]
            else:
                a_n = (v["x"][t, row] @ v["W"] + v["b"])[2 * H:]
                pre.append(a_n + out["gates"][t, row, :H] * out["hn"][t, row])
    return np.concatenate(pre)


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
        if _activation(cell) != "relu" or (_kind(cell) != "elman"
                                           and dtype == np.float64):
            break
        if _kind(cell) != "elman":
            # The LSTM's and GRU's relu inputs include states carried over
            # many steps: in float32 against the float64 reference, some of
            # the thousands of them in the larger shapes always sit close
            # enough to the kink to take the other branch.  float64 C
            # against the float64 reference checks them.
            pytest.skip("relu LSTM/GRU are checked in float64")
        out = _forward(ref, cell, v64, lengths, reverse)
        pre = _relu_inputs(cell, v64, out, lengths, reverse)
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
                               activation=_activation(cell) or "tanh", **kw)
    elif kind == "gru":
        res = mod.gru_forward(v["x"], v["h0"], v["W"], v["U"], v["b"],
                              v["bh"], lengths, reverse=reverse,
                              activation=_activation(cell) or "tanh", **kw)
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
                                lengths, reverse=reverse,
                                activation=_activation(cell) or "tanh", **kw)
        if "p" not in v:
            assert res[-1] is None
    elif kind == "gru":
        res = mod.gru_backward(up.get("dh"), up.get("dh_n"), v["x"], v["h0"],
                               v["W"], v["U"], out["h"], out["gates"],
                               out["hn"], lengths, reverse=reverse,
                               activation=_activation(cell) or "tanh", **kw)
    else:
        res = mod.elman_backward(up.get("dh"), up.get("dh_n"), v["x"],
                                 v["h0"], v["W"], v["U"], out["h"], lengths,
                                 activation=_activation(cell),
                                 reverse=reverse, **kw)
    return dict(zip(_inputs_of(cell), res))


def _layer(cell, v):
    """The ``_kernels.Layer`` of a case's parameters (or, given gradient
    arrays keyed the same way, of its gradients)."""
    return _kernels.Layer(_kind(cell), v["W"], v["U"], v["b"], v.get("p"),
                          v.get("bh"), _activation(cell) or "tanh")


def _workspace(layer, x, n_threads=0):
    T, B = x.shape[:2]
    return np.empty(_kernels.layer_workspace_size(layer, T, B, n_threads),
                    np.uint8)


def _tape(out):
    """The ``_kernels.Tape`` of forward outputs by name."""
    return _kernels.Tape(*(out.get(name) for name in
                           ("h", "c", "gates", "hn", "h_n", "c_n")))


def _kernels_forward(cell, v, lengths, reverse, fill):
    """Forward through ``_kernels`` into a tape of output buffers filled
    with ``fill``."""
    T, B = v["x"].shape[:2]
    H = v["h0"].shape[1]
    G = GATES[_kind(cell)] * H
    shapes = {"h": (T, B, H), "c": (T, B, H), "gates": (T, B, G),
              "hn": (T, B, H), "h_n": (B, H), "c_n": (B, H)}
    out = {name: np.full(shapes[name], fill, v["h0"].dtype)
           for name in OUTPUTS[_kind(cell)]}
    layer = _layer(cell, v)
    _kernels.layer_forward(layer, _tape(out), v["x"], v["h0"], v.get("c0"),
                           lengths, reverse, _workspace(layer, v["x"]))
    return out


def _kernels_backward(cell, v, out, up, lengths, reverse, grads):
    """Backward through ``_kernels`` into the caller's ``grads`` buffers
    (keyed like the inputs; ``grads["x"]`` may be None)."""
    layer = _layer(cell, v)
    _kernels.layer_backward(layer, _layer(cell, grads), grads["x"],
                            grads["h0"], grads.get("c0"), up.get("dh"),
                            up.get("dh_n"), up.get("dc_n"), v["x"], v["h0"],
                            v.get("c0"), _tape(out), lengths, reverse,
                            _workspace(layer, v["x"]))


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


# ------------------------------------------------------------ token codes

# Codes a gather must never use as a row index: the padding may hold them.
WILD_CODES = (-1, -(2 ** 63), 2 ** 63 - 1, 2 ** 40)


def _codes_case(cell, shape, reverse, dtype):
    """A case whose input is int64 token codes, in [0, I - 1) at every
    valid (t, b) -- never I - 1 -- and anything in the padding (negative,
    I - 1, I, far past I), which must not be read; and the same input as a
    dense one-hot x (random values in the padding, which must not matter
    either)."""
    v, up, _, _, lengths = _case(cell, shape, reverse, dtype,
                                 _seed(cell, "codes", reverse))
    T, B, I = v["x"].shape
    rng = np.random.default_rng(_seed(cell, shape, "codes"))
    valid = np.arange(T)[:, None] < lengths[None, :]
    codes = np.empty((T, B), np.int64)
    codes[valid] = rng.integers(0, I - 1, valid.sum())
    pad = rng.integers(-2, I + 2, (~valid).sum())
    pad[:len(WILD_CODES)] = WILD_CODES[:pad.size]
    codes[~valid] = pad
    x = rng.standard_normal((T, B, I)).astype(dtype)
    x[valid] = 0.0
    t, b = np.nonzero(valid)
    x[t, b, codes[valid]] = 1.0
    return {**v, "x": codes}, {**v, "x": x}, up, lengths


def _dw_row_by_row(cell, coded, up, lengths, reverse):
    """dW as the backward over token codes sums it: each valid (t, b)'s
    row of dgates added to row codes[t, b] of dW, in the order t, then b.
    The rows of dgates are read off the backward of the same batch with a
    code of its own for every valid (t, b) and W's rows gathered to match
    (the same forward, to the bit), where each row of dW receives exactly
    one row of dgates.  That W has at least as many rows as the original,
    zeros past the gathered ones: the kernels choose how to run the input
    projection by the size of W, and the cells' arithmetic may round
    differently (the compiler fuses multiply-adds per code path), so the
    two batches must take the same path."""
    codes = coded["x"]
    T, B = codes.shape
    t, b = np.nonzero(np.arange(T)[:, None] < lengths[None, :])
    own = np.zeros_like(codes)
    own[t, b] = np.arange(t.size)
    W = coded["W"]
    rows = np.zeros((max(t.size, W.shape[0]), W.shape[1]), W.dtype)
    rows[:t.size] = W[codes[t, b]]
    one_each = {**coded, "x": own, "W": rows}
    out = _forward(_ops, cell, one_each, lengths, reverse)
    dgates = _backward(_ops, cell, one_each, out, up, lengths, reverse)["W"]
    dW = np.zeros_like(coded["W"])
    for i in range(t.size):
        dW[codes[t[i], b[i]]] += dgates[i]
    return out, dW


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("shape", ["H17-I3", "H5-I7", "big", "rows", "units",
                                   "B1", "long"])
@pytest.mark.parametrize("cell", CELLS)
def test_token_codes_give_the_bits_of_their_one_hot_rows(isa, cell, shape,
                                                         reverse, dtype):
    # Every path of the input projection (step by step, summed with h.U or
    # apart; all steps at once; rows or units per thread) gathers row k of
    # W for code k: exactly what the GEMM gives for a one-hot row (the
    # other products are exact zeros), so the forward outputs and every
    # gradient but dW are the dense one-hot path's to the bit.  dW gets
    # each dgates row added to its code's row, one by one, where the GEMM
    # sums blocks of rows before adding them: the same terms, so it agrees
    # to rounding, and it is bit for bit the one-by-one sum.  W's last row,
    # which no code selects, is NaN: the GEMM would spread it (0 * NaN), a
    # gather never reads it.  There is no dx for codes.  1-3 threads agree.
    coded, dense, up, lengths = _codes_case(cell, shape, reverse, dtype)
    want = _forward(_ops, cell, dense, lengths, reverse, n_threads=1)
    want_g = _backward(_ops, cell, dense, want, up, lengths, reverse,
                       n_threads=1)
    coded["W"] = coded["W"].copy()
    coded["W"][-1] = np.nan
    one_each, want_dW = _dw_row_by_row(cell, coded, up, lengths, reverse)
    for name, array in want.items():
        assert np.array_equal(one_each[name], array), name
    _assert_close(want_dW, want_g["W"], RTOL[dtype], "dW")
    for n_threads in (1, 2, 3):
        out = _forward(_ops, cell, coded, lengths, reverse,
                       n_threads=n_threads)
        grads = _backward(_ops, cell, coded, out, up, lengths, reverse,
                          n_threads=n_threads)
        assert set(out) == set(want)
        for name, array in want.items():
            assert np.array_equal(out[name], array), (name, n_threads)
        assert grads.pop("x") is None
        assert np.array_equal(grads.pop("W"), want_dW), n_threads
        for name, array in grads.items():
            assert np.array_equal(array, want_g[name]), (name, n_threads)
    if _kind(cell) != "elman":   # inference keeps no gates
        out = _forward(_ops, cell, coded, lengths, reverse, n_threads=2,
                       keep_gates=False)
        for name in ("h", "h_n", "c", "c_n"):
            if name in want:
                assert np.array_equal(out[name], want[name]), name


def _bad_codes(codes, lengths, where, value):
    """``codes`` with ``value`` at one valid (t, b): the first step of the
    longest row, or the last step of the shortest."""
    t, b = (0, 0) if where == "first" else (lengths[-1] - 1, len(lengths) - 1)
    bad = codes.copy()
    bad[t, b] = value
    return bad


@pytest.mark.parametrize("value", ["-1", "I", "I+1", "min", "max"])
@pytest.mark.parametrize("where", ["first", "last"])
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("cell", ["lstm", "gru", "elman_tanh"])
def test_a_code_outside_the_vocabulary_raises(cell, reverse, where, value):
    coded, _, up, lengths = _codes_case(cell, "short", reverse, np.float64)
    I = coded["W"].shape[0]
    value = {"-1": -1, "I": I, "I+1": I + 1, "min": -(2 ** 63),
             "max": 2 ** 63 - 1}[value]
    out = _forward(_ops, cell, coded, lengths, reverse)
    bad = {**coded, "x": _bad_codes(coded["x"], lengths, where, value)}
    with pytest.raises(ValueError, match="token code"):
        _forward(_ops, cell, bad, lengths, reverse)
    with pytest.raises(ValueError, match="token code"):
        _backward(_ops, cell, bad, out, up, lengths, reverse)
    # The same position with the largest valid code is fine.
    ok = {**coded, "x": _bad_codes(coded["x"], lengths, where, I - 1)}
    _backward(_ops, cell, ok, _forward(_ops, cell, ok, lengths, reverse), up,
              lengths, reverse)


@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("cell", CELLS)
def test_codes_in_the_padding_are_ignored(cell, reverse):
    coded, _, up, lengths = _codes_case(cell, "short", reverse, np.float64)
    T, B = coded["x"].shape
    padded = np.arange(T)[:, None] >= lengths[None, :]
    assert padded.any()
    want = _forward(_ops, cell, coded, lengths, reverse)
    want_g = _backward(_ops, cell, coded, want, up, lengths, reverse)
    for value in (0,) + WILD_CODES:
        wild = {**coded, "x": np.where(padded, value, coded["x"])}
        out = _forward(_ops, cell, wild, lengths, reverse)
        grads = _backward(_ops, cell, wild, out, up, lengths, reverse)
        for name in want:
            assert np.array_equal(out[name], want[name]), (name, value)
        for name in want_g:
            if name != "x":
                assert np.array_equal(grads[name], want_g[name]), (name,
                                                                   value)
