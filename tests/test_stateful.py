"""Stateful stepping (``initial_state`` / ``step``) on the sequence
estimators: feeding a stream one step at a time reproduces the batch model.

The step runs its own C path (csrc/stack.c: one row at a time, vector-matrix
products) rather than the batch kernels, so it agrees with ``predict_proba``
/ ``predict`` to rounding: ~1e-5 relative in float32, ~1e-12 in float64.
"""
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from seqnet import (SequenceClassifier, SequenceRegressor, SequenceTagger,
                    StreamState)

N_FEATURES = 3
TOL = {"float32": dict(rtol=1e-5, atol=1e-6),
       "float64": dict(rtol=1e-12, atol=1e-13)}
CELLS = [("lstm", {}), ("lstm", dict(peepholes=True)), ("gru", {}),
         ("elman", {}), ("elman", dict(activation="relu"))]
CELL_IDS = ["lstm", "lstm-peepholes", "gru", "elman", "elman-relu"]


def make_data(kind, lengths, seed=0):
    """Sequences of N_FEATURES features with targets for ``kind``."""
    rng = np.random.default_rng(seed)
    X = [rng.standard_normal((t, N_FEATURES)) for t in lengths]
    if kind == "classifier":
        y = np.array([int(x[:, 0].sum() > 0) + int(x[:, 1].mean() > 0.3)
                      for x in X])
    elif kind == "regressor":
        y = np.array([[x[:, 0].sum(), x[:, 1].max()] for x in X])
    else:
        y = [(np.cumsum(x[:, 0]) > 0).astype(int) + (x[:, 2] > 0.5)
             for x in X]
    return X, y


ESTIMATORS = {"classifier": SequenceClassifier,
              "regressor": SequenceRegressor, "tagger": SequenceTagger}


def fit(kind, cell="lstm", extra=None, dtype="float64", lengths=None,
        **params):
    lengths = [7] * 24 if lengths is None else lengths
    X, y = make_data(kind, lengths)
    model = ESTIMATORS[kind](cell=cell, hidden_sizes=(16, 8), max_epochs=3,
                             batch_size=8, learning_rate=0.01, random_state=0,
                             dtype=dtype, **(extra or {}), **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    return model, X


def batch_outputs(model, X):
    """What the batch model says for sequences X: per step (tagger) or per
    sequence, as (n, K) / list of (T_i, K) arrays."""
    if isinstance(model, SequenceRegressor):
        out = model.predict(X)
        return out.reshape(len(X), -1)
    return model.predict_proba(X)


def step_through(model, X, state=None):
    """Feed the equal-length sequences X (n, T, F) as n streams, one step at
    a time; returns the outputs (T, n, K) and the final state."""
    X = np.asarray(X)
    state = model.initial_state(len(X)) if state is None else state
    outputs = []
    for t in range(X.shape[1]):
        out, state = model.step(X[:, t], state)
        outputs.append(out.copy())
    return np.array(outputs), state


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("cell, extra", CELLS, ids=CELL_IDS)
def test_tagger_steps_give_predict_proba_of_every_step(cell, extra, dtype):
    model, X = fit("tagger", cell, extra, dtype)
    outputs, state = step_through(model, X)
    expected = np.asarray(model.predict_proba(np.array(X)))   # (n, T, K)
    assert outputs.dtype == np.dtype(dtype)
    assert_allclose(outputs.transpose(1, 0, 2), expected, **TOL[dtype])
    assert state.n_streams == len(X)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("cell, extra", CELLS, ids=CELL_IDS)
def test_classifier_step_predicts_the_sequence_read_so_far(cell, extra,
                                                           dtype):
    model, X = fit("classifier", cell, extra, dtype)
    X = np.array(X)
    outputs, _ = step_through(model, X)
    assert outputs.shape == (X.shape[1], len(X), len(model.classes_))
    # After the last step: the prediction of the whole sequence; after step
    # t: the prediction of the prefix of t + 1 steps.
    assert_allclose(outputs[-1], model.predict_proba(X), **TOL[dtype])
    for t in (0, 3):
        assert_allclose(outputs[t], model.predict_proba(X[:, :t + 1]),
                        **TOL[dtype])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("cell, extra", CELLS, ids=CELL_IDS)
def test_regressor_step_predicts_the_sequence_read_so_far(cell, extra, dtype):
    model, X = fit("regressor", cell, extra, dtype)
    X = np.array(X)
    outputs, _ = step_through(model, X)
    assert outputs.shape == (X.shape[1], len(X), 2)
    assert_allclose(outputs[-1], model.predict(X), **TOL[dtype])
    assert_allclose(outputs[2], model.predict(X[:, :3]), **TOL[dtype])


def test_one_output_regressor_steps_give_a_column():
    X, y = make_data("regressor", [5] * 10)
    model = SequenceRegressor(hidden_sizes=(8,), max_epochs=2,
                              random_state=0, dtype="float64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y[:, 0])
    outputs, _ = step_through(model, np.array(X))
    assert outputs.shape == (5, 10, 1)
    assert_allclose(outputs[-1, :, 0], model.predict(np.array(X)),
                    **TOL["float64"])


@pytest.mark.parametrize("kind", ["tagger", "classifier", "regressor"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_ragged_streams_branch_into_their_own_states(kind, dtype):
    # All streams run together while every one is alive; then each
    # continues alone from a copy of its row of the state, to its own
    # length.
    lengths = [9, 4, 6, 4, 7, 5]
    model, X = fit(kind, "gru", dtype=dtype, lengths=lengths * 4)
    X = X[:len(lengths)]
    expected = batch_outputs(model, X)
    common = min(lengths)
    shared, state = step_through(model, [x[:common] for x in X])
    for i, x in enumerate(X):
        own = StreamState(state.h[i:i + 1].copy(), state.c[i:i + 1].copy())
        steps = list(shared[:, i])
        for t in range(common, len(x)):
            out, own = model.step(x[t:t + 1], own)
            steps.append(out[0])
        if kind == "tagger":
            assert_allclose(np.array(steps), expected[i], **TOL[dtype])
        else:
            assert_allclose(steps[-1], expected[i], **TOL[dtype])


def test_a_single_stream_reads_one_step_as_a_1d_array():
    model, X = fit("tagger", "lstm")
    out_1d, _ = model.step(X[0][0])
    out_2d, _ = model.step(X[0][:1])
    assert out_1d.shape == (1, len(model.classes_))
    assert_array_equal(out_1d, out_2d)
    # Without a state, step starts from zero: the first row of
    # predict_proba.
    assert_allclose(out_1d[0], model.predict_proba([X[0]])[0][0],
                    **TOL["float64"])


def test_step_updates_the_state_in_place_and_a_copy_branches():
    model, X = fit("tagger", "lstm")
    X = np.array(X[:4])
    _, state = step_through(model, X[:, :3])
    branch = state.copy()
    h, c = branch.h.copy(), branch.c.copy()
    out, returned = model.step(X[:, 3], state)
    assert returned is state
    assert not np.array_equal(state.h, h) and not np.array_equal(state.c, c)
    # The copy was left alone by stepping the original ...
    assert_array_equal(branch.h, h)
    assert_array_equal(branch.c, c)
    # ... and stepping it the same way gives the same bits,
    out_branch, _ = model.step(X[:, 3], branch)
    assert_array_equal(out_branch, out)
    assert_array_equal(branch.h, state.h)
    # while another input takes it elsewhere.
    other, _ = model.step(X[:, 3] + 1.0, state.copy())
    again, _ = model.step(X[:, 3], branch.copy())
    assert not np.allclose(other, again)


def test_initial_state_is_zero_for_every_layer():
    model, _ = fit("classifier", "gru")
    state = model.initial_state(5)
    assert isinstance(state, StreamState)
    assert state.n_streams == 5
    assert state.h.shape == state.c.shape == (5, 16 + 8)
    assert state.h.dtype == np.float64
    assert not state.h.any() and not state.c.any()
    assert state.h is not state.c and not np.shares_memory(state.h, state.c)
    assert model.initial_state().n_streams == 1


@pytest.mark.parametrize("kind", ["tagger", "classifier", "regressor"])
def test_bidirectional_models_cannot_step(kind):
    X, y = make_data(kind, [5] * 8)
    model = ESTIMATORS[kind](hidden_sizes=(8,), bidirectional=True,
                             max_epochs=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    with pytest.raises(ValueError, match="unidirectional"):
        model.step(np.zeros((2, N_FEATURES)))
    with pytest.raises(ValueError, match="unidirectional"):
        model.step(np.zeros((2, N_FEATURES)), model.initial_state(2))


@pytest.mark.parametrize("x", [np.zeros((2, N_FEATURES + 1)),
                               np.zeros((2, N_FEATURES - 1)),
                               np.zeros((3, N_FEATURES)),
                               np.zeros((2, 1, N_FEATURES)),
                               np.zeros(N_FEATURES)])
def test_step_rejects_inputs_of_the_wrong_shape(x):
    model, _ = fit("classifier", "elman")
    with pytest.raises(ValueError, match="step expects"):
        model.step(x, model.initial_state(2))


def test_step_rejects_nan_and_a_foreign_state():
    model, _ = fit("regressor", "lstm")
    state = model.initial_state(2)
    x = np.zeros((2, N_FEATURES))
    with pytest.raises(ValueError, match="NaN"):
        model.step(np.full((2, N_FEATURES), np.nan), state)
    with pytest.raises(TypeError, match="StreamState"):
        model.step(x, (state.h, state.c))
    bad = [StreamState(np.zeros((2, 16)), np.zeros((2, 16))),
           StreamState(state.h.astype(np.float32), state.c.astype(np.float32)),
           StreamState(np.zeros((2, 48))[:, ::2], np.zeros((2, 24))),
           StreamState(state.h.copy(), np.zeros((3, 24)))]
    for st in bad:
        with pytest.raises(ValueError, match="state"):
            model.step(x, st)
    # Nothing was half-updated by the failed calls.
    assert not state.h.any()


def test_step_before_fit_raises_not_fitted():
    for cls in ESTIMATORS.values():
        with pytest.raises(NotFittedError):
            cls().step(np.zeros((1, N_FEATURES)))
        with pytest.raises(NotFittedError):
            cls().initial_state(1)


def test_stepping_survives_pickling():
    import pickle
    model, X = fit("tagger", "gru")
    copy = pickle.loads(pickle.dumps(model))
    a, _ = step_through(model, np.array(X[:3]))
    b, _ = step_through(copy, np.array(X[:3]))
    assert_array_equal(a, b)
