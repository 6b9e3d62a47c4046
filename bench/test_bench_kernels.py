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
group times the character model's first layer (T=50, B=32, 65 inputs,
H=200) over token codes (rows of W gathered) and over the same input as
dense one-hot rows (multiplied through the GEMM), and its softmax head
(1600 rows, H=200, 65 classes)::

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
CELLS = ("gru", "lstm")
THREADS = [1, 2]


def _gflop(cell):
    """Forward gate GEMMs of the medium configuration, in GFLOP."""
    return 2 * T * B * (I + H) * _kernels.CELLS[cell].n_gates * H / 1e9


def _layer(cell, seed=0):
    """Weights, inputs, every forward and backward buffer, and the kernel
    descriptors of them (``_describe``)."""
    rng = np.random.default_rng(seed)
    info = _kernels.CELLS[cell]
    G = info.n_gates * H
    f32 = np.float32

    def state(shape):
        return np.zeros(shape, f32) if info.has_c else None

    a = dict(
        x=rng.standard_normal((T, B, I)).astype(f32),
        h0=np.zeros((B, H), f32), c0=state((B, H)),
        W=(rng.standard_normal((I, G)) / np.sqrt(I)).astype(f32),
        U=(rng.standard_normal((H, G)) / np.sqrt(H)).astype(f32),
        b=np.zeros(G, f32),
        bh=np.zeros(H, f32) if info.has_bh else None,
        lengths=np.full(B, T, np.int64),
        h=np.empty((T, B, H), f32), c=state((T, B, H)),
        hn=np.empty((T, B, H), f32) if info.has_hn else None,
        gates=np.empty((T, B, G), f32), h_n=np.empty((B, H), f32),
        c_n=state((B, H)),
        dh=(rng.standard_normal((T, B, H)) * 1e-2).astype(f32),
        dx=np.empty((T, B, I), f32), dh0=np.empty((B, H), f32),
        dc0=state((B, H)),
        dW=np.zeros((I, G), f32), dU=np.zeros((H, G), f32),
        db=np.zeros(G, f32),
        dbh=np.zeros(H, f32) if info.has_bh else None)
    _describe(cell, a)
    a["ws"] = np.empty(max(_kernels.layer_workspace_size(a["layer"], T, B, n)
                           for n in THREADS), np.uint8)
    return a


def _describe(cell, a):
    """The layer, its gradients and its tape as the kernels take them:
    made once, outside the timed calls, as Network makes them."""
    a["layer"] = _kernels.Layer(cell, a["W"], a["U"], a["b"], bh=a["bh"])
    a["grads"] = _kernels.Layer(cell, a["dW"], a["dU"], a["db"], bh=a["dbh"])
    a["tape"] = _kernels.Tape(a["h"], a["c"], a["gates"], a["hn"], a["h_n"],
                              a["c_n"])


def _forward(a, n, keep=True):
    # keep=False: inference, the gates kept for no backward pass.
    _kernels.layer_forward(a["layer"], a["tape"], a["x"], a["h0"], a["c0"],
                           a["lengths"], False, a["ws"], n, keep)


def _backward(a, n, want_dx=True):
    # Parameter gradients accumulate over calls; their values do not
    # change the work.
    _kernels.layer_backward(a["layer"], a["grads"],
                            a["dx"] if want_dx else None, a["dh0"],
                            a["dc0"], a["dh"], None, None, a["x"], a["h0"],
                            a["c0"], a["tape"], a["lengths"], False, a["ws"],
                            n)


@pytest.mark.parametrize("keep", [True, False], ids=["train", "infer"])
@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("cell", CELLS)
def test_forward_medium(benchmark, cell, n_threads, keep):
    a = _layer(cell)
    benchmark.group = f"{cell} kernels, medium"
    benchmark.extra_info["gflop"] = _gflop(cell)
    benchmark(_forward, a, n_threads, keep)
    assert np.isfinite(a["h_n"]).all()


@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("cell", CELLS)
def test_backward_medium(benchmark, cell, n_threads):
    a = _layer(cell)
    _forward(a, n_threads)
    benchmark.group = f"{cell} kernels, medium"
    benchmark.extra_info["gflop"] = 2 * _gflop(cell)
    benchmark(_backward, a, n_threads)
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
    _describe("lstm", a)
    benchmark.group = "lstm forward, medium, buffer alignment, 1 thread"
    benchmark(_forward, a, 1)
    assert np.isfinite(a["h_n"]).all()


# ------------------------------------------------- the character model

def _char_layer(codes):
    """The LSTM of the char configuration's first layer, its input int64
    token codes, or the same input as dense one-hot rows (which the
    kernels multiply by W like any dense input)."""
    T, B, I, H = 50, 32, 65, 200
    rng = np.random.default_rng(0)
    f32 = np.float32
    x = rng.integers(0, I, (T, B))
    if not codes:
        x = np.eye(I, dtype=f32)[x]
    G = 4 * H
    a = dict(x=x, h0=np.zeros((B, H), f32), c0=np.zeros((B, H), f32),
             W=(rng.standard_normal((I, G)) / np.sqrt(I)).astype(f32),
             U=(rng.standard_normal((H, G)) / np.sqrt(H)).astype(f32),
             b=np.zeros(G, f32), bh=None, lengths=np.full(B, T, np.int64),
             h=np.empty((T, B, H), f32), c=np.empty((T, B, H), f32),
             gates=np.empty((T, B, G), f32), hn=None,
             h_n=np.empty((B, H), f32), c_n=np.empty((B, H), f32),
             dh=(rng.standard_normal((T, B, H)) * 1e-2).astype(f32),
             dh0=np.empty((B, H), f32), dc0=np.empty((B, H), f32),
             dW=np.zeros((I, G), f32), dU=np.zeros((H, G), f32),
             db=np.zeros(G, f32), dbh=None)
    _describe("lstm", a)
    a["ws"] = np.empty(_kernels.layer_workspace_size(a["layer"], T, B, 1),
                       np.uint8)
    return a


@pytest.mark.parametrize("keep", [True, False], ids=["train", "infer"])
@pytest.mark.parametrize("codes", [True, False], ids=["codes", "dense"])
def test_char_layer_forward(benchmark, codes, keep):
    a = _char_layer(codes)
    benchmark.group = "char layer 1 forward, 1 thread"
    benchmark(_forward, a, 1, keep)
    assert np.isfinite(a["h_n"]).all()


@pytest.mark.parametrize("codes", [True, False], ids=["codes", "dense"])
def test_char_layer_backward(benchmark, codes):
    # No dx: the first layer's input needs no gradient (Network.backward),
    # and token codes have none.
    a = _char_layer(codes)
    _forward(a, 1)
    benchmark.group = "char layer 1 backward, 1 thread"
    benchmark(_backward, a, 1, False)
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
