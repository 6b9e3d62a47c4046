"""Sequences in other layouts: long DataFrames and channels-first arrays.

sequences_from_frame is run on pandas and on polars frames (each test is
skipped when its library is missing); the channels-first warning on
check_sequences and on the estimators.
"""
import re
import warnings

import numpy as np
import pytest

import seqnet
from seqnet import SequenceClassifier, SequenceTagger, sequences_from_frame
from seqnet._validation import check_sequences
from seqnet.datasets import load_basic_motions
from seqnet.frames import ChannelsFirstWarning

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(params=["pandas", "polars"])
def make_frame(request):
    """A function making a DataFrame of the parametrised library from a
    dict of columns."""
    library = pytest.importorskip(request.param)
    return library.DataFrame


def base_columns():
    """Three ids of 2, 3 and 1 steps, in time order."""
    return {"id": [1, 1, 2, 2, 2, 3],
            "t": [0, 1, 0, 1, 2, 0],
            "a": [0.5, 1.5, 2.5, 3.5, 4.5, 5.5],
            "y": ["p", "p", "q", "q", "q", "p"]}


def long_frame(make_frame, sequences, labels, seed):
    """The sequences as a long frame with shuffled rows, and the id order
    the rows give (ids in order of first appearance)."""
    rows = [(i, t, *step, labels[i])
            for i, seq in enumerate(sequences) for t, step in enumerate(seq)]
    rows = [rows[k] for k in np.random.default_rng(seed).permutation(
        len(rows))]
    columns = list(zip(*rows))
    n_features = sequences[0].shape[1]
    frame = make_frame({"id": list(columns[0]), "t": list(columns[1]),
                        **{f"f{j}": np.array(columns[2 + j])
                           for j in range(n_features)},
                        "label": [str(label) for label in columns[-1]]})
    first_seen = list(dict.fromkeys(columns[0]))
    return frame, first_seen


# ------------------------------------------------------------- reading

def test_shuffled_rows_give_sequences_in_time_order_ragged(make_frame):
    rng = np.random.default_rng(0)
    sequences = [rng.standard_normal((t, 2)) for t in (4, 1, 6, 3)]
    labels = ["u", "v", "u", "w"]
    frame, first_seen = long_frame(make_frame, sequences, labels, seed=1)
    assert first_seen != [0, 1, 2, 3]   # the shuffle changes the id order

    X, y, ids = sequences_from_frame(frame, "id", "t", target="label",
                                     return_ids=True)
    assert ids.tolist() == first_seen
    assert y.tolist() == [labels[i] for i in first_seen]
    assert [x.shape for x in X] == [sequences[i].shape for i in first_seen]
    for x, i in zip(X, first_seen):
        assert x.dtype == np.float64
        np.testing.assert_array_equal(x, sequences[i])


def test_returns_X_alone_without_target_and_ids(make_frame):
    X = sequences_from_frame(make_frame(base_columns()), "id", "t",
                             features=["a"])
    assert isinstance(X, list)
    assert [x.tolist() for x in X] == [[[0.5], [1.5]],
                                       [[2.5], [3.5], [4.5]], [[5.5]]]
    X, ids = sequences_from_frame(make_frame(base_columns()), "id", "t",
                                  features=["a"], return_ids=True)
    assert len(X) == 3 and ids.tolist() == [1, 2, 3]


def test_default_features_are_the_other_columns_in_frame_order(make_frame):
    columns = {"b": [1, 2, 3], "id": ["x", "x", "z"], "t": [2, 1, 0],
               "a": [10.0, 20.0, 30.0], "y": [0, 0, 1]}
    X, y = sequences_from_frame(make_frame(columns), "id", "t", target="y")
    # Columns b, a; id x's rows reversed by time.
    assert [x.tolist() for x in X] == [[[2, 20], [1, 10]], [[3, 30]]]
    assert y.tolist() == [0, 1]


def test_time_none_keeps_the_row_order_of_each_id(make_frame):
    columns = {"id": [2, 1, 2, 1], "a": [4.0, 3.0, 2.0, 1.0]}
    X, ids = sequences_from_frame(make_frame(columns), "id", None,
                                  return_ids=True)
    assert ids.tolist() == [2, 1]
    assert [x[:, 0].tolist() for x in X] == [[4.0, 2.0], [3.0, 1.0]]


def test_equal_times_in_different_ids_are_not_duplicates(make_frame):
    columns = {"id": ["b", "a", "b", "a"], "t": [5, 5, 3, 3],
               "a": [1.0, 2.0, 3.0, 4.0]}
    X, ids = sequences_from_frame(make_frame(columns), "id", "t",
                                  return_ids=True)
    assert ids.tolist() == ["b", "a"]
    assert [x[:, 0].tolist() for x in X] == [[3.0, 1.0], [4.0, 2.0]]


def test_dates_order_the_steps(make_frame):
    dates = np.array(["2024-03-02", "2024-03-01", "2024-02-28"],
                     dtype="datetime64[ns]")
    columns = {"id": [7, 7, 7], "t": dates, "a": [1.0, 2.0, 3.0]}
    X = sequences_from_frame(make_frame(columns), "id", "t")
    assert X[0][:, 0].tolist() == [3.0, 2.0, 1.0]


@pytest.mark.parametrize("dtypes, expected", [
    (["float32", "float32"], np.float32),
    (["float32", "float64"], np.float64),
    (["float32", "int32"], np.float64),
    (["float32", "bool"], np.float64),
    (["int64", "int8"], np.float64),
])
def test_float32_only_when_every_feature_is_float32(make_frame, dtypes,
                                                    expected):
    columns = {"id": [0, 0, 1], "t": [0, 1, 0],
               **{f"f{j}": np.array([1, 0, 1], dtype=d)
                  for j, d in enumerate(dtypes)}}
    X = sequences_from_frame(make_frame(columns), "id", "t")
    assert {x.dtype for x in X} == {np.dtype(expected)}
    np.testing.assert_array_equal(X[0], [[1, 1], [0, 0]])


def test_per_step_targets_follow_the_time_order(make_frame):
    columns = {"id": [1, 2, 1, 2, 1], "t": [2, 0, 0, 1, 1],
               "a": [0.0, 1.0, 2.0, 3.0, 4.0],
               "tag": ["c", "x", "a", "y", "b"]}
    X, y = sequences_from_frame(make_frame(columns), "id", "t",
                                target="tag", per_step=True)
    assert [list(v) for v in y] == [["a", "b", "c"], ["x", "y"]]
    assert [x[:, 0].tolist() for x in X] == [[2.0, 4.0, 0.0], [1.0, 3.0]]


# -------------------------------------------------------------- errors

def with_column(name, values, columns=None):
    columns = dict(columns or base_columns())
    columns[name] = values
    return columns


@pytest.mark.parametrize("columns, kwargs, match", [
    (base_columns(), dict(id="patient"),
     "Column 'patient' is not in the frame; its columns are "
     "['id', 't', 'a', 'y']"),
    (base_columns(), dict(time="hour"), "Column 'hour' is not in the frame"),
    (base_columns(), dict(features=["a", "b"]),
     "Column 'b' is not in the frame"),
    (base_columns(), dict(target="label"),
     "Column 'label' is not in the frame"),
    ({"id": np.array([], dtype=np.int64), "t": np.array([], dtype=np.int64),
      "a": np.array([], dtype=np.float64)}, {}, "The frame is empty"),
    (with_column("id", [1, 1, None, 2, 2, 3]), {},
     "The id column 'id' has a missing value (NaN or None) (row 2 of the "
     "frame)"),
    (with_column("t", [0.0, 1.0, 0.0, np.nan, 2.0, 0.0]), {},
     "The time column 't' has a missing value (NaN or None) (row 3"),
    (with_column("t", [0, 1, 0, 1, 1, 0]), {},
     "id 2 at time 1 has more than one row: each ('id', 't') pair must "
     "occur once"),
    (base_columns(), dict(features=["a", "y"]),
     "The feature column 'y' is not numeric"),
    (base_columns(), {}, "The feature column 'y' is not numeric"),
    (with_column("a", [0.0, 1.0, 2.0, None, 4.0, 5.0]), {},
     "The feature column 'a' has a missing value (NaN or None) in id 2 at "
     "time 1"),
    (with_column("a", [0.0, 1.0, 2.0, np.nan, 4.0, 5.0]), {},
     "The feature column 'a' has a missing value (NaN or None) in id 2 at "
     "time 1"),
    (with_column("a", [0.0, 1.0, 2.0, 3.0, -np.inf, 5.0]),
     dict(features=["a"]),
     "The feature column 'a' holds -inf in id 2 at time 2"),
    (with_column("y", ["p", "p", "q", "r", "q", "p"]), dict(target="y"),
     "The target 'y' varies within id 2 at time 1 ('r', but 'q' at its "
     "first step)"),
    (with_column("y", ["p", "p", None, "q", "q", "p"]), dict(target="y"),
     "The target column 'y' has a missing value (NaN or None) in id 2 at "
     "time 0"),
    (base_columns(), dict(features=["a"], per_step=True),
     "per_step=True needs a target column"),
    (base_columns(), dict(features=["a", "y"], target="y"),
     "The target 'y' is also among the features"),
    (base_columns(), dict(features=[]), "features is empty"),
    (base_columns(), dict(features=["a", "a"]),
     "features names a column twice"),
    (base_columns(), dict(time="id"), "id and time are the same column"),
    ({"id": [1, 2], "t": [0, 0]}, {},
     "The frame has no feature columns"),
])
def test_bad_frames_get_an_error_naming_the_problem(make_frame, columns,
                                                     kwargs, match):
    kwargs = {"id": "id", "time": "t", **kwargs}
    frame = make_frame(columns)
    with pytest.raises(ValueError, match=re.escape(match)):
        sequences_from_frame(frame, **kwargs)


def test_id_held_in_the_index_gets_a_hint():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(base_columns()).set_index("id")
    with pytest.raises(ValueError, match=re.escape(
            "'id' is the frame's index: call df.reset_index()")):
        sequences_from_frame(frame, "id", "t", target="y")


def test_ids_of_mixed_types_are_refused():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"id": [1, "a"], "t": [0, 0], "a": [1.0, 2.0]})
    with pytest.raises(TypeError, match="the values of the id column 'id' "
                                        "cannot be compared"):
        sequences_from_frame(frame, "id", "t")


@pytest.mark.parametrize("not_a_frame", [
    np.zeros((4, 3)), [[0, 0, 1.0]], {"id": [0], "t": [0], "a": [1.0]},
    None])
def test_not_a_dataframe_is_a_type_error(not_a_frame):
    with pytest.raises(TypeError, match="df must be a pandas or polars "
                                        "DataFrame with one row per time "
                                        "step, got"):
        sequences_from_frame(not_a_frame, "id", "t")


def test_polars_lazy_frame_is_told_to_collect():
    pl = pytest.importorskip("polars")
    lazy = pl.DataFrame(base_columns()).lazy()
    with warnings.catch_warnings():
        # Asking a LazyFrame for its columns warns; the check must not.
        warnings.simplefilter("error")
        with pytest.raises(TypeError, match=re.escape("call .collect()")):
            sequences_from_frame(lazy, "id", "t")


# ------------------------------------------------- into the estimators

def test_frame_feeds_a_sequence_classifier(make_frame):
    rng = np.random.default_rng(0)
    labels = rng.choice(["down", "up"], size=24)
    sequences = [np.cumsum(rng.standard_normal((t, 2))
                           + (0.5 if label == "up" else -0.5), axis=0)
                 for t, label in zip(rng.integers(3, 9, 24), labels)]
    frame, first_seen = long_frame(make_frame, sequences, labels, seed=2)
    X, y = sequences_from_frame(frame, "id", "t", target="label")

    params = dict(hidden_sizes=8, max_epochs=3, random_state=0)
    clf = SequenceClassifier(**params).fit(X, y)
    assert clf.n_features_in_ == 2
    assert clf.classes_.tolist() == ["down", "up"]
    predicted = clf.predict(X)
    assert predicted.shape == (24,) and set(predicted) <= {"down", "up"}
    # The same fit as on the sequences listed by hand in that order.
    by_hand = SequenceClassifier(**params).fit(
        [sequences[i] for i in first_seen], labels[first_seen])
    np.testing.assert_array_equal(clf.predict_proba(X),
                                  by_hand.predict_proba(X))


def test_per_step_frame_feeds_a_sequence_tagger(make_frame):
    rng = np.random.default_rng(3)
    n, lengths = 12, rng.integers(2, 7, 12)
    ids = np.repeat(np.arange(n), lengths)
    steps = np.concatenate([np.arange(t) for t in lengths])
    a = rng.standard_normal(len(ids))
    shuffle = rng.permutation(len(ids))
    frame = make_frame({"id": ids[shuffle], "t": steps[shuffle],
                        "a": a[shuffle],
                        "sign": np.where(a > 0, "pos", "neg")[shuffle]})
    X, y = sequences_from_frame(frame, "id", "t", target="sign",
                                per_step=True)
    assert [len(v) for v in y] == [len(x) for x in X]

    tagger = SequenceTagger(hidden_sizes=8, max_epochs=3,
                            random_state=0).fit(X, y)
    predicted = tagger.predict(X)
    assert [len(p) for p in predicted] == [len(x) for x in X]
    assert set(np.concatenate(predicted)) <= {"neg", "pos"}


# ---------------------------------------------- channels-first arrays

@pytest.mark.parametrize("shape, warns", [
    ((5, 6, 100), True),     # BasicMotions, channels-first
    ((5, 1, 8), True),       # a univariate aeon series of 8 steps
    ((5, 2, 8), True),       # 4 times more features than steps: the edge
    ((5, 2, 7), False),
    ((5, 1, 7), False),      # one step of a few features
    ((5, 1, 4), False),      # iris as one-step sequences
    ((5, 100, 6), False),    # BasicMotions, seqnet's layout
    ((5, 10, 30), False),
    ((5, 20), False),        # scikit-learn's checks use 2-D tables
    ((5, 100), False),
])
def test_channels_first_warning_rule(shape, warns):
    X = np.random.default_rng(0).standard_normal(shape)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_sequences(X)
    raised = [w for w in caught if w.category is ChannelsFirstWarning]
    assert len(raised) == int(warns)
    if warns:
        message = str(raised[0].message)
        assert f"X has shape {shape}" in message
        assert "X.transpose(0, 2, 1)" in message


def test_basic_motions_in_aeon_layout_warns_at_the_users_fit():
    data = load_basic_motions()
    aeon_layout = data.X_train.transpose(0, 2, 1)
    assert aeon_layout.shape == (40, 6, 100)
    clf = SequenceClassifier(hidden_sizes=4, max_epochs=1, random_state=0)
    with pytest.warns(ChannelsFirstWarning, match=re.escape(
            "X has shape (40, 6, 100): 6 time step(s) of 100 features")) \
            as record:
        clf.fit(aeon_layout, data.y_train)
    # The warning points at the line above, not inside seqnet.
    assert record[0].filename == __file__

    with warnings.catch_warnings():
        warnings.simplefilter("error", ChannelsFirstWarning)
        clf.fit(aeon_layout.transpose(0, 2, 1), data.y_train)
    assert clf.n_features_in_ == 6


def test_channels_first_warning_can_be_silenced_by_its_class():
    X = np.zeros((3, 2, 50))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", category=ChannelsFirstWarning)
        assert check_sequences(X).n_features == 50
    assert seqnet.frames.ChannelsFirstWarning is ChannelsFirstWarning
    assert issubclass(ChannelsFirstWarning, UserWarning)


def test_a_list_of_channels_first_series_warns_or_is_named():
    rng = np.random.default_rng(0)
    # aeon's equal-length list layout: each case (n_channels, n_timepoints).
    equal = [rng.standard_normal((3, 40)) for _ in range(4)]
    with pytest.warns(ChannelsFirstWarning, match=re.escape(
            "X holds 4 sequences of shape (3, 40)")) as record:
        check_sequences(equal)
    assert "[x.T for x in X]" in str(record[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ChannelsFirstWarning)
        check_sequences([x.T for x in equal])
        # Ragged sequences in seqnet's layout are never suspected.
        check_sequences([rng.standard_normal((t, 30)) for t in (2, 3)])
    # aeon's unequal-length layout cannot be read as seqnet's at all; the
    # error says how to read it.
    unequal = [rng.standard_normal((3, t)) for t in (40, 50)]
    with pytest.raises(ValueError, match=re.escape("[x.T for x in X]")):
        check_sequences(unequal)
    with pytest.raises(ValueError) as info:
        check_sequences([rng.standard_normal((t, 4)) for t in (3, 5)]
                        + [rng.standard_normal((2, 5))])
    assert "x.T" not in str(info.value)
