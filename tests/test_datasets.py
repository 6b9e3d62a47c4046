"""Bundled data sets: shapes, counts, labels, text."""
import numpy as np
import pytest

from seqnet.datasets import (load_basic_motions, load_japanese_vowels,
                             load_shakespeare)


@pytest.fixture(scope="module")
def vowels():
    return load_japanese_vowels()


@pytest.fixture(scope="module")
def motions():
    return load_basic_motions()


def test_japanese_vowels_is_ragged(vowels):
    assert len(vowels.X_train) == len(vowels.y_train) == 270
    assert len(vowels.X_test) == len(vowels.y_test) == 370
    for X in (vowels.X_train, vowels.X_test):
        assert isinstance(X, list)
        assert all(x.ndim == 2 and x.shape[1] == 12 for x in X)
        assert all(x.dtype == np.float32 for x in X)
    lengths = [len(x) for x in vowels.X_train + vowels.X_test]
    assert min(lengths) == 7 and max(lengths) == 29
    # Padding removed: no sequence ends in an all-zero frame.
    assert all(np.any(x[-1] != 0) for x in vowels.X_train + vowels.X_test)


def test_japanese_vowels_labels(vowels):
    for y in (vowels.y_train, vowels.y_test):
        assert y.dtype.kind == "U"
        assert list(np.unique(y)) == [str(k) for k in range(1, 10)]
    _, counts = np.unique(vowels.y_train, return_counts=True)
    assert list(counts) == [30] * 9
    assert "Kudo" in vowels.DESCR


def test_basic_motions(motions):
    for X, y in ((motions.X_train, motions.y_train),
                 (motions.X_test, motions.y_test)):
        assert X.shape == (40, 100, 6) and X.dtype == np.float32
        assert y.shape == (40,) and y.dtype.kind == "U"
        assert set(np.unique(y)) == {"badminton", "running", "standing",
                                     "walking"}
        assert np.isfinite(X).all()
    assert "UEA" in motions.DESCR


def test_loaders_return_fresh_arrays(vowels):
    again = load_japanese_vowels()
    again.X_train[0][:] = 0
    assert np.any(vowels.X_train[0] != 0)


def test_shakespeare():
    text = load_shakespeare()
    assert isinstance(text, str)
    assert len(text) == 1_115_394
    assert len(set(text)) == 65
    assert text.startswith("First Citizen:")
