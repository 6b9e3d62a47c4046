"""seqnet.to_onnx: the exported graphs, run by onnxruntime, give what the
models' own predict/predict_proba/step give, on ragged batches."""
import warnings

import numpy as np
import pytest

import seqnet
from seqnet import (CharRNN, SequenceClassifier, SequenceRegressor,
                    SequenceTagger)

try:
    import onnx
    import onnxruntime as ort
except ImportError:
    onnx = ort = None
needs_onnx = pytest.mark.skipif(
    ort is None, reason="needs the onnx extra (onnx, onnxruntime)")

TOL = 1e-5
LENGTHS = [5, 3, 7, 1, 4, 7]


def _session(model):
    onnx.checker.check_model(model, full_check=True)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


def _padded(X):
    T = max(len(x) for x in X)
    out = np.zeros((len(X), T) + np.shape(X[0])[1:], np.float32)
    for i, x in enumerate(X):
        out[i, :len(x)] = x
    return out


def _randomize(est, seed):
    """Every parameter random, so that each one (biases, peepholes, the
    GRU's bh) is exercised, not just those a short fit moved."""
    params = est._net.params
    rng = np.random.default_rng(seed)
    params[...] = rng.uniform(-0.8, 0.8, params.shape)
    return est


def _fit(cls, lengths, y, seed=0, **kw):
    rng = np.random.default_rng(seed)
    X = [rng.standard_normal((t, 3)) for t in lengths]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = cls(max_epochs=1, random_state=seed, batch_size=4, **kw)
        est.fit(X, y(X))
    return _randomize(est, seed + 1), X


def _exported(cls, y, lengths, **kw):
    """A random model, and its graph's outputs on its ragged X."""
    est, X = _fit(cls, lengths, y, **kw)
    sess = _session(seqnet.to_onnx(est))
    return est, X, sess.run(None, {"X": _padded(X), "sequence_lens":
                                   np.array(lengths, np.int32)})


def _labels(X):
    return [i % 3 for i in range(len(X))]


def _tags(X):
    return [(x[:, 0] > 0).astype(int) + (x[:, 1] > 1) for x in X]


def _values(X):
    return np.array([[x.sum(), x[0, 0]] for x in X])


_CELLS = [("lstm", False, "tanh"), ("lstm", True, "tanh"),
          ("lstm", False, "softsign"), ("lstm", True, "relu"),
          ("gru", False, "tanh"), ("gru", False, "relu"),
          ("gru", False, "softsign"), ("elman", False, "tanh"),
          ("elman", False, "relu"), ("elman", False, "softsign")]


def _check_labels(label, probs, classes_idx):
    """The label is the argmax wherever the top two are not a tie within
    the tolerance (where float rounding may pick either)."""
    top2 = np.sort(probs, axis=-1)[..., -2:]
    clear = top2[..., 1] - top2[..., 0] > 2 * TOL
    assert np.array_equal(label[clear], classes_idx[clear])


@needs_onnx
@pytest.mark.parametrize("cell,peepholes,activation", _CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("hidden_sizes", [(4,), (5, 3)])
@pytest.mark.parametrize("ragged", [True, False])
def test_classifier_matches_predict_proba(cell, peepholes, activation,
                                          bidirectional, hidden_sizes,
                                          ragged):
    est, X, (probs, label) = _exported(
        SequenceClassifier, _labels, LENGTHS if ragged else [6] * 5,
        cell=cell, peepholes=peepholes, activation=activation,
        bidirectional=bidirectional, hidden_sizes=hidden_sizes)
    expected = est.predict_proba(X)
    assert probs.shape == expected.shape and label.dtype == np.int64
    assert np.abs(probs - expected).max() <= TOL
    _check_labels(label, expected, expected.argmax(axis=1))
    # The model is in float32 and keeps its own predictions.
    assert np.array_equal(est.classes_[label][probs.max(1) > 0.5],
                          est.predict(X)[probs.max(1) > 0.5])


@needs_onnx
@pytest.mark.parametrize("cell,peepholes,activation", _CELLS[::3])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_regressor_matches_predict(cell, peepholes, activation,
                                   bidirectional, dtype):
    est, X, (pred,) = _exported(
        SequenceRegressor, _values, LENGTHS, cell=cell, peepholes=peepholes,
        activation=activation, bidirectional=bidirectional,
        hidden_sizes=(4, 3), dtype=dtype)
    expected = est.predict(X)
    assert pred.shape == (len(X), 2) and pred.dtype == np.float32
    # float64 models run in float32: rounding the weights costs ~1e-7
    # relative, within the same tolerance.
    assert np.abs(pred - expected).max() <= TOL * max(1, np.abs(
        expected).max())


@needs_onnx
@pytest.mark.parametrize("cell,peepholes,activation", _CELLS[::2])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_tagger_matches_every_valid_step(cell, peepholes, activation,
                                         bidirectional, dtype):
    est, X, (probs, label) = _exported(
        SequenceTagger, _tags, LENGTHS, cell=cell, peepholes=peepholes,
        activation=activation, bidirectional=bidirectional,
        hidden_sizes=(4, 3), dtype=dtype)
    assert probs.shape == (len(X), max(LENGTHS), len(est.classes_))
    for i, (p, expected) in enumerate(zip(probs, est.predict_proba(X))):
        T = len(expected)
        assert np.abs(p[:T] - expected).max() <= TOL
        _check_labels(label[i, :T], expected, expected.argmax(axis=1))


@needs_onnx
@pytest.mark.parametrize("embedding_size", [None, 3])
@pytest.mark.parametrize("cell,bidirectional", [("lstm", True),
                                                ("gru", False),
                                                ("elman", True)])
def test_token_models_take_codes(embedding_size, cell, bidirectional):
    rng = np.random.default_rng(3)
    words = ["ab", "ba", "c", "dd", "eab"]
    X = ["".join(rng.choice(words, rng.integers(1, 4))) for _ in range(12)]
    y = [len(x) % 2 for x in X]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = SequenceClassifier(cell=cell, bidirectional=bidirectional,
                                 hidden_sizes=(4, 3), max_epochs=1,
                                 embedding_size=embedding_size,
                                 random_state=0).fit(X, y)
    _randomize(est, 5)
    test = X[:5] + ["abz"]          # z: the unknown token, code 0
    codes = np.zeros((len(test), max(map(len, test))), np.int64)
    for i, x in enumerate(test):
        codes[i, :len(x)] = [est.vocabulary_.get(ch, 0) for ch in x]
    sess = _session(seqnet.to_onnx(est))
    probs, _ = sess.run(None, {"X": codes, "sequence_lens": np.array(
        [len(x) for x in test], np.int32)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = est.predict_proba(test)
    assert np.abs(probs - expected).max() <= TOL


@needs_onnx
@pytest.mark.parametrize("cell", ["lstm", "gru", "elman"])
def test_charrnn_step_generates_as_step(cell, tmp_path):
    text = "the cat sat on the mat. " * 8
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = CharRNN(cell=cell, hidden_sizes=(6, 5), max_epochs=1,
                      tbptt_length=8, batch_size=4, random_state=0,
                      peepholes=cell == "lstm").fit(text)
    _randomize(est, 9)
    path = tmp_path / "step.onnx"
    model = seqnet.to_onnx(est, path)
    sess = _session(onnx.load(path))
    assert [i.name for i in sess.get_inputs()] == ["token", "h", "c"]
    state = est.initial_state(2)
    h = np.zeros((2, 11), np.float32)
    c = np.zeros_like(h)
    for pair in ["th", "e ", "ca", "t."]:
        expected, state = est.step(pair, state)
        codes = np.array([est.vocabulary_.index(ch) for ch in pair])
        probs, h, c = sess.run(None, {"token": codes, "h": h, "c": c})
        assert np.abs(probs - expected).max() <= TOL
        assert np.abs(h - state.h).max() <= TOL
        assert np.abs(c - state.c).max() <= TOL
    assert model.graph.output[0].name == "probabilities"


@needs_onnx
def test_a_trained_model_matches():
    """A model trained to fit its data (not random weights): the exported
    graph agrees on a ragged batch of new sequences."""
    rng = np.random.default_rng(4)
    X = [rng.standard_normal((t, 2)) for t in rng.integers(2, 12, 80)]
    y = [int(x[:, 0].sum() > 0) for x in X]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = SequenceClassifier(hidden_sizes=(8,), bidirectional=True,
                                 max_epochs=15, learning_rate=0.02,
                                 random_state=0).fit(X, y)
    assert est.score(X, y) > 0.8
    test = [rng.standard_normal((t, 2)) for t in rng.integers(1, 15, 30)]
    probs, label = _session(seqnet.to_onnx(est)).run(None, {
        "X": _padded(test),
        "sequence_lens": np.array([len(x) for x in test], np.int32)})
    expected = est.predict_proba(test)
    assert np.abs(probs - expected).max() <= TOL
    _check_labels(label, expected, expected.argmax(axis=1))


@needs_onnx
def test_graph_interface_and_dynamic_axes():
    est, X = _fit(SequenceClassifier, LENGTHS, _labels, hidden_sizes=(4,))
    model = seqnet.to_onnx(est)
    inputs = {i.name: i for i in model.graph.input}
    assert list(inputs) == ["X", "sequence_lens"]
    dims = [d.dim_param or d.dim_value
            for d in inputs["X"].type.tensor_type.shape.dim]
    assert dims == ["batch", "time", 3]
    assert [o.name for o in model.graph.output] == ["probabilities", "label"]
    assert model.opset_import[0].version == 17
    sess = _session(model)
    # One sequence, then a longer batch than any seen in fit.
    for n, T in [(1, 1), (9, 20)]:
        x = np.random.default_rng(n).standard_normal((n, T, 3))
        probs, _ = sess.run(None, {"X": x.astype(np.float32),
                                   "sequence_lens": np.full(n, T, np.int32)})
        assert np.abs(probs - est.predict_proba(x)).max() <= TOL


@needs_onnx
def test_refuses_what_it_cannot_export():
    with pytest.raises(TypeError, match="seqnet's estimators"):
        seqnet.to_onnx(object())
    with pytest.raises(Exception, match="fitted"):
        seqnet.to_onnx(SequenceClassifier())
    est, _ = _fit(SequenceClassifier, LENGTHS, _labels, hidden_sizes=(4,))
    with pytest.raises(ValueError, match="opset"):
        seqnet.to_onnx(est, opset=9)



def test_missing_onnx_names_the_extra(monkeypatch):
    import sys
    est, _ = _fit(SequenceClassifier, LENGTHS, _labels, hidden_sizes=(2,))
    monkeypatch.setitem(sys.modules, "onnx", None)   # as if not installed
    with pytest.raises(ImportError, match=r"seqnet\[onnx\]"):
        seqnet.to_onnx(est)
