"""The predict path's shortcuts give what the general path gives.

Predicting one short sequence is dominated by per-call Python work, so
that path skips what a plain input does not need: scikit-learn's
check_array for a float32/float64 ndarray (``_as_float_array``), the
feature-name look-up for arrays when the model recorded no names, the copy
of a single sequence into a padded batch (``_pad``), the fitted check's
tag look-ups, and rebuilding buffer views and per-layer parameter dicts.
Each test here runs the shortcut and, with it switched off, the general
path, and asks for the same bits, the same errors and the same warnings.
"""
import re
import threading
import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.exceptions import NotFittedError

from seqnet import SequenceClassifier, SequenceRegressor, SequenceTagger
from seqnet import _base, _kernels, _validation
from seqnet._network import Buffers
from seqnet._validation import SequenceData, check_sequences, pad_batch

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture
def general_path(monkeypatch):
    """Switch the shortcuts off: check_array for every array, every batch
    copied by pad_batch."""
    def switch_off():
        monkeypatch.setattr(_validation, "_as_float_array",
                            lambda X, dtype, copy: None)
        monkeypatch.setattr(
            _base, "_pad", lambda seqs, idx, buffers: pad_batch(seqs, idx))
    return switch_off


def outcome(fn, *args, **kwargs):
    """What a call gives: ("ok", result) or ("error", type, message),
    with the warnings it raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = ("ok", fn(*args, **kwargs))
        except Exception as exc:  # compared below
            result = ("error", type(exc), str(exc))
    return result, [(w.category, str(w.message)) for w in caught]


def assert_same_outcome(fast, general):
    (f, f_warn), (g, g_warn) = fast, general
    assert f_warn == g_warn
    assert f[0] == g[0], (f, g)
    if f[0] == "error":
        assert f[1:] == g[1:]
        return
    f, g = f[1], g[1]
    if isinstance(f, SequenceData):
        assert (f.kind, f.n_features) == (g.kind, g.n_features)
        assert f.data.dtype == g.data.dtype
        assert f.data.flags.c_contiguous and g.data.flags.c_contiguous
        assert f.data.flags.writeable == g.data.flags.writeable
        for name in ("data", "lengths", "offsets"):
            assert getattr(f, name).dtype == getattr(g, name).dtype
            assert_array_equal(getattr(f, name), getattr(g, name))
    elif isinstance(f, list):
        assert len(f) == len(g)
        for a, b in zip(f, g):
            assert a.dtype == b.dtype
            assert_array_equal(a, b)
    else:
        assert f.dtype == g.dtype
        assert_array_equal(f, g)


# ----------------------------------------------------- check_sequences

def _arrays():
    """Arrays the shortcut takes, and some it must leave to check_array."""
    rng = np.random.default_rng(0)
    x32 = rng.standard_normal((3, 5, 2)).astype(np.float32)
    x64 = x32.astype(np.float64)
    readonly = x32.copy()
    readonly.flags.writeable = False
    nan = x32.copy()
    nan[1, 2, 0] = np.nan
    inf = x64.copy()
    inf[2, 4, 1] = -np.inf
    return {
        "float32 3-D": x32,
        "float64 3-D": x64,
        "float32 2-D": x32[:, 0],
        "one sequence": x32[:1],
        "one step of one": x32[:1, :1],
        "fortran order": np.asfortranarray(x32),
        "strided": x64[:, ::2],
        "read-only": readonly,
        "nan": nan,
        "inf": inf,
        "float32 overflow": np.full((2, 3, 1), 1e39),
        "1-D": x32[0, :, 0],
        "0-D": np.float64(1.5) * np.ones(()),
        "4-D": x32[:, :, :, None],
        "no samples": x32[:0],
        "no steps": x32[:, :0],
        "no features": x32[:, :, :0],
        "int": np.arange(12).reshape(2, 3, 2),
        "bool": np.ones((2, 3, 2), bool),
        "float16": x32.astype(np.float16),
        "complex": x32.astype(np.complex64),
        "big-endian float64": x64.astype(">f8"),
        "object of floats": x64.astype(object),
        "strings": np.array([[["1.5", "2"]]]),
        "ndarray subclass": x32.view(type("Sub", (np.ndarray,), {})),
    }


ARRAYS = _arrays()
DTYPES = [np.float32, np.float64, np.dtype("float32"),
          (np.float64, np.float32), [np.float32], (np.float32, np.float64)]


@pytest.mark.parametrize("name", list(ARRAYS))
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("copy", [False, True])
def test_check_sequences_shortcut_matches_check_array(name, dtype, copy,
                                                      general_path):
    X = ARRAYS[name]
    kwargs = dict(dtype=dtype, copy=copy, estimator="Model")
    fast = outcome(check_sequences, X, **kwargs)
    fast_data = fast[0][1].data if fast[0][0] == "ok" else None
    general_path()
    general = outcome(check_sequences, X, **kwargs)
    assert_same_outcome(fast, general)
    if fast_data is not None:
        # A view of X exactly when check_array's answer is one.
        assert np.shares_memory(fast_data, X) == \
            np.shares_memory(general[0][1].data, X)


@pytest.mark.parametrize("name", ["int", "bool", "float16", "complex",
                                  "big-endian float64", "object of floats",
                                  "strings", "ndarray subclass"])
def test_shortcut_leaves_other_input_to_check_array(name):
    assert _validation._as_float_array(ARRAYS[name], np.float32,
                                       False) is None


@pytest.mark.parametrize("dtype", [None, "numeric", "float32", np.int64,
                                   np.float16])
def test_shortcut_leaves_other_requested_dtypes_to_check_array(dtype):
    assert _validation._as_float_array(ARRAYS["float32 3-D"], dtype,
                                       False) is None


def test_float64_to_float32_overflow_warns_nothing_and_is_reported():
    X = np.full((1, 2, 1), 1e39)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="contains infinity"):
            check_sequences(X, dtype=np.float32)


def test_equal_lengths_constructor_matches_init():
    data = np.arange(24.0).reshape(12, 2)
    for n in (1, 3, 4, 12):
        fast = SequenceData._equal_lengths(data, n, "3d")
        slow = SequenceData(data, np.full(n, 12 // n), kind="3d")
        assert_same_outcome((("ok", fast), []), (("ok", slow), []))
        assert fast.max_length == slow.max_length


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [1, 7, 4095, 4096, 4097, 20000])
@pytest.mark.parametrize("bad", [None, np.nan, -np.nan, np.inf, -np.inf,
                                 "max", "tiny", -0.0])
def test_the_c_finite_check_agrees_with_numpy(dtype, size, bad):
    # The C scan tests exponent bits in blocks of 4096: a bad value first,
    # last or on a block edge, and the finite extremes (the largest value,
    # a subnormal, -0.0) that it must not report.
    rng = np.random.default_rng(size)
    info = np.finfo(dtype)
    value = {"max": info.max, "tiny": info.smallest_subnormal}.get(bad, bad)
    for at in {0, size // 2, 4095 % size, 4096 % size, size - 1}:
        values = rng.standard_normal(size).astype(dtype)
        if value is not None:
            values[at] = value
        want = bool(np.isfinite(values).all())
        assert _kernels.all_finite(values) is want
        assert _kernels.all_finite(values.reshape(1, -1)) is want


def test_the_finite_check_takes_any_array():
    # Other dtypes, byte orders and layouts go through NumPy.
    values = np.arange(12, dtype=np.float32).reshape(3, 4)
    values[1, 2] = np.nan
    for a in (values, values[:, ::2], values.T, values.astype(">f4"),
              values.astype(np.float16), values[:, 3], values[:0]):
        assert _kernels.all_finite(a) is bool(np.isfinite(a).all())
    assert _kernels.all_finite(np.arange(5)) is True


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("allow_nan", [False, True])
def test_non_finite_values_are_reported_by_kind(bad, allow_nan):
    values = np.ones((4, 3), np.float32)
    values[2, 1] = bad
    if np.isnan(bad) and allow_nan:
        _validation._check_finite(values, allow_nan, "Model")
        return
    word = "NaN" if np.isnan(bad) else "infinity"
    with pytest.raises(ValueError, match=word):
        _validation._check_finite(values, allow_nan, "Model")
    # 3e38 is finite, though a sum of two overflows float32.
    values[2, 1] = 3e38
    values[0, 0] = 3e38
    _validation._check_finite(values, allow_nan, "Model")


# ------------------------------------------------------------ estimators

def _ragged(n, seed, low=1, high=9, n_features=3):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((t, n_features)).astype(np.float32)
            for t in rng.integers(low, high, n)]


def _targets(kind, X):
    if kind == "classifier":
        return np.array([int(x[:, 0].sum() > 0) for x in X])
    if kind == "regressor":
        return np.array([float(x[:, 0].sum()) for x in X])
    return [(np.cumsum(x[:, 0]) > 0).astype(int) for x in X]


ESTIMATORS = {"classifier": SequenceClassifier,
              "regressor": SequenceRegressor, "tagger": SequenceTagger}


def _fitted(kind, **params):
    X = [x[:6] for x in _ragged(24, seed=1, low=6, high=7)]
    model = ESTIMATORS[kind](**{**dict(hidden_sizes=6, max_epochs=2,
                                       batch_size=5, random_state=0),
                                **params})
    return model.fit(np.stack(X), _targets(kind, X))


def _predictions(model):
    """Every prediction method of the model, by name."""
    methods = {"predict": model.predict}
    if hasattr(model, "predict_proba"):
        methods["predict_proba"] = model.predict_proba
    return methods


def _inputs():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 6, 3)).astype(np.float32)
    readonly = x[:1].copy()
    readonly.flags.writeable = False
    nan = x[:1].copy()
    nan[0, 3, 1] = np.nan
    return {
        "one sequence": x[:1],
        "one sequence float64": x[:1].astype(np.float64),
        "one sequence fortran": np.asfortranarray(x[:1]),
        "one sequence strided": x[:1, ::2],
        "one sequence read-only": readonly,
        "one sequence int": np.arange(18).reshape(1, 6, 3) % 3,
        "one sequence float16": x[:1].astype(np.float16),
        "one sequence bool": x[:1] > 0,
        "one ragged sequence": [x[0, :4]],
        "one step": x[:1, 0],
        "batch": x,
        "batch float64": x.astype(np.float64),
        "ragged batch": [x[0, :2], x[1], x[2, :5]],
        "nan": nan,
        "inf": np.where(x[:1] > 1, np.inf, x[:1]),
        "wrong features": x[:1, :, :2],
        "1-D": x[0, :, 0],
        "4-D": x[:1, :, :, None],
        "no samples": x[:0],
    }


INPUTS = _inputs()


@pytest.mark.parametrize("kind", list(ESTIMATORS))
@pytest.mark.parametrize("params", [{}, dict(cell="gru", bidirectional=True),
                                    dict(cell="elman", hidden_sizes=(5, 4),
                                         dtype="float64")],
                         ids=["lstm", "gru-bi", "elman-2-layers-f64"])
def test_predictions_and_errors_match_the_general_path(kind, params,
                                                       general_path):
    model = _fitted(kind, **params)
    fast = {(name, method): outcome(fn, X)
            for name, X in INPUTS.items()
            for method, fn in _predictions(model).items()}
    general_path()
    for (name, method), got in fast.items():
        want = outcome(getattr(model, method), INPUTS[name])
        assert_same_outcome(got, want)


@pytest.mark.parametrize("kind", list(ESTIMATORS))
def test_one_sequence_is_predicted_as_within_a_batch(kind):
    # Not a shortcut's promise but the kernels': a row's result does not
    # depend on the batch around it.  The in-place single-sequence batch
    # must keep it.
    model = _fitted(kind)
    X = INPUTS["batch"]
    together = model.predict(X)
    for i in range(len(X)):
        assert_array_equal(model.predict(X[i:i + 1])[0], together[i])


@pytest.mark.parametrize("kind", list(ESTIMATORS))
def test_training_on_batches_of_one_matches_the_general_path(
        kind, general_path):
    # Batches of one sequence are used in place in training too: the input
    # must come through forward, dropout, truncated BPTT and backward
    # untouched.
    X = _ragged(9, seed=3, low=2, high=12)
    params = dict(hidden_sizes=(5, 4), batch_size=1, max_epochs=2,
                  dropout=0.2, random_state=0)
    if kind == "tagger":
        params["tbptt_length"] = 3
    copies = [x.copy() for x in X]
    fast = ESTIMATORS[kind](**params).fit(X, _targets(kind, X))
    for x, c in zip(X, copies):
        assert_array_equal(x, c)
    general_path()
    general = ESTIMATORS[kind](**params).fit(X, _targets(kind, X))
    assert_array_equal(fast._net.params, general._net.params)
    assert fast.loss_curve_ == general.loss_curve_


def test_unfitted_models_raise_not_fitted():
    for cls in ESTIMATORS.values():
        model = cls()
        for method in _predictions(model).values():
            with pytest.raises(NotFittedError):
                method(INPUTS["one sequence"])


def test_feature_names_are_still_checked_for_arrays():
    pd = pytest.importorskip("pandas")
    X = np.random.default_rng(0).standard_normal((12, 2))
    y = np.arange(12) % 2
    frame = pd.DataFrame(X, columns=["a", "b"])
    named = SequenceClassifier(hidden_sizes=4, max_epochs=1,
                               random_state=0).fit(frame, y)
    with pytest.warns(UserWarning, match="X does not have valid feature "
                                         "names"):
        named.predict(X)
    unnamed = SequenceClassifier(hidden_sizes=4, max_epochs=1,
                                 random_state=0).fit(X, y)
    with pytest.warns(UserWarning, match="X has feature names"):
        unnamed.predict(frame)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_array_equal(named.predict(frame), unnamed.predict(X))
        unnamed.predict(X)
    renamed = frame.rename(columns={"a": "c"})
    with pytest.raises(ValueError, match=re.escape(
            "The feature names should match")):
        named.predict(renamed)


def test_eight_threads_predicting_single_sequences_agree_with_serial():
    model = _fitted("classifier", hidden_sizes=(12, 6))
    # One sequence per call, of a different length on each thread, and
    # batches in between: the per-thread buffers are resized and their
    # kept views replaced under each other if they are shared.
    inputs = []
    for i in range(8):
        inputs.append(np.stack(_ragged(1, seed=i, low=1 + 3 * i,
                                       high=2 + 3 * i)))
        inputs.append(_ragged(3 + i, seed=10 + i))
    serial = [model.predict_proba(x) for x in inputs]
    results = [None] * len(inputs)
    errors = []
    barrier = threading.Barrier(len(inputs))

    def run(i):
        barrier.wait()
        try:
            results[i] = [model.predict_proba(inputs[i]) for _ in range(20)]
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,))
               for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for got, want in zip(results, serial):
        for g in got:
            assert_array_equal(g, want)


# ------------------------------------------------- buffers and networks

def test_buffer_views_are_kept_and_dropped_when_their_buffer_grows():
    buffers = Buffers(np.float32)
    a = buffers.get("h", (2, 3))
    assert buffers.get("h", (2, 3)) is a
    a[...] = 1
    b = buffers.get("h", (3, 2))      # same storage, new shape
    assert b.shape == (3, 2) and np.shares_memory(a, b)
    c = buffers.get("h", (4, 5))      # grown: new storage
    assert c.shape == (4, 5) and not np.shares_memory(a, c)
    assert buffers.get("h", (4, 5)) is c
    assert np.shares_memory(buffers.get("h", (2, 3)), c)
    assert buffers.get("other", (2, 3)) is not a
    assert buffers.get("h", [4, 5]) is c          # any sequence as shape
    for t in range(1, 2 * Buffers._MAX_VIEWS):   # many shapes: bounded
        assert buffers.get("x", (t, 2)).shape == (t, 2)
    assert len(buffers._views) <= Buffers._MAX_VIEWS
    ws = buffers.workspace(10)
    assert ws.dtype == np.uint8 and ws.shape == (10,)
    assert buffers.zeros("z", (2, 2)).sum() == 0
    buffers.get("z", (2, 2))[...] = 5
    assert buffers.zeros("z", (2, 2)).sum() == 0


def test_buffer_memos_are_made_again_when_a_buffer_grows():
    buffers = Buffers(np.float64)
    made = []

    def make():
        made.append(1)
        return {"h": buffers.get("h", (2, 3))}

    first = buffers.memo("k", make)
    assert buffers.memo("k", make) is first and len(made) == 1
    buffers.get("other", (2, 3))            # new buffer: memos dropped
    again = buffers.memo("k", make)
    assert len(made) == 2 and again["h"] is first["h"]
    buffers.get("h", (10, 10))              # "h" grows: its views change
    grown = buffers.memo("k", make)
    assert len(made) == 3 and not np.shares_memory(grown["h"], first["h"])
    for i in range(2 * Buffers._MAX_VIEWS):  # many keys: bounded
        buffers.memo(i, dict)
    assert len(buffers._memo) <= Buffers._MAX_VIEWS


def _on_a_cache_line(a):
    return a.ctypes.data % 64 == 0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_buffers_and_parameters_start_on_a_cache_line(dtype):
    """The kernels' vector loads and stores are 64 bytes wide: every
    buffer they stream, parameters and their gradients included, starts on
    a cache line (numpy's own allocations need not)."""
    import pickle
    buffers = Buffers(dtype)
    for n in (1, 3, 17, 1000, 300_000):   # small and mmap-sized
        assert _on_a_cache_line(buffers.get(f"b{n}", (n,)))
        assert _on_a_cache_line(buffers.get("grows", (n, 2)))
    assert _on_a_cache_line(buffers.workspace(12345))
    model = _fitted("classifier", dtype=dtype)
    assert _on_a_cache_line(model._net.params)
    assert _on_a_cache_line(model._opt_state)
    # A training run's gradient buffer (one per fit) and its workspace.
    run = _base._Run(model, 7, 3, train=True)
    assert _on_a_cache_line(run.grads)
    assert _on_a_cache_line(run.workspace)
    copy = pickle.loads(pickle.dumps(model._net))
    assert _on_a_cache_line(copy.params)
    assert_array_equal(copy.params, model._net.params)
    assert copy.params.dtype == dtype


def test_layer_params_are_fresh_dicts_of_the_parameter_views():
    import pickle
    model = _fitted("classifier", cell="gru", hidden_sizes=(4, 3),
                    bidirectional=True)
    net = model._net
    for layer in range(2):
        for d in range(2):
            P = net.layer_params(layer, d)
            assert sorted(P) == ["U", "W", "b", "bh"]
            prefix = f"layer{layer}.{('forward', 'backward')[d]}."
            for kind, view in P.items():
                assert view is net.views[prefix + kind]
            P.clear()
            assert len(net.layer_params(layer, d)) == 4
    assert net.layer_params(2, 0) == {}
    copy = pickle.loads(pickle.dumps(net))
    assert "_layer_views" not in net.__getstate__()
    for kind, view in copy.layer_params(1, 1).items():
        assert np.shares_memory(view, copy.params)
        assert_array_equal(view, net.layer_params(1, 1)[kind])
