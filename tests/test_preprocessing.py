"""SequenceScaler: statistics over valid steps, formats, scikit-learn API."""
import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from seqnet.preprocessing import SequenceScaler


def ragged(lengths, n_features=3, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    scale = np.arange(1, n_features + 1)
    return [(rng.standard_normal((t, n_features)) * scale + 5 * scale)
            .astype(dtype) for t in lengths]


@parametrize_with_checks([SequenceScaler(), SequenceScaler(with_mean=False),
                          SequenceScaler(with_std=False)])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def test_statistics_over_valid_steps_only():
    X = ragged([7, 2, 12, 1, 5])
    steps = np.concatenate(X)
    scaler = SequenceScaler().fit(X)
    np.testing.assert_allclose(scaler.mean_, steps.mean(axis=0))
    np.testing.assert_allclose(scaler.var_, steps.var(axis=0))
    np.testing.assert_allclose(scaler.scale_, steps.std(axis=0))
    assert scaler.n_samples_seen_ == len(steps) == 27
    assert scaler.n_features_in_ == 3

    # The zero padding of the same data in a 3-D array must not count:
    # the statistics of the padded array differ.
    padded = np.zeros((5, 12, 3))
    for i, x in enumerate(X):
        padded[i, :len(x)] = x
    assert not np.allclose(SequenceScaler().fit(padded).mean_, scaler.mean_)

    Xt = scaler.transform(X)
    np.testing.assert_allclose(np.concatenate(Xt),
                               (steps - steps.mean(0)) / steps.std(0))
    np.testing.assert_allclose(np.concatenate(Xt).mean(axis=0), 0,
                               atol=1e-12)
    np.testing.assert_allclose(np.concatenate(Xt).std(axis=0), 1)


def test_matches_standard_scaler_on_2d():
    X = ragged([40])[0]
    expected = StandardScaler().fit(X)
    scaler = SequenceScaler().fit(X)
    np.testing.assert_allclose(scaler.mean_, expected.mean_)
    np.testing.assert_allclose(scaler.scale_, expected.scale_)
    np.testing.assert_allclose(scaler.transform(X), expected.transform(X))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_3d_round_trip(dtype):
    X = np.stack(ragged([6, 6, 6, 6], dtype=dtype))
    scaler = SequenceScaler()
    Xt = scaler.fit_transform(X)
    assert isinstance(Xt, np.ndarray)
    assert Xt.shape == X.shape and Xt.dtype == dtype
    steps = X.reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(
        Xt.reshape(-1, 3), (steps - steps.mean(0)) / steps.std(0),
        rtol=1e-4 if dtype == np.float32 else 1e-10, atol=1e-5)
    back = scaler.inverse_transform(Xt)
    assert back.shape == X.shape and back.dtype == dtype
    np.testing.assert_allclose(back, X, rtol=1e-5)


def test_ragged_round_trip():
    X = ragged([3, 8, 1], dtype=np.float32)
    scaler = SequenceScaler().fit(X)
    Xt = scaler.transform(X)
    assert isinstance(Xt, list) and len(Xt) == 3
    assert [x.shape for x in Xt] == [(3, 3), (8, 3), (1, 3)]
    assert all(x.dtype == np.float32 for x in Xt)
    back = scaler.inverse_transform(Xt)
    assert isinstance(back, list)
    for original, restored in zip(X, back):
        np.testing.assert_allclose(restored, original, rtol=1e-5)


def test_ragged_1d_sequences_come_back_2d():
    X = [np.arange(4.0), np.arange(3.0)]
    Xt = SequenceScaler().fit_transform(X)
    assert [x.shape for x in Xt] == [(4, 1), (3, 1)]


def test_integers_become_float64():
    X = [np.arange(6).reshape(3, 2), np.arange(4).reshape(2, 2)]
    Xt = SequenceScaler().fit_transform(X)
    assert all(x.dtype == np.float64 for x in Xt)


def test_input_is_not_modified_by_default():
    X = np.stack(ragged([4, 4]))
    X_before = X.copy()
    Xt = SequenceScaler().fit_transform(X)
    np.testing.assert_array_equal(X, X_before)
    assert not np.shares_memory(Xt, X)


def test_copy_false_scales_in_place():
    X = np.stack(ragged([4, 4]))
    scaler = SequenceScaler(copy=False).fit(X)
    Xt = scaler.transform(X)
    assert np.shares_memory(Xt, X)
    np.testing.assert_allclose(X.reshape(-1, 3).mean(axis=0), 0, atol=1e-12)
    read_only = np.stack(ragged([4, 4]))
    read_only.setflags(write=False)
    assert not np.shares_memory(scaler.transform(read_only), read_only)


def test_constant_feature_is_left_unscaled():
    X = [np.column_stack([np.full(5, 3.7), np.arange(5.0)]),
         np.column_stack([np.full(2, 3.7), np.arange(2.0)])]
    scaler = SequenceScaler().fit(X)
    assert scaler.scale_[0] == 1.0
    Xt = scaler.transform(X)
    np.testing.assert_allclose(np.concatenate(Xt)[:, 0], 0, atol=1e-12)
    np.testing.assert_allclose(
        SequenceScaler().fit(np.full((3, 4, 1), 0.1, np.float32)).scale_,
        [1.0])


def test_with_mean_and_with_std_flags():
    X = ragged([5, 3])
    steps = np.concatenate(X)
    only_std = np.concatenate(SequenceScaler(with_mean=False).fit_transform(X))
    np.testing.assert_allclose(only_std, steps / steps.std(0))
    only_mean = np.concatenate(SequenceScaler(with_std=False).fit_transform(X))
    np.testing.assert_allclose(only_mean, steps - steps.mean(0))
    identity = SequenceScaler(with_mean=False, with_std=False)
    np.testing.assert_allclose(np.concatenate(identity.fit_transform(X)),
                               steps)
    np.testing.assert_allclose(identity.mean_, steps.mean(0))


def test_partial_fit_equals_fit():
    X = ragged([4, 9, 1, 6, 2, 3], dtype=np.float32)
    full = SequenceScaler().fit(X)
    incremental = SequenceScaler()
    for block in (X[:1], X[1:4], X[4:]):
        incremental.partial_fit(block)
    assert incremental.n_samples_seen_ == full.n_samples_seen_ == 25
    np.testing.assert_allclose(incremental.mean_, full.mean_, rtol=1e-12)
    np.testing.assert_allclose(incremental.var_, full.var_, rtol=1e-10)
    # fit starts over.
    incremental.fit(X[:2])
    assert incremental.n_samples_seen_ == 13


def test_partial_fit_checks_feature_count():
    scaler = SequenceScaler().partial_fit(ragged([3], n_features=3))
    with pytest.raises(ValueError, match="X has 2 features, but "
                                         "SequenceScaler is expecting 3"):
        scaler.partial_fit(ragged([3], n_features=2))


def test_transform_checks_input():
    scaler = SequenceScaler().fit(ragged([3, 2], n_features=3))
    with pytest.raises(ValueError, match="X has 4 features, but "
                                         "SequenceScaler is expecting 3"):
        scaler.transform(np.zeros((2, 5, 4)))
    with pytest.raises(ValueError, match="Input X contains NaN"):
        scaler.transform([np.array([[0.0, np.nan, 1.0]])])
    with pytest.raises(ValueError, match="sequence 1 has no time steps"):
        scaler.transform([np.zeros((2, 3)), np.zeros((0, 3))])


def test_not_fitted():
    with pytest.raises(NotFittedError):
        SequenceScaler().transform(np.zeros((2, 3, 1)))


def test_pickle_and_clone():
    X = ragged([4, 2])
    scaler = SequenceScaler().fit(X)
    restored = pickle.loads(pickle.dumps(scaler))
    for a, b in zip(restored.transform(X), scaler.transform(X)):
        np.testing.assert_array_equal(a, b)
    assert not hasattr(clone(scaler), "mean_")


def test_pipeline_passes_ragged_sequences_through():
    X = ragged([5, 2, 7])
    pipe = Pipeline([("first", SequenceScaler(with_std=False)),
                     ("second", SequenceScaler())])
    Xt = pipe.fit_transform(X)
    assert isinstance(Xt, list) and [len(x) for x in Xt] == [5, 2, 7]
    steps = np.concatenate(X)
    np.testing.assert_allclose(np.concatenate(Xt),
                               (steps - steps.mean(0)) / steps.std(0))
    back = pipe.inverse_transform(Xt)
    for original, restored in zip(X, back):
        np.testing.assert_allclose(restored, original)


def test_feature_names_out():
    scaler = SequenceScaler().fit(np.zeros((2, 3, 2)))
    assert list(scaler.get_feature_names_out()) == ["x0", "x1"]


def test_dataframe_feature_names():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": [1.0, 2.0, 4.0], "b": [0.0, 1.0, 0.5]})
    scaler = SequenceScaler().fit(frame)
    assert list(scaler.feature_names_in_) == ["a", "b"]
    assert list(scaler.get_feature_names_out()) == ["a", "b"]


@pytest.mark.parametrize("value", [1e300, -3e-300, 7.1, 1e-320])
def test_a_constant_feature_of_any_size_scales_to_exactly_zero(value):
    X = np.full((3, 4, 2), value)
    X[..., 1] = np.arange(12).reshape(3, 4)
    scaler = SequenceScaler().fit(X)
    assert scaler.mean_[0] == value and scaler.var_[0] == 0
    assert np.all(scaler.transform(X)[..., 0] == 0)
    # Folded in block by block, it stays exactly constant.
    blocks = SequenceScaler().partial_fit(X[:1]).partial_fit(X[1:])
    assert np.all(blocks.transform(X)[..., 0] == 0)


@pytest.mark.parametrize("blocks", [
    [[1e308, -1e308]],
    [[2e200, 2e200], [-2e200]],   # overflow only when blocks are combined
])
def test_statistics_float64_cannot_hold_are_refused(blocks):
    scaler = SequenceScaler()
    with pytest.raises(ValueError, match=r"feature\(s\) 0 of 1 spread too"):
        for block in blocks:
            scaler.partial_fit([np.array(block)])
    # Nothing half-updated was left that would scale to 0 silently.
    if len(blocks) > 1:
        assert scaler.mean_[0] == 2e200 and scaler.var_[0] == 0
