"""SequenceToSequence: the NumPy reference against finite differences, the
C path against the reference, decoding against plain Python searches, and
the estimator's contract."""
import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from seqnet import SequenceToSequence, _kernels
from seqnet import _reference_seq2seq as ref

WORDS = ["abc", "ba", "cab", "ac", "bca", "cc", "a", "abca"]


def _tiny(X, Y, scale=0.6, seed=1, **kw):
    """A fitted float64 model with random (not trained) weights."""
    params = dict(hidden_sizes=(3,), max_epochs=1, batch_size=64,
                  random_state=0, dtype="float64")
    params.update(kw)
    m = SequenceToSequence(**params)
    with pytest.warns(Warning):
        m.fit(X, Y)
    rng = np.random.default_rng(seed)
    m._net.params[...] = rng.normal(0, scale, m._net.params.shape)
    return m


def _config(m):
    spec = m._net._spec
    return dict(cell=spec["cell"], encoder_sizes=spec["encoder_sizes"],
                decoder_sizes=spec["decoder_sizes"],
                bidirectional=spec["bidirectional"],
                activation=spec["activation"])


def _reference_inputs(m, X, Y):
    """Time-major inputs for the reference: codes (T, B) and lengths, or
    the vectors; Y as codes."""
    seqs = m._check_inputs(X, reset=False)
    Yc = m._encode_targets_of(m._check_targets(Y, len(seqs), reset=False))
    if m._one_to_many:
        return seqs.data.astype(np.float64), None, Yc, seqs
    T = int(seqs.lengths.max())
    x = np.zeros((T, len(seqs)) + (() if seqs.data.dtype == np.int64
                                   else (seqs.n_features,)), seqs.data.dtype)
    for i in range(len(seqs)):
        part = seqs.data[seqs.offsets[i]:seqs.offsets[i + 1]]
        x[:seqs.lengths[i], i] = part[:, 0] if x.ndim == 2 else part
    return x, seqs.lengths.copy(), Yc, seqs


CASES = {
    "lstm-bi-stacked-embed": dict(cell="lstm", bidirectional=True,
                                  hidden_sizes=(3, 2), decoder_sizes=(2, 3),
                                  embedding_size=2, peepholes=True),
    "gru-bi-onehot": dict(cell="gru", bidirectional=True),
    "elman-stacked": dict(cell="elman", hidden_sizes=(2, 3),
                          embedding_size=3),
}


def _fd_check(m, x, x_lengths, Yc, n_checks=30):
    params = {k: v.astype(np.float64).copy() for k, v in m._net.views.items()}
    config = _config(m)
    _, grads = ref.seq2seq_loss(params, config, x, Yc, x_lengths)
    assert set(grads) == set(params)
    rng = np.random.default_rng(0)
    names = sorted(params)
    eps = 1e-6
    for name in names:           # a few entries of every tensor
        flat = params[name].reshape(-1)
        for i in rng.choice(flat.size, min(flat.size, 3), replace=False):
            old = flat[i]
            flat[i] = old + eps
            up, _ = ref.seq2seq_loss(params, config, x, Yc, x_lengths)
            flat[i] = old - eps
            down, _ = ref.seq2seq_loss(params, config, x, Yc, x_lengths)
            flat[i] = old
            num = (up - down) / (2 * eps)
            assert grads[name].reshape(-1)[i] == pytest.approx(
                num, rel=1e-5, abs=1e-7), name


@pytest.mark.parametrize("case", sorted(CASES))
def test_reference_gradients_by_finite_differences(case):
    m = _tiny(WORDS, [w[::-1] + "d" for w in WORDS], **CASES[case])
    x, x_lengths, Yc, _ = _reference_inputs(m, WORDS[:4],
                                            [w[::-1] + "d" for w in WORDS[:4]])
    _fd_check(m, x, x_lengths, Yc)


def test_reference_gradients_one_to_many():
    V = np.random.default_rng(2).normal(size=(4, 3))
    Y = ["ab", "b", "bba", "a"]
    m = _tiny(V, Y, cell="lstm", decoder_sizes=(2, 2), embedding_size=2)
    x, _, Yc, _ = _reference_inputs(m, V, Y)
    _fd_check(m, x, None, Yc)


def _c_gradient(m, X, Y):
    seqs = m._check_inputs(X, reset=False)
    from seqnet.seq2seq import _Targets
    from seqnet._base import _SequenceData
    targets = _Targets(m._encode_targets_of(
        m._check_targets(Y, len(seqs), reset=False)))
    idx = np.arange(len(seqs))
    run = m._make_run(int(seqs.lengths.max()),
                      int(targets.lengths.max()) + 1, len(idx), True)
    loss, count = m._loss_and_gradient(
        run, _SequenceData(seqs, targets, None, None), idx)
    return loss, {k: v * count for k, v in m._net.named(run.grads).items()}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", sorted(CASES) + ["numeric", "one-to-many"])
def test_c_path_matches_reference(case, dtype):
    rng = np.random.default_rng(3)
    if case == "numeric":
        X = [rng.normal(size=(n, 2)) for n in (3, 1, 4, 2, 4)]
        kw = dict(cell="lstm", bidirectional=True, hidden_sizes=(3, 2))
    elif case == "one-to-many":
        X = rng.normal(size=(5, 3))
        kw = dict(cell="gru", decoder_sizes=(3, 2), embedding_size=2)
    else:
        X, kw = WORDS, CASES[case]
    Y = [w[::-1] + "d" for w in WORDS][:len(X)]
    m = _tiny(X, Y, dtype=dtype, **kw)
    x, x_lengths, Yc, _ = _reference_inputs(m, X, Y)
    # The reference in float64 from the model's own (maybe float32) weights.
    params = {k: v.astype(np.float64) for k, v in m._net.views.items()}
    want_loss, want = ref.seq2seq_loss(params, _config(m),
                                       x if x.dtype == np.int64
                                       else x.astype(np.float64), Yc,
                                       x_lengths)
    loss, got = _c_gradient(m, X, Y)
    tight = dtype == "float64"
    assert loss == pytest.approx(want_loss, rel=1e-10 if tight else 1e-5)
    for name in want:
        np.testing.assert_allclose(got[name], want[name],
                                   rtol=1e-8 if tight else 1e-3,
                                   atol=1e-11 if tight else 1e-5,
                                   err_msg=name)


def test_decoding_in_small_chunks_changes_nothing(monkeypatch):
    from seqnet import seq2seq
    rng = np.random.default_rng(4)
    X = ["".join(rng.choice(list("abc"), rng.integers(1, 5)))
         for _ in range(30)]
    m = _tiny(X, [x[::-1] for x in X], scale=1.0, seed=7,
              max_output_length=6)
    whole = [m.predict(X, beam_width=k) for k in (1, 3)]
    monkeypatch.setattr(seq2seq, "_DECODE_CHUNK", 4)
    assert [m.predict(X, beam_width=k) for k in (1, 3)] == whole


# ------------------------------------------------------------ decoding

def _states(m, X):
    x, x_lengths, _, _ = _reference_inputs(m, X, ["a"] * len(X))
    params = {k: v.copy() for k, v in m._net.views.items()}
    return params, ref.initial_states(params, _config(m), x, x_lengths)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_greedy_and_beam_match_plain_python_search(cell):
    Y = ["abc", "d", "ba", "a", "aab", "bd", "ca", "a"]
    # Weights under which beam search and greedy disagree on some samples.
    m = _tiny(WORDS, Y, cell=cell, hidden_sizes=(4,), embedding_size=3,
              max_output_length=5, scale=1.0, seed=7)
    params, states = _states(m, WORDS)
    config = _config(m)
    seqs = m._check_inputs(WORDS, reset=False)
    idx = np.arange(len(WORDS))
    for width in (1, 2, 3, 5):
        codes, lengths, scores = m._decode(seqs, idx, width)
        for i, state in enumerate(states):
            want, score = ref.beam_search(params, config, state, 5, width)
            assert list(codes[i, :lengths[i]]) == want, (width, i)
            assert scores[i] == pytest.approx(score, rel=1e-12)
        if width == 1:
            greedy = [list(codes[i, :lengths[i]]) for i in idx]
            for i, state in enumerate(states):
                want, _ = ref.greedy(params, config, state, 5)
                assert greedy[i] == want
        elif width == 3:
            assert any(list(codes[i, :lengths[i]]) != greedy[i] for i in idx)


def test_ties_and_max_length_follow_the_documented_rule():
    Y = ["ab", "b", "ba", "a", "aab", "bb", "ba", "a"]
    m = _tiny(WORDS, Y, hidden_sizes=(3,), max_output_length=4)
    dec = m._net.decoder
    dec.views["output.V"][...] = 0
    # Codes 1 and 2 tie above the end token: never ends, lowest code wins.
    dec.views["output.c"][...] = [-1.0, 2.0, 2.0]
    params, states = _states(m, WORDS[:2])
    seqs = m._check_inputs(WORDS[:2], reset=False)
    for width in (1, 2, 4):
        codes, lengths, _ = m._decode(seqs, np.arange(2), width)
        assert list(lengths) == [4, 4]
        want, _ = ref.beam_search(params, _config(m), states[0], 4, width)
        assert list(codes[0, :4]) == want == [1, 1, 1, 1]
    assert m.predict(WORDS[:1]) == ["aaaa"]
    # The end token first: empty outputs.
    dec.views["output.c"][...] = [3.0, 2.0, 2.0]
    assert m.predict(WORDS[:2], beam_width=3) == ["", ""]


def test_greedy_equals_argmax_stepping_through_stack_step():
    m = _tiny(WORDS, [w[::-1] for w in WORDS], cell="lstm",
              hidden_sizes=(4, 3), embedding_size=None, max_output_length=6)
    seqs = m._check_inputs(WORDS, reset=False)
    h0, c0 = m._initial_states(seqs, np.arange(len(WORDS)))
    codes, lengths, _ = m._decode(seqs, np.arange(len(WORDS)), 1)
    dec = m._net.decoder
    stack = m._net.stack
    ws = np.empty(stack.workspace_size(len(WORDS)), np.uint8)
    h, c = h0.copy(), c0.copy()
    top = np.empty((len(WORDS), stack.top))
    code = np.zeros(len(WORDS), np.int64)
    done = np.zeros(len(WORDS), bool)
    out = [[] for _ in WORDS]
    for _ in range(6):
        _kernels.stack_step(top, h, c, code, stack, ws)
        z = top @ dec.views["output.V"] + dec.views["output.c"]
        code = z.argmax(axis=1).astype(np.int64)
        for i in range(len(WORDS)):
            if not done[i]:
                if code[i] == 0:
                    done[i] = True
                else:
                    out[i].append(int(code[i]))
    for i in range(len(WORDS)):
        assert list(codes[i, :lengths[i]]) == out[i]


def test_beam_never_scores_below_greedy_and_one_equals_batch():
    rng = np.random.default_rng(5)
    X = ["".join(rng.choice(list("abcd"), rng.integers(1, 6)))
         for _ in range(40)]
    Y = [x[::-1] for x in X]
    m = SequenceToSequence(hidden_sizes=(16,), max_epochs=5,
                           learning_rate=0.02, random_state=0)
    with pytest.warns(Warning):
        m.fit(X, Y)
    greedy = m.decode_scores(X)
    for width in (2, 4):
        beam = m.decode_scores(X, beam_width=width)
        assert np.all(beam >= greedy)
        batch = m.predict(X, beam_width=width)
        assert [m.predict([x], beam_width=width)[0] for x in X[:6]] == \
            batch[:6]
    assert m.predict(X, beam_width=1) == m.predict(X)


# ------------------------------------------------------ the estimator

def _data():
    rng = np.random.default_rng(0)
    X = [rng.normal(size=(int(n), 2)) for n in rng.integers(1, 6, 30)]
    Y = ["ab"[int(x[0, 0] > 0)] * len(x) for x in X]
    return X, Y


def test_learns_reversal_and_outputs_of_ys_kind():
    rng = np.random.default_rng(0)
    X = ["".join(rng.choice(list("abc"), rng.integers(1, 5)))
         for _ in range(300)]
    Y = [list(x[::-1]) for x in X]
    m = SequenceToSequence(hidden_sizes=(32,), max_epochs=40,
                           learning_rate=0.02, embedding_size=8,
                           random_state=0, early_stopping=True,
                           n_iter_no_change=40)
    with pytest.warns(Warning):
        m.fit(X, Y)
    pred = m.predict(X[:5])
    assert all(isinstance(p, list) for p in pred)
    assert m.score(X, Y) > 0.8
    assert m.best_validation_score_ is not None
    assert m.log_likelihood(X, Y) > -0.5


def test_one_to_many_learns_a_vector_to_a_word():
    rng = np.random.default_rng(0)
    words = ["one", "two", "three", "four"]
    labels = rng.integers(0, 4, 200)
    V = np.eye(4)[labels] + rng.normal(0, 0.1, (200, 4))
    Y = [words[i] for i in labels]
    m = SequenceToSequence(hidden_sizes=(16,), max_epochs=30,
                           learning_rate=0.02, random_state=0)
    with pytest.warns(Warning):
        m.fit(V, Y)
    assert m.score(V, Y) > 0.9
    assert isinstance(m.predict(V[:1])[0], str)
    with pytest.raises(ValueError, match="bidirectional"):
        clone(m).set_params(bidirectional=True).fit(V, Y)


def test_clone_pickle_and_grid_search():
    X, Y = _data()
    m = SequenceToSequence(hidden_sizes=(8,), max_epochs=3, random_state=0)
    with pytest.warns(Warning):
        m.fit(X, Y)
    back = pickle.loads(pickle.dumps(m))
    assert back.predict(X) == m.predict(X)
    np.testing.assert_array_equal(back._net.params, m._net.params)
    assert clone(m).get_params() == m.get_params()
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search = GridSearchCV(SequenceToSequence(max_epochs=2,
                                                 random_state=0),
                              {"hidden_sizes": [(4,), (8,)]}, cv=2)
        search.fit(X, Y)
    assert len(search.predict(X)) == len(X)


def test_same_seed_same_model_for_any_thread_count():
    X, Y = _data()
    params = []
    for n_jobs in (1, 2, 3):
        m = SequenceToSequence(hidden_sizes=(8, 8), bidirectional=True,
                               dropout=0.2, max_epochs=2, random_state=0,
                               n_jobs=n_jobs)
        with pytest.warns(Warning):
            m.fit(X, Y)
        params.append((m._net.params.copy(), m.predict(X, beam_width=3)))
    for p, pred in params[1:]:
        np.testing.assert_array_equal(p, params[0][0])
        assert pred == params[0][1]


def test_partial_fit_and_max_time():
    X, Y = _data()
    m = SequenceToSequence(hidden_sizes=(4,), random_state=0)
    m.partial_fit(X, Y)
    m.partial_fit(X, Y)
    assert m.n_iter_ == 2
    m = SequenceToSequence(hidden_sizes=(4,), max_epochs=10**6,
                           max_time=0.3, random_state=0).fit(X, Y)
    assert m.n_iter_ < 10**6


def test_bad_input():
    X, Y = _data()
    m = SequenceToSequence(hidden_sizes=(4,), max_epochs=1)
    with pytest.raises(ValueError, match="30 samples"):
        m.fit(X, Y[:-1])
    with pytest.raises(ValueError, match="empty"):
        m.fit(X, Y[:-1] + [""])
    with pytest.raises(TypeError, match="mixes"):
        m.fit(X, Y[:-1] + [["a", "b"]])
    with pytest.warns(Warning):
        m.fit(X, Y)
    with pytest.raises(ValueError, match="beam_width"):
        m.predict(X, beam_width=0)
    with pytest.raises(ValueError, match="one vector per sample"):
        m.predict(np.zeros((2, 2)))
    V = np.zeros((30, 2))
    with pytest.warns(Warning):
        m.fit(V, Y)
    with pytest.raises(ValueError, match="one vector per sample"):
        m.predict(X)
    with pytest.raises(ValueError, match="beam_width"):
        SequenceToSequence(beam_width=0).fit(X, Y)


def test_load_cmudict():
    from importlib import resources
    from seqnet.datasets import load_cmudict
    data = load_cmudict()
    assert (len(data.X_train), len(data.X_test)) == (5000, 1000)
    assert all(isinstance(w, str) and 3 <= len(w) <= 8 for w in data.X_train)
    phones = {p for y in data.Y_train + data.Y_test for p in y}
    assert len(phones) == 39 and not any(ch.isdigit() for p in phones
                                         for ch in p)
    licence = resources.files("seqnet.datasets").joinpath(
        "data", "cmudict_LICENSE.txt").read_text()
    assert "Carnegie Mellon University" in licence


def test_pronounce_command(capsys):
    from seqnet.__main__ import main
    assert main(["pronounce", "--seconds", "0.5", "--hidden", "8",
                 "--threads", "1", "cat"]) == 0
    out = capsys.readouterr().out
    assert "test exact match: greedy" in out
    assert out.rstrip().splitlines()[-1].split()[0] == "cat"


INTERRUPT_SCRIPT = """
import json, os, signal, threading, time, warnings
import numpy as np
warnings.simplefilter("ignore")
from seqnet import SequenceToSequence
from _child import catch_ctrl_c, interrupted
catch_ctrl_c()

rng = np.random.default_rng(0)
X = ["".join(rng.choice(list("abcdef"), rng.integers(3, 12)))
     for _ in range(400)]
Y = [x[::-1] for x in X]
model = SequenceToSequence(hidden_sizes=(64,), max_epochs=10_000,
                           n_iter_no_change=10_000, random_state=0)
report = {"fit": interrupted(lambda: model.fit(X, Y), 0.5),
          "unfitted": "_net" not in vars(model)}
model.set_params(max_epochs=1).fit(X, Y)
many = X * 200
report["predict"] = interrupted(lambda: model.predict(many, beam_width=8),
                                0.5)
report["fitted"] = "_net" in vars(model)
print(json.dumps(report))
"""


def test_ctrl_c_stops_fit_and_decoding_quickly():
    import json
    import os
    import subprocess
    import sys
    tests = os.path.dirname(os.path.abspath(__file__))
    proc = subprocess.run([sys.executable, "-c", INTERRUPT_SCRIPT],
                          capture_output=True, text=True, timeout=120,
                          cwd=os.path.expanduser("~"),
                          env={**os.environ, "PYTHONPATH": tests})
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["unfitted"] and report["fitted"]
    assert report["fit"] < 1.0 and report["predict"] < 1.0, report


def test_what_it_does_not_do_yet_says_so(tmp_path):
    import seqnet
    X = ["ab", "ba", "abc", "c"] * 2
    m = SequenceToSequence(hidden_sizes=(3,), max_epochs=1, random_state=0)
    with pytest.warns(Warning):
        m.fit(X, [x[::-1] for x in X])
    with pytest.raises(TypeError, match="save does not store a "
                       "SequenceToSequence"):
        m.save(tmp_path / "m")
    with pytest.raises(NotImplementedError, match="partial_fit"):
        m.train_batches(X, X, n_batches=1)
    pytest.importorskip("onnx")
    with pytest.raises(TypeError, match="does not export SequenceToSequence"):
        seqnet.to_onnx(m)
