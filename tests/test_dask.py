"""seqnet.dask on a real distributed.LocalCluster (127.0.0.1), started and
closed here.

The cluster runs two worker processes of one thread each (processes=True):
a worker must be able to die on its own for the failure test, and data
and state then cross a real process boundary (pickled, sent over TCP) as
on a real cluster.  It is started once for the module (about 3 s).
"""
import os
import sys

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")

from seqnet import SequenceClassifier, SequenceRegressor, \
    SequenceTagger  # noqa: E402
from seqnet.dask import DataParallel, WorkerLostError  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")

N_WORKERS = 2


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=N_WORKERS, threads_per_worker=1, processes=True,
        host="127.0.0.1", dashboard_address=None, silence_logs=40)
    try:
        with distributed.Client(cluster) as c:
            yield c
    finally:
        cluster.close(timeout=30)


def _sgd(kind=SequenceClassifier, **kw):
    args = dict(hidden_sizes=(5,), batch_size=4, max_epochs=3,
                random_state=1, dtype="float64", optimizer="sgd",
                learning_rate=0.2, clip_norm=None, n_jobs=1)
    args.update(kw)
    return kind(**args)


def _data(n=64, seed=0, T=6, F=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, T, F))
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int) + (X[:, -1, 1] > 0.5)
    return X, y


def _big_batch_order(n, k, b):
    """The order in which one process with batch k*b makes the updates of
    k workers with batch b on contiguous, unshuffled shards."""
    shards = np.array_split(np.arange(n), k)
    return np.concatenate([s[r:r + b] for r in range(0, n // k, b)
                           for s in shards])


@pytest.mark.parametrize("kind", [SequenceClassifier, SequenceRegressor,
                                  SequenceTagger])
def test_averaging_every_step_is_one_big_batch(client, kind):
    # Deeplearning4j's invariant: plain SGD, averaging_frequency=1, equal
    # shards.  Each worker's loss is the mean over its batch, so the mean
    # of the workers' gradients is the gradient of the mean over the big
    # batch, and the mean of their SGD steps is the big batch's step.
    X, labels = _data()
    y = {SequenceClassifier: labels, SequenceTagger: X[:, :, 1] > 0,
         SequenceRegressor: X.mean(axis=1)}[kind]
    model = DataParallel(_sgd(kind, l2=1e-3), client=client,
                         shuffle=False).fit(X, y)
    one = _sgd(kind, l2=1e-3, batch_size=N_WORKERS * 4).initialize(X, y)
    order = _big_batch_order(len(X), N_WORKERS, 4)
    for _ in range(3):
        one.train_batches(X[order], y[order])
    got, want = model.estimator_.get_parameters(), one.get_parameters()
    assert np.abs(got - want).max() < 1e-10
    assert model.estimator_.get_optimizer_state()["step"] == 3 * 8
    assert model.n_rounds_ == 3 * 8 and model.n_workers_ == N_WORKERS
    assert model.estimator_.n_iter_ == 3


def test_same_seed_same_model_and_the_fitted_estimator(client):
    X, y = _data(n=50)
    est = _sgd(optimizer="adam", learning_rate=0.01, dropout=0.2,
               dtype="float32")
    a = DataParallel(est, client=client, averaging_frequency=2).fit(X, y)
    b = DataParallel(est, client=client, averaging_frequency=2).fit(X, y)
    assert np.array_equal(a.estimator_.get_parameters(),
                          b.estimator_.get_parameters())
    assert a.estimator_.loss_curve_ == b.estimator_.loss_curve_
    # Shards of 25: 7 batches of 4, 4 rounds of two per epoch.
    assert a.n_rounds_ == 3 * 4
    assert not hasattr(est, "n_iter_")   # the estimator is not changed
    # estimator_ is an ordinary fitted model; the meta-estimator delegates.
    fitted = a.estimator_
    assert type(fitted) is SequenceClassifier and fitted.n_iter_ == 3
    assert np.array_equal(a.predict(X), fitted.predict(X))
    assert a.score(X, y) == fitted.score(X, y)
    assert a.classes_.tolist() == [0, 1, 2]
    assert len(a.round_times_) == a.n_rounds_
    assert all(wall >= work > 0 for wall, work in a.round_times_)


def test_warm_start_continues_the_last_fit(client):
    X, y = _data(n=32)
    est = _sgd(warm_start=True, max_epochs=2)
    model = DataParallel(est, client=client).fit(X, y)
    first = model.estimator_
    params = first.get_parameters()
    model.fit(X, y)
    assert model.estimator_ is not first       # a copy continued
    assert np.array_equal(first.get_parameters(), params)
    assert model.estimator_.n_iter_ == 4
    assert model.estimator_.loss_curve_[:2] == first.loss_curve_
    # Without warm_start every fit starts anew.
    fresh = DataParallel(_sgd(max_epochs=2), client=client)
    assert np.array_equal(fresh.fit(X, y).estimator_.get_parameters(),
                          params)
    assert fresh.fit(X, y).estimator_.n_iter_ == 2
    with pytest.raises(ValueError, match="another network"):
        model.set_params(estimator=_sgd(warm_start=True, hidden_sizes=(6,)))
        model.fit(X, y)


def test_ragged_input_and_early_stopping(client):
    X, y = _data(n=60)
    ragged = [x[:3 + i % 4] for i, x in enumerate(X)]
    est = _sgd(optimizer="adam", learning_rate=0.02, early_stopping=True,
               validation_fraction=0.2, n_iter_no_change=2, max_epochs=30)
    model = DataParallel(est, client=client).fit(ragged, y)
    fitted = model.estimator_
    assert len(fitted.validation_scores_) == fitted.n_iter_ > 0
    # The loop's early stopping: the best validation loss's weights kept.
    best = int(np.argmin(fitted.validation_loss_curve_))
    assert fitted.best_validation_score_ == fitted.validation_scores_[best]
    assert fitted.n_iter_ < 30
    assert fitted.predict(ragged).shape == (60,)


def test_dask_array_fit_equals_numpy_fit(client):
    # Unshuffled, blocks dealt in order: the same shards as NumPy data.
    X, y = _data()
    Xd = da.from_array(X, chunks=(16, 6, 3))
    a = DataParallel(_sgd(), client=client, shuffle=False).fit(X, y)
    b = DataParallel(_sgd(), client=client, shuffle=False).fit(
        Xd, da.from_array(y, chunks=16))
    assert np.array_equal(a.estimator_.get_parameters(),
                          b.estimator_.get_parameters())


def test_sample_weight_and_a_regressor_on_dask_arrays(client):
    # Each batch's loss is normalised by its weights: doubling them all
    # changes no bit, whether the weights travel with NumPy or Dask data.
    X, _ = _data(n=32)
    y = np.stack([X[:, :, 0].mean(axis=1), X[:, -1, 2]], axis=1)
    est = _sgd(SequenceRegressor, max_epochs=2)
    plain = DataParallel(est, client=client).fit(X, y)
    doubled = DataParallel(est, client=client).fit(
        X, y, sample_weight=np.full(32, 2.0))
    Xd, yd = da.from_array(X, chunks=(8, 6, 3)), da.from_array(y, chunks=8)
    dask_doubled = DataParallel(est, client=client, shuffle=False).fit(
        Xd, yd, sample_weight=np.full(32, 2.0))
    dask_plain = DataParallel(est, client=client, shuffle=False).fit(Xd, yd)
    assert np.array_equal(plain.estimator_.get_parameters(),
                          doubled.estimator_.get_parameters())
    assert np.array_equal(dask_plain.estimator_.get_parameters(),
                          dask_doubled.estimator_.get_parameters())
    assert dask_plain.predict(Xd).shape == (32, 2)
    assert np.array_equal(dask_plain.predict(Xd).compute(),
                          dask_plain.predict(X))


def test_dask_bag_fit_equals_ragged_fit(client):
    import dask.bag as db
    X, y = _data(n=48)
    ragged = [x[:2 + i % 5] for i, x in enumerate(X)]
    a = DataParallel(_sgd(), client=client, shuffle=False).fit(ragged, y)
    bag = DataParallel(_sgd(), client=client, shuffle=False)
    bag.fit(db.from_sequence(ragged, npartitions=4),
            db.from_sequence(y.tolist(), npartitions=4))
    assert np.array_equal(a.estimator_.get_parameters(),
                          bag.estimator_.get_parameters())
    # Early stopping holds out the last partition, on the client.
    est = _sgd(early_stopping=True, validation_fraction=0.2, max_epochs=4)
    held = DataParallel(est, client=client).fit(
        db.from_sequence(ragged, npartitions=6),
        db.from_sequence(y.tolist(), npartitions=6))
    assert len(held.estimator_.validation_scores_) == 4
    with pytest.raises(ValueError, match="same partitions"):
        bag.fit(db.from_sequence(ragged, npartitions=4), y)


def test_clone_keeps_the_client(client):
    from sklearn.base import clone
    model = DataParallel(_sgd(), client=client, averaging_frequency=3)
    copy = clone(model)
    assert copy.client is client and copy.averaging_frequency == 3
    assert copy.estimator is not model.estimator


def test_partial_fit_and_predict_on_dask_arrays(client):
    X, y = _data(n=40)
    Xd = da.from_array(X, chunks=(12, 3, 3))      # blocks 12, 12, 12, 4
    model = DataParallel(_sgd(), client=client)
    model.partial_fit(Xd, y, classes=[0, 1, 2])
    one = _sgd()
    for lo in range(0, 40, 12):
        one.partial_fit(X[lo:lo + 12], y[lo:lo + 12], classes=[0, 1, 2])
    assert np.array_equal(model.estimator_.get_parameters(),
                          one.get_parameters())
    # Predictions: a Dask array, block by block on the workers.
    proba = model.predict_proba(Xd)
    labels = model.predict(Xd)
    assert isinstance(proba, da.Array) and proba.shape == (40, 3)
    assert isinstance(labels, da.Array) and labels.shape == (40,)
    assert np.array_equal(proba.compute(), one.predict_proba(X))
    assert np.array_equal(labels.compute(), one.predict(X))
    assert np.array_equal(model.predict(X), one.predict(X))   # NumPy too


def test_tagger_predicts_a_dask_array_per_step(client):
    X, _ = _data(n=20)
    y = X[:, :, 0] > 0
    tagger = _sgd(SequenceTagger).fit(X, y)
    model = DataParallel(tagger, client=client)
    model.estimator_ = tagger
    Xd = da.from_array(X, chunks=(8, 6, 3))
    assert np.array_equal(model.predict(Xd).compute(), tagger.predict(X))
    assert np.array_equal(model.predict_proba(Xd).compute(),
                          tagger.predict_proba(X))


def test_bad_use_is_refused(client):
    X, y = _data(n=8)
    with pytest.raises(ValueError, match="averaging_frequency"):
        DataParallel(_sgd(), client=client, averaging_frequency=0).fit(X, y)
    with pytest.raises(ValueError, match="shuffle"):
        DataParallel(_sgd(), client=client, shuffle="yes").fit(X, y)
    with pytest.raises(ValueError, match="n_workers=3"):
        DataParallel(_sgd(), client=client, n_workers=3).fit(X, y)
    with pytest.raises(TypeError, match="SequenceClassifier"):
        DataParallel(object(), client=client).fit(X, y)
    with pytest.raises(ValueError, match="3-D"):
        DataParallel(_sgd(), client=client).fit(da.ones((8, 3)), y)
    with pytest.raises(ValueError, match="blocks"):
        DataParallel(_sgd(), client=client).fit(da.from_array(X), y)
    bad = X.copy()
    bad[5, 2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        DataParallel(_sgd(), client=client).fit(bad, y)
    model = DataParallel(_sgd(), client=client)
    with pytest.raises(ValueError, match="NaN"):
        model.fit(da.from_array(bad, chunks=4), y)
    assert not hasattr(model, "estimator_")


def test_grid_search_on_the_dask_joblib_backend(client):
    # Search needs nothing of seqnet.dask: joblib's Dask backend runs the
    # fits on the workers (one thread each, as Dask caps them).
    import joblib
    from sklearn.model_selection import GridSearchCV
    X, y = _data(n=40)
    search = GridSearchCV(_sgd(max_epochs=2), {"hidden_sizes": [3, 5]},
                          cv=2)
    with joblib.parallel_backend("dask"):
        search.fit(X, y)
    local = GridSearchCV(_sgd(max_epochs=2), {"hidden_sizes": [3, 5]},
                         cv=2).fit(X, y)
    assert np.array_equal(search.cv_results_["mean_test_score"],
                          local.cv_results_["mean_test_score"])


class _DiesOnMarker(SequenceClassifier):
    """A classifier whose worker process exits when it trains on a
    sequence starting with the marker value: a worker crash mid-round."""

    def train_batches(self, X, y=None, sample_weight=None, n_batches=None):
        if np.any(np.asarray(X)[:, 0, 0] == 1234.5):
            os._exit(1)
        return super().train_batches(X, y, sample_weight, n_batches)


def test_a_worker_lost_mid_fit_fails_the_fit_cleanly(client):
    import cloudpickle
    # The workers import this class from the pickle, not from the tests.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        X, y = _data()
        X[40, 0, 0] = 1234.5      # shard 1, its third round
        before = DataParallel(_sgd(), client=client, shuffle=False).fit(X, y)
        params = before.estimator_.get_parameters()
        before.estimator = _DiesOnMarker(**_sgd().get_params())
        with pytest.raises(WorkerLostError, match="training round 3"):
            before.fit(X, y)
        # The meta-estimator keeps what it had.
        assert np.array_equal(before.estimator_.get_parameters(), params)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
        # The nanny restarts the worker, for the tests after this one.
        client.wait_for_workers(N_WORKERS, timeout=60)


@pytest.mark.slow
def test_japanese_vowels_two_workers_reach_one_process_accuracy(client):
    from sklearn.pipeline import make_pipeline
    from seqnet import SequenceScaler
    from seqnet.datasets import load_japanese_vowels
    data = load_japanese_vowels()
    scaler = SequenceScaler().fit(data.X_train)
    X_train, X_test = scaler.transform(data.X_train), \
        scaler.transform(data.X_test)
    est = SequenceClassifier(cell="gru", hidden_sizes=64, learning_rate=3e-3,
                             max_epochs=60, random_state=0, n_jobs=1)
    one = make_pipeline(SequenceScaler(), est).fit(data.X_train,
                                                   data.y_train)
    single = one.score(data.X_test, data.y_test)
    # Each worker's batch is half the single process's: 32 sequences per
    # update between them; averaged every 4 updates.
    model = DataParallel(est.set_params(batch_size=16), client=client,
                         averaging_frequency=4)
    model.fit(X_train, data.y_train)
    parallel = model.score(X_test, data.y_test)
    # Measured: one process 0.976 (seed 1: 0.978), two workers 0.978 with
    # averaging_frequency 1 or 4 (seed 1: 0.978), in 6 s (1: 18 s).
    assert parallel >= single - 0.02


def test_missing_dask_names_the_extra(tmp_path):
    import subprocess
    code = ("import sys; sys.modules['distributed'] = None\n"
            "try:\n    import seqnet.dask\n"
            "except ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60).stdout
    assert 'pip install "seqnet[dask]"' in out



def test_history_does_not_invent_statistics_measured_on_workers(client):
    X, y = _data(n=32)
    fitted = DataParallel(_sgd(max_epochs=2), client=client).fit(X, y)
    history = fitted.estimator_.history_
    assert [h["epoch"] for h in history] == [1, 2]
    for h in history:
        assert h["loss"] > 0 and h["learning_rate"] == 0.2
        assert h["grad_norm"] is None and h["clip_fraction"] is None
        assert h["layers"] == {} and h["n_updates"] == 0
