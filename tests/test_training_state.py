"""The public training-state API: initialize, get/set_parameters,
get/set_optimizer_state and train_batches -- what a loop seqnet does not
run itself (seqnet.dask, or a user's glue for another engine) needs."""
import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from seqnet import CharRNN, SequenceClassifier, SequenceRegressor, \
    SequenceTagger

N, T, F, BATCH = 24, 5, 3, 6


def _data(kind, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, T, F))
    if kind is SequenceClassifier:
        y = rng.integers(0, 3, N)
    elif kind is SequenceRegressor:
        y = rng.normal(size=(N, 2))
    else:
        y = rng.integers(0, 2, (N, T))
    return X, y


def _model(kind, **kw):
    args = dict(hidden_sizes=(4,), batch_size=BATCH, max_epochs=1,
                random_state=7, dtype="float64", optimizer="adam")
    args.update(kw)
    return kind(**args)


def _fit_order(random_state, n):
    """The sequence order of fit's first epoch: after the draws for the
    weights and the dropout seed, a permutation (seqnet/_base.py's _fit)."""
    rng = np.random.RandomState(random_state)
    rng.randint(2**31)
    rng.randint(2**31)
    return rng.permutation(n)


KINDS = [SequenceClassifier, SequenceRegressor, SequenceTagger]
CONFIGS = [dict(), dict(dropout=0.3, dtype="float32"),
           dict(optimizer="momentum", l2=1e-3)]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("config", CONFIGS)
def test_train_batches_equals_the_batches_of_fit(kind, config):
    X, y = _data(kind)
    fitted = _model(kind, **config).fit(X, y)
    order = _fit_order(7, N)
    model = _model(kind, **config).initialize(X, y)
    loss = model.train_batches(X[order], y[order])
    assert np.array_equal(model.get_parameters(), fitted.get_parameters())
    a, b = model.get_optimizer_state(), fitted.get_optimizer_state()
    assert a["step"] == b["step"] == N // BATCH
    assert np.array_equal(a["moments"], b["moments"])
    assert loss == pytest.approx(fitted.loss_curve_[0], rel=1e-12)
    # Not an epoch: nothing is counted.
    assert model.n_iter_ == 0 and model.loss_curve_ == []


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_tagger_truncated_bptt_through_train_batches():
    X, y = _data(SequenceTagger)
    fitted = _model(SequenceTagger, tbptt_length=2).fit(X, y)
    order = _fit_order(7, N)
    model = _model(SequenceTagger, tbptt_length=2).initialize(
        X[:2], classes=[0, 1])
    model.train_batches(X[order], y[order])
    assert np.array_equal(model.get_parameters(), fitted.get_parameters())
    assert model.get_optimizer_state()["step"] == 3 * N // BATCH


def test_initialize_starts_where_fit_starts():
    X, y = _data(SequenceClassifier)
    a = _model(SequenceClassifier).initialize(X[:3], classes=[2, 0, 1])
    b = _model(SequenceClassifier).initialize(X, y)
    assert np.array_equal(a.get_parameters(), b.get_parameters())
    assert a.classes_.tolist() == [0, 1, 2]
    state = a.get_optimizer_state()
    assert state["step"] == 0 and not state["moments"].any()
    # A model initialised with other classes is another model.
    c = _model(SequenceClassifier).initialize(X[:3], classes=[0, 1])
    assert c.get_parameters().size < a.get_parameters().size


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_state_round_trips_and_continues_identically(kind, dtype):
    X, y = _data(kind)
    a = _model(kind, dtype=dtype).fit(X, y)
    params, state = a.get_parameters(), a.get_optimizer_state()
    assert params.dtype == np.dtype(dtype) and params.ndim == 1
    assert state["moments"].shape == (2, params.size)
    a.set_parameters(params).set_optimizer_state(state)
    assert np.array_equal(a.get_parameters(), params)
    # Another model given that state trains on exactly as the first does.
    b = _model(kind, dtype=dtype, random_state=99).initialize(X, y)
    b.set_parameters(params).set_optimizer_state(state)
    la = a.train_batches(X, y, n_batches=2)
    lb = b.train_batches(X, y, n_batches=2)
    assert la == lb
    assert np.array_equal(a.get_parameters(), b.get_parameters())
    assert np.array_equal(a.get_optimizer_state()["moments"],
                          b.get_optimizer_state()["moments"])


def test_copies_in_and_out():
    X, y = _data(SequenceClassifier)
    model = _model(SequenceClassifier).initialize(X, y)
    params = model.get_parameters()
    params += 1.0
    assert not np.array_equal(params, model.get_parameters())
    model.set_parameters(params)
    kept = params.copy()
    params += 1.0       # set copies: the model does not follow
    assert np.array_equal(model.get_parameters(), kept)
    # float32 values go into a float64 model, converted.
    model.set_parameters(params.astype(np.float32))
    assert model.get_parameters().dtype == np.float64


def test_n_batches_is_a_prefix():
    X, y = _data(SequenceRegressor)
    a = _model(SequenceRegressor).initialize(X, y)
    b = _model(SequenceRegressor).initialize(X, y)
    a.train_batches(X, y, n_batches=2)
    b.train_batches(X[:2 * BATCH], y[:2 * BATCH])
    assert np.array_equal(a.get_parameters(), b.get_parameters())


def test_char_rnn_has_state_but_no_batches():
    model = CharRNN(hidden_sizes=(6,), random_state=0).initialize("abcab ")
    params = model.get_parameters()
    model.set_parameters(params * 0.5)
    assert np.array_equal(model.get_parameters(), params * 0.5)
    assert model.get_optimizer_state()["step"] == 0
    with pytest.raises(NotImplementedError, match="partial_fit"):
        model.train_batches("abcab ")


def test_bad_input_is_refused_and_changes_nothing():
    X, y = _data(SequenceClassifier)
    model = _model(SequenceClassifier)
    with pytest.raises(NotFittedError):
        model.get_parameters()
    with pytest.raises(NotFittedError):
        model.train_batches(X, y)
    with pytest.raises(ValueError, match="y or classes|requires y"):
        model.initialize(X)
    with pytest.raises(ValueError, match="requires y"):
        _model(SequenceRegressor).initialize(X)
    model.initialize(X, y)
    params, state = model.get_parameters(), model.get_optimizer_state()
    P = params.size
    with pytest.raises(ValueError, match=rf"shape \({P},\)"):
        model.set_parameters(params[:-1])
    with pytest.raises(ValueError, match="shape"):
        model.set_parameters(params.reshape(1, -1))
    with pytest.raises(TypeError, match="floating point"):
        model.set_parameters(params.astype(np.int64))
    with pytest.raises(TypeError, match="floating point"):
        model.set_parameters([str(v) for v in params])
    bad = params.copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.set_parameters(bad)
    bad[3] = np.inf
    with pytest.raises(ValueError, match="NaN or infinity"):
        model.set_parameters(bad)
    with pytest.raises(TypeError, match="'step' and 'moments'"):
        model.set_optimizer_state(state["moments"])
    with pytest.raises(TypeError, match="'step' and 'moments'"):
        model.set_optimizer_state({"moments": state["moments"]})
    for step in (-1, 1.5, True, "3"):
        with pytest.raises(ValueError, match="step"):
            model.set_optimizer_state({"step": step,
                                       "moments": state["moments"]})
    with pytest.raises(ValueError, match=rf"shape \(2, {P}\)"):
        model.set_optimizer_state({"step": 1,
                                   "moments": state["moments"][0]})
    moments = state["moments"].copy()
    moments[1, 0] = -np.inf
    with pytest.raises(ValueError, match="moments hold NaN"):
        model.set_optimizer_state({"step": 1, "moments": moments})
    for n in (0, -1, 2.0, N // BATCH + 1):
        with pytest.raises(ValueError, match="n_batches"):
            model.train_batches(X, y, n_batches=n)
    with pytest.raises(ValueError, match="not seen"):
        model.train_batches(X, np.full(N, 5))
    with pytest.raises(ValueError, match="features"):
        model.train_batches(X[:, :, :2], y)
    # None of that changed the model.
    assert np.array_equal(model.get_parameters(), params)
    after = model.get_optimizer_state()
    assert after["step"] == 0 and np.array_equal(after["moments"],
                                                 state["moments"])
