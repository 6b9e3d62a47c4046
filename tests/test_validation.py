"""Sequence input validation: accepted formats, errors, batching."""
import re

import numpy as np
import pytest
import scipy.sparse as sp

from seqnet._validation import (FLOAT_DTYPES, SequenceData,
                                check_sequence_targets, check_sequences,
                                pad_batch, to_format)


def ragged(lengths, n_features=3, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((t, n_features)).astype(dtype)
            for t in lengths]


def assert_holds(seqs, sequences):
    """seqs packs exactly ``sequences`` (a list of 2-D arrays)."""
    assert len(seqs) == len(sequences)
    assert seqs.data.flags.c_contiguous
    assert seqs.lengths.dtype == np.int64 and seqs.offsets.dtype == np.int64
    np.testing.assert_array_equal(seqs.lengths, [len(s) for s in sequences])
    np.testing.assert_array_equal(
        seqs.offsets, np.concatenate([[0], np.cumsum(seqs.lengths)]))
    for i, expected in enumerate(sequences):
        np.testing.assert_array_equal(seqs.sequence(i), expected)


class Estimator:
    """Stands in for an estimator: only its class name is used."""


# ---------------------------------------------------------------- formats

def test_3d_array():
    X = np.arange(2 * 4 * 3, dtype=np.float32).reshape(2, 4, 3)
    seqs = check_sequences(X)
    assert seqs.kind == "3d" and seqs.n_features == 3
    assert seqs.data.shape == (8, 3) and seqs.dtype == np.float32
    assert_holds(seqs, list(X))
    # Right dtype and layout already: a view, no copy.
    assert np.shares_memory(seqs.data, X)
    assert not np.shares_memory(check_sequences(X, copy=True).data, X)


def test_3d_nested_list_and_dtype_conversion():
    X = np.arange(24).reshape(2, 4, 3)
    seqs = check_sequences(X.tolist(), dtype=np.float64)
    assert seqs.kind == "3d" and seqs.dtype == np.float64
    assert_holds(seqs, list(X))


def test_3d_fortran_order_is_made_c_contiguous():
    X = np.asfortranarray(np.random.default_rng(0).random((3, 5, 2)))
    seqs = check_sequences(X, dtype=np.float64)
    assert_holds(seqs, list(X))


def test_2d_array_is_one_step_sequences():
    X = np.arange(12.0).reshape(4, 3)
    seqs = check_sequences(X)
    assert seqs.kind == "2d" and len(seqs) == 4 and seqs.n_features == 3
    np.testing.assert_array_equal(seqs.lengths, np.ones(4))
    assert_holds(seqs, [row[None, :] for row in X])


def test_2d_nested_list_of_equal_rows_is_a_table():
    seqs = check_sequences([[1, 2], [3, 4], [5, 6]])
    assert seqs.kind == "2d" and len(seqs) == 3 and seqs.n_features == 2


def test_ragged_list_of_2d_arrays():
    X = ragged([5, 1, 3])
    seqs = check_sequences(X)
    assert seqs.kind == "ragged" and seqs.n_features == 3
    assert_holds(seqs, X)
    assert seqs.data.flags.writeable
    assert seqs.max_length == 5


def test_ragged_list_of_equal_shapes_stays_ragged():
    X = ragged([4, 4])
    seqs = check_sequences(X)
    assert seqs.kind == "ragged"
    assert_holds(seqs, X)


def test_ragged_1d_elements_are_one_feature():
    X = [np.arange(4), np.arange(2)]
    seqs = check_sequences(X)
    assert seqs.n_features == 1
    assert_holds(seqs, [x[:, None] for x in X])


def test_ragged_tuple_object_array_and_nested_lists():
    X = ragged([2, 3])
    objects = np.empty(2, dtype=object)
    objects[0], objects[1] = X
    for container in (tuple(X), objects, [x.tolist() for x in X]):
        seqs = check_sequences(container)
        assert seqs.kind == "ragged"
        assert_holds(seqs, X)


def test_nested_lists_of_different_lengths_are_one_sequence_per_row():
    seqs = check_sequences([[1, 2, 3], [4, 5]])
    assert seqs.kind == "ragged" and seqs.n_features == 1
    np.testing.assert_array_equal(seqs.lengths, [3, 2])


def test_dtype_tuple_keeps_float_and_promotes_int():
    for dtype in (np.float32, np.float64):
        assert check_sequences(np.ones((2, 3, 1), dtype),
                               dtype=FLOAT_DTYPES).dtype == dtype
        assert check_sequences([np.ones(3, dtype)],
                               dtype=FLOAT_DTYPES).dtype == dtype
    assert check_sequences(np.ones((2, 3), int),
                           dtype=FLOAT_DTYPES).dtype == np.float64
    assert check_sequences([np.ones(2, int), np.ones(3, np.float32)],
                           dtype=FLOAT_DTYPES).dtype == np.float64
    mixed = [np.ones(2, np.float32), np.ones(3, np.float64)]
    assert check_sequences(mixed, dtype=FLOAT_DTYPES).dtype == np.float64


def test_numeric_strings_and_object_arrays_convert():
    seqs = check_sequences(np.array([["1", "2.5"]]))
    np.testing.assert_array_equal(seqs.data, [[1, 2.5]])
    seqs = check_sequences(np.ones((2, 3)).astype(object))
    assert seqs.dtype == np.float32


@pytest.mark.parametrize("make", [
    lambda X: X.copy(),
    lambda X: [x for x in X],
], ids=["3d", "ragged"])
def test_read_only_input(make):
    X = np.random.default_rng(0).random((3, 4, 2)).astype(np.float32)
    X.setflags(write=False)
    X_in = make(X)
    if isinstance(X_in, np.ndarray):
        X_in.setflags(write=False)
    seqs = check_sequences(X_in)
    assert_holds(seqs, list(X))
    assert check_sequences(X_in, copy=True).data.flags.writeable


def test_memmap_input(tmp_path):
    X = np.random.default_rng(0).random((3, 4, 2))
    path = tmp_path / "X.dat"
    writer = np.memmap(path, dtype=np.float64, mode="w+", shape=X.shape)
    writer[:] = X
    writer.flush()
    mapped = np.memmap(path, dtype=np.float64, mode="r", shape=X.shape)
    seqs = check_sequences(mapped, dtype=np.float64)
    assert type(seqs.data) is np.ndarray
    assert_holds(seqs, list(X))
    assert_holds(check_sequences(list(mapped), dtype=np.float64), list(X))
    assert_holds(check_sequences(mapped), list(X.astype(np.float32)))


def test_sequence_data_passes_through():
    seqs = check_sequences(ragged([2, 3]))
    again = check_sequences(seqs, dtype=np.float64, ensure_n_features=3)
    assert again.dtype == np.float64 and again.kind == "ragged"
    np.testing.assert_array_equal(again.lengths, seqs.lengths)


def test_dataframe_input():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    seqs = check_sequences(frame)
    assert seqs.kind == "2d" and seqs.n_features == 2
    np.testing.assert_array_equal(seqs.data, [[1, 3], [2, 4]])


def test_allow_nan():
    X = np.array([[[np.nan, 1.0]]])
    assert np.isnan(check_sequences(X, allow_nan=True).data[0, 0])
    with pytest.raises(ValueError, match="infinity"):
        check_sequences(np.array([[[np.inf, np.nan]]]), allow_nan=True)


# ----------------------------------------------------------------- errors

@pytest.mark.parametrize("X, message", [
    (np.array([[[1.0, np.nan]]]), "Input X contains NaN."),
    ([np.array([1.0]), np.array([np.nan, 2.0])], "Input X contains NaN."),
    (np.array([[1.0, np.inf]]), "Input X contains infinity"),
    ([np.array([-np.inf])], "Input X contains infinity"),
    (np.array([[1e300]]), "infinity or a value too large"),
], ids=["nan-3d", "nan-ragged", "inf-2d", "inf-ragged", "overflow"])
def test_non_finite_values(X, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        check_sequences(X)


@pytest.mark.parametrize("X, got", [
    (np.float64(3.0), "a scalar"),
    (5, "a scalar"),
    (np.arange(5.0), r"a 1-D array of shape \(5,\)"),
    ([1.0, 2.0, 3.0], r"a 1-D array of shape \(3,\)"),
    (np.zeros((2, 3, 4, 5)), r"a 4-D array of shape \(2, 3, 4, 5\)"),
], ids=["numpy-scalar", "int", "1d", "list-of-numbers", "4d"])
def test_wrong_rank(X, got):
    with pytest.raises(ValueError, match=got) as info:
        check_sequences(X)
    assert "3-D array (n_samples, n_timesteps, n_features)" in str(info.value)
    assert "list of arrays" in str(info.value)


def test_1d_array_error_suggests_a_reshape():
    with pytest.raises(ValueError, match=r"X\.reshape\(1, -1, 1\)"):
        check_sequences(np.arange(5.0))


@pytest.mark.parametrize("X, message", [
    (np.empty((0, 4, 2)), r"0 sample\(s\) \(shape=\(0, 4, 2\)\) while a "
                          "minimum of 1 is required by Estimator"),
    (np.empty((0, 3)), r"0 sample\(s\) \(shape=\(0, 3\)\) while a minimum"),
    ([], r"empty list of sequences: 0 sample\(s\)"),
    ((), r"0 sample\(s\)"),
], ids=["3d", "2d", "list", "tuple"])
def test_no_samples(X, message):
    with pytest.raises(ValueError, match=message):
        check_sequences(X, estimator=Estimator())


@pytest.mark.parametrize("X, message", [
    (np.empty((12, 0)), r"0 feature\(s\) \(shape=\(12, 0\)\) while a "
                        r"minimum of 1 is required"),
    (np.empty((3, 4, 0)), r"0 feature\(s\) \(shape=\(3, 4, 0\)\)"),
    ([np.empty((4, 0)), np.empty((2, 0))], r"sequence 0 has 0 feature\(s\)"),
], ids=["2d", "3d", "ragged"])
def test_no_features(X, message):
    with pytest.raises(ValueError, match=message):
        check_sequences(X)


def test_no_time_steps_3d():
    with pytest.raises(ValueError, match="0 time step.*no time steps"):
        check_sequences(np.empty((3, 0, 2)))


@pytest.mark.parametrize("empty", [np.empty((0, 3)), np.empty(0), []],
                         ids=["2d", "1d", "list"])
def test_sequence_without_time_steps(empty):
    X = ragged([2, 4, 1]) + [empty]
    with pytest.raises(ValueError, match="sequence 3 has no time steps"):
        check_sequences(X)


def test_different_feature_counts_name_index_and_counts():
    X = ragged([2, 3], n_features=4) + ragged([5], n_features=6)
    with pytest.raises(ValueError,
                       match="sequence 2 has 6 features, but sequence 0 "
                             "has 4"):
        check_sequences(X)


def test_element_of_wrong_rank():
    X = ragged([2]) + [np.zeros((2, 3, 1))]
    with pytest.raises(ValueError, match=r"sequence 1 has shape \(2, 3, 1\)"):
        check_sequences(X)


def test_ensure_n_features_uses_scikit_learn_wording():
    message = ("X has 3 features, but Estimator is expecting 5 features as "
               "input.")
    for X in (np.zeros((2, 4, 3)), ragged([2, 3]), np.zeros((4, 3))):
        with pytest.raises(ValueError, match=re.escape(message)):
            check_sequences(X, estimator=Estimator(), ensure_n_features=5)
    with pytest.raises(ValueError, match="but MyModel is expecting"):
        check_sequences(np.zeros((4, 3)), estimator="MyModel",
                        ensure_n_features=5)
    check_sequences(np.zeros((4, 3)), ensure_n_features=3)


def test_strings_that_are_not_numbers():
    with pytest.raises(ValueError, match="could not convert string to float"):
        check_sequences(np.array([["a", "b"]]))
    with pytest.raises(ValueError,
                       match="sequence 1: could not convert string"):
        check_sequences([np.ones(2), np.array(["x", "1"])])


def test_objects_that_are_not_numbers():
    X = np.ones((2, 3)).astype(object)
    X[0, 0] = {"foo": "bar"}
    with pytest.raises(TypeError, match="argument must be .*string.* number"):
        check_sequences(X)
    element = np.array([1.0, {"foo": "bar"}], dtype=object)
    with pytest.raises(TypeError, match="sequence 0: .*not 'dict'"):
        check_sequences([element])


@pytest.mark.parametrize("X", [
    np.array([[[1 + 2j, 1.0]]]),
    np.array([[1 + 2j]]),
    [np.array([1.0, 2j])],
], ids=["3d", "2d", "ragged"])
def test_complex_data(X):
    with pytest.raises(ValueError, match="Complex data not supported"):
        check_sequences(X)


@pytest.mark.parametrize("X", [
    sp.csr_matrix(np.eye(3)),
    [sp.csr_matrix(np.eye(3))],
], ids=["matrix", "list-of-matrices"])
def test_sparse_input(X):
    with pytest.raises(TypeError,
                       match="Sparse data was passed.*dense data is required"):
        check_sequences(X)


# -------------------------------------------------------- SequenceData

def test_sequence_data_take():
    X = ragged([3, 1, 4, 2])
    seqs = check_sequences(X)
    subset = seqs.take([2, 0, 2])
    assert subset.kind == "ragged"
    assert_holds(subset, [X[2], X[0], X[2]])
    assert not np.shares_memory(subset.data, seqs.data)
    assert_holds(seqs.take(np.array([False, True, True, False])), X[1:3])
    assert_holds(seqs.take(slice(None, None, -1)), X[::-1])
    assert_holds(seqs.take([-1]), [X[3]])
    assert len(seqs.take([])) == 0
    with pytest.raises(IndexError):
        seqs.take([4])


def test_sequence_data_take_keeps_kind():
    seqs = check_sequences(np.zeros((5, 3, 2)))
    assert seqs.take([1, 3]).kind == "3d"


def test_sequence_index_errors_and_negative_index():
    X = ragged([2, 3])
    seqs = check_sequences(X)
    np.testing.assert_array_equal(seqs.sequence(-1), X[1])
    with pytest.raises(IndexError, match="out of range"):
        seqs.sequence(2)


def test_sequence_data_constructor_checks():
    with pytest.raises(ValueError, match="lengths sum to 5"):
        SequenceData(np.zeros((4, 2)), [2, 3])
    with pytest.raises(ValueError, match="kind"):
        SequenceData(np.zeros((4, 2)), [4], kind="4d")
    assert "n_sequences=1" in repr(SequenceData(np.zeros((4, 2)), [4]))


# -------------------------------------------------------------- pad_batch

def test_pad_batch_sorts_pads_and_reports_order():
    X = ragged([2, 5, 3, 5, 1], n_features=2)
    seqs = check_sequences(X)
    indices = [0, 1, 2, 3, 4]
    x, lengths, order = pad_batch(seqs, indices)
    assert x.shape == (5, 5, 2) and x.dtype == np.float32
    assert lengths.dtype == np.int64
    np.testing.assert_array_equal(lengths, [5, 5, 3, 2, 1])
    # Stable: the two sequences of length 5 keep their given order.
    np.testing.assert_array_equal(order, [1, 3, 2, 0, 4])
    for j, position in enumerate(order):
        seq = X[indices[position]]
        np.testing.assert_array_equal(x[:len(seq), j], seq)
        assert not x[len(seq):, j].any()


def test_pad_batch_subset_and_unpermute():
    X = ragged([4, 2, 6, 3, 5])
    seqs = check_sequences(X)
    indices = np.array([3, 0, 4])
    x, lengths, order = pad_batch(seqs, indices)
    np.testing.assert_array_equal(lengths, [5, 4, 3])
    np.testing.assert_array_equal(indices[order], [4, 0, 3])
    # A per-column result put back into the order of ``indices``.
    last = x[lengths - 1, np.arange(3)]
    restored = np.empty_like(last)
    restored[order] = last
    np.testing.assert_array_equal(restored,
                                  [X[i][-1] for i in indices])


def test_pad_batch_many_short_sequences():
    # More columns than steps: the per-time-step gather path.
    lengths = np.random.default_rng(1).integers(1, 6, size=64)
    X = ragged(lengths, n_features=2)
    seqs = check_sequences(X)
    indices = np.arange(64)[::-1]
    x, batch_lengths, order = pad_batch(seqs, indices)
    np.testing.assert_array_equal(batch_lengths,
                                  np.sort(lengths[indices])[::-1])
    np.testing.assert_array_equal(
        order, np.argsort(-lengths[indices], kind="stable"))
    for j, position in enumerate(order):
        seq = X[indices[position]]
        np.testing.assert_array_equal(x[:len(seq), j], seq)
        assert not x[len(seq):, j].any()


def test_pad_batch_equal_lengths():
    X = np.random.default_rng(0).random((6, 4, 3)).astype(np.float32)
    x, lengths, order = pad_batch(check_sequences(X), [5, 1, 2])
    np.testing.assert_array_equal(order, [0, 1, 2])
    np.testing.assert_array_equal(x, X[[5, 1, 2]].transpose(1, 0, 2))


def test_pad_batch_reuses_out_buffer():
    seqs = check_sequences(ragged([3, 6, 2, 4]))
    out = np.full(6 * 4 * 3 + 10, 99.0, dtype=np.float32)
    x, lengths, order = pad_batch(seqs, [0, 1, 2, 3], out=out)
    assert np.shares_memory(x, out) and x.shape == (6, 4, 3)
    expected, _, _ = pad_batch(seqs, [0, 1, 2, 3])
    np.testing.assert_array_equal(x, expected)
    # A smaller batch in the same buffer: stale values are overwritten.
    x, lengths, order = pad_batch(seqs, [2, 0], out=out)
    assert np.shares_memory(x, out) and x.shape == (3, 2, 3)
    np.testing.assert_array_equal(x, pad_batch(seqs, [2, 0])[0])


@pytest.mark.parametrize("out, message", [
    (np.empty(10, np.float32), "needs 36"),
    (np.empty(100, np.float64), "dtype float32"),
    (np.empty((20, 20), np.float32)[:, ::2], "C-contiguous"),
], ids=["too-small", "dtype", "strided"])
def test_pad_batch_rejects_bad_out(out, message):
    seqs = check_sequences(ragged([3, 2, 1, 3]))
    with pytest.raises(ValueError, match=message):
        pad_batch(seqs, [0, 1, 2, 3], out=out)


def test_pad_batch_bad_indices():
    seqs = check_sequences(ragged([3, 2]))
    with pytest.raises(IndexError):
        pad_batch(seqs, [0, 2])
    with pytest.raises(ValueError, match="integers"):
        pad_batch(seqs, [0.5])
    x, lengths, order = pad_batch(seqs, [-1])
    np.testing.assert_array_equal(lengths, [2])


# --------------------------------------------------- per-step targets

def test_targets_ragged_list():
    seqs = check_sequences(ragged([2, 3, 1]))
    y = [np.array([0, 1]), [2, 2, 0], np.array([1])]
    np.testing.assert_array_equal(check_sequence_targets(y, seqs),
                                  [0, 1, 2, 2, 0, 1])


def test_targets_2d_for_3d_input():
    seqs = check_sequences(np.zeros((2, 3, 4)))
    y = np.array([["a", "b", "c"], ["d", "e", "f"]])
    np.testing.assert_array_equal(check_sequence_targets(y, seqs),
                                  list("abcdef"))


def test_targets_1d_for_one_step_sequences():
    seqs = check_sequences(np.zeros((4, 2)))
    y_packed = check_sequence_targets([0, 1, 1, 0], seqs, dtype=np.float64)
    assert y_packed.dtype == np.float64
    np.testing.assert_array_equal(y_packed, [0, 1, 1, 0])


@pytest.mark.parametrize("y, message", [
    ([[0, 1], [0, 1]], r"y\[1\] has 2 targets, but sequence 1 of X has 3"),
    ([[0, 1]], "X has 2 sequences, but y has 1"),
    ([[0, 1], [[0], [1], [2]]], r"y\[1\] must be 1-D"),
    (np.zeros(5), "one target per time step"),
    (None, "requires y to be passed"),
    ([[0.0, np.nan], [1.0, 2.0, 3.0]], "Input y contains NaN"),
], ids=["step-count", "sequence-count", "rank", "flat", "none", "nan"])
def test_target_errors(y, message):
    seqs = check_sequences(ragged([2, 3]))
    with pytest.raises(ValueError, match=message):
        check_sequence_targets(y, seqs)


def test_targets_2d_wrong_width():
    seqs = check_sequences(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="y has 4 targets per sequence"):
        check_sequence_targets(np.zeros((2, 4)), seqs)


# -------------------------------------------------------------- to_format

def test_to_format_round_trips():
    for X in (np.random.default_rng(0).random((3, 4, 2)),
              np.random.default_rng(0).random((5, 2)),
              ragged([2, 5, 1], dtype=np.float64)):
        seqs = check_sequences(X, dtype=np.float64)
        back = to_format(seqs.data, seqs.lengths, seqs.kind)
        if isinstance(X, list):
            assert isinstance(back, list)
            for a, b in zip(back, X):
                np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_array_equal(back, X)


def test_to_format_per_step_values():
    lengths = np.array([2, 3])
    labels = np.arange(5)
    parts = to_format(labels, lengths, "ragged")
    assert [p.tolist() for p in parts] == [[0, 1], [2, 3, 4]]
    assert to_format(np.arange(6), [3, 3], "3d").shape == (2, 3)
    with pytest.raises(ValueError, match="equal length"):
        to_format(labels, lengths, "3d")
    with pytest.raises(ValueError, match="kind"):
        to_format(labels, lengths, "4d")
