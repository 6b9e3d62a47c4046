"""Property-based input tests (hypothesis) of every public entry point.

Each test draws inputs the way users pass them -- every integer, float,
bool and object dtype in both byte orders, float16, C/Fortran order,
negative-stride, strided, broadcast, read-only and memory-mapped arrays,
3-D, 2-D, ragged lists, tuples, object arrays and nested Python lists --
and checks one of two outcomes:

* the input holds valid values: the result is *the same* as for the plain
  float64 list of the same values (bit for bit, where the kernels see the
  same batch), with the right shape and format;
* it does not (NaN, infinity, a value beyond float32, a wrong rank, a
  zero-size axis, a wrong feature count, a ragged list with a wrong
  element, complex numbers, strings, ...): a ``ValueError`` or
  ``TypeError`` with a message, raised before any C code runs.

A crash (the interpreter dies), a hang, any other exception or a wrong
shape fails the test.  Run under tools/sanitize.sh, out-of-bounds reads that
do not crash fail too.

The budget (``max_examples``) keeps the whole file around half a minute on
two cores; ``pytest --hypothesis-show-statistics`` shows how many cases each
test ran.
"""
import atexit
import contextlib
import functools
import os
import shutil
import tempfile
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning

from seqnet import (CharRNN, SequenceClassifier, SequenceRegressor,
                    SequenceScaler, SequenceTagger, StreamState, _kernels,
                    _ops, _reference)

# No example database (CI starts clean; nothing is written to the tree),
# no deadline (a shared, noisy machine), and the failing example printed in
# a form `@reproduce_failure` accepts.
PROPERTY = dict(deadline=None, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow,
                                       HealthCheck.data_too_large])
SOME = settings(max_examples=150, **PROPERTY)
MANY = settings(max_examples=300, **PROPERTY)

N_FEATURES = 3
BAD = (ValueError, TypeError)

# ------------------------------------------------------------- strategies

FLOAT_DTYPES = ["<f8", ">f8", "<f4", ">f4", "<f2", ">f2"]
INT_DTYPES = ["<i1", "<i2", ">i2", "<i4", ">i4", "<i8", ">i8"]
UINT_DTYPES = ["<u1", "<u2", ">u4", "<u8", ">u8"]
# Which dtypes hold each kind of value exactly (float16 holds every
# multiple of 1/8 in [-4, 4]; the ints hold [-8, 8]).
DTYPES_FOR = {"float": FLOAT_DTYPES + ["O"],
              "int": FLOAT_DTYPES + INT_DTYPES + ["O"],
              "uint": FLOAT_DTYPES + INT_DTYPES + UINT_DTYPES + ["O"],
              "bool": FLOAT_DTYPES + INT_DTYPES + UINT_DTYPES + ["?", "O"]}
VALUES_FOR = {"float": st.integers(-32, 32).map(lambda v: v / 8),
              "int": st.integers(-8, 8), "uint": st.integers(0, 8),
              "bool": st.integers(0, 1)}
LAYOUTS = ["C", "F", "reversed", "strided", "readonly", "memmap"]

_TMP = tempfile.mkdtemp(prefix="seqnet-properties-")
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)


def _memmap(a):
    """A read-only np.memmap holding ``a`` (object arrays cannot be
    mapped: they are returned as they are)."""
    if a.dtype == object or a.size == 0:
        return a
    fd, path = tempfile.mkstemp(dir=_TMP, suffix=".dat")
    os.close(fd)
    out = np.memmap(path, dtype=a.dtype, mode="w+", shape=a.shape)
    out[...] = a
    out.flush()
    del out
    mapped = np.memmap(path, dtype=a.dtype, mode="r", shape=a.shape)
    os.unlink(path)   # the mapping stays valid (POSIX)
    return mapped


def _lay_out(a, layout):
    """The same values as ``a`` in another memory layout."""
    if layout == "F":
        return np.asfortranarray(a)
    if layout == "reversed":
        # Stored back to front on every axis: negative strides everywhere.
        flipped = tuple(slice(None, None, -1) for _ in range(a.ndim))
        return np.ascontiguousarray(a[flipped])[flipped]
    if layout == "strided":
        big = np.zeros(tuple(2 * n for n in a.shape), a.dtype)
        every_other = tuple(slice(None, None, 2) for _ in range(a.ndim))
        big[every_other] = a
        return big[every_other]
    if layout == "readonly":
        a = a.copy()
        a.flags.writeable = False
        return a
    if layout == "memmap":
        return _memmap(a)
    return np.ascontiguousarray(a)


@st.composite
def sequences(draw, n_features=N_FEATURES, max_n=5, max_len=6,
              formats=("3d", "2d", "list", "tuple", "objarray", "nested",
                       "1d-elements", "broadcast")):
    """(X, clean, kind): X valid sequences in some dtype, layout and
    container; ``clean`` the same values as a list of float64 (T_i, F)
    arrays; ``kind`` the format X is read as ("3d", "2d" or "ragged")."""
    fmt = draw(st.sampled_from(formats))
    if fmt == "1d-elements" and n_features != 1:
        fmt = "list"
    n = draw(st.integers(1, max_n))
    if fmt in ("3d", "broadcast"):
        lengths = [draw(st.integers(1, max_len))] * n
    elif fmt == "2d":
        lengths = [1] * n
    else:
        lengths = draw(st.lists(st.integers(1, max_len), min_size=n,
                                max_size=n))
    kind = draw(st.sampled_from(sorted(VALUES_FOR)))
    dtype = np.dtype(draw(st.sampled_from(DTYPES_FOR[kind])))
    layout = draw(st.sampled_from(LAYOUTS))
    values = VALUES_FOR[kind]
    clean = [draw(hnp.arrays(np.float64, (L, n_features), elements=values))
             for L in lengths]
    if fmt == "broadcast":
        clean = [clean[0]] * n

    def typed(a):
        return _lay_out(a.astype(dtype), layout)

    if fmt == "3d":
        X = typed(np.stack(clean))
    elif fmt == "broadcast":
        X = np.broadcast_to(typed(clean[0]), (n,) + clean[0].shape)
    elif fmt == "2d":
        X = typed(np.concatenate(clean))
    elif fmt == "nested":
        X = [a.tolist() for a in clean]
    elif fmt == "1d-elements":
        X = [typed(a[:, 0]) for a in clean]
    else:
        X = [typed(a) for a in clean]
        if fmt == "tuple":
            X = tuple(X)
        elif fmt == "objarray":
            obj = np.empty(n, object)
            obj[:] = X
            X = obj
    if fmt in ("3d", "broadcast"):
        read_as = "3d"
    elif fmt == "2d":
        read_as = "2d"
    elif fmt == "nested" and len(set(lengths)) == 1:
        read_as = "3d"   # equal nested lists are read as one array
    else:
        read_as = "ragged"
    return X, clean, read_as


def _first_array(X):
    """The array holding the first element of X (to corrupt it)."""
    return X if isinstance(X, np.ndarray) and X.dtype != object else X[0]


@st.composite
def bad_sequences(draw, n_features=N_FEATURES, model_dtype="float32",
                  fitting=False):
    """Inputs every estimator must refuse with ValueError or TypeError (a
    new number of features only after fit)."""
    how = draw(st.sampled_from([
        "nan", "inf", "-inf", "beyond-float32", "no-samples", "no-steps",
        "no-features", "1d", "4d", "0d", "element", "complex", "strings",
        "container", "sparse"] + ([] if fitting else ["wrong-features"])))
    if how == "beyond-float32" and model_dtype != "float32":
        how = "inf"
    X, clean, _ = draw(sequences(n_features, formats=("3d", "2d", "list")))
    if how in ("nan", "inf", "-inf", "beyond-float32"):
        value = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf,
                 "beyond-float32": 1e39}[how]
        dtype = np.dtype(draw(st.sampled_from(
            ["<f8", ">f8", "O"] if how == "beyond-float32"
            else FLOAT_DTYPES + ["O"])))
        arrays = [a.astype(dtype) for a in clean]
        target = arrays[draw(st.integers(0, len(arrays) - 1))]
        flat = draw(st.integers(0, target.size - 1))
        target.reshape(-1)[flat] = value
        if isinstance(X, np.ndarray):
            return np.stack(arrays) if X.ndim == 3 else \
                np.concatenate(arrays)
        return arrays
    if how == "no-samples":
        return draw(st.sampled_from([[], (), np.zeros((0, 4, n_features)),
                                     np.zeros((0, n_features))]))
    if how == "no-steps":
        if draw(st.booleans()):
            return np.zeros((2, 0, n_features))
        return [clean[0], np.zeros((0, n_features))]
    if how == "no-features":
        return draw(st.sampled_from([np.zeros((2, 3, 0)), np.zeros((2, 0)),
                                     [np.zeros((3, 0))]]))
    if how == "wrong-features":
        extra = draw(st.sampled_from([1, -1])) if n_features > 1 else 1
        F = n_features + extra
        if isinstance(X, np.ndarray):
            return np.zeros(X.shape[:-1] + (F,))
        return [np.zeros((len(a), F)) for a in clean]
    if how == "1d":
        return clean[0].reshape(-1)
    if how == "4d":
        return np.stack(clean[:1])[..., None]
    if how == "0d":
        return draw(st.sampled_from([np.float64(1.0), 2.5, 3, np.array(1.0)]))
    if how == "element":
        wrong = draw(st.sampled_from([
            None, "abc", {"a": 1}, np.zeros((2, 2, n_features)),
            np.zeros((2, n_features + 1)), np.ones((2, n_features)) * 1j,
            [[1.0] * n_features, [1.0] * (n_features + 1)],
            np.array([["x"] * n_features] * 2),
            sp.csr_matrix(np.ones((2, n_features))), np.float64(1.0)]))
        seqs = [a for a in clean]
        seqs.insert(draw(st.integers(0, len(seqs))), wrong)
        return seqs
    if how == "complex":
        return np.stack(clean[:1]) + 1j
    if how == "strings":
        return np.full((2, 3, n_features), "not a number")
    if how == "container":
        return draw(st.sampled_from([None, {"a": 1}, {1, 2}, "abc", b"abc",
                                     object()]))
    return sp.csr_matrix(np.ones((3, n_features)))


@contextlib.contextmanager
def _quiet():
    """Warnings that valid-but-odd input may raise, silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        yield


def _raises_clearly(call):
    """call() raises ValueError or TypeError with a message."""
    with pytest.raises(BAD) as info:
        call()
    assert str(info.value).strip(), "an error without a message"


# ----------------------------------------------------------------- models

def _data(n=16, seed=0):
    rng = np.random.default_rng(seed)
    X = [rng.standard_normal((int(t), N_FEATURES))
         for t in rng.integers(2, 7, n)]
    labels = np.array([int(x[:, 0].sum() > 0) + int(x[:, 1].mean() > 0.3)
                       for x in X])
    return X, labels


@functools.lru_cache(maxsize=None)
def fitted(kind, cell="lstm", dtype="float32"):
    """A small fitted model (cached: the tests only read it)."""
    X, labels = _data()
    params = dict(cell=cell, hidden_sizes=(5, 4), max_epochs=2,
                  random_state=0, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if kind == "classifier":
            return SequenceClassifier(**params).fit(X, labels)
        if kind == "regressor":
            y = np.stack([[x[:, 0].sum(), x[:, 2].max()] for x in X])
            return SequenceRegressor(**params).fit(X, y)
        y = [(np.cumsum(x[:, 0]) > 0).astype(int) for x in X]
        return SequenceTagger(**params).fit(X, y)


MODEL_CONFIGS = st.tuples(st.sampled_from(["lstm", "gru", "elman"]),
                          st.sampled_from(["float32", "float64"]))


# ----------------------------------------------------- estimators: predict

@MANY
@given(config=MODEL_CONFIGS, data=sequences())
def test_classifier_reads_any_valid_input_as_its_values(config, data):
    X, clean, _ = data
    model = fitted("classifier", *config)
    proba = model.predict_proba(X)
    assert proba.shape == (len(clean), len(model.classes_))
    assert proba.dtype == np.dtype(config[1])
    assert_array_equal(proba, model.predict_proba(clean))
    assert np.all(np.isfinite(proba))
    assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    assert_array_equal(model.predict(X), model.classes_[proba.argmax(1)])
    with np.errstate(divide="ignore"):
        assert_array_equal(model.predict_log_proba(X), np.log(proba))
    labels = model.predict(clean)
    assert model.score(X, labels) == 1.0


@SOME
@given(config=MODEL_CONFIGS, data=sequences())
def test_regressor_reads_any_valid_input_as_its_values(config, data):
    X, clean, _ = data
    model = fitted("regressor", *config)
    pred = model.predict(X)
    assert pred.shape == (len(clean), 2) and pred.dtype == np.float64
    assert np.all(np.isfinite(pred))
    assert_array_equal(pred, model.predict(clean))
    if len(clean) > 1:   # R^2 needs two samples
        assert np.isfinite(model.score(X, pred + 1.0))


@SOME
@given(config=MODEL_CONFIGS, data=sequences())
def test_tagger_answers_in_the_format_of_its_input(config, data):
    X, clean, read_as = data
    model = fitted("tagger", *config)
    pred = model.predict(X)
    expected = model.predict(clean)   # a list of (T_i,) arrays
    proba = model.predict_proba(X)
    if read_as == "3d":
        assert isinstance(pred, np.ndarray)
        assert pred.shape == (len(clean), len(clean[0]))
        assert proba.shape == pred.shape + (len(model.classes_),)
        assert_array_equal(pred, np.stack(expected))
    elif read_as == "2d":
        assert pred.shape == (len(clean),)
        assert_array_equal(pred, np.concatenate(expected))
    else:
        assert isinstance(pred, list) and len(pred) == len(clean)
        for p, q, e, a in zip(pred, proba, expected, clean):
            assert p.shape == (len(a),) and q.shape == (len(a), 2)
            assert_array_equal(p, e)
    assert 0.0 <= model.score(X, expected if read_as == "ragged" else pred) \
        <= 1.0


@MANY
@given(kind=st.sampled_from(["classifier", "regressor", "tagger"]),
       dtype=st.sampled_from(["float32", "float64"]), data=st.data())
def test_predict_refuses_bad_input_clearly(kind, dtype, data):
    model = fitted(kind, "gru", dtype)
    X = data.draw(bad_sequences(model_dtype=dtype))
    _raises_clearly(lambda: model.predict(X))
    if kind != "regressor":
        _raises_clearly(lambda: model.predict_proba(X))


@MANY
@given(dtype=st.sampled_from(["float32", "float64"]),
       data=st.data())
def test_huge_but_finite_values_give_finite_probabilities(dtype, data):
    # Anything a float32 model can hold, up to 3e38, saturates the gates
    # instead of overflowing them.
    top = 3e38 if dtype == "float32" else 1e300
    X = data.draw(hnp.arrays(np.float64, st.tuples(
        st.integers(1, 3), st.integers(1, 5), st.just(N_FEATURES)),
        elements=st.floats(-top, top, allow_nan=False)))
    cell = data.draw(st.sampled_from(["lstm", "gru", "elman"]))
    proba = fitted("classifier", cell, dtype).predict_proba(X)
    assert np.all(np.isfinite(proba)) and proba.shape == (len(X), 3)
    assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)


# -------------------------------------------------------- estimators: fit

@st.composite
def labels_for(draw, n):
    """Valid class labels for n sequences in some dtype or container."""
    kind = draw(st.sampled_from(["int", "str", "bool", "float", "object",
                                 "list"]))
    codes = draw(hnp.arrays(np.int64, n, elements=st.integers(0, 2)))
    if kind == "str":
        return np.array(["ab", "cd", "ef"])[codes]
    if kind == "bool":
        return codes > 0
    if kind == "float":
        return codes.astype(np.float64)
    if kind == "object":
        # (an object array of ints is "unknown" to scikit-learn: strings)
        return np.array(["ab", "cd", "ef"], dtype=object)[codes]
    if kind == "list":
        return codes.tolist()
    return codes.astype(draw(st.sampled_from(INT_DTYPES + UINT_DTYPES)))


@SOME
@given(data=st.data(), cell=st.sampled_from(["lstm", "gru", "elman"]),
       dtype=st.sampled_from(["float32", "float64"]))
def test_classifier_fits_any_valid_input(data, cell, dtype):
    X, clean, _ = data.draw(sequences(max_n=6))
    y = data.draw(labels_for(len(clean)))
    model = SequenceClassifier(cell=cell, hidden_sizes=3, max_epochs=1,
                               batch_size=4, random_state=0, dtype=dtype)
    with _quiet():
        model.fit(X, y)
    assert model.n_features_in_ == N_FEATURES
    assert_array_equal(model.classes_, np.unique(np.asarray(y)))
    assert np.all(np.isfinite(model._net.params))
    # The same values as a plain float64 list fit the same weights.
    again = SequenceClassifier(cell=cell, hidden_sizes=3, max_epochs=1,
                               batch_size=4, random_state=0, dtype=dtype)
    with _quiet():
        again.fit(clean, y)
    assert_array_equal(model._net.params, again._net.params)
    with _quiet():
        model.partial_fit(X, y)
    assert model.predict(X).shape == (len(clean),)


@SOME
@given(data=st.data())
def test_regressor_and_tagger_fit_any_valid_input(data):
    X, clean, _ = data.draw(sequences(max_n=6))
    n = len(clean)
    params = dict(hidden_sizes=3, max_epochs=1, batch_size=4, random_state=0)
    y = data.draw(hnp.arrays(
        data.draw(st.sampled_from(["<f8", ">f8", "<f4", "<i4", "O"])),
        data.draw(st.sampled_from([(n,), (n, 1), (n, 2)])),
        elements=st.integers(-5, 5)))
    with _quiet():
        reg = SequenceRegressor(**params).fit(X, y)
        again = SequenceRegressor(**params).fit(clean, y.astype(float))
    assert_array_equal(reg._net.params, again._net.params)
    assert reg.predict(X).shape == (n,) + y.shape[1:]
    tags = [np.asarray(a[:, 0] > 0).astype(int) for a in clean]
    with _quiet():
        tagger = SequenceTagger(**params).fit(X, tags)
        tagger.partial_fit(X, tags)
    assert np.all(np.isfinite(tagger._net.params))


@MANY
@given(kind=st.sampled_from(["classifier", "regressor", "tagger"]),
       data=st.data())
def test_fit_refuses_bad_input_clearly(kind, data):
    X = data.draw(bad_sequences(fitting=True))
    cls = {"classifier": SequenceClassifier, "regressor": SequenceRegressor,
           "tagger": SequenceTagger}[kind]
    model = cls(hidden_sizes=2, max_epochs=1)
    n = len(X) if isinstance(X, (list, tuple)) or (
        isinstance(X, np.ndarray) and X.ndim) else 3
    y = [np.zeros(4, int)] * n if kind == "tagger" else np.arange(n) % 2
    with _quiet():
        _raises_clearly(lambda: model.fit(X, y))
    assert not hasattr(model, "_net")


PARAMS = st.fixed_dictionaries({
    # Always small, so that every fit is quick.
    "max_epochs": st.integers(0, 2),
    "hidden_sizes": st.one_of(
        st.integers(-1, 4), st.lists(st.integers(-1, 4), max_size=3),
        st.tuples(st.integers(1, 3)).map(lambda t: np.array(t)),
        st.floats(0, 3), st.text(max_size=2), st.none()),
}, optional={
    "cell": st.sampled_from(["lstm", "gru", "elman", "LSTM", "rnn", None]),
    "bidirectional": st.one_of(st.booleans(), st.integers(0, 2)),
    "peepholes": st.booleans(),
    "activation": st.sampled_from(["tanh", "relu", "softsign", "gelu"]),
    "dropout": st.floats(-0.5, 1.5) | st.just(np.nan),
    "l1": st.floats(-1, 1), "l2": st.floats(-1, 1),
    "optimizer": st.sampled_from(list(_kernels.OPTIMIZERS) + ["lbfgs"]),
    "learning_rate": st.floats(-1, 1) | st.just(np.nan),
    "momentum": st.floats(-0.5, 1.5),
    "batch_size": st.one_of(st.integers(-1, 9), st.floats(1, 4)),
    "tbptt_length": st.one_of(st.none(), st.integers(-1, 4)),
    "clip_norm": st.one_of(st.none(), st.floats(-1, 10), st.just(np.nan)),
    "clip_value": st.one_of(st.none(), st.floats(-1, 10)),
    "early_stopping": st.booleans(),
    "validation_fraction": st.floats(-0.5, 1.5),
    "n_iter_no_change": st.integers(0, 3),
    "tol": st.floats(-1, 1),
    "random_state": st.one_of(st.none(), st.integers(-1, 2**32)),
    "n_jobs": st.one_of(st.none(), st.integers(-3, 4)),
    "dtype": st.sampled_from(["float32", "float64", "float16", np.float32]),
    "class_weight": st.sampled_from([None, "balanced", {0: 2.0}, "bogus"]),
})


@SOME
@given(kind=st.sampled_from(["classifier", "regressor", "tagger"]),
       params=PARAMS)
def test_any_parameters_fit_a_finite_model_or_are_refused_clearly(kind,
                                                                  params):
    X, labels = _data(n=12)
    cls = {"classifier": SequenceClassifier, "regressor": SequenceRegressor,
           "tagger": SequenceTagger}[kind]
    if kind == "regressor":
        params.pop("class_weight", None)
        y = labels.astype(float)
    elif kind == "tagger":
        y = [np.full(len(x), label) for x, label in zip(X, labels)]
    else:
        y = labels
    model = cls(**params)
    try:
        with _quiet(), np.errstate(all="ignore"):
            model.fit(X, y)
    except FloatingPointError as exc:
        # A clear refusal to keep training a diverged model (e.g. a huge
        # learning rate without clipping): the weights stay finite.
        assert "diverged" in str(exc)
        assert np.all(np.isfinite(model._net.params))
        return
    except BAD as exc:
        assert str(exc).strip()
        return
    assert np.all(np.isfinite(model._net.params))
    out = model.predict(X)
    assert len(out) == len(X)


@st.composite
def bad_targets(draw, kind, n, lengths):
    how = draw(st.sampled_from(["none", "short", "long", "nan", "inf",
                                "2d-wrong", "3d", "complex", "strings",
                                "sparse", "continuous", "per-step-length"]))
    if how == "none":
        return None
    if how == "short":
        return np.zeros(n - 1) if kind != "tagger" else \
            [np.zeros(L) for L in lengths[:-1]]
    if how == "long":
        return np.zeros(n + 1) if kind != "tagger" else \
            [np.zeros(L) for L in lengths] + [np.zeros(2)]
    if how in ("nan", "inf"):
        y = np.zeros(n) if kind != "tagger" else [np.zeros(L) for L in
                                                  lengths]
        target = y if kind != "tagger" else y[0]
        target[0] = np.nan if how == "nan" else np.inf
        return y
    if how == "2d-wrong":
        return np.zeros((n, 3, 2))
    if how == "3d":
        return np.zeros((n, 1, 1, 1))
    if how == "complex":
        return np.zeros(n) + 1j if kind != "tagger" else \
            [np.zeros(L) + 1j for L in lengths]
    if how == "strings":
        if kind == "regressor":
            return np.array(["x"] * n)
        how = "sparse"
    if how == "sparse":
        return sp.csr_matrix(np.ones((n, 1)))
    if how == "continuous" and kind != "regressor":
        return np.linspace(0, 1, n) + 0.5 if kind == "classifier" else \
            [np.linspace(0, 1, L) + 0.5 for L in lengths]
    return [np.zeros(L + 1) for L in lengths] if kind == "tagger" else \
        np.zeros((n + 2,))


@SOME
@given(kind=st.sampled_from(["classifier", "regressor", "tagger"]),
       data=st.data())
def test_fit_refuses_bad_targets_and_weights_clearly(kind, data):
    _, clean, _ = data.draw(sequences(formats=("list",), max_n=4))
    n = len(clean)
    assume(n >= 2)
    cls = {"classifier": SequenceClassifier, "regressor": SequenceRegressor,
           "tagger": SequenceTagger}[kind]
    y = data.draw(bad_targets(kind, n, [len(a) for a in clean]))
    with _quiet():
        _raises_clearly(lambda: cls(hidden_sizes=2, max_epochs=1)
                        .fit(clean, y))
    good = [np.arange(len(a)) % 2 for a in clean] if kind == "tagger" \
        else np.arange(n) % 2
    weight = data.draw(st.sampled_from([
        np.full(n, -1.0), np.full(n, np.nan), np.zeros(n), np.ones(n + 1),
        np.ones((n, 2)), np.full(n, np.inf), np.array(["a"] * n)]))
    with _quiet():
        _raises_clearly(lambda: cls(hidden_sizes=2, max_epochs=1)
                        .fit(clean, good, sample_weight=weight))


# -------------------------------------------------------------- stepping

@st.composite
def one_step(draw, values):
    """One step (n_streams, F) in a random dtype/layout/container."""
    kind = draw(st.sampled_from(["array", "list", "readonly", "reversed",
                                 "F", "f16", ">f8", "object"]))
    if kind == "list":
        return values.tolist()
    if kind == "f16":
        return values.astype(np.float16)
    if kind == ">f8":
        return values.astype(">f8")
    if kind == "object":
        return values.astype(object)
    return _lay_out(values, {"array": "C"}.get(kind, kind))


@SOME
@given(kind=st.sampled_from(["classifier", "regressor", "tagger"]),
       config=MODEL_CONFIGS, data=st.data())
def test_stepping_any_valid_input_reads_the_prefix(kind, config, data):
    model = fitted(kind, *config)
    n_streams = data.draw(st.integers(1, 3))
    T = data.draw(st.integers(1, 5))
    X = data.draw(hnp.arrays(np.float64, (n_streams, T, N_FEATURES),
                             elements=st.integers(-32, 32).map(
                                 lambda v: v / 8)))
    state = model.initial_state(n_streams)
    for t in range(T):
        out, state = model.step(data.draw(one_step(X[:, t])), state)
        assert out.shape == (n_streams, model._net.n_outputs)
        assert np.all(np.isfinite(out))
    batch = model.predict_proba(X) if kind == "classifier" else \
        model.predict(X) if kind == "regressor" else \
        model.predict_proba(X)[:, -1]
    tol = dict(rtol=1e-4, atol=1e-5) if config[1] == "float32" else \
        dict(rtol=1e-10, atol=1e-12)
    assert_allclose(out, batch, **tol)


@SOME
@given(kind=st.sampled_from(["classifier", "regressor", "tagger"]),
       data=st.data())
def test_step_refuses_bad_input_and_bad_state_clearly(kind, data):
    model = fitted(kind, "lstm", "float32")
    width = sum(model._net.hidden_sizes)
    good_x = np.zeros((2, N_FEATURES))
    bad_x = data.draw(st.sampled_from([
        np.zeros((2, N_FEATURES + 1)), np.zeros((3, N_FEATURES)),
        np.zeros((2, 1, N_FEATURES)), np.zeros(0), np.float64(1.0),
        np.full((2, N_FEATURES), np.nan), np.full((2, N_FEATURES), np.inf),
        np.full((2, N_FEATURES), 1e39), np.zeros((2, N_FEATURES)) + 1j,
        np.full((2, N_FEATURES), "x"), None, "abc", [[1.0], [1.0, 2.0]]]))
    _raises_clearly(lambda: model.step(bad_x, model.initial_state(2)))
    state = data.draw(st.sampled_from([
        "not a state", (np.zeros((2, width)), np.zeros((2, width))),
        StreamState(np.zeros((2, width)), np.zeros((2, width))),  # float64
        StreamState(np.zeros((2, width + 1), np.float32),
                    np.zeros((2, width + 1), np.float32)),
        StreamState(np.zeros((2, width), np.float32),
                    np.zeros((3, width), np.float32)),
        StreamState(np.zeros((2, 2 * width), np.float32)[:, ::2],
                    np.zeros((2, width), np.float32)),
        StreamState(np.zeros((0, width), np.float32),
                    np.zeros((0, width), np.float32)),
        StreamState(np.zeros((2, width), np.float32).tolist(),
                    np.zeros((2, width), np.float32)),
        StreamState(np.zeros(width, np.float32), np.zeros(width,
                                                          np.float32))]))
    _raises_clearly(lambda: model.step(good_x, state))
    readonly = model.initial_state(2)
    readonly.h.flags.writeable = False
    _raises_clearly(lambda: model.step(good_x, readonly))


# -------------------------------------------------------- SequenceScaler

@MANY
@given(data=sequences(), with_mean=st.booleans(), with_std=st.booleans())
def test_scaler_transforms_any_valid_input_like_standard_scaler(
        data, with_mean, with_std):
    X, clean, read_as = data
    steps = np.concatenate(clean)
    before = _values(X)
    scaler = SequenceScaler(with_mean=with_mean, with_std=with_std).fit(X)
    mean = steps.mean(axis=0)
    std = steps.std(axis=0)
    assert scaler.n_samples_seen_ == len(steps)
    assert_allclose(scaler.mean_, mean, atol=1e-12)
    assert_allclose(scaler.scale_, np.where(std > 0, std, 1.0), rtol=1e-12)
    out = scaler.transform(X)
    expected = steps.copy()
    if with_mean:
        expected -= mean
    if with_std:
        expected /= np.where(std > 0, std, 1.0)
    if read_as == "ragged":
        assert isinstance(out, list) and len(out) == len(clean)
        assert [o.shape for o in out] == [a.shape for a in clean]
        packed = np.concatenate(out)
    else:
        assert out.shape == (np.stack(clean).shape if read_as == "3d"
                             else steps.shape)
        packed = out.reshape(-1, N_FEATURES)
    # float32 input stays float32 (ulp 6e-8 of values up to ~8).
    tol = 1e-5 if packed.dtype == np.float32 else 1e-12
    assert_allclose(packed, expected, rtol=tol, atol=tol)
    back = scaler.inverse_transform(out)
    packed_back = np.concatenate(back) if read_as == "ragged" else \
        back.reshape(-1, N_FEATURES)
    assert_allclose(packed_back, steps, rtol=tol, atol=10 * tol)
    # The input is never written to: copy=True, and read-only or mapped
    # input even with copy=False.
    assert_values_equal(X, before)
    if not _writes_ok(X):
        SequenceScaler(copy=False).fit(X).transform(X)
        assert_values_equal(X, before)
    # Block-wise statistics equal one fit.
    half = len(clean) // 2
    if half:
        part = SequenceScaler().partial_fit(clean[:half])
        part.partial_fit(clean[half:])
        assert_allclose(part.mean_, mean, atol=1e-12)
        assert_allclose(part.var_, steps.var(axis=0), rtol=1e-9,
                        atol=1e-12)


def _values(X):
    """A private float64 copy of the values of X."""
    if isinstance(X, np.ndarray) and X.dtype != object:
        return [np.array(X, dtype=np.float64)]
    return [np.array(a, dtype=np.float64) for a in X]


def assert_values_equal(X, before):
    for a, b in zip(_values(X), before):
        assert_array_equal(a, b)


def _writes_ok(X):
    """copy=False may legitimately scale this X in place."""
    return isinstance(X, np.ndarray) and X.dtype in (np.float32,
                                                     np.float64) \
        and X.flags.writeable and X.dtype.isnative


@SOME
@given(data=st.data())
def test_scaler_refuses_bad_input_clearly(data):
    X = data.draw(bad_sequences(model_dtype="float64"))
    fitted_scaler = SequenceScaler().fit(np.ones((2, 3, N_FEATURES)))
    _raises_clearly(lambda: fitted_scaler.transform(X))
    _raises_clearly(lambda: fitted_scaler.inverse_transform(X))
    _raises_clearly(lambda: fitted_scaler.partial_fit(X))
    X = data.draw(bad_sequences(model_dtype="float64", fitting=True))
    _raises_clearly(lambda: SequenceScaler().fit(X))


# ---------------------------------------------------------------- CharRNN

TEXT = st.text(min_size=0, max_size=40)


@functools.lru_cache(maxsize=None)
def char_model(cell="lstm", dtype="float32"):
    model = CharRNN(cell=cell, hidden_sizes=(6,), max_epochs=2,
                    tbptt_length=8, batch_size=4, random_state=0, dtype=dtype)
    return model.fit(["hello world, hello seqnet.\n", "abc\tdef ghi"])


@SOME
@given(text=st.one_of(TEXT, st.lists(TEXT, max_size=4)),
       cell=st.sampled_from(["lstm", "gru", "elman"]))
def test_charrnn_fits_any_text_or_refuses_it_clearly(text, cell):
    docs = [text] if isinstance(text, str) else text
    usable = any(len(d) >= 2 for d in docs)
    model = CharRNN(cell=cell, hidden_sizes=(4,), max_epochs=1,
                    tbptt_length=5, batch_size=3, random_state=0)
    if not usable:
        _raises_clearly(lambda: model.fit(text))
        return
    model.fit(text)
    assert set(model.vocabulary_) == set("".join(docs))
    model.partial_fit(text)
    assert np.all(np.isfinite(model._net.params))
    assert np.isfinite(model.score(text)) and model.score(text) <= 0
    sample = model.sample(7, prime=docs[0][:3], random_state=0)
    assert len(sample) == len(docs[0][:3]) + 7
    assert set(sample) <= set(model.vocabulary_)


@SOME
@given(n_chars=st.one_of(st.integers(-3, 50), st.floats(allow_nan=True),
                         st.none(), st.text(max_size=2), st.booleans()),
       prime=st.one_of(TEXT, st.binary(max_size=4), st.none(),
                       st.integers()),
       temperature=st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                             st.integers(-2, 5), st.none(), st.text(
                                 max_size=1)),
       config=MODEL_CONFIGS)
def test_charrnn_samples_or_refuses_clearly(n_chars, prime, temperature,
                                            config):
    model = char_model(*config)
    valid = (isinstance(n_chars, int) and n_chars >= 0
             and isinstance(prime, str)
             and isinstance(temperature, (int, float))
             and not isinstance(temperature, bool) and temperature >= 0)
    if not valid:
        try:
            with _quiet():
                out = model.sample(n_chars, prime=prime,
                                   temperature=temperature)
        except BAD as exc:
            assert str(exc)
            return
        # Python bools are ints: True chars, temperature True (= 1) work.
        assert isinstance(out, str)
        return
    with _quiet():
        out = model.sample(n_chars, prime=prime, temperature=temperature,
                           random_state=1)
    known = "".join(ch for ch in prime if ch in model.vocabulary_)
    assert out.startswith(known) and len(out) == len(known) + n_chars
    assert set(out) <= set(model.vocabulary_)


@SOME
@given(text=st.one_of(TEXT, st.lists(TEXT, max_size=3), st.binary(),
                      st.none(), st.integers(), st.lists(st.integers(),
                                                         max_size=2)),
       config=MODEL_CONFIGS)
def test_charrnn_scores_any_text_or_refuses_clearly(text, config):
    model = char_model(*config)
    docs = [text] if isinstance(text, str) else text
    is_text = isinstance(text, str) or (
        isinstance(text, list) and all(isinstance(d, str) for d in text))
    known = is_text and any(
        sum(ch in model._lookup for ch in d) >= 2 for d in docs)
    if not known:
        with _quiet():
            _raises_clearly(lambda: model.score(text))
        return
    with _quiet():
        score = model.score(text)
        perplexity = model.perplexity(text)
    assert np.isfinite(score) and score <= 0
    assert_allclose(perplexity, np.exp(-score), rtol=1e-6)


@SOME
@given(x=st.one_of(
    st.text(max_size=4),
    hnp.arrays(st.sampled_from(["<i8", ">i4", "<f8"]), st.integers(0, 4),
               elements=st.integers(-2, 30)),
    hnp.arrays(st.sampled_from(["<u1", ">u8", "?"]), st.integers(0, 4),
               elements=st.integers(0, 1))),
    streams=st.integers(1, 4))
def test_charrnn_step_reads_known_codes_or_refuses_clearly(x, streams):
    model = char_model()
    codes = None
    if isinstance(x, str):
        if x and set(x) <= model._lookup.keys():
            codes = [model._lookup[ch] for ch in x]
    elif x.dtype.kind in "iu" and x.size and x.min() >= 0 and \
            x.max() < len(model.vocabulary_):
        codes = x.tolist()
    if codes is None or len(codes) != streams:
        _raises_clearly(lambda: model.step(x, model.initial_state(streams)))
        return
    proba, state = model.step(x, model.initial_state(streams))
    assert proba.shape == (streams, len(model.vocabulary_))
    assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)


# ------------------------------------------------ the low-level _kernels

@st.composite
def kernel_dims(draw):
    T, B, I, H = (draw(st.integers(1, 5)) for _ in range(4))
    lengths = sorted(draw(st.lists(st.integers(1, T), min_size=B,
                                   max_size=B)), reverse=True)
    lengths[0] = T if draw(st.booleans()) else lengths[0]
    return T, B, I, H, lengths


def _cell_args(rng, cell, T, B, I, H, dtype):
    G = {"lstm": 4, "gru": 3, "elman": 1}[cell] * H
    r = lambda *s: rng.uniform(-1, 1, s).astype(dtype)  # noqa: E731
    args = dict(x=r(T, B, I), h0=r(B, H), W=r(I, G), U=r(H, G))
    if cell == "lstm":
        args.update(c0=r(B, H), b=r(G), p=r(3 * H))
    elif cell == "gru":
        args.update(b=r(G), bh=r(H))
    else:
        args.update(b=r(G))
    return args


@SOME
@given(cell=st.sampled_from(["lstm", "gru", "elman"]),
       dtype=st.sampled_from([np.float32, np.float64]),
       dims=kernel_dims(), reverse=st.booleans(),
       n_threads=st.integers(-1, 3), seed=st.integers(0, 2**32 - 1))
def test_cell_kernels_match_the_reference_for_any_valid_shape(
        cell, dtype, dims, reverse, n_threads, seed):
    T, B, I, H, lengths = dims
    rng = np.random.default_rng(seed)
    a = _cell_args(rng, cell, T, B, I, H, dtype)
    lengths = np.array(lengths, np.int64)
    tol = dict(rtol=2e-4, atol=2e-5) if dtype == np.float32 else \
        dict(rtol=1e-9, atol=1e-11)
    if cell == "lstm":
        got = _ops.lstm_forward(a["x"], a["h0"], a["c0"], a["W"], a["U"],
                                a["b"], a["p"], lengths, reverse, n_threads)
        ref = _reference.lstm_forward(a["x"], a["h0"], a["c0"], a["W"],
                                      a["U"], a["b"], a["p"], lengths,
                                      reverse)
    elif cell == "gru":
        got = _ops.gru_forward(a["x"], a["h0"], a["W"], a["U"], a["b"],
                               a["bh"], lengths, reverse, n_threads)
        ref = _reference.gru_forward(a["x"], a["h0"], a["W"], a["U"],
                                     a["b"], a["bh"], lengths, reverse)
    else:
        act = ["tanh", "relu", "softsign"][seed % 3]
        got = _ops.elman_forward(a["x"], a["h0"], a["W"], a["U"], a["b"],
                                 lengths, act, reverse, n_threads)
        ref = _reference.elman_forward(a["x"], a["h0"], a["W"], a["U"],
                                       a["b"], lengths, act, reverse)
    for g, r in zip(got, ref):
        assert g.shape == r.shape
        assert_allclose(g, r, **tol)


@st.composite
def corrupted_array(draw, a, output):
    """``a`` changed in one way: a dtype, shape, rank or layout the binding
    may have to refuse (whether it must is decided by ``_acceptable``)."""
    how = draw(st.sampled_from(
        ["dtype", "bigger", "smaller", "rank", "fortran", "strided",
         "reversed", "none", "int", "readonly", "broadcast"]))
    if how == "dtype":
        other = np.float64 if a.dtype == np.float32 else np.float32
        return a.astype(draw(st.sampled_from(
            [other, np.float16, a.dtype.newbyteorder(">")])))
    if how == "bigger":
        return np.zeros(tuple(n + 1 for n in a.shape), a.dtype)
    if how == "smaller":
        return np.zeros(tuple(max(n - 1, 0) for n in a.shape), a.dtype)
    if how == "rank":
        return a[None] if draw(st.booleans()) else a.reshape(-1)[:1]
    if how == "fortran":
        return np.asfortranarray(a)
    if how == "strided":
        return np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)[..., ::2]
    if how == "reversed":
        return a[..., ::-1]
    if how == "none":
        return None
    if how == "int":
        return a.astype(np.int64)
    if how == "broadcast":
        return np.broadcast_to(a.reshape(-1)[:1], a.shape)
    ro = a.copy()
    ro.flags.writeable = False
    return ro


def _acceptable(arr, ref, output):
    """Whether the binding must take ``arr`` where ``ref`` is valid."""
    return (isinstance(arr, np.ndarray) and arr.dtype == ref.dtype
            and arr.shape == ref.shape and arr.flags.c_contiguous
            and (arr.flags.writeable or not output))


CELL_OUTPUTS = {"forward": {"h", "c", "gates", "hn", "h_n", "c_n"},
                "backward": {"dx", "dh0", "dc0", "dW", "dU", "db", "dp",
                             "dbh"}}
OPTIONAL = {"p", "dp", "dx", "dh", "dh_n", "dc_n"}
TAPE = ("h", "c", "gates", "hn", "h_n", "c_n")


def _cell_call(cell, step, args):
    """_kernels.layer_<step> on the arrays ``args`` names: the layer's (W,
    U, b, p, bh), its gradients' (dW, ...), the tape's and the rest.  The
    Layer, gradient Layer and Tape are made here, so that what they refuse
    counts as the call's refusal."""
    layer = _kernels.Layer(cell, args["W"], args["U"], args["b"],
                           args.get("p"), args.get("bh"))
    tape = _kernels.Tape(*(args.get(n) for n in TAPE))
    if step == "forward":
        _kernels.layer_forward(layer, tape, args["x"], args["h0"],
                               args.get("c0"), args["lengths"],
                               args["reverse"], args["workspace"],
                               args["n_threads"])
        return
    grads = _kernels.Layer(cell, args["dW"], args["dU"], args["db"],
                           args.get("dp"), args.get("dbh"))
    _kernels.layer_backward(layer, grads, args.get("dx"), args["dh0"],
                            args.get("dc0"), args.get("dh"),
                            args.get("dh_n"), args.get("dc_n"), args["x"],
                            args["h0"], args.get("c0"), tape,
                            args["lengths"], args["reverse"],
                            args["workspace"], args["n_threads"])


def _valid_cell_call(cell, step, dtype, T, B, I, H, lengths):
    """Arguments of one valid _cell_call(cell, step, ...), by name."""
    rng = np.random.default_rng(T * 1000 + B * 100 + I * 10 + H)
    a = _cell_args(rng, cell, T, B, I, H, dtype)
    info = _kernels.CELLS[cell]
    G = a["W"].shape[1]
    layer = _kernels.Layer(cell, a["W"], a["U"], a["b"], a.get("p"),
                           a.get("bh"))
    args = dict(a, lengths=lengths, reverse=False, n_threads=1,
                workspace=np.empty(_kernels.layer_workspace_size(
                    layer, T, B, 1), np.uint8))
    shapes = dict(h=(T, B, H), h_n=(B, H))
    if info.has_c:
        shapes.update(c=(T, B, H), c_n=(B, H))
    if not info.gates_in_h:
        shapes.update(gates=(T, B, G))
    if info.has_hn:
        shapes.update(hn=(T, B, H))
    if step == "backward":
        shapes.update(dx=(T, B, I), dh0=(B, H), dW=(I, G), dU=(H, G), db=(G,),
                      dh=(T, B, H), dh_n=(B, H))
        for name in ("c0", "p", "bh"):
            if name in a:
                shapes["d" + name] = a[name].shape
        if info.has_c:
            shapes["dc_n"] = (B, H)
    for name, shape in shapes.items():
        args[name] = rng.uniform(-1, 1, shape).astype(dtype)
    if step == "backward":
        # The saved forward state, as the forward pass writes it.
        _cell_call(cell, "forward", args)
    return args


@MANY
@given(cell=st.sampled_from(sorted(_kernels.CELLS)),
       step=st.sampled_from(["forward", "backward"]),
       dtype=st.sampled_from([np.float32, np.float64]),
       dims=kernel_dims(), data=st.data())
def test_cell_bindings_take_or_refuse_a_changed_argument(cell, step, dtype,
                                                         dims, data):
    T, B, I, H, lengths = dims
    lengths = np.array(lengths, np.int64)
    args = _valid_cell_call(cell, step, dtype, T, B, I, H, lengths)
    call = functools.partial(_cell_call, cell, step)
    call(args)   # the valid call works
    arrays = sorted(n for n, v in args.items() if isinstance(v, np.ndarray)
                    and n not in ("lengths", "workspace"))
    name = data.draw(st.sampled_from(arrays + ["lengths", "workspace",
                                               "n_threads"]))
    bad = dict(args)
    if name == "lengths":
        bad["lengths"] = data.draw(st.sampled_from([
            lengths[::-1].copy() if lengths[0] != lengths[-1]
            else np.full(B, T + 1, np.int64), np.zeros(B, np.int64),
            np.full(B, -1, np.int64), np.full(B, T + 1, np.int64),
            lengths.astype(np.int32), np.ones(B + 1, np.int64),
            lengths.astype(np.float64), lengths[None]]))
        _raises_clearly(lambda: call(bad))
        return
    if name == "workspace":
        need = bad["workspace"].size
        bad["workspace"] = data.draw(st.sampled_from([
            np.empty(max(need - 1, 0), np.uint8), np.empty(need, np.float32),
            np.empty(need * 2, np.uint8)[::2],
            np.empty((need, 1), np.uint8)]))
        _raises_clearly(lambda: call(bad))
        return
    if name == "n_threads":
        bad["n_threads"] = 64   # more threads than the workspace is for
        _raises_clearly(lambda: call(bad))
        return
    bad[name] = data.draw(corrupted_array(args[name],
                                          name in CELL_OUTPUTS[step]))
    if bad[name] is None and name in OPTIONAL:
        if name in ("p", "dp"):
            bad["dp" if name == "p" else "p"] = None
        call(bad)   # leaving out an optional array is valid
    elif bad[name] is not None and _acceptable(
            bad[name], args[name], name in CELL_OUTPUTS[step]):
        call(bad)   # the same shape, dtype and layout: valid
    else:
        _raises_clearly(lambda: call(bad))


@SOME
@given(cell=st.sampled_from(sorted(_kernels.CELLS)),
       step=st.sampled_from(["forward", "backward"]),
       dtype=st.sampled_from([np.float32, np.float64]),
       dims=kernel_dims(), data=st.data())
def test_token_codes_run_or_refuse_clearly(cell, step, dtype, dims, data):
    # Codes anywhere in [-2, I + 2), now and then far outside: the call
    # runs exactly when every code at a valid (t, b) lies in [0, I),
    # whatever the padding holds; else a ValueError names the token code.
    T, B, I, H, lengths = dims
    lengths = np.array(lengths, np.int64)
    args = _valid_cell_call(cell, step, dtype, T, B, I, H, lengths)
    wild = st.one_of(st.integers(-2, I + 1),
                     st.sampled_from([-(2 ** 63), 2 ** 63 - 1, 2 ** 40]))
    codes = data.draw(hnp.arrays(np.int64, (T, B), elements=wild))
    args["x"] = codes
    args.pop("dx", None)    # codes have no gradient
    valid = np.arange(T)[:, None] < lengths[None, :]
    if np.all((codes[valid] >= 0) & (codes[valid] < I)):
        _cell_call(cell, step, args)
        outputs = CELL_OUTPUTS[step] & set(args)
        assert all(np.all(np.isfinite(args[n])) for n in outputs)
    else:
        with pytest.raises(ValueError, match="token code"):
            _cell_call(cell, step, args)


@SOME
@given(M=st.integers(0, 9), N=st.integers(0, 9), K=st.integers(0, 9),
       trans_a=st.booleans(), trans_b=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]),
       beta=st.sampled_from([0.0, 1.0, -0.5]), layout=st.sampled_from(
           ["C", "F", "reversed", "strided", "readonly"]),
       which=st.sampled_from(["A", "B", "C"]),
       isa=st.sampled_from(_kernels.isa_available()), seed=st.integers(0, 99))
def test_gemm_is_right_or_refuses_any_layout(M, N, K, trans_a, trans_b, dtype,
                                             beta, layout, which, isa, seed):
    rng = np.random.default_rng(seed)
    A = rng.uniform(-1, 1, (K, M) if trans_a else (M, K)).astype(dtype)
    Bm = rng.uniform(-1, 1, (N, K) if trans_b else (K, N)).astype(dtype)
    C = rng.uniform(-1, 1, (M, N)).astype(dtype)
    expected = beta * C + (A.T if trans_a else A) @ (Bm.T if trans_b
                                                     else Bm)
    arrays = dict(A=A, B=Bm, C=C)
    arrays[which] = _lay_out(arrays[which], layout)
    ws = np.empty(_kernels.gemm_workspace_size(1), np.uint8)
    previous = _kernels.isa_current()
    _kernels.set_isa(isa)
    try:
        call = lambda: _kernels.gemm(arrays["C"], arrays["A"],  # noqa: E731
                                     arrays["B"], beta, trans_a, trans_b, ws,
                                     1)
        target = arrays[which]
        empty = M == 0 or N == 0
        layout_ok = target.flags.c_contiguous and (
            which != "C" or target.flags.writeable)
        if layout_ok or (empty and which == "C" and layout != "readonly") \
                or target.size == 0:
            try:
                call()
            except ValueError as exc:
                # Cython refuses some zero-size or single-column views.
                assert "contiguous" in str(exc) or "read-only" in str(exc)
                return
            tol = 1e-5 if dtype == np.float32 else 1e-12
            assert_allclose(arrays["C"], expected, rtol=tol, atol=tol)
        else:
            _raises_clearly(call)
    finally:
        _kernels.set_isa(previous)


@SOME
@given(N=st.integers(1, 6), H=st.integers(1, 5), K=st.integers(1, 5),
       dtype=st.sampled_from([np.float32, np.float64]), data=st.data())
def test_output_layers_are_right_or_refuse_clearly(N, H, K, dtype, data):
    rng = np.random.default_rng(N * 100 + H * 10 + K)
    X = rng.uniform(-3, 3, (N, H)).astype(dtype)
    V = rng.uniform(-1, 1, (H, K)).astype(dtype)
    c = rng.uniform(-1, 1, K).astype(dtype)
    ws = np.empty(_kernels.gemm_workspace_size(1), np.uint8)
    labels = data.draw(hnp.arrays(np.int64, N, elements=st.integers(-2,
                                                                    K + 1)))
    w = data.draw(hnp.arrays(dtype, N, elements=st.floats(0, 2, width=32)))
    P, dX = np.empty((N, K), dtype), np.empty((N, H), dtype)
    dV, dc = np.zeros((H, K), dtype), np.zeros(K, dtype)
    call = lambda: _kernels.softmax_xent(  # noqa: E731
        P, dX, dV, dc, X, V, c, labels, w, ws, 1)
    if labels.min() < 0 or labels.max() >= K:
        _raises_clearly(call)
    else:
        loss = call()
        z = X.astype(np.float64) @ V + c
        z -= z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        expected = -(w * logp[np.arange(N), labels]).sum()
        assert_allclose(loss, expected, rtol=1e-4, atol=1e-4)
        assert np.all(np.isfinite(dX)) and np.all(np.isfinite(dV))
    Y = data.draw(hnp.arrays(dtype, (N, K), elements=st.floats(
        -1e4, 1e4, width=32)))
    Z = np.empty((N, K), dtype)
    loss = _kernels.linear_mse(Z, dX, dV, dc, X, V, c, Y, w, ws, 1)
    assert np.isfinite(loss) and np.all(np.isfinite(Z))
    # Wrong shapes of the labels or the weights are refused.
    _raises_clearly(lambda: _kernels.softmax_xent(
        P, dX, dV, dc, X, V, c, np.zeros(N + 1, np.int64), w, ws, 1))
    _raises_clearly(lambda: _kernels.linear_mse(
        Z, dX, dV, dc, X, V, c, Y[:, :0], w, ws, 1))
    _raises_clearly(lambda: _kernels.softmax_xent(
        P, dX, dV, dc, X, V, c, labels.astype(np.int32), w, ws, 1))


@SOME
@given(n=st.integers(0, 40), dtype=st.sampled_from([np.float32, np.float64]),
       optimizer=st.sampled_from(_kernels.OPTIMIZERS + ("bogus",)),
       grad_scale=st.sampled_from([0.0, 1.0, 1e30, np.inf, np.nan]),
       clip_norm=st.sampled_from([0.0, 1.0]), step=st.integers(-1, 3),
       lr=st.floats(1e-6, 10))
def test_optimiser_step_updates_or_refuses_clearly(n, dtype, optimizer,
                                                   grad_scale, clip_norm,
                                                   step, lr):
    rng = np.random.default_rng(n)
    param = rng.uniform(-1, 1, n).astype(dtype)
    grad = (rng.uniform(-1, 1, n) * grad_scale).astype(dtype)
    state = np.zeros(2 * n, dtype)
    call = lambda: _kernels.optim_step(  # noqa: E731
        param, grad, state, None, optimizer, lr, step, clip_norm=clip_norm)
    if n == 0 or optimizer == "bogus" or step < 1:
        _raises_clearly(call)
        return
    with np.errstate(all="ignore"):
        norm = call()
    if np.isfinite(grad_scale) and grad_scale < 1e20:
        assert np.isfinite(norm)
        assert np.all(np.isfinite(param))


@SOME
@given(a=hnp.arrays(st.sampled_from([np.float32, np.float64, np.float16,
                                     np.int32]),
                    hnp.array_shapes(min_dims=0, max_dims=3, min_side=0,
                                     max_side=5),
                    elements=st.integers(-3, 3)),
       layout=st.sampled_from(["C", "F", "reversed", "strided", "readonly"]),
       rate=st.floats(-0.5, 1.5), seed=st.integers(0, 2**64 - 1))
def test_dropout_masks_in_place_or_refuses_clearly(a, layout, rate, seed):
    a = _lay_out(a, layout) if a.ndim else a
    before = np.array(a, copy=True)
    call = lambda: _kernels.dropout(a, rate, seed, 0, 1)  # noqa: E731
    if not 0 <= rate < 1:
        _raises_clearly(call)
    elif a.size == 0:
        call()   # nothing to mask
    elif (a.dtype in (np.float32, np.float64) and a.flags.c_contiguous
          and a.flags.writeable):
        call()
        kept = a != 0
        assert_allclose(a[kept], before[kept] / (1 - rate), rtol=1e-6)
        return
    else:
        _raises_clearly(call)
    assert_array_equal(a, before)


@SOME
@given(a=hnp.arrays(st.sampled_from([np.float32, np.float64, np.float16,
                                     np.dtype(">f4"), np.dtype(">f8")]),
                    hnp.array_shapes(min_dims=0, max_dims=3, min_side=0,
                                     max_side=5),
                    elements=st.floats(width=16)),
       layout=st.sampled_from(["C", "F", "reversed", "strided", "readonly"]))
def test_all_finite_agrees_with_numpy_on_any_array(a, layout):
    # Float16 values (NaN and infinities among them) fit every float dtype;
    # the C scan takes C-contiguous float32/float64 in native byte order,
    # NumPy the rest (test_fast_paths checks the other dtypes).
    a = _lay_out(a, layout) if a.ndim else a
    assert _kernels.all_finite(a) is bool(np.isfinite(a).all())


@SOME
@given(data=st.data(), name=st.sampled_from(_kernels.FUNCTIONS + ("relu",)),
       dtype=st.sampled_from([np.float32, np.float64, np.int64]))
def test_activate_is_bounded_or_refuses_clearly(data, name, dtype):
    elements = st.integers(-5, 5) if dtype == np.int64 else st.floats(
        allow_nan=True, allow_infinity=True, width=32)
    x = data.draw(hnp.arrays(dtype, st.integers(0, 20), elements=elements))
    if dtype == np.int64 or x.size == 0 or name == "relu":
        _raises_clearly(lambda: _kernels.activate(name, x))
        return
    y = _kernels.activate(name, x)
    assert y.shape == x.shape and y.dtype == x.dtype
    finite = np.isfinite(x)
    if name in ("sigmoid", "tanh", "softsign"):
        low = 0 if name == "sigmoid" else -1
        assert np.all((y[finite] >= low) & (y[finite] <= 1))
    else:
        assert np.all(y[finite] >= 0)


@SOME
@given(cells=st.lists(st.sampled_from(sorted(_kernels.CELLS)),
                      min_size=1, max_size=3),
       sizes=st.lists(st.integers(1, 4), min_size=3, max_size=3),
       B=st.integers(1, 3), dtype=st.sampled_from([np.float32, np.float64]),
       corrupt=st.sampled_from([None, "codes", "x", "h", "c", "top",
                                "workspace", "cell", "W", "layer",
                                "bad_code", "codes_int32"]))
def test_stack_step_runs_or_refuses_clearly(cells, sizes, B, dtype, corrupt):
    I = sizes[0]
    specs, n_in = [], I
    rng = np.random.default_rng(B)
    for cell, H in zip(cells, sizes):
        G = _kernels.CELLS[cell].n_gates * H
        spec = dict(cell=cell, W=rng.uniform(-1, 1, (n_in, G)).astype(dtype),
                    U=rng.uniform(-1, 1, (H, G)).astype(dtype),
                    b=np.zeros(G, dtype))
        if _kernels.CELLS[cell].has_bh:
            spec["bh"] = np.zeros(H, dtype)
        specs.append(spec)
        n_in = H
    width = sum(sizes[:len(cells)])
    x = rng.uniform(-1, 1, (B, I)).astype(dtype)
    h, c = np.zeros((B, width), dtype), np.zeros((B, width), dtype)
    top = np.empty((B, n_in), dtype)
    ws = np.empty(_kernels.Stack([_kernels.Layer(**s) for s in specs])
                  .workspace_size(B), np.uint8)
    args = dict(top=top, h=h, c=c, x=x, workspace=ws)

    def step():
        # The layers and the stack are made here: what they refuse counts.
        stack = _kernels.Stack([_kernels.Layer(**s) for s in specs])
        _kernels.stack_step(stack=stack, **args)

    if corrupt in (None, "codes"):
        if corrupt == "codes":
            args["x"] = rng.integers(0, I, B)
        step()
        assert np.all(np.isfinite(top)) and np.all(np.abs(top) <= 1)
        return
    if corrupt in ("x", "h", "c", "top"):
        args[corrupt] = np.zeros((B + 1,) + args[corrupt].shape[1:], dtype)
    elif corrupt == "workspace":
        args["workspace"] = np.empty(max(ws.size - 1, 0), np.uint8)
    elif corrupt == "cell":
        specs[0]["cell"] = "transformer"
    elif corrupt == "W":
        specs[-1]["W"] = specs[-1]["W"][:-1] if len(specs) > 1 else \
            specs[-1]["W"].astype(np.float16)
    elif corrupt == "bad_code":
        args["x"] = np.where(np.arange(B) == B - 1, I, rng.integers(0, I, B))
    elif corrupt == "codes_int32":
        args["x"] = rng.integers(0, I, B).astype(np.int32)
    else:
        specs.clear()
    _raises_clearly(step)


# ----------------------- what is not an array, or not a known option
# Refused with a message where the Layer, the Tape or the call takes it,
# never passed on to C.

def _elman_call(**change):
    T, B, I, H = 2, 2, 2, 2
    args = dict(h=np.zeros((T, B, H)), h_n=np.zeros((B, H)),
                x=np.zeros((T, B, I)), h0=np.zeros((B, H)),
                W=np.zeros((I, H)), U=np.zeros((H, H)), b=np.zeros(H),
                lengths=np.array([2, 1]), reverse=False, n_threads=1)
    args["workspace"] = np.empty(_kernels.layer_workspace_size(
        _kernels.Layer("elman", args["W"], args["U"], args["b"]), T, B, 1),
        np.uint8)
    args.update(change)
    return lambda: _cell_call("elman", "forward", args)


@pytest.mark.parametrize("change", [dict(W=[[0.0, 0.0]] * 2),
                                    dict(lengths=[2, 1]),
                                    dict(workspace=None), dict(b=3.0),
                                    dict(h=[[[0.0] * 2] * 2] * 2),
                                    dict(x=[[0, 1], [1, 0]])])
def test_binding_refuses_what_is_not_an_array_clearly(change):
    _raises_clearly(_elman_call(**change))


def test_a_layer_refuses_an_unknown_activation_clearly():
    W, U, b = (np.zeros(s, np.float32) for s in ((2, 3), (3, 3), (3,)))
    _raises_clearly(lambda: _kernels.Layer("elman", W, U, b,
                                           activation="swish"))


def test_dropout_refuses_a_list_clearly():
    _raises_clearly(lambda: _kernels.dropout([1.0, 2.0], 0.5, 0, 0, 1))
