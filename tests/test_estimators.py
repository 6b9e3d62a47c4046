"""The estimators' API: scikit-learn tools, persistence, bad input,
reproducibility, and every training option doing what it says."""
import pickle
import re
import warnings

import joblib
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.estimator_checks import (
    check_sample_weight_equivalence_on_dense_data)

import seqnet
from seqnet import (SequenceClassifier, SequenceRegressor, SequenceScaler,
                    SequenceTagger)

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")
CELLS = ("lstm", "gru", "elman")
# Small and quick to train on the tasks below.
FAST = dict(hidden_sizes=8, learning_rate=0.02, max_epochs=12,
            random_state=0)


# ------------------------------------------------------------------ data

def ragged(n, seed=0, n_features=2, lengths=(3, 12)):
    """n sequences of random lengths in [lengths[0], lengths[1])."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((t, n_features)).astype(np.float32)
            for t in rng.integers(*lengths, n)]


def labels(X):
    """Whether feature 0 is positive on average: needs the whole sequence."""
    return np.array([int(x[:, 0].mean() > 0) for x in X])


def sums(X):
    return np.array([float(x[:, 0].sum()) for x in X])


def running_sign(X):
    """Per step: whether the running sum of feature 0 is positive."""
    return [(np.cumsum(x[:, 0]) > 0).astype(int) for x in X]


def task(kind, X):
    """(estimator class, targets) of one kind of task on X."""
    return {"classifier": (SequenceClassifier, labels(X)),
            "regressor": (SequenceRegressor, sums(X)),
            "tagger": (SequenceTagger, running_sign(X))}[kind]


def outputs(model, X):
    """Everything a model predicts for X, as one float array."""
    if isinstance(model, SequenceRegressor):
        return model.predict(X)
    proba = model.predict_proba(X)
    if isinstance(model, SequenceTagger):  # a list, or (n, T, K) for 3-D X
        return np.concatenate(list(proba))
    return proba


def params(model):
    """The flat parameter buffer behind ``parameters_``."""
    return next(iter(model.parameters_.values())).base


KINDS = ("classifier", "regressor", "tagger")
X_RAGGED = ragged(60, seed=0)
X_3D = np.stack(ragged(90, seed=1, lengths=(8, 9)))


@pytest.fixture
def no_kernels(monkeypatch):
    """Every compiled kernel replaced by one that fails the test, so that an
    error must come from validation, before any C call.  all_finite stays:
    it is part of the validation (a read-only scan of the input); so do the
    descriptor classes (Layer, Tape, Stack), which run no kernel."""
    def forbidden(*args, **kwargs):
        raise AssertionError("a C kernel was called")
    for name in dir(seqnet._kernels):
        obj = getattr(seqnet._kernels, name)
        if not name.startswith("_") and name != "all_finite" and callable(
                obj) and not isinstance(obj, type):
            monkeypatch.setattr(seqnet._kernels, name, forbidden)


@pytest.fixture(scope="module")
def fitted():
    """One fitted model of each kind, on 2 features."""
    models = {}
    for kind in KINDS:
        cls, y = task(kind, X_RAGGED)
        models[kind] = cls(**FAST).fit(X_RAGGED, y)
    return models


# --------------------------------------------------- scikit-learn tools

@pytest.mark.parametrize("fmt", ["3d", "ragged"])
def test_pipeline_cross_val_score_and_grid_search(fmt):
    X = X_3D if fmt == "3d" else ragged(90, seed=2)
    y = labels(X)
    pipe = Pipeline([("scale", SequenceScaler()),
                     ("rnn", SequenceClassifier(**FAST))])
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,)
    assert scores.min() >= 0.8  # measured 0.87-1.0; chance is about 0.5

    search = GridSearchCV(pipe, {"rnn__cell": ["gru", "lstm"],
                                 "rnn__hidden_sizes": [4, 8]}, cv=2)
    search.fit(X, y)
    assert set(search.cv_results_["params"][0]) == {"rnn__cell",
                                                    "rnn__hidden_sizes"}
    assert len(search.cv_results_["mean_test_score"]) == 4
    best = search.best_estimator_.named_steps["rnn"]
    assert best.get_params()["cell"] == search.best_params_["rnn__cell"]
    pred = search.predict(X)
    assert pred.shape == (len(X),)
    assert np.mean(pred == y) >= 0.85


@pytest.mark.parametrize("kind", ["regressor", "tagger"])
def test_cross_val_score_on_ragged_targets(kind):
    # A tagger's y is a list of arrays of different lengths: it must be
    # split along with X.
    X = ragged(90, seed=3)
    cls, y = task(kind, X)
    scores = cross_val_score(cls(**FAST), X, y, cv=3)
    # R^2 of sums measured 0.77-0.92; per-step accuracy 0.92-0.96.
    assert scores.min() >= (0.6 if kind == "regressor" else 0.85)


def test_clone_gives_an_unfitted_copy_with_the_same_params(fitted):
    model = fitted["classifier"]
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    assert not hasattr(copy, "n_iter_") and not hasattr(copy, "classes_")
    with pytest.raises(NotFittedError):
        copy.predict(X_RAGGED)
    # The copy refits to exactly the same model.
    copy.fit(X_RAGGED, labels(X_RAGGED))
    assert copy.loss_curve_ == model.loss_curve_
    assert_array_equal(outputs(copy, X_RAGGED), outputs(model, X_RAGGED))


@pytest.mark.parametrize("kind", KINDS)
def test_pickle_and_joblib_round_trips(kind, fitted, tmp_path):
    model = fitted[kind]
    expected = model.predict(X_3D)
    loaded = pickle.loads(pickle.dumps(model))
    assert_array_equal(outputs(loaded, X_3D), outputs(model, X_3D))
    assert_array_equal(loaded.predict(X_3D), expected)
    assert loaded.loss_curve_ == model.loss_curve_

    joblib.dump(model, tmp_path / "model.joblib")
    from_disk = joblib.load(tmp_path / "model.joblib")
    assert_array_equal(outputs(from_disk, X_RAGGED),
                       outputs(model, X_RAGGED))

    # The optimiser state travels too: one more epoch on the copy and on
    # the original gives the same weights.
    cls, y = task(kind, X_RAGGED)
    original = pickle.loads(pickle.dumps(model))  # keep the fixture intact
    original.partial_fit(X_RAGGED, y)
    loaded.partial_fit(X_RAGGED, y)
    assert_array_equal(params(loaded), params(original))


def test_pickle_leaves_out_scratch_buffers(fitted):
    model = fitted["classifier"]
    model.predict(ragged(200, seed=4, lengths=(50, 60)))  # grows scratch
    size = len(pickle.dumps(model))
    # Weights plus optimiser state (3 copies of the buffer) and small
    # attributes; the scratch buffers of the last batch would be far more.
    assert size < 3 * params(model).nbytes + 20_000


# ------------------------------------------------------------- bad input

NAN_3D = np.ones((4, 3, 2))
NAN_3D[1, 2, 0] = np.nan
INF_RAGGED = [np.ones((3, 2)), np.ones((5, 2)), np.ones((2, 2))]
INF_RAGGED[1][4, 1] = np.inf

BAD_X = {
    "nan": (NAN_3D, ValueError, "Input X contains NaN"),
    "inf": (INF_RAGGED, ValueError, "Input X contains infinity"),
    "1-D": (np.ones(5), ValueError, "X is a 1-D array of shape"),
    "4-D": (np.ones((2, 3, 4, 2)), ValueError, "X is a 4-D array"),
    "empty array": (np.ones((0, 3, 2)), ValueError, "0 sample"),
    "empty list": ([], ValueError, "empty list of sequences"),
    "zero-length sequence": (
        [np.ones((3, 2)), np.ones((4, 2)), np.ones((0, 2))], ValueError,
        r"sequence 2 has no time steps"),
    "no time steps": (np.ones((3, 0, 2)), ValueError, "0 time step"),
    "feature counts differ": (
        [np.ones((3, 2)), np.ones((4, 3)), np.ones((2, 2))], ValueError,
        "sequence 1 has 3 features, but sequence 0 has 2"),
    "strings": (np.array([["a", "b"], ["c", "d"], ["e", "f"]]), ValueError,
                "could not convert string to float"),
    "objects": ([np.array([[{}, 1.0]], dtype=object)] * 3, TypeError,
                "sequence 0"),
    "complex": (np.ones((3, 2, 2)) * 1j, ValueError, "Complex data"),
}


def _targets_for(kind, n):
    """Some targets for n sequences (X is rejected before they are read)."""
    if kind == "classifier":
        return np.arange(n) % 2
    if kind == "regressor":
        return np.arange(n, dtype=float)
    return [np.zeros(3, int)] * n


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", list(BAD_X))
def test_bad_X_is_rejected_before_any_C_call(kind, case, no_kernels):
    X, error, message = BAD_X[case]
    cls = task(kind, X_RAGGED)[0]
    n = len(X) if case != "1-D" else 5
    with pytest.raises(error, match=message):
        cls(**FAST).fit(X, _targets_for(kind, n))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", ["nan", "inf", "1-D", "empty list",
                                  "zero-length sequence", "strings"])
def test_bad_X_at_predict_is_rejected_before_any_C_call(kind, case,
                                                        fitted, no_kernels):
    X, error, message = BAD_X[case]
    with pytest.raises(error, match=message):
        fitted[kind].predict(X)


@pytest.mark.parametrize("kind", KINDS)
def test_predict_with_another_feature_count(kind, fitted, no_kernels):
    model = fitted[kind]
    name = type(model).__name__
    for X, k in (([x[:, :1] for x in X_RAGGED], 1),
                 (np.ones((3, 4, 5)), 5)):
        with pytest.raises(ValueError) as info:
            model.predict(X)
        assert str(info.value) == (f"X has {k} features, but {name} is "
                                   "expecting 2 features as input.")


@pytest.mark.parametrize("kind", KINDS)
def test_wrong_number_of_targets(kind, no_kernels):
    cls, y = task(kind, X_RAGGED)
    with pytest.raises(ValueError, match=r"60 sequences.* 59"):
        cls(**FAST).fit(X_RAGGED, y[:-1])


@pytest.mark.parametrize("y, message", [
    ([np.zeros(len(x) + (i == 7)) for i, x in enumerate(X_RAGGED)],
     r"y\[7\] has \d+ targets, but sequence 7 of X has"),
    (np.zeros(60), "y must hold one target per time step"),
])
def test_tagger_targets_must_match_the_steps(y, message, no_kernels):
    with pytest.raises(ValueError, match=message):
        SequenceTagger(**FAST).fit(X_RAGGED, y)


@pytest.mark.parametrize("kind, y, error, message", [
    ("classifier", np.linspace(0, 1, 60), ValueError,
     "Unknown label type: continuous"),
    ("regressor", np.where(np.arange(60) == 3, np.nan, 1.0), ValueError,
     "NaN"),
    ("regressor", np.array(["a"] * 60), ValueError, "numeric"),
    ("classifier", None, ValueError, "requires y"),
])
def test_bad_targets(kind, y, error, message, no_kernels):
    cls = task(kind, X_RAGGED)[0]
    with pytest.raises(error, match=message):
        cls(**FAST).fit(X_RAGGED, y)


@pytest.mark.parametrize("sample_weight, message", [
    (np.zeros(60), "zero for every sequence"),
    (-np.ones(60), "non-negative"),
    (np.r_[np.ones(59), np.nan], "finite"),
    (np.ones(59), r"shape \(59,\)"),
])
def test_bad_sample_weight(sample_weight, message, no_kernels):
    with pytest.raises(ValueError, match=message):
        SequenceClassifier(**FAST).fit(X_RAGGED, labels(X_RAGGED),
                                       sample_weight=sample_weight)


@pytest.mark.parametrize("cls", [SequenceClassifier, SequenceTagger])
def test_partial_fit_class_checks(cls, no_kernels):
    y = task("classifier" if cls is SequenceClassifier else "tagger",
             X_RAGGED)[1]
    with pytest.raises(ValueError, match="classes must be passed"):
        cls(**FAST).partial_fit(X_RAGGED, y)
    shifted = y + 1 if cls is SequenceClassifier else [t + 1 for t in y]
    with pytest.raises(ValueError, match=r"labels \[2\] that are not in "
                                         r"classes=\[0, 1\]"):
        cls(**FAST).partial_fit(X_RAGGED, shifted, classes=[0, 1])


@pytest.mark.parametrize("kind", ["classifier", "tagger"])
def test_unseen_labels_after_the_first_fit(kind, fitted, no_kernels):
    model = fitted[kind]
    y = task(kind, X_RAGGED)[1]
    shifted = y + 1 if kind == "classifier" else [t + 1 for t in y]
    with pytest.raises(ValueError, match=r"not seen .*: \[2\]"):
        pickle.loads(pickle.dumps(model)).partial_fit(X_RAGGED, shifted)
    with pytest.raises(ValueError, match="not the same as on the first"):
        pickle.loads(pickle.dumps(model)).partial_fit(X_RAGGED, y,
                                                      classes=[0, 1, 2])


@pytest.mark.parametrize("kind", KINDS)
def test_not_fitted(kind):
    model = task(kind, X_RAGGED)[0]()
    methods = ["predict", "score", "predict_proba", "predict_log_proba"]
    for method in filter(lambda m: hasattr(model, m), methods):
        args = (X_RAGGED, task(kind, X_RAGGED)[1]) if method == "score" \
            else (X_RAGGED,)
        with pytest.raises(NotFittedError):
            getattr(model, method)(*args)
    with pytest.raises(NotFittedError):
        model.parameters_


@pytest.mark.parametrize("kind", KINDS)
def test_read_only_and_memory_mapped_input(kind, tmp_path):
    cls, y = task(kind, list(X_3D))
    y = np.asarray(y)
    reference = cls(**FAST).fit(X_3D, y)

    path = tmp_path / "X.npy"
    np.save(path, X_3D)
    X_map = np.load(path, mmap_mode="r")
    y_map = np.memmap(tmp_path / "y", dtype=y.dtype, mode="w+",
                      shape=y.shape)
    y_map[...] = y
    y_map = np.memmap(tmp_path / "y", dtype=y.dtype, mode="r",
                      shape=y.shape)
    assert not X_map.flags.writeable
    model = cls(**FAST).fit(X_map, y_map)
    assert model.loss_curve_ == reference.loss_curve_
    assert_array_equal(outputs(model, X_map), outputs(reference, X_3D))

    frozen = [x.copy() for x in X_3D]
    for x in frozen:
        x.flags.writeable = False
    model = cls(**FAST).fit(frozen, y)
    assert model.loss_curve_ == reference.loss_curve_
    assert_array_equal(outputs(model, frozen), outputs(reference, X_3D))


# -------------------------------------------------------- input formats

def test_one_dimensional_elements_are_one_feature():
    X1 = [x[:, 0] for x in X_RAGGED]
    X2 = [x[:, :1] for x in X_RAGGED]
    y = labels(X_RAGGED)
    a = SequenceClassifier(**FAST).fit(X1, y)
    b = SequenceClassifier(**FAST).fit(X2, y)
    assert a.n_features_in_ == 1
    assert a.loss_curve_ == b.loss_curve_
    assert_array_equal(a.predict_proba(X1), b.predict_proba(X2))


def test_two_dimensional_X_is_one_step_per_sample():
    X2 = np.asarray([x[0] for x in X_RAGGED])
    y = labels(X_RAGGED)
    a = SequenceClassifier(**FAST).fit(X2, y)
    b = SequenceClassifier(**FAST).fit(X2[:, None, :], y)
    assert a.n_features_in_ == 2
    assert a.loss_curve_ == b.loss_curve_
    assert_array_equal(a.predict_proba(X2), b.predict_proba(X2[:, None]))


def test_tagger_answers_in_the_format_of_X():
    tagger = SequenceTagger(**FAST).fit(X_RAGGED, running_sign(X_RAGGED))
    pred = tagger.predict(X_RAGGED)
    assert isinstance(pred, list)
    assert [p.shape for p in pred] == [x.shape[:1] for x in X_RAGGED]
    proba = tagger.predict_proba(X_RAGGED)
    assert [p.shape for p in proba] == [(len(x), 2) for x in X_RAGGED]
    assert tagger.predict(X_3D).shape == X_3D.shape[:2]
    assert tagger.predict_proba(X_3D).shape == X_3D.shape[:2] + (2,)
    assert tagger.predict(X_3D[:, 0]).shape == (len(X_3D),)
    # Predictions of a sequence do not depend on its format.
    assert_array_equal(tagger.predict(list(X_3D)), list(tagger.predict(X_3D)))


def test_regressor_output_shapes_and_dtype():
    y = sums(X_RAGGED)
    one = SequenceRegressor(**FAST).fit(X_RAGGED, y)
    assert one.predict(X_RAGGED).shape == (60,)
    assert one.predict(X_RAGGED).dtype == np.float64
    two = SequenceRegressor(**FAST).fit(X_RAGGED, np.c_[y, -y])
    assert two.n_outputs_ == 2
    assert two.predict(X_RAGGED).shape == (60, 2)
    column = SequenceRegressor(**FAST).fit(X_RAGGED, y[:, None])
    assert column.predict(X_RAGGED).shape == (60, 1)
    assert_array_equal(column.predict(X_RAGGED)[:, 0], one.predict(X_RAGGED))


def test_classifier_keeps_label_types():
    y = np.array(["neg", "pos"])[labels(X_RAGGED)]
    clf = SequenceClassifier(**FAST).fit(X_RAGGED, y)
    assert_array_equal(clf.classes_, ["neg", "pos"])
    assert set(clf.predict(X_RAGGED)) <= {"neg", "pos"}
    assert clf.score(X_RAGGED, y) >= 0.8
    assert_allclose(clf.predict_proba(X_RAGGED).sum(axis=1), 1, rtol=1e-5)
    assert_allclose(clf.predict_log_proba(X_RAGGED),
                    np.log(clf.predict_proba(X_RAGGED)))


# ---------------------------------------------------- reproducibility

@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_fit(kind):
    cls, y = task(kind, X_RAGGED)
    kw = dict(FAST, dropout=0.2, max_epochs=4)
    a = cls(**kw).fit(X_RAGGED, y)
    b = cls(**kw).fit(X_RAGGED, y)
    assert a.loss_curve_ == b.loss_curve_
    assert_array_equal(params(a), params(b))
    assert_array_equal(outputs(a, X_RAGGED), outputs(b, X_RAGGED))
    c = cls(**dict(kw, random_state=1)).fit(X_RAGGED, y)
    assert c.loss_curve_ != a.loss_curve_
    # A RandomState instance seeded alike gives the same fit as its seed.
    d = cls(**dict(kw, random_state=np.random.RandomState(0))).fit(
        X_RAGGED, y)
    assert d.loss_curve_ == a.loss_curve_


# 16 rows a batch and 24-29 steps, with 32 LSTM or GRU units or 64 Elman
# units: enough work per time loop (csrc/recur.c, 2^20 multiply-adds) for
# it to split over threads, as timing confirms (an Elman layer of 32 units
# stays on one thread).
X_THREADS = ragged(48, seed=5, n_features=6, lengths=(24, 30))
THREADED_UNITS = {"lstm": 32, "gru": 32, "elman": 64}


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("layout", ["one layer", "stacked, both ways"])
def test_thread_count_does_not_change_a_bit(cell, layout):
    y = labels(X_THREADS)
    H = THREADED_UNITS[cell]
    kw = dict(cell=cell, hidden_sizes=H, batch_size=16, max_epochs=2,
              random_state=0, peepholes=cell == "lstm")
    if layout != "one layer":
        kw.update(hidden_sizes=(H, H), bidirectional=True, dropout=0.2)
    fits = [SequenceClassifier(n_jobs=n, **kw).fit(X_THREADS, y)
            for n in (1, 2, 3)]
    for other in fits[1:]:
        assert other.loss_curve_ == fits[0].loss_curve_
        for name, value in fits[0].parameters_.items():
            assert_array_equal(other.parameters_[name], value, err_msg=name)
        assert_array_equal(other.predict_proba(X_THREADS),
                           fits[0].predict_proba(X_THREADS))


@pytest.mark.parametrize("kind", ["regressor", "tagger"])
def test_thread_count_does_not_change_a_bit_per_step_and_mse(kind):
    cls, y = task(kind, X_THREADS)
    kw = dict(cell="gru", hidden_sizes=32, batch_size=16, max_epochs=2,
              random_state=0)
    if kind == "tagger":
        kw["tbptt_length"] = 8
    fits = [cls(n_jobs=n, **kw).fit(X_THREADS, y) for n in (1, 2, 3)]
    for other in fits[1:]:
        assert other.loss_curve_ == fits[0].loss_curve_
        assert_array_equal(params(other), params(fits[0]))
        assert_array_equal(outputs(other, X_THREADS),
                           outputs(fits[0], X_THREADS))


def test_thread_count_does_not_change_a_bit_few_rows_many_units():
    # Batches of 4 rows: the time loop splits over hidden units instead.
    X = X_THREADS[:12]
    kw = dict(hidden_sizes=128, batch_size=4, max_epochs=1, random_state=0)
    fits = [SequenceClassifier(n_jobs=n, **kw).fit(X, labels(X))
            for n in (1, 2, 3)]
    for other in fits[1:]:
        assert other.loss_curve_ == fits[0].loss_curve_
        assert_array_equal(params(other), params(fits[0]))


# ------------------------------------------------- training options

@pytest.mark.parametrize("optimizer, learning_rate", [
    ("sgd", 0.5), ("momentum", 0.1), ("nesterov", 0.1), ("adagrad", 0.05),
    ("rmsprop", 0.01), ("adam", 0.01)])
def test_every_optimizer_lowers_the_loss(optimizer, learning_rate):
    model = SequenceClassifier(hidden_sizes=8, optimizer=optimizer,
                               learning_rate=learning_rate, max_epochs=10,
                               random_state=0).fit(X_RAGGED,
                                                   labels(X_RAGGED))
    # Measured ratios 0.23-0.43.
    assert model.loss_curve_[-1] < 0.6 * model.loss_curve_[0]


def test_optimizers_differ():
    curves = {opt: tuple(SequenceClassifier(
        hidden_sizes=4, optimizer=opt, learning_rate=0.05, max_epochs=2,
        random_state=0).fit(X_RAGGED, labels(X_RAGGED)).loss_curve_)
        for opt in OPTIMIZERS}
    assert len(set(curves.values())) == len(OPTIMIZERS)


@pytest.mark.parametrize("clipping", [dict(clip_norm=0.2),
                                      dict(clip_norm=None, clip_value=0.02)])
def test_every_clipping_mode_lowers_the_loss(clipping):
    kw = dict(hidden_sizes=8, optimizer="sgd", learning_rate=0.5,
              max_epochs=10, random_state=0)
    y = labels(X_RAGGED)
    free = SequenceClassifier(**kw, clip_norm=None).fit(X_RAGGED, y)
    clipped = SequenceClassifier(**kw, **clipping).fit(X_RAGGED, y)
    # The clipping bites (the run differs) and training still works.
    assert clipped.loss_curve_[1] != free.loss_curve_[1]
    assert clipped.loss_curve_[-1] < 0.8 * clipped.loss_curve_[0]


def test_partial_fit_runs_one_epoch_per_call():
    y = labels(X_RAGGED)
    clf = SequenceClassifier(**FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf.partial_fit(X_RAGGED[:30], y[:30], classes=[0, 1, 2])
        assert clf.n_iter_ == 1 and len(clf.loss_curve_) == 1
        for i in range(7):
            half = slice(30, 60) if i % 2 == 0 else slice(0, 30)
            clf.partial_fit(X_RAGGED[half], y[half])
    assert clf.n_iter_ == 8 and len(clf.loss_curve_) == 8
    # Class 2 never appears but keeps its column.
    assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.predict_proba(X_RAGGED).shape == (60, 3)
    assert clf.loss_curve_[-1] < 0.8 * clf.loss_curve_[0]


def test_partial_fit_continues_a_fit():
    y = sums(X_RAGGED)
    reg = SequenceRegressor(**FAST).fit(X_RAGGED, y)
    before = params(reg).copy()
    reg.partial_fit(X_RAGGED, y)
    assert reg.n_iter_ == FAST["max_epochs"] + 1
    assert not np.array_equal(params(reg), before)


def test_warm_start_continues_where_it_was():
    y = labels(X_RAGGED)
    model = SequenceClassifier(**dict(FAST, max_epochs=5)).fit(X_RAGGED, y)
    first = list(model.loss_curve_)
    model.set_params(warm_start=True).fit(X_RAGGED, y)
    assert model.n_iter_ == 10 and model.loss_curve_[:5] == first
    # Not a restart: the 6th epoch is near the 5th, far below the first.
    assert model.loss_curve_[5] <= 1.05 * first[-1]
    assert model.loss_curve_[5] < 0.9 * first[0]
    assert model.loss_curve_[-1] < model.loss_curve_[5]
    # Without warm_start the same call starts over.
    model.set_params(warm_start=False).fit(X_RAGGED, y)
    assert model.loss_curve_ == first


def test_convergence_warning_only_when_max_epochs_runs_out():
    y = labels(X_RAGGED)
    with pytest.warns(ConvergenceWarning, match="max_epochs=2"):
        SequenceClassifier(**dict(FAST, max_epochs=2)).fit(X_RAGGED, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        # No epoch improves the loss by tol=10: stop after n_iter_no_change.
        model = SequenceClassifier(**dict(FAST, tol=10, n_iter_no_change=2))
        model.fit(X_RAGGED, y)
    assert model.n_iter_ == 3


def _best_epoch(validation_loss, tol):
    """The epoch whose weights early stopping restores: the last one that
    improved the best validation loss by more than tol."""
    best, epoch = np.inf, 0
    for i, loss in enumerate(validation_loss):
        if loss < best - tol:
            best, epoch = loss, i + 1
    return epoch


def test_early_stopping_restores_the_best_weights():
    rng = np.random.default_rng(6)
    X = [rng.standard_normal((t, 3)).astype(np.float32)
         for t in rng.integers(3, 8, 80)]
    # Noisy labels, so that the validation loss turns up.
    y = np.array([int(x[:, 0].sum() + 1.5 * rng.normal() > 0) for x in X])
    kw = dict(hidden_sizes=16, learning_rate=0.02, max_epochs=60,
              early_stopping=True, n_iter_no_change=4,
              validation_fraction=0.25, random_state=0)
    model = SequenceClassifier(**kw).fit(X, y)
    n = model.n_iter_
    assert len(model.loss_curve_) == len(model.validation_loss_curve_) == \
        len(model.validation_scores_) == n
    best = _best_epoch(model.validation_loss_curve_, model.tol)
    assert n < kw["max_epochs"], "the test needs training to stop early"
    assert n == best + kw["n_iter_no_change"] and best < n
    assert model.best_validation_score_ == model.validation_scores_[best - 1]
    # The same run cut at the best epoch ends with exactly those weights.
    cut = SequenceClassifier(**dict(kw, max_epochs=best)).fit(X, y)
    assert cut.validation_loss_curve_ == model.validation_loss_curve_[:best]
    assert_array_equal(params(cut), params(model))
    assert cut.best_validation_score_ == model.best_validation_score_


@pytest.mark.parametrize("kind", ["regressor", "tagger"])
def test_early_stopping_other_heads(kind):
    cls, y = task(kind, X_RAGGED)
    model = cls(**dict(FAST, early_stopping=True, validation_fraction=0.2,
                       n_iter_no_change=3)).fit(X_RAGGED, y)
    assert len(model.validation_scores_) == model.n_iter_
    assert np.isfinite(model.validation_loss_curve_).all()
    assert model.best_validation_score_ in model.validation_scores_
    # R^2 and accuracy of a model that learnt something.
    assert max(model.validation_scores_) > 0.5


def test_class_weight_is_a_sample_weight_per_class():
    X = ragged(80, seed=7)
    y = (np.array([x[:, 0].mean() for x in X]) > 0.25).astype(int)
    assert 0.1 <= y.mean() <= 0.2  # imbalanced
    for class_weight in ("balanced", {0: 0.5, 1: 3.0}):
        by_class = SequenceClassifier(**FAST, class_weight=class_weight)
        by_class.fit(X, y)
        by_sample = SequenceClassifier(**FAST).fit(
            X, y, sample_weight=compute_sample_weight(class_weight, y))
        assert by_class.loss_curve_ == by_sample.loss_curve_
        assert_array_equal(params(by_class), params(by_sample))
    plain = SequenceClassifier(**FAST).fit(X, y)
    assert plain.loss_curve_ != by_class.loss_curve_


def test_tagger_class_weight_raises_minority_recall():
    X = ragged(80, seed=8)
    # Steps whose running mean exceeds 1: about one step in eighteen.
    y = [(np.cumsum(x[:, 0]) / np.arange(1, len(x) + 1) > 1).astype(int)
         for x in X]
    steps = np.concatenate(y)
    assert 0.03 < steps.mean() < 0.08

    def recall(model, label):
        pred = np.concatenate(model.predict(X))
        return np.mean(pred[steps == label] == label)

    plain = SequenceTagger(**FAST).fit(X, y)
    balanced = SequenceTagger(**FAST, class_weight="balanced").fit(X, y)
    # Measured: minority recall 0.37 plain, 1.0 balanced; majority recall
    # 0.994 and 0.965 (the price of weighting).
    assert recall(balanced, 1) >= 0.9
    assert recall(balanced, 1) > recall(plain, 1) + 0.3
    assert recall(balanced, 0) < recall(plain, 0)


@pytest.mark.parametrize("kind", KINDS)
def test_scaling_every_sample_weight_changes_nothing(kind):
    # Each batch's loss is normalised by its total weight: weights of 3
    # give the same normalised weights, bit for bit, as none at all.
    cls, y = task(kind, X_RAGGED)
    kw = dict(FAST, max_epochs=4)
    if kind == "tagger":
        kw["tbptt_length"] = 4
    plain = cls(**kw).fit(X_RAGGED, y)
    threes = cls(**kw).fit(X_RAGGED, y, sample_weight=np.full(60, 3.0))
    assert_array_equal(params(threes), params(plain))
    assert_array_equal(outputs(threes, X_RAGGED), outputs(plain, X_RAGGED))
    # The epoch mean weighs batches by 3 * size instead of size: equal up
    # to its own rounding.
    assert_allclose(threes.loss_curve_, plain.loss_curve_, rtol=1e-14)
    w = np.random.default_rng(0).uniform(0.5, 2, 60)
    weighted = cls(**kw).fit(X_RAGGED, y, sample_weight=w)
    assert weighted.loss_curve_ != plain.loss_curve_


@pytest.mark.parametrize("cls", [SequenceClassifier, SequenceRegressor,
                                 SequenceTagger])
def test_sample_weight_equivalence_full_batch_float64(cls):
    # With one batch, a weight of k is k copies of the sample and a weight
    # of 0 removes it, up to rounding; float64 keeps rounding below the
    # check's rtol=1e-7 (in float32 it is not).
    check_sample_weight_equivalence_on_dense_data(
        cls.__name__, cls(hidden_sizes=4, max_epochs=5, batch_size=64,
                          dtype="float64"))


def test_sample_weight_equivalence_on_ragged_sequences():
    X = ragged(30, seed=9)
    y = labels(X)
    w = np.random.default_rng(1).integers(0, 4, 30)
    kw = dict(FAST, batch_size=200, dtype="float64", max_epochs=5)
    weighted = SequenceClassifier(**kw).fit(X, y, sample_weight=w)
    repeated = SequenceClassifier(**kw).fit(
        [x for x, k in zip(X, w) for _ in range(k)], np.repeat(y, w))
    # Only the order of sums differs (measured: 1e-15 relative).
    assert_allclose(weighted.loss_curve_, repeated.loss_curve_, rtol=1e-12)
    assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X),
                    rtol=1e-12)


def test_float64():
    y = labels(X_RAGGED)
    single = SequenceClassifier(**FAST).fit(X_RAGGED, y)
    double = SequenceClassifier(**FAST, dtype="float64").fit(X_RAGGED, y)
    assert params(double).dtype == np.float64
    assert params(single).dtype == np.float32
    assert double.predict_proba(X_RAGGED).dtype == np.float64
    # Same initial weights, same arithmetic: float32 follows float64 to
    # its own precision (measured: within 1e-5).
    assert_allclose(single.loss_curve_, double.loss_curve_, rtol=1e-4)
    assert_allclose(single.predict_proba(X_RAGGED),
                    double.predict_proba(X_RAGGED), atol=1e-4)
    assert not np.array_equal(single.loss_curve_, double.loss_curve_)


ARCHITECTURES = [
    dict(cell=cell, **layout) for cell in CELLS for layout in (
        dict(), dict(bidirectional=True), dict(hidden_sizes=(16, 8)),
        dict(bidirectional=True, hidden_sizes=(8, 8)))
] + [dict(cell="lstm", peepholes=True),
     dict(cell="elman", activation="relu", max_epochs=25),
     dict(cell="elman", activation="softsign"),
     dict(cell="lstm", activation="softsign"),
     dict(cell="lstm", activation="relu", peepholes=True),
     dict(cell="gru", activation="softsign"),
     dict(cell="gru", activation="relu")]


@pytest.mark.parametrize("cell", CELLS)
def test_the_activation_is_the_one_asked_for(cell):
    # Every cell takes the activation (once, an LSTM silently stayed tanh):
    # each one gives another model from the same seed, and its step()
    # agrees with predict_proba.
    y = labels(X_RAGGED)
    probas = []
    for activation in ("tanh", "softsign", "relu"):
        model = SequenceClassifier(**dict(FAST, cell=cell, max_epochs=2,
                                          activation=activation))
        model.fit(X_RAGGED, y)
        probas.append(model.predict_proba(X_RAGGED[:3]))
        state, x = model.initial_state(1), X_RAGGED[0]
        for t in range(len(x)):
            stepped, state = model.step(x[t:t + 1], state)
        assert_allclose(stepped, probas[-1][:1], rtol=1e-5, atol=1e-6)
    assert not np.array_equal(probas[0], probas[1])
    assert not np.array_equal(probas[1], probas[2])


@pytest.mark.parametrize("arch", ARCHITECTURES, ids=lambda a: "-".join(
    f"{k}={v}" for k, v in a.items()))
def test_every_architecture_learns(arch):
    y = labels(X_RAGGED)
    model = SequenceClassifier(**dict(FAST, **arch)).fit(X_RAGGED, y)
    assert model.loss_curve_[-1] < 0.7 * model.loss_curve_[0]
    assert model.score(X_RAGGED, y) >= 0.8


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_a_sequence_is_read_to_its_own_end(cell, bidirectional):
    # In a batch, shorter sequences are padded; many-to-one must read each
    # at its own last step (backward direction: its first), so that a
    # sequence alone gets the same answer as among longer ones.
    model = SequenceClassifier(**dict(FAST, cell=cell, max_epochs=2,
                                      bidirectional=bidirectional))
    model.fit(X_RAGGED, labels(X_RAGGED))
    together = model.predict_proba(X_RAGGED)
    alone = np.concatenate([model.predict_proba([x]) for x in X_RAGGED])
    assert_allclose(alone, together, rtol=1e-5, atol=1e-6)
    tagger = SequenceTagger(**dict(FAST, cell=cell, max_epochs=2,
                                   bidirectional=bidirectional))
    tagger.fit(X_RAGGED, running_sign(X_RAGGED))
    together = tagger.predict_proba(X_RAGGED)
    for x, p in zip(X_RAGGED, together):
        assert_allclose(tagger.predict_proba([x])[0], p, rtol=1e-5,
                        atol=1e-6)


def test_peepholes_are_trained():
    y = labels(X_RAGGED)
    plain = SequenceClassifier(**FAST).fit(X_RAGGED, y)
    peep = SequenceClassifier(**FAST, peepholes=True).fit(X_RAGGED, y)
    assert "layer0.forward.p" in peep.parameters_
    assert "layer0.forward.p" not in plain.parameters_
    # Zero at first, then learnt.
    assert np.abs(peep.parameters_["layer0.forward.p"]).max() > 1e-3
    assert peep.loss_curve_ != plain.loss_curve_


def test_dropout_trains_only():
    y = labels(X_RAGGED)
    plain = SequenceClassifier(**FAST).fit(X_RAGGED, y)
    kw = dict(FAST, dropout=0.3, hidden_sizes=(16, 8))
    dropped = SequenceClassifier(**kw).fit(X_RAGGED, y)
    assert dropped.loss_curve_ != SequenceClassifier(
        **dict(kw, dropout=0.0)).fit(X_RAGGED, y).loss_curve_
    assert dropped.loss_curve_ != plain.loss_curve_
    assert dropped.loss_curve_[-1] < dropped.loss_curve_[0]
    # Prediction is deterministic and uses no dropout at all.
    first = dropped.predict_proba(X_RAGGED)
    assert_array_equal(dropped.predict_proba(X_RAGGED), first)
    dropped.set_params(dropout=0.0)
    assert_array_equal(dropped.predict_proba(X_RAGGED), first)


def test_tagger_dropout():
    y = running_sign(X_RAGGED)
    a = SequenceTagger(**FAST, dropout=0.3).fit(X_RAGGED, y)
    b = SequenceTagger(**FAST).fit(X_RAGGED, y)
    assert a.loss_curve_ != b.loss_curve_
    assert a.loss_curve_[-1] < a.loss_curve_[0]


@pytest.mark.parametrize("penalty", ["l1", "l2"])
def test_weight_penalties_shrink_the_weights(penalty):
    y = labels(X_RAGGED)
    plain = SequenceClassifier(**FAST).fit(X_RAGGED, y)
    penalised = SequenceClassifier(**FAST, **{penalty: 0.05}).fit(
        X_RAGGED, y)
    order = 1 if penalty == "l1" else 2
    for name in ("layer0.forward.W", "layer0.forward.U", "output.V"):
        assert np.linalg.norm(penalised.parameters_[name].ravel(), order) < \
            0.8 * np.linalg.norm(plain.parameters_[name].ravel(), order), name


def test_tbptt():
    y = running_sign(X_RAGGED)  # lengths up to 11
    full = SequenceTagger(**FAST).fit(X_RAGGED, y)
    # One chunk covering every sequence is no truncation at all.
    for length in (11, 50):
        same = SequenceTagger(**FAST, tbptt_length=length).fit(X_RAGGED, y)
        assert same.loss_curve_ == full.loss_curve_
        assert_array_equal(params(same), params(full))
    short = SequenceTagger(**FAST, tbptt_length=3).fit(X_RAGGED, y)
    assert short.loss_curve_ != full.loss_curve_
    assert short.loss_curve_[-1] < 0.7 * short.loss_curve_[0]
    with pytest.raises(ValueError, match="unidirectional"):
        SequenceTagger(**FAST, tbptt_length=3,
                       bidirectional=True).fit(X_RAGGED, y)


def test_tbptt_does_not_apply_to_many_to_one():
    y = labels(X_RAGGED)
    full = SequenceClassifier(**FAST).fit(X_RAGGED, y)
    same = SequenceClassifier(**FAST, tbptt_length=2).fit(X_RAGGED, y)
    assert same.loss_curve_ == full.loss_curve_
    SequenceClassifier(**FAST, tbptt_length=2, bidirectional=True).fit(
        X_RAGGED, y)


# ------------------------------------------------------------ parameters

def test_parameters_are_named_views_with_the_documented_shapes():
    model = SequenceClassifier(cell="lstm", hidden_sizes=(16, 8),
                               bidirectional=True, peepholes=True,
                               max_epochs=1, random_state=0)
    model.fit([np.ones((4, 5))] * 3 + [np.zeros((3, 5))] * 3,
              ["a", "b", "c"] * 2)
    shapes = {name: view.shape for name, view in model.parameters_.items()}
    expected = {}
    for layer, (n_in, H) in enumerate([(5, 16), (32, 8)]):
        for d in ("forward", "backward"):
            p = f"layer{layer}.{d}."
            expected.update({p + "W": (n_in, 4 * H), p + "U": (H, 4 * H),
                             p + "b": (4 * H,), p + "p": (3 * H,)})
    expected.update({"output.V": (16, 3), "output.c": (3,)})
    assert shapes == expected

    gru = SequenceRegressor(cell="gru", hidden_sizes=6, max_epochs=1,
                            peepholes=True).fit(X_RAGGED, sums(X_RAGGED))
    assert {k: v.shape for k, v in gru.parameters_.items()} == {
        "layer0.forward.W": (2, 18), "layer0.forward.U": (6, 18),
        "layer0.forward.b": (18,), "layer0.forward.bh": (6,),
        "output.V": (6, 1), "output.c": (1,)}

    # Views of one buffer, tiling it exactly, through which the model
    # reads its weights.
    views = list(model.parameters_.values())
    buffer = views[0].base
    assert all(v.base is buffer for v in views)
    assert sum(v.size for v in views) == buffer.size
    before = model.predict_proba([np.ones((4, 5))])
    model.parameters_["output.c"][0] += 10
    assert model.predict_proba([np.ones((4, 5))])[0, 0] > before[0, 0]


@pytest.mark.parametrize("cell", CELLS)
def test_initialisation(cell):
    # sgd with a negligible step: the fitted weights are the initial ones.
    model = SequenceClassifier(cell=cell, hidden_sizes=(16, 8),
                               optimizer="sgd", learning_rate=1e-20,
                               max_epochs=1, forget_bias=1.5,
                               random_state=0, dtype="float64")
    model.fit(X_RAGGED, labels(X_RAGGED))
    views = model.parameters_
    gates = {"lstm": 4, "gru": 3, "elman": 1}[cell]
    for layer, (n_in, H) in enumerate([(2, 16), (16, 8)]):
        p = f"layer{layer}.forward."
        W, U, b = views[p + "W"], views[p + "U"], views[p + "b"]
        # Glorot-uniform input weights, per gate block.
        assert np.abs(W).max() <= np.sqrt(6 / (n_in + H))
        assert W.std() > 0.3 * np.sqrt(6 / (n_in + H)) / np.sqrt(3)
        # Orthogonal recurrent weights, per gate block.
        for g in range(gates):
            block = U[:, g * H:(g + 1) * H]
            assert_allclose(block.T @ block, np.eye(H), atol=1e-12)
        expected_b = np.zeros(gates * H)
        if cell == "lstm":
            expected_b[H:2 * H] = 1.5  # forget gate, order i f g o
        assert_allclose(b, expected_b, rtol=0, atol=1e-15)


# ------------------------------------------------------------- failures

@pytest.mark.parametrize("cell", CELLS)
def test_divergence_raises_and_keeps_finite_weights(cell):
    X = [100 * x for x in X_RAGGED]
    y = 100 * sums(X_RAGGED)
    model = SequenceRegressor(cell=cell, hidden_sizes=8, optimizer="sgd",
                              learning_rate=1e6, clip_norm=None,
                              max_epochs=20, random_state=0)
    with pytest.raises(FloatingPointError,
                       match=r"training diverged: .* epoch \d+; the weights "
                             r"of the previous epoch were kept. Lower "
                             r"learning_rate"):
        model.fit(X, y)
    assert np.isfinite(params(model)).all()
    assert len(model.loss_curve_) == model.n_iter_
    assert np.isfinite(model.predict(X)).all()


def test_verbose(capsys):
    SequenceClassifier(**FAST).fit(X_RAGGED, labels(X_RAGGED))
    assert capsys.readouterr().out == ""
    model = SequenceClassifier(**dict(FAST, verbose=1, early_stopping=True,
                                      max_epochs=3))
    model.fit(X_RAGGED, labels(X_RAGGED))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == model.n_iter_ == 3
    assert re.fullmatch(r"epoch 1: loss \d\.\d+, validation loss \d\.\d+ "
                        r"score \d\.\d+ \(\d+\.\d+s\)", lines[0])
