"""pytest-benchmark suite: the recurrent kernels and the estimators.

Not part of the test suite (``pytest`` from the repository root collects
only tests/).  Run after ``pip install ".[test]"``::

    pytest bench/ --benchmark-only
    pytest bench/ --benchmark-only -k lstm --benchmark-columns=median,ops

Kernels run at issue 5's "medium" configuration (T=100, B=64, I=128,
H=256, float32) on 1 and 2 threads, with every output and the workspace
allocated once outside the timed call, as the estimators do.  Each kernel
benchmark records its nominal GFLOP count (2 * MACs of the gate GEMMs; a
backward pass counts twice the forward) in ``extra_info``.  The "char"
group times the character model's first layer (T=50, B=32, 65 one-hot
inputs, H=200) with its one-hot input and with the same input made dense
by a -0.0, and its softmax head (1600 rows, H=200, 65 classes)::

    pytest bench/test_bench_kernels.py --benchmark-only -k char

The "buffer alignment" group times the medium LSTM forward with its arrays
on a cache line and 16 bytes past one (``-k alignment``).  The "finiteness"
group times the input check of fit and predict, the C scan against the
NumPy checks it replaced, on 100 MB of float32 (``-k finite``).
"""
import os
import sys
import warnings

import numpy as np
import pytest

# Started as ``python -m pytest`` from the root, the source tree (without
# the compiled kernels) would shadow the installed seqnet.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _ROOT]

pytest.importorskip("pytest_benchmark")

from seqnet import SequenceClassifier, _kernels  # noqa: E402
from seqnet._network import aligned_empty  # noqa: E402

T, B, I, H = 100, 64, 128, 256
GATES = {"lstm": 4, "gru": 3}
THREADS = [1, 2]


def _gflop(cell):
    """Forward gate GEMMs of the medium configuration, in GFLOP."""
    return 2 * T * B * (I + H) * GATES[cell] * H / 1e9


def _layer(cell, seed=0):
    """Weights, inputs, and every forward and backward buffer."""
    rng = np.random.default_rng(seed)
    G = GATES[cell] * H
    f32 = np.float32
    a = dict(
        x=rng.standard_normal((T, B, I)).astype(f32),
        h0=np.zeros((B, H), f32), c0=np.zeros((B, H), f32),
        W=(rng.standard_normal((I, G)) / np.sqrt(I)).astype(f32),
        U=(rng.standard_normal((H, G)) / np.sqrt(H)).astype(f32),
        b=np.zeros(G, f32), bh=np.zeros(H, f32),
        lengths=np.full(B, T, np.int64),
        h=np.empty((T, B, H), f32), c=np.empty((T, B, H), f32),
        hn=np.empty((T, B, H), f32), gates=np.empty((T, B, G), f32),
        h_n=np.empty((B, H), f32), c_n=np.empty((B, H), f32),
        dh=(rng.standard_normal((T, B, H)) * 1e-2).astype(f32),
        dx=np.empty((T, B, I), f32), dh0=np.empty((B, H), f32),
        dc0=np.empty((B, H), f32),
        dW=np.zeros((I, G), f32), dU=np.zeros((H, G), f32),
        db=np.zeros(G, f32), dbh=np.zeros(H, f32))
    size = {"lstm": _kernels.lstm_workspace_size,
            "gru": _kernels.gru_workspace_size}[cell]
    a["ws"] = np.empty(max(size(f32, T, B, I, H, n) for n in THREADS),
                       np.uint8)
    return a


def _forward(cell, a, n, keep=True):
    # keep=False: inference, the gates kept for no backward pass.
    if cell == "lstm":
        _kernels.lstm_forward(a["h"], a["c"], a["gates"], a["h_n"], a["c_n"],
                              a["x"], a["h0"], a["c0"], a["W"], a["U"],
                              a["b"], None, a["lengths"], False, a["ws"], n,
                              keep)
    else:
        _kernels.gru_forward(a["h"], a["gates"], a["hn"], a["h_n"], a["x"],
                             a["h0"], a["W"], a["U"], a["b"], a["bh"],
                             a["lengths"], False, a["ws"], n, keep)


def _backward(cell, a, n):
    # Parameter gradients accumulate over calls; their values do not
    # change the work.
    if cell == "lstm":
        _kernels.lstm_backward(a["dx"], a["dh0"], a["dc0"], a["dW"], a["dU"],
                               a["db"], None, a["dh"], None, None, a["x"],
                               a["h0"], a["c0"], a["W"], a["U"], None,
                               a["h"], a["c"], a["gates"], a["lengths"],
                               False, a["ws"], n)
    else:
        _kernels.gru_backward(a["dx"], a["dh0"], a["dW"], a["dU"], a["db"],
                              a["dbh"], a["dh"], None, a["x"], a["h0"],
                              a["W"], a["U"], a["h"], a["gates"], a["hn"],
                              a["lengths"], False, a["ws"], n)


@pytest.mark.parametrize("keep", [True, False], ids=["train", "infer"])
@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("cell", sorted(GATES))
def test_forward_medium(benchmark, cell, n_threads, keep):
    a = _layer(cell)
    benchmark.group = f"{cell} kernels, medium"
    benchmark.extra_info["gflop"] = _gflop(cell)
    benchmark(_forward, cell, a, n_threads, keep)
    assert np.isfinite(a["h_n"]).all()


@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("cell", sorted(GATES))
def test_backward_medium(benchmark, cell, n_threads):
    a = _layer(cell)
    _forward(cell, a, n_threads)
    benchmark.group = f"{cell} kernels, medium"
    benchmark.extra_info["gflop"] = 2 * _gflop(cell)
    benchmark(_backward, cell, a, n_threads)
    assert np.isfinite(a["dx"]).all()


def _at_offset(arr, offset):
    """A copy of ``arr`` whose data starts ``offset`` bytes past a cache
    line (seqnet's buffers start on one: seqnet/_network.py)."""
    raw = aligned_empty(arr.nbytes + 64, np.uint8)
    out = raw[offset:offset + arr.nbytes].view(arr.dtype).reshape(arr.shape)
    out[...] = arr
    return out


@pytest.mark.parametrize("offset", [0, 16], ids=["aligned", "16B-off"])
def test_forward_medium_buffer_alignment(benchmark, offset):
    # The LSTM forward (gates kept) with x, h, c and gates on a cache line,
    # or 16 bytes past one as numpy may place them: every 64-byte vector
    # access of the pointwise part then spans two lines.
    a = _layer("lstm")
    for name in ("x", "h", "c", "gates"):
        a[name] = _at_offset(a[name], offset)
    benchmark.group = "lstm forward, medium, buffer alignment, 1 thread"
    benchmark(_forward, "lstm", a, 1)
    assert np.isfinite(a["h_n"]).all()


# ------------------------------------------------- the character model

def _char_layer(one_hot):
    """The LSTM of the char configuration's first layer, its x one-hot at
    every step, or dense: the same x with one +0.0 made -0.0, which the
    kernels take as any dense input (the same values, multiplied)."""
    T, B, I, H = 50, 32, 65, 200
    rng = np.random.default_rng(0)
    f32 = np.float32
    x = np.zeros((T, B, I), f32)
    x[np.arange(T)[:, None], np.arange(B)[None, :],
      rng.integers(0, I - 1, (T, B))] = 1
    if not one_hot:
        x[0, 0, I - 1] = -0.0
    G = 4 * H
    a = dict(x=x, h0=np.zeros((B, H), f32), c0=np.zeros((B, H), f32),
             W=(rng.standard_normal((I, G)) / np.sqrt(I)).astype(f32),
             U=(rng.standard_normal((H, G)) / np.sqrt(H)).astype(f32),
             b=np.zeros(G, f32), lengths=np.full(B, T, np.int64),
             h=np.empty((T, B, H), f32), c=np.empty((T, B, H), f32),
             gates=np.empty((T, B, G), f32), h_n=np.empty((B, H), f32),
             c_n=np.empty((B, H), f32),
             dh=(rng.standard_normal((T, B, H)) * 1e-2).astype(f32),
             dh0=np.empty((B, H), f32), dc0=np.empty((B, H), f32),
             dW=np.zeros((I, G), f32), dU=np.zeros((H, G), f32),
             db=np.zeros(G, f32))
    a["ws"] = np.empty(_kernels.lstm_workspace_size(f32, T, B, I, H, 1),
                       np.uint8)
    return a


def _char_forward(a, keep):
    _kernels.lstm_forward(a["h"], a["c"], a["gates"], a["h_n"], a["c_n"],
                          a["x"], a["h0"], a["c0"], a["W"], a["U"], a["b"],
                          None, a["lengths"], False, a["ws"], 1, keep)


def _char_backward(a):
    # No dx: the first layer's input needs no gradient (Network.backward).
    _kernels.lstm_backward(None, a["dh0"], a["dc0"], a["dW"], a["dU"],
                           a["db"], None, a["dh"], None, None, a["x"],
                           a["h0"], a["c0"], a["W"], a["U"], None, a["h"],
                           a["c"], a["gates"], a["lengths"], False, a["ws"],
                           1)


@pytest.mark.parametrize("keep", [True, False], ids=["train", "infer"])
@pytest.mark.parametrize("one_hot", [True, False], ids=["one_hot", "dense"])
def test_char_layer_forward(benchmark, one_hot, keep):
    a = _char_layer(one_hot)
    benchmark.group = "char layer 1 forward, 1 thread"
    benchmark(_char_forward, a, keep)
    assert np.isfinite(a["h_n"]).all()


@pytest.mark.parametrize("one_hot", [True, False], ids=["one_hot", "dense"])
def test_char_layer_backward(benchmark, one_hot):
    a = _char_layer(one_hot)
    _char_forward(a, True)
    benchmark.group = "char layer 1 backward, 1 thread"
    benchmark(_char_backward, a)
    assert np.isfinite(a["dW"]).all()


def test_char_softmax_head(benchmark):
    N, H, K = 1600, 200, 65
    rng = np.random.default_rng(0)
    f32 = np.float32
    X = rng.standard_normal((N, H)).astype(f32)
    V = (rng.standard_normal((H, K)) / np.sqrt(H)).astype(f32)
    c = np.zeros(K, f32)
    y = rng.integers(0, K, N).astype(np.int64)
    P, dX = np.empty((N, K), f32), np.empty((N, H), f32)
    dV, dc = np.zeros((H, K), f32), np.zeros(K, f32)
    ws = np.empty(_kernels.gemm_workspace_size(1), np.uint8)
    benchmark.group = "char softmax head, 1 thread"
    loss = benchmark(_kernels.softmax_xent, P, dX, dV, dc, X, V, c, y, None,
                     ws, 1)
    assert np.isfinite(loss)


# ------------------------------------------------------ input validation

def _numpy_sum_check(values):
    """The check seqnet used above 65536 values before the C scan: the sum
    is finite only if every value is (an overflow sent it to the exact
    per-value check)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(values.sum()))


@pytest.mark.parametrize("check", ["c_scan", "numpy_sum", "numpy_isfinite"])
def test_finite_check(benchmark, check):
    values = np.random.default_rng(0).standard_normal(25_000_000).astype(
        np.float32)
    fn = {"c_scan": _kernels.all_finite, "numpy_sum": _numpy_sum_check,
          "numpy_isfinite": lambda v: bool(np.isfinite(v).all())}[check]
    benchmark.group = "finiteness check, 100 MB float32"
    assert benchmark(fn, values) is True


# ------------------------------------------------------------- estimators

def _dataset(n=256, t=50, features=16, seed=0):
    """Sequences of 20..50 steps; the label is the sign of a feature's
    mean (learnable, so fit does real work)."""
    rng = np.random.default_rng(seed)
    X = [rng.standard_normal((int(k), features)).astype(np.float32)
         for k in rng.integers(20, t + 1, n)]
    y = np.array([int(x[:, 0].mean() > 0) for x in X])
    return X, y


def _classifier(n_threads, **kw):
    return SequenceClassifier(hidden_sizes=64, max_epochs=3, batch_size=32,
                              random_state=0, n_jobs=n_threads, **kw)


@pytest.mark.parametrize("n_threads", THREADS)
def test_classifier_fit(benchmark, n_threads):
    X, y = _dataset()
    benchmark.group = "SequenceClassifier"

    def fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # 3 epochs do not converge
            return _classifier(n_threads).fit(X, y)

    clf = benchmark.pedantic(fit, rounds=5, warmup_rounds=1)
    assert clf.n_iter_ == 3


@pytest.mark.parametrize("n_threads", THREADS)
def test_classifier_predict(benchmark, n_threads):
    X, y = _dataset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = _classifier(n_threads).fit(X, y)
    benchmark.group = "SequenceClassifier"
    pred = benchmark(clf.predict, X)
    assert pred.shape == (len(X),)


def test_classifier_predict_one_short_sequence(benchmark):
    """The per-call cost of predict: one sequence of 10 steps, 1 thread."""
    X, y = _dataset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = _classifier(1).fit(X, y)
    one = [X[0][:10]]
    benchmark.group = "SequenceClassifier"
    pred = benchmark(clf.predict, one)
    assert pred.shape == (1,)
