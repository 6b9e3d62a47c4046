"""A stateful stress test: random valid and invalid calls, in random order,
against every estimator.

hypothesis picks a sequence of fit / partial_fit / set_params / predict /
step / pickle / warm_start / save calls with data and parameters that are
sometimes valid and sometimes not.  After every call:

- a call that raised left the estimator exactly as it was (the same
  pickle bytes: parameters, weights, optimiser state, curves);
- every refusal is a ValueError or TypeError (scikit-learn's NotFittedError
  and InvalidParameterError are both) with a message, or a
  NotImplementedError for what an estimator does not do yet; nothing else
  escapes but FloatingPointError from a diverged fit, which keeps the last
  finite epoch, as documented;
- a fit that succeeded made the network its parameters describe;
- a fitted model predicts finite values of the right shape, a pickled
  copy predicts the same bits, and a saved file loads back.
"""
import io
import pickle
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (RuleBasedStateMachine, initialize,
                                 invariant, rule)

import seqnet
from seqnet import (SequenceClassifier, SequenceRegressor, SequenceTagger,
                    SequenceToSequence)

N_FEATURES = 2

# Parameter values, valid and not (set_params accepts anything; fit
# validates).
PARAMS = {
    "hidden_sizes": [2, (3,), (2, 2), 0, (), "x"],
    "cell": ["lstm", "gru", "elman", "cnn"],
    "bidirectional": [False, True],
    "activation": ["tanh", "softsign", "relu", "sigmoid"],
    "optimizer": ["adam", "sgd", "rmsprop", "adagrad", "bogus"],
    "learning_rate": [1e-2, 0.0, -1.0, float("nan")],
    "learning_rate_schedule": ["constant", "exponential", "cosine", "x"],
    "batch_size": [1, 3, 0],
    "max_epochs": [1, 2, 0],
    "dropout": [0.0, 0.3, 1.5],
    "clip_norm": [None, 1.0, -1.0],
    "dtype": ["float32", "float64", "int8"],
    "peepholes": [False, True],
    "early_stopping": [False, True],
    "tbptt_length": [None, 2, 0],
    "n_jobs": [1, 2, 3, -1, 0],
}

ESTIMATORS = {
    "classifier": lambda: SequenceClassifier(hidden_sizes=3, max_epochs=1,
                                             random_state=0, n_jobs=1),
    "regressor": lambda: SequenceRegressor(hidden_sizes=3, max_epochs=1,
                                           random_state=0, n_jobs=1),
    "tagger": lambda: SequenceTagger(hidden_sizes=3, max_epochs=1,
                                     random_state=0, n_jobs=1),
    "seq2seq": lambda: SequenceToSequence(hidden_sizes=(3,), max_epochs=1,
                                          random_state=0, n_jobs=1),
}


def _sequences(draw, n, n_features=N_FEATURES):
    lengths = draw(st.lists(st.integers(1, 4), min_size=n, max_size=n))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    return [rng.standard_normal((t, n_features)) for t in lengths]


@st.composite
def datasets(draw, kind):
    """(X, y): valid most of the time, otherwise broken in one way."""
    n = draw(st.integers(4, 8))
    X = _sequences(draw, n)
    if kind == "classifier":
        y = np.array([i % 2 for i in range(n)])
    elif kind == "regressor":
        y = np.array([float(x.sum()) for x in X])
    elif kind == "tagger":
        y = [(x[:, 0] > 0).astype(int) for x in X]
    else:
        y = ["ab"[i % 2] * (1 + i % 3) for i in range(n)]
    fault = draw(st.sampled_from(
        [None] * 6 + ["nan", "features", "short_y", "empty", "strings",
                      "no_steps"]))
    if fault == "nan":
        X[0] = X[0].copy()
        X[0][0, 0] = np.nan
    elif fault == "features":
        X[-1] = np.zeros((2, N_FEATURES + 1))
    elif fault == "short_y":
        y = y[:-1]
    elif fault == "empty":
        X, y = [], y[:0]
    elif fault == "strings":
        X = [np.array([["a", "b"]])] * n
    elif fault == "no_steps":
        X[0] = np.zeros((0, N_FEATURES))
    return X, y


def _state(est):
    """The estimator's whole state, as bytes."""
    return pickle.dumps(est)


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


class EstimatorMachine(RuleBasedStateMachine):
    kind = None

    @initialize()
    def make(self):
        self.est = ESTIMATORS[self.kind]()
        self.X = self.y = None          # the last data a fit accepted

    def _call(self, fn, *args, **kwargs):
        """Call; a refusal must be a ValueError/TypeError with a message
        and leave the estimator as it was."""
        before = _state(self.est)
        try:
            return True, _quiet(fn, *args, **kwargs)
        except FloatingPointError as exc:
            # Divergence is the documented exception to all-or-nothing: the
            # last finite epoch's weights are kept (checked by the
            # invariant below).
            assert fn.__name__ in ("fit", "partial_fit") and "diverged" in \
                str(exc)
            return False, None
        except (ValueError, TypeError, NotImplementedError) as exc:
            assert str(exc), f"{type(exc).__name__} without a message"
            assert _state(self.est) == before, \
                f"a refused call ({exc}) changed the estimator"
            return False, None

    def _fitted(self):
        return "_net" in self.est.__dict__

    @rule(data=st.data())
    def fit(self, data):
        X, y = data.draw(datasets(self.kind))
        ok, _ = self._call(self.est.fit, X, y)
        if ok:
            self.X, self.y = X, y
            if self.kind != "seq2seq":
                # The fitted network is the one get_params() describes
                # (warm_start once kept training the old one silently).
                self.est._check_same_network()

    @rule(data=st.data())
    def partial_fit(self, data):
        X, y = data.draw(datasets(self.kind))
        kwargs = {}
        if self.kind == "classifier" and not self._fitted():
            kwargs["classes"] = [0, 1]
        ok, _ = self._call(self.est.partial_fit, X, y, **kwargs)
        if ok:
            self.X, self.y = X, y

    @rule(warm=st.booleans(), data=st.data())
    def warm_start_fit(self, warm, data):
        self.est.set_params(warm_start=warm)
        self.fit(data)

    @rule(name=st.sampled_from(sorted(PARAMS)), data=st.data())
    def set_params(self, name, data):
        if name == "tbptt_length" and self.kind != "tagger":
            return
        value = data.draw(st.sampled_from(PARAMS[name]))
        if name == "hidden_sizes" and self.kind == "seq2seq" \
                and isinstance(value, int):
            value = (value,)
        self.est.set_params(**{name: value})

    @rule(data=st.data())
    def predict(self, data):
        X, _ = data.draw(datasets(self.kind))
        ok, out = self._call(self.est.predict, X)
        if ok:
            assert len(out) == len(X)

    @rule(data=st.data())
    def step(self, data):
        if self.kind == "seq2seq" or not self._fitted():
            return
        n = data.draw(st.integers(1, 3))
        features = data.draw(st.sampled_from([N_FEATURES] * 3 + [1]))
        x = np.random.default_rng(n).standard_normal((n, features))
        ok, state = self._call(self.est.initial_state, n)
        if ok:
            self._call(self.est.step, x, state)

    @rule()
    def pickle_round_trip(self):
        if not self._fitted() or self.X is None:
            return
        copy = pickle.loads(pickle.dumps(self.est))
        ok, want = self._call(self.est.predict, self.X)
        if ok:
            got = _quiet(copy.predict, self.X)
            for a, b in zip(want, got):
                assert np.array_equal(np.asarray(a), np.asarray(b))

    @rule()
    def save_and_load(self):
        buf = io.BytesIO()
        ok, _ = self._call(self.est.save, buf)
        if ok:
            buf.seek(0)
            assert type(seqnet.load(buf)) is type(self.est)

    @invariant()
    def fitted_models_predict_finite_values(self):
        if self.X is None or not self._fitted():
            return
        try:
            out = _quiet(self.est.predict_proba if self.kind in (
                "classifier", "tagger") else self.est.predict, self.X)
        except (ValueError, TypeError) as exc:
            # Parameters changed since the fit may be refused, clearly.
            assert str(exc)
            return
        if self.kind == "seq2seq":
            assert len(out) == len(self.X)
            return
        values = np.concatenate([np.asarray(o, float).ravel() for o in out])
        assert np.isfinite(values).all()


SETTINGS = settings(max_examples=80, stateful_step_count=15, deadline=None,
                    suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("kind", sorted(ESTIMATORS))
def test_random_call_sequences_keep_the_guarantees(kind):
    machine = type(f"{kind.title()}Machine", (EstimatorMachine,),
                   {"kind": kind})
    SETTINGS(machine).TestCase().runTest()
