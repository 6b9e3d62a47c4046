"""seqnet.aeon: seqnet's estimators as aeon classifiers and regressors.

aeon's own estimator checks over both adapters (tiny models from
``_get_test_params``, on aeon's numpy3D and np-list test collections,
equal and unequal lengths, univariate and multivariate); the same bits as
seqnet's own estimators on the transposed data; parameters that follow
seqnet's; learning on BasicMotions in aeon's layout.  Skipped without aeon
(``pip install ".[aeon]"``).
"""
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.base import clone

from seqnet import SequenceClassifier, SequenceRegressor, SequenceScaler
from seqnet.datasets import load_basic_motions
from seqnet.frames import ChannelsFirstWarning

pytest.importorskip("aeon")

# After the skip: these need aeon.
from aeon.testing.estimator_checking import (  # noqa: E402
    parametrize_with_checks)

from seqnet.aeon import (  # noqa: E402
    NOT_TAKEN, SeqnetClassifier, SeqnetRegressor)

# Two epochs do not converge, by design.
pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")

PAIRS = [(SeqnetClassifier, SequenceClassifier),
         (SeqnetRegressor, SequenceRegressor)]
SMALL = dict(hidden_sizes=5, max_epochs=3, batch_size=8, random_state=0)


@parametrize_with_checks([SeqnetClassifier, SeqnetRegressor])
def test_aeon_estimator_checks(check):
    check()


def collection(layout, n=24, channels=3, seed=0):
    """aeon's layouts: numpy3D (n_cases, n_channels, n_timepoints), an
    np-list of unequal lengths, numpy2D (univariate, n_cases by
    n_timepoints); and targets for both tasks."""
    rng = np.random.default_rng(seed)
    if layout == "numpy3D":
        X = rng.standard_normal((n, channels, 9))
    elif layout == "np-list":
        X = [rng.standard_normal((channels, t))
             for t in rng.integers(4, 13, n)]
    else:
        X = rng.standard_normal((n, 9))
    total = np.array([x.sum() for x in X])
    return X, (total > 0).astype(int), total


def seqnet_layout(X):
    """What the adapters hand seqnet: each case (n_timepoints, n_channels)."""
    if isinstance(X, list):
        return [x.T for x in X]
    if X.ndim == 2:
        return X[:, :, None]
    return X.transpose(0, 2, 1)


@pytest.mark.parametrize("layout", ["numpy3D", "np-list", "numpy2D"])
@pytest.mark.parametrize("adapter, own", PAIRS)
def test_same_bits_as_seqnet_on_transposed_data(adapter, own, layout):
    X, labels, values = collection(layout)
    y = labels if own is SequenceClassifier else values
    X_new = collection(layout, n=7, seed=1)[0]
    ours = adapter(**SMALL).fit(X, y)
    theirs = own(**SMALL).fit(seqnet_layout(X), y)
    np.testing.assert_array_equal(ours.predict(X_new),
                                  theirs.predict(seqnet_layout(X_new)))
    if own is SequenceClassifier:
        np.testing.assert_array_equal(
            ours.predict_proba(X_new),
            theirs.predict_proba(seqnet_layout(X_new)))
        np.testing.assert_array_equal(ours.classes_, theirs.classes_)
    np.testing.assert_array_equal(ours.estimator_.loss_curve_,
                                  theirs.loss_curve_)


def test_unequal_lengths():
    # Fitted on an np-list of 4 to 12 time points, it predicts series of
    # other lengths, and a numpy3D array, with the same model.
    X, y, _ = collection("np-list")
    clf = SeqnetClassifier(**SMALL).fit(X, y)
    assert clf.metadata_["unequal_length"]
    assert clf.estimator_.n_features_in_ == 3
    rng = np.random.default_rng(2)
    X_new = [rng.standard_normal((3, t)) for t in (1, 2, 30)]
    proba = clf.predict_proba(X_new)
    assert proba.shape == (3, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)
    # A case predicts alike alone, in a list, or in a 3-D array.
    np.testing.assert_array_equal(clf.predict_proba(X_new[2][None]),
                                  proba[2:])
    with pytest.raises(ValueError, match="channels"):
        clf.predict([x[:2] for x in X_new])


@pytest.mark.parametrize("adapter, own", PAIRS)
def test_parameters_follow_seqnet(adapter, own):
    ours, theirs = adapter().get_params(), own().get_params()
    assert set(ours) == set(theirs) - set(NOT_TAKEN)
    # The same defaults, but n_jobs: aeon's checks require 1.
    assert {k: v for k, v in ours.items() if k != "n_jobs"} == \
        {k: theirs[k] for k in ours if k != "n_jobs"}
    assert ours["n_jobs"] == 1
    est = clone(adapter(cell="gru", hidden_sizes=(3, 2)))
    assert est.set_params(learning_rate=0.1) is est
    assert est.get_params()["hidden_sizes"] == (3, 2)
    X, labels, values = collection("numpy3D", n=10)
    est.fit(X, labels if own is SequenceClassifier else values)
    # Every parameter reaches the seqnet model; the adapters read numbers.
    inner = est.estimator_.get_params()
    assert all(inner[k] == v for k, v in est.get_params().items()
               if k != "n_jobs")
    assert inner["input"] == "numeric"


def test_threads_give_the_same_bits():
    X, y, _ = collection("numpy3D")
    one = SeqnetClassifier(**SMALL).fit(X, y)
    two = SeqnetClassifier(**SMALL, n_jobs=2).fit(X, y)
    assert (one._n_jobs, two._n_jobs) == (1, 2)
    assert two.estimator_.n_jobs == 2
    np.testing.assert_array_equal(one.predict_proba(X), two.predict_proba(X))


def test_many_channels_few_time_points_do_not_warn():
    # 40 channels of 5 time points: seqnet alone cannot tell that from a
    # channels-first array and warns; the adapter knows its layout.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 40, 5))
    y = np.arange(12) % 2
    with pytest.warns(ChannelsFirstWarning):
        SequenceClassifier(**SMALL).fit(X.transpose(0, 2, 1), y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ChannelsFirstWarning)
        SeqnetClassifier(**SMALL).fit(X, y).predict(X)


def test_seqnet_imports_without_aeon(tmp_path):
    # With aeon unimportable, seqnet imports and seqnet.aeon names the
    # extra that installs it.
    code = ("import sys; sys.modules['aeon'] = None\n"
            "import seqnet\n"
            "try:\n"
            "    import seqnet.aeon\n"
            "except ImportError as exc:\n"
            "    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path,
                         capture_output=True, text=True, check=True).stdout
    assert 'pip install "seqnet[aeon]"' in out


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_basic_motions_in_aeons_layout(seed):
    # test_learning.py's recipe, the data standardised as its pipeline
    # does and then moved to aeon's layout (n_cases, n_channels,
    # n_timepoints).
    data = load_basic_motions()
    scaler = SequenceScaler().fit(data.X_train)
    X_train = scaler.transform(data.X_train).transpose(0, 2, 1)
    X_test = scaler.transform(data.X_test).transpose(0, 2, 1)
    assert X_train.shape == (40, 6, 100)
    recipe = dict(cell="gru", hidden_sizes=64, learning_rate=3e-3,
                  max_epochs=100, n_iter_no_change=20, batch_size=16,
                  random_state=seed)
    clf = SeqnetClassifier(**recipe).fit(X_train, data.y_train)
    own = SequenceClassifier(**recipe).fit(X_train.transpose(0, 2, 1),
                                           data.y_train)
    score = clf.score(X_test, data.y_test)
    assert score == own.score(X_test.transpose(0, 2, 1), data.y_test)
    # Measured 1.0 for seeds 0-4, 0.4 s each.
    assert score >= 0.95
