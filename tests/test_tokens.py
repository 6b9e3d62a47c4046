"""Token input: the embedding kernels against the NumPy reference and
finite differences, one-hot codes against dense one-hot arrays, the
vocabulary, and token sequences through the estimators' API."""
import pickle
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline

from seqnet import SequenceClassifier, SequenceRegressor, SequenceTagger
from seqnet import _kernels, _reference as ref
from seqnet._base import _Run
from seqnet._network import Network

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")

WORDS = ["good", "bad", "fine", "awful", "the", "a", "movie", "plot"]


def sentences(n, seed=0):
    """Word lists labelled by whether the positive words outnumber the
    negative ones."""
    rng = np.random.default_rng(seed)
    X, y = [], []
    for _ in range(n):
        words = [str(w) for w in rng.choice(WORDS, rng.integers(2, 9))]
        X.append(words)
        y.append(int(words.count("good") + words.count("fine") >
                     words.count("bad") + words.count("awful")))
    return X, np.array(y)


# ------------------------------------------------------ embedding kernels


def _codes_case(T=6, B=4, V=5, D=3, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    lengths = np.array(sorted(rng.integers(1, T + 1, B), reverse=True),
                       np.int64)
    lengths[0] = T
    codes = rng.integers(0, V, (T, B))
    codes[:2, :] = 1                       # a row many steps share
    codes[np.arange(T)[:, None] >= lengths[None, :]] = -7   # never read
    E = rng.standard_normal((V, D)).astype(dtype)
    return E, codes, lengths


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_embedding_kernels_match_the_reference_bit_for_bit(dtype):
    E, codes, lengths = _codes_case(dtype=dtype)
    T, B = codes.shape
    out = np.full((T, B, E.shape[1]), np.nan, dtype)
    _kernels.embedding_forward(out, E, codes, lengths)
    assert_array_equal(out, ref.embedding_forward(E, codes, lengths))
    dout = np.random.default_rng(1).standard_normal(out.shape).astype(dtype)
    dE = np.zeros_like(E)
    _kernels.embedding_backward(dE, dout, codes, lengths)
    assert_array_equal(dE, ref.embedding_backward(dout, codes, lengths,
                                                  len(E)))
    # Gradients accumulate: a second call adds to the first, row by row in
    # the order t, then b.
    want = dE.copy()
    for t in range(T):
        for b in range(B):
            if t < lengths[b]:
                want[codes[t, b]] += dout[t, b]
    _kernels.embedding_backward(dE, dout, codes, lengths)
    assert_array_equal(dE, want)


def test_embedding_reference_backward_matches_finite_differences():
    E, codes, lengths = _codes_case()
    up = np.random.default_rng(2).standard_normal(codes.shape + (3,))
    analytic = ref.embedding_backward(up, codes, lengths, len(E))
    eps, numeric = 1e-6, np.empty_like(E)
    for index in np.ndindex(E.shape):
        plus, minus = E.copy(), E.copy()
        plus[index] += eps
        minus[index] -= eps
        numeric[index] = np.sum(
            (ref.embedding_forward(plus, codes, lengths)
             - ref.embedding_forward(minus, codes, lengths)) * up) / (2 * eps)
    assert_allclose(analytic, numeric, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("bad, message", [
    (lambda c: c.__setitem__((0, 0), 5), "token code"),
    (lambda c: c.__setitem__((0, 1), -1), "token code"),
])
def test_embedding_refuses_codes_outside_the_table(bad, message):
    E, codes, lengths = _codes_case()
    bad(codes)
    out = np.empty(codes.shape + (3,))
    with pytest.raises(ValueError, match=message):
        _kernels.embedding_forward(out, E, codes, lengths)
    with pytest.raises(ValueError, match=message):
        _kernels.embedding_backward(np.zeros_like(E), out, codes, lengths)


@pytest.mark.parametrize("cell", ["lstm", "gru", "elman"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_network_embedding_gradient_matches_finite_differences(
        cell, bidirectional):
    # Through the whole float64 network: table, two recurrent layers, the
    # softmax head.  Repeated tokens share a row; code 0 (the unknown
    # token) is one of them.
    V, D, K = 6, 3, 3
    net = Network(cell, (4, 3), bidirectional, False, "tanh", V, K,
                  np.float64, embedding_size=D)
    net.initialize(np.random.default_rng(0), 1.0)
    codes = np.array([[0, 2, 0], [2, 2, 1], [0, 5, 0], [3, 0, 0]], np.int64)
    lengths = np.array([4, 3, 2], np.int64)
    y = np.array([0, 2, 1], np.int64)
    w = np.full(3, 1 / 3)

    class Owner:      # the estimator-side scratch a _Run reads
        _net, n_jobs = net, 1

        @staticmethod
        def _buffers():
            return buffers
    from seqnet._network import Buffers
    buffers = Buffers(net.dtype)
    run = _Run(Owner, 4, 3, train=True)

    def loss():
        _, fin, _ = net.forward(codes, lengths, buffers, run.workspace, 1)
        P = np.empty((3, K))
        return _kernels.softmax_xent(
            P, None, np.zeros((fin.shape[1], K)), np.zeros(K), fin,
            net.views["output.V"], net.views["output.c"], y, w,
            run.workspace, 1)

    _, fin, trace = net.forward(codes, lengths, buffers, run.workspace, 1,
                                train=True)
    run.grads.fill(0)
    d_fin = np.empty_like(fin)
    _kernels.softmax_xent(np.empty((3, K)), d_fin, run.gviews["output.V"],
                          run.gviews["output.c"], fin, net.views["output.V"],
                          net.views["output.c"], y, w, run.workspace, 1)
    net.backward(trace, None, d_fin, lengths, run.glayers, buffers,
                 run.workspace, 1)
    E, dE = net.views["embedding.E"], run.gviews["embedding.E"]
    numeric = np.empty_like(E)
    for index in np.ndindex(E.shape):
        keep = E[index]
        E[index] = keep + 1e-6
        plus = loss()
        E[index] = keep - 1e-6
        minus = loss()
        E[index] = keep
        numeric[index] = (plus - minus) / 2e-6
    assert np.all(numeric[4] == 0) and np.all(dE[4] == 0)   # unused code
    assert_allclose(dE, numeric, rtol=1e-6, atol=1e-9)


# -------------------------------------------------------------- one-hot


def test_one_hot_tokens_predict_the_bits_of_dense_one_hot_arrays():
    X, y = sentences(60)
    tokens = SequenceClassifier(hidden_sizes=8, max_epochs=3,
                                random_state=0).fit(X, y)
    V = len(tokens.vocabulary_) + 1

    def one_hot(words):
        rows = np.zeros((len(words), V), np.float32)
        rows[np.arange(len(words)),
             [tokens.vocabulary_.get(w, 0) for w in words]] = 1
        return rows

    dense_X = [one_hot(words) for words in X]
    dense = SequenceClassifier(hidden_sizes=8, max_epochs=1,
                               random_state=0).fit(dense_X, y)
    dense._net.params[...] = tokens._net.params
    assert_array_equal(dense.predict_proba(dense_X), tokens.predict_proba(X))


# ------------------------------------------------------------ vocabulary


def test_the_vocabulary_orders_by_frequency_and_caps():
    X = [["b", "a", "b"], ["c", "b", "a"], ["d"]]
    model = SequenceClassifier(hidden_sizes=2, max_epochs=1)
    assert model.fit(X, [0, 1, 0]).vocabulary_ == {"b": 1, "a": 2, "c": 3,
                                                  "d": 4}
    assert model.set_params(min_frequency=2).fit(X, [0, 1, 0]).vocabulary_ \
        == {"b": 1, "a": 2}
    assert model.set_params(min_frequency=1, max_tokens=1).fit(
        X, [0, 1, 0]).vocabulary_ == {"b": 1}
    assert model._net.n_inputs == 2     # the known token and the unknown


def test_unseen_tokens_are_unknown_with_one_warning_naming_a_few():
    X, y = sentences(40)
    model = SequenceClassifier(hidden_sizes=4, max_epochs=2,
                               random_state=0).fit(X, y)
    new = [["good", f"new{i}"] for i in range(8)]
    with pytest.warns(UserWarning, match=r"8 token\(s\).*'new0'.*3 more") \
            as record:
        got = model.predict_proba(new)
    assert len(record) == 1
    unknown = [["good", "zzz"]] * 8      # any unseen token reads the same
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_array_equal(got, model.predict_proba(unknown))


def test_a_column_of_texts_is_read_as_tokens():
    pd = pytest.importorskip("pandas")
    texts = pd.Series(["abba", "cab", "b"], name="text")
    model = SequenceClassifier(hidden_sizes=4, max_epochs=2,
                               random_state=0).fit(texts, [0, 1, 0])
    assert set(model.vocabulary_) == {"a", "b", "c"}
    assert_array_equal(model.predict_proba(texts),
                       model.predict_proba(list(texts)))


def test_characters_are_tokens_and_integer_ids_with_input_tokens():
    chars = SequenceClassifier(hidden_sizes=4, max_epochs=2).fit(
        ["abba", "cab", "b"], [0, 1, 0])
    assert set(chars.vocabulary_) == {"a", "b", "c"}
    ids = [np.array([3, 7, 7]), np.array([7]), np.array([9, 3])]
    model = SequenceClassifier(hidden_sizes=4, max_epochs=2, input="tokens")
    assert set(model.fit(ids, [0, 1, 0]).vocabulary_) == {3, 7, 9}
    grid = np.array([[3, 7], [7, 7], [9, 3]])       # one row per sequence
    assert set(model.fit(grid, [0, 1, 0]).vocabulary_) == {3, 7, 9}
    numeric = SequenceClassifier(hidden_sizes=4, max_epochs=1).fit(ids,
                                                                   [0, 1, 0])
    assert not hasattr(numeric, "vocabulary_")
    assert numeric.n_features_in_ == 1


@pytest.mark.parametrize("X, kwargs, error, message", [
    ([["a", "b"], ["c", 3]], {}, ValueError, "mixes tokens and numbers"),
    ([["a", "b"], []], {}, ValueError, "sequence 1 is empty"),
    ([["a", ["b"]]], {}, TypeError, "unhashable token"),
    ([np.zeros((3, 2))], {"embedding_size": 4}, ValueError,
     "embedding_size needs token input"),
    ([["a"], ["b"]], {"min_frequency": 2}, ValueError,
     "vocabulary would hold only the unknown token"),
    (["ab", "c"], {"input": "numeric"}, ValueError, "could not convert"),
    ([], {"input": "tokens"}, ValueError, "empty list"),
    ([["a"], 3], {"input": "tokens"}, TypeError, "not a sequence of tokens"),
])
def test_bad_token_input_is_named(X, kwargs, error, message):
    model = SequenceClassifier(hidden_sizes=2, max_epochs=1, **kwargs)
    with pytest.raises(error, match=message):
        model.fit(X, [0, 1][:len(X)] if len(X) <= 2 else [0] * len(X))


# ------------------------------------------------------------- the API


@pytest.mark.parametrize("embedding_size", [None, 5])
def test_token_models_through_pipeline_search_and_pickle(embedding_size):
    X, y = sentences(80)
    model = SequenceClassifier(hidden_sizes=8, max_epochs=3,
                               embedding_size=embedding_size, random_state=0)
    scores = cross_val_score(model, X, y, cv=2)
    assert scores.shape == (2,)
    search = GridSearchCV(make_pipeline(model),
                          {"sequenceclassifier__hidden_sizes": [4, 8]},
                          cv=2).fit(X, y)
    assert search.best_estimator_.predict(X[:3]).shape == (3,)
    fitted = model.fit(X, y)
    again = pickle.loads(pickle.dumps(fitted))
    assert_array_equal(again.predict_proba(X), fitted.predict_proba(X))
    if embedding_size:
        assert fitted.parameters_["embedding.E"].shape == (
            len(fitted.vocabulary_) + 1, embedding_size)


@pytest.mark.parametrize("embedding_size", [None, 5])
def test_stepping_tokens_matches_predict(embedding_size):
    X, y = sentences(40)
    model = SequenceClassifier(hidden_sizes=6, max_epochs=2, random_state=0,
                               embedding_size=embedding_size).fit(X, y)
    pair = [X[0][:2], X[1][:2]]
    state = model.initial_state(2)
    for t in range(2):
        proba, state = model.step([pair[0][t], pair[1][t]], state)
    assert_allclose(proba, model.predict_proba(pair), rtol=1e-5, atol=1e-6)


def test_tagger_and_regressor_read_tokens():
    X, _ = sentences(50)
    tags = [np.array([w in ("good", "fine") for w in s], int) for s in X]
    tagger = SequenceTagger(hidden_sizes=8, max_epochs=40, embedding_size=4,
                            learning_rate=0.01, random_state=0).fit(X, tags)
    assert tagger.score(X, tags) > 0.9
    target = np.array([len(s) for s in X], float)
    reg = SequenceRegressor(hidden_sizes=8, max_epochs=2).fit(X, target)
    assert reg.predict(X[:4]).shape == (4,)


def test_token_classifier_is_as_good_as_a_bag_of_words_baseline():
    # The token classifier learns word order-free sentiment as well as a
    # bag-of-words logistic regression on the same split.
    X, y = sentences(300)
    model = SequenceClassifier(hidden_sizes=16, embedding_size=8,
                               max_epochs=40, learning_rate=0.01,
                               random_state=0).fit(X[:200], y[:200])
    bag = np.array([[s.count(w) for w in WORDS] for s in X])
    baseline = LogisticRegression().fit(bag[:200], y[:200])
    assert model.score(X[200:], y[200:]) >= baseline.score(bag[200:],
                                                            y[200:]) - 0.05
