"""seqnet.find_learning_rate: the range test on a copy, deterministic for a
seed, and its bad input."""
import pickle

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.exceptions import NotFittedError

from seqnet import (CharRNN, LearningRateFinderResult, SequenceClassifier,
                    SequenceRegressor, find_learning_rate)

TEXT = "to be or not to be, that is the question. " * 20


def data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 8, 2)).astype(np.float32)
    return X, (X[:, :, 0].sum(axis=1) > 0).astype(int)


def test_rates_rise_geometrically_and_the_estimator_is_untouched():
    X, y = data()
    est = SequenceClassifier(hidden_sizes=8, batch_size=16, random_state=3)
    before = pickle.dumps(est)
    found = find_learning_rate(est, X, y, min_learning_rate=1e-5,
                               max_learning_rate=10.0, n_updates=50,
                               divergence=1.5)
    assert isinstance(found, LearningRateFinderResult)
    assert pickle.dumps(est) == before
    assert est.get_params()["learning_rate"] == 1e-3
    with pytest.raises(NotFittedError):
        est.predict(X)
    n = len(found.learning_rates)
    assert 5 <= n <= 50 and len(found.losses) == len(found.raw_losses) == n
    assert_array_equal(found.learning_rates,
                       np.geomspace(1e-5, 10.0, 50)[:n])
    assert np.isfinite(found.losses).all()
    assert 1e-5 <= found.suggestion <= 10.0
    assert found.rule == "minimum"
    # Rates near 10 with Adam make the loss jump: the test stopped there.
    assert found.stopped_early and n < 50
    assert found.losses[-1] > 1.5 * found.losses.min()
    running_min = np.minimum.accumulate(found.losses)
    assert np.all(found.losses[:-1] <= 1.5 * running_min[:-1])


def test_the_suggestion_is_deterministic_for_a_seed():
    X, y = data()
    est = SequenceClassifier(hidden_sizes=8, batch_size=16)
    runs = [find_learning_rate(est, X, y, n_updates=40, random_state=1)
            for _ in range(2)]
    assert runs[0].suggestion == runs[1].suggestion
    assert_array_equal(runs[0].raw_losses, runs[1].raw_losses)
    other = find_learning_rate(est, X, y, n_updates=40, random_state=2)
    assert not np.array_equal(other.raw_losses, runs[0].raw_losses)


def test_the_loss_first_falls_then_rises_over_a_wide_range():
    X, y = data(192)
    found = find_learning_rate(
        SequenceClassifier(hidden_sizes=16, batch_size=16), X, y,
        min_learning_rate=1e-5, max_learning_rate=3.0, n_updates=120,
        random_state=0)
    low = int(np.argmin(found.losses))
    assert 1e-4 < found.learning_rates[low] < 3.0
    assert found.losses[low] < found.losses[0] - 0.05
    assert found.suggestion == found.learning_rates[low] / 10
    steep = find_learning_rate(
        SequenceClassifier(hidden_sizes=16, batch_size=16), X, y,
        min_learning_rate=1e-5, max_learning_rate=3.0, n_updates=120,
        random_state=0, rule="steepest")
    assert steep.rule == "steepest"
    assert found.learning_rates[0] < steep.suggestion <= \
        found.learning_rates[low]
    assert_array_equal(steep.losses, found.losses)


@pytest.mark.parametrize("make, args", [
    (lambda: CharRNN(hidden_sizes=(16,), batch_size=4, tbptt_length=8,
                     max_time=5.0, early_stopping=True,
                     learning_rate_schedule="cosine"), (TEXT,)),
    (lambda: SequenceRegressor(hidden_sizes=4, batch_size=64,
                               warmup_epochs=3, verbose=1),
     (data()[0], data()[1].astype(float))),
])
def test_every_estimator_can_be_tested(make, args, capsys):
    # The regressor has two batches an epoch: the test runs many epochs.
    est = make()
    found = find_learning_rate(est, *args, n_updates=30, random_state=0)
    assert len(found.learning_rates) >= 5
    assert capsys.readouterr().out == ""
    assert not hasattr(est, "history_")


def test_fit_params_reach_fit():
    X, y = data()
    est = SequenceClassifier(hidden_sizes=4, batch_size=32)
    with pytest.raises(ValueError, match="sample_weight"):
        find_learning_rate(est, X, y, sample_weight=np.ones(3))


@pytest.mark.parametrize("kw, message", [
    (dict(min_learning_rate=1e-2, max_learning_rate=1e-2), "below"),
    (dict(min_learning_rate=1.0, max_learning_rate=1e-3), "below"),
    (dict(min_learning_rate=0.0), "positive"),
    (dict(max_learning_rate=np.inf), "positive"),
    (dict(n_updates=2), "n_updates"),
    (dict(smoothing=1.0), "smoothing"),
    (dict(divergence=0.5), "divergence"),
    (dict(rule="valley"), "rule"),
])
def test_bad_ranges_and_options_are_refused(kw, message):
    X, y = data(8)
    with pytest.raises(ValueError, match=message):
        find_learning_rate(SequenceClassifier(), X, y, **kw)


def test_only_seqnet_estimators():
    from sklearn.linear_model import LogisticRegression
    with pytest.raises(TypeError, match="seqnet estimator"):
        find_learning_rate(LogisticRegression(), *data(8))
