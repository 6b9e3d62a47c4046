"""CharRNN: vocabulary, bad input, streams and document resets, truncated
BPTT, score against the NumPy reference, sampling, persistence, training
controls.

The models are tiny (16 or 16+8 units, texts of a few hundred characters)
so that the whole file runs in seconds.  Exact comparisons use float64.
"""
import math
import pickle
import time
import warnings

import joblib
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.stats import chi2
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from seqnet import CharRNN, SequenceTagger, StreamState
from seqnet import _reference as ref
from seqnet.text import _Streams

# The models here are tiny and trained for a few epochs on purpose.
pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")

PANGRAM = "the quick brown fox jumps over the lazy dog.\n"
TEXT = PANGRAM * 4
# Two documents over the same characters (so a model fitted on either one
# has the same vocabulary), none of which appears only in first position.
DOC1 = "abcd dcba abba cddc\nbad cab dab\n" * 2
DOC2 = "dcba\ncab bad dab add\nabcd abba c\n" * 2


def char_rnn(**params):
    base = dict(hidden_sizes=(16,), max_epochs=2, batch_size=4,
                tbptt_length=8, learning_rate=0.01, random_state=0,
                dtype="float64")
    base.update(params)
    return CharRNN(**base)


@pytest.fixture(scope="module")
def fitted():
    """A small fitted float64 model (two layers) and its text."""
    return char_rnn(hidden_sizes=(16, 8), max_epochs=3).fit(TEXT)


def params_of(model):
    return {k: v.copy() for k, v in model.parameters_.items()}


def assert_same_params(a, b, rtol=0.0):
    pa, pb = a.parameters_, b.parameters_
    assert pa.keys() == pb.keys()
    for name in pa:
        if rtol == 0:
            assert_array_equal(pa[name], pb[name], err_msg=name)
        else:
            assert_allclose(pa[name], pb[name], rtol=rtol, atol=1e-14,
                            err_msg=name)


# ------------------------------------------------------------ vocabulary


def test_vocabulary_is_the_sorted_characters_of_the_text():
    model = char_rnn(max_epochs=1).fit(["cab", "bad\n"])
    assert model.vocabulary_ == "\nabcd"
    assert_array_equal(model.classes_, np.array(["\n", "a", "b", "c", "d"]))
    assert model.n_features_in_ == 5
    P = model.parameters_
    assert P["layer0.forward.W"].shape == (5, 4 * 16)
    assert P["output.V"].shape == (16, 5)


def test_unseen_characters_at_score_time_are_dropped_with_a_warning(fitted):
    with pytest.warns(UserWarning, match=r"dropped: 'XZ'"):
        with_unknown = fitted.score("the Xlazy dogZ jumps")
    assert with_unknown == fitted.score("the lazy dog jumps")


def test_unseen_characters_in_the_prime_are_dropped_with_a_warning(fitted):
    with pytest.warns(UserWarning, match=r"dropped: '!Q'"):
        text = fitted.sample(5, prime="Qthe! ", random_state=0)
    assert text == fitted.sample(5, prime="the ", random_state=0)
    assert text.startswith("the ")


def test_a_text_of_only_unseen_characters_cannot_be_scored(fitted):
    with pytest.warns(UserWarning, match="dropped"):
        with pytest.raises(ValueError, match="two known characters"):
            fitted.score("XYZ")


def test_partial_fit_keeps_the_vocabulary_of_the_first_call():
    model = char_rnn()
    model.partial_fit("abcabc")
    assert model.vocabulary_ == "abc"
    shapes = {k: v.shape for k, v in model.parameters_.items()}
    with pytest.warns(UserWarning, match=r"dropped: 'xz'"):
        model.partial_fit("abxczabc")
    assert model.vocabulary_ == "abc"
    assert {k: v.shape for k, v in model.parameters_.items()} == shapes
    assert model.n_iter_ == 2
    assert len(model.loss_curve_) == 2


def test_warm_start_keeps_the_vocabulary_and_a_new_fit_rebuilds_it():
    model = char_rnn(max_epochs=1, warm_start=True).fit("abcabc")
    with pytest.warns(UserWarning, match="dropped"):
        model.fit("abcdabcd")
    assert model.vocabulary_ == "abc"
    model.set_params(warm_start=False).fit("abcdabcd")
    assert model.vocabulary_ == "abcd"


# ------------------------------------------------------------- bad input


@pytest.mark.parametrize("text", [123, b"bytes", ["ab", 3], ("ab", None),
                                  np.array(["ab", "cd"])])
def test_fit_rejects_what_is_not_text(text):
    with pytest.raises(TypeError, match="str or a list of str"):
        char_rnn().fit(text)


@pytest.mark.parametrize("text", ["", [], ["", ""]])
def test_fit_rejects_empty_text(text):
    with pytest.raises(ValueError, match="empty"):
        char_rnn().fit(text)


def test_fit_needs_two_characters_in_one_document():
    with pytest.raises(ValueError, match="two known characters"):
        char_rnn().fit(["a", "b", "c"])


@pytest.mark.parametrize("method", ["score", "perplexity"])
def test_score_rejects_what_is_not_text(fitted, method):
    with pytest.raises(TypeError):
        getattr(fitted, method)(["the", 1])
    with pytest.raises(ValueError, match="empty"):
        getattr(fitted, method)("")


@pytest.mark.parametrize("n_chars", [-1, 2.5, "3", None])
def test_sample_rejects_a_bad_n_chars(fitted, n_chars):
    with pytest.raises(ValueError, match="n_chars"):
        fitted.sample(n_chars)


@pytest.mark.parametrize("temperature", [-0.1, -1, float("nan"), "1", None])
def test_sample_rejects_a_bad_temperature(fitted, temperature):
    with pytest.raises(ValueError, match="temperature"):
        fitted.sample(3, temperature=temperature)


@pytest.mark.parametrize("prime", [["t", "h"], 5, None])
def test_sample_rejects_a_prime_that_is_not_a_str(fitted, prime):
    with pytest.raises(TypeError, match="prime"):
        fitted.sample(3, prime=prime)


@pytest.mark.parametrize("call", [
    lambda m: m.sample(3), lambda m: m.score("abc"),
    lambda m: m.perplexity("abc"), lambda m: m.step("a"),
    lambda m: m.initial_state(1)])
def test_using_an_unfitted_model_raises_not_fitted(call):
    with pytest.raises(NotFittedError):
        call(char_rnn())


@pytest.mark.parametrize("params", [
    dict(tbptt_length=0), dict(tbptt_length=None), dict(max_time=0),
    dict(batch_size=0), dict(cell="rnn"), dict(bidirectional=True)])
def test_bad_parameters_are_rejected(params):
    with pytest.raises((ValueError, TypeError)):
        char_rnn(**params).fit(TEXT)


# ------------------------------------------------- streams and documents


def _walk(docs, n, length):
    """Run _Streams as CharRNN._run_streams does; return the chunks as
    (stream, start, count, reset) and the streams object."""
    streams = _Streams([np.asarray(d, np.int64) for d in docs], n)
    chunks = []
    while True:
        idx, starts, counts = streams.next_chunk(length)
        if len(idx) == 0:
            break
        assert np.all(counts >= 1) and np.all(counts <= length)
        assert len(np.unique(idx)) == len(idx)
        resets = streams.reset[idx].copy()
        streams.reset[idx] = False
        chunks += list(zip(idx.tolist(), starts.tolist(), counts.tolist(),
                           resets.tolist()))
    return chunks, streams


@pytest.mark.parametrize("lengths", [[40], [10, 7, 13], [2, 2, 2],
                                     [1, 9, 1, 1, 6], [25, 3]])
@pytest.mark.parametrize("n", [1, 2, 3, 5, 64])
@pytest.mark.parametrize("length", [1, 4, 50])
def test_streams_produce_every_pair_of_every_document_once(lengths, n,
                                                           length):
    docs = [np.arange(k) + 1000 * i for i, k in enumerate(lengths)]
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    doc_of = np.repeat(np.arange(len(lengths)), lengths)
    chunks, streams = _walk(docs, n, length)
    assert len(streams.pos) == max(1, min(n, sum(lengths) // 2))

    inputs = []
    previous_end = {}
    for s, start, count, reset in chunks:
        # A chunk never crosses a document boundary: its inputs and their
        # targets lie in one document.
        assert doc_of[start] == doc_of[start + count]
        inputs += range(start, start + count)
        # The state restarts exactly when the stream starts a document
        # (or its first chunk); otherwise the chunk continues the last one.
        starts_document = start in bounds
        assert reset == (s not in previous_end or starts_document)
        if not reset:
            assert start == previous_end[s]
        previous_end[s] = start + count

    expected = [i for i in range(sum(lengths)) if i + 1 not in bounds]
    assert sorted(inputs) == expected


def test_streams_cover_the_same_pairs_as_the_documents():
    docs = [np.array([5, 1, 2, 3]), np.array([7, 8]), np.array([9, 4, 6])]
    chunks, streams = _walk(docs, 3, 2)
    pairs = sorted((streams.codes[a + t], streams.codes[a + t + 1])
                   for _, a, n, _ in chunks for t in range(n))
    assert pairs == sorted([(5, 1), (1, 2), (2, 3), (7, 8), (9, 4), (4, 6)])


def test_fitting_two_documents_resets_the_state_between_them():
    # One stream: the documents are read one after the other, the state
    # reset at the boundary -- exactly as feeding them in two calls, each
    # starting from a zero state (the optimiser carries on across calls).
    joint = char_rnn(batch_size=1, max_epochs=1, tbptt_length=5)
    joint.fit([DOC1, DOC2])
    apart = char_rnn(batch_size=1, max_epochs=1, tbptt_length=5)
    apart.partial_fit(DOC1).partial_fit(DOC2)
    assert joint.vocabulary_ == apart.vocabulary_
    assert joint._n_updates == apart._n_updates == \
        math.ceil((len(DOC1) - 1) / 5) + math.ceil((len(DOC2) - 1) / 5)
    assert_same_params(joint, apart)
    n1, n2 = len(DOC1) - 1, len(DOC2) - 1
    assert_allclose(joint.loss_curve_[0],
                    (n1 * apart.loss_curve_[0] + n2 * apart.loss_curve_[1])
                    / (n1 + n2), rtol=1e-12)
    # Without the reset (one document) the state would flow from one into
    # the other.
    concatenated = char_rnn(batch_size=1, max_epochs=1, tbptt_length=5)
    concatenated.fit(DOC1 + DOC2)
    assert not np.allclose(concatenated.parameters_["output.V"],
                           joint.parameters_["output.V"])


def _one_hot(model, doc):
    codes = np.array([model.vocabulary_.index(ch) for ch in doc])
    x = np.zeros((len(doc) - 1, len(model.vocabulary_)))
    x[np.arange(len(doc) - 1), codes[:-1]] = 1
    return x, codes[1:]


@pytest.mark.parametrize("cell", ["lstm", "gru", "elman"])
@pytest.mark.parametrize("tbptt_length", [6, 1000])
def test_training_carries_the_state_like_a_tagger_with_truncated_bptt(
        cell, tbptt_length):
    # Two documents of equal length in two streams: one stream per
    # document, each from a zero state, one update per chunk with the state
    # carried -- the truncated BPTT of a tagger fed (character -> next
    # character) sequences.
    doc2 = DOC2[:len(DOC1)]
    params = dict(cell=cell, hidden_sizes=(16, 8), batch_size=2,
                  max_epochs=1, tbptt_length=tbptt_length,
                  learning_rate=0.01, random_state=0, dtype="float64")
    model = CharRNN(**params).fit([DOC1, doc2])
    X, y = zip(*(_one_hot(model, d) for d in (DOC1, doc2)))
    tagger = SequenceTagger(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        tagger.fit(list(X), list(y))
    assert_array_equal(tagger.classes_, np.arange(len(model.vocabulary_)))
    assert model._n_updates == tagger._n_updates == \
        math.ceil((len(DOC1) - 1) / tbptt_length)
    assert_allclose(model.loss_curve_, tagger.loss_curve_, rtol=1e-12)
    assert_same_params(model, tagger, rtol=1e-10)


def test_truncated_chunks_differ_from_one_update_per_document():
    whole = char_rnn(batch_size=1, max_epochs=1, tbptt_length=1000).fit(DOC1)
    chunked = char_rnn(batch_size=1, max_epochs=1, tbptt_length=8).fit(DOC1)
    assert whole._n_updates == 1
    assert chunked._n_updates == math.ceil((len(DOC1) - 1) / 8)
    assert not np.allclose(whole.parameters_["output.V"],
                           chunked.parameters_["output.V"])


def test_one_update_per_epoch_when_a_chunk_holds_the_whole_text():
    # With a single chunk, epoch k's loss is computed (before its update)
    # with the weights left by epoch k - 1: the score of a model stopped
    # there.
    one = char_rnn(batch_size=1, max_epochs=1, tbptt_length=len(TEXT))
    two = char_rnn(batch_size=1, max_epochs=2, tbptt_length=len(TEXT))
    one.fit(TEXT)
    two.fit(TEXT)
    assert (one._n_updates, two._n_updates) == (1, 2)
    assert one.loss_curve_[0] == two.loss_curve_[0]
    assert_allclose(two.loss_curve_[1], -one.score(TEXT), rtol=1e-12)
    assert two.loss_curve_[1] < two.loss_curve_[0]


# ------------------------------------------------ score against NumPy


def reference_log_likelihood(model, doc):
    """Mean log-likelihood of every next character of doc, from the
    reference cells run over the whole text as one sequence (B=1), in
    float64."""
    P = {k: v.astype(np.float64) for k, v in model.parameters_.items()}
    x, targets = _one_hot(model, doc)
    inp = x[:, None, :]
    lengths = np.array([len(x)])
    for layer, H in enumerate(model._net.hidden_sizes):
        W, U, b = (P[f"layer{layer}.forward.{k}"] for k in "WUb")
        h0 = np.zeros((1, H))
        if model.cell == "lstm":
            p = P.get(f"layer{layer}.forward.p")
            inp = ref.lstm_forward(inp, h0, h0, W, U, b, p, lengths)[0]
        elif model.cell == "gru":
            bh = P[f"layer{layer}.forward.bh"]
            inp = ref.gru_forward(inp, h0, W, U, b, bh, lengths)[0]
        else:
            inp = ref.elman_forward(inp, h0, W, U, b, lengths,
                                    model.activation)[0]
    loss = ref.softmax_xent(inp[:, 0], P["output.V"], P["output.c"],
                            targets)[0]
    return -loss / len(targets)


@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-10),
                                         ("float32", 1e-5)])
@pytest.mark.parametrize("cell, extra", [
    ("lstm", {}), ("lstm", dict(peepholes=True)), ("gru", {}),
    ("elman", {}), ("elman", dict(activation="softsign"))])
def test_score_matches_the_numpy_reference(cell, extra, dtype, rtol):
    # tbptt_length=7 cuts the scored text into chunks: the state must be
    # carried across them to match one pass of the reference.
    model = char_rnn(cell=cell, hidden_sizes=(16, 8), dtype=dtype,
                     tbptt_length=7, **extra).fit(TEXT)
    doc = "the lazy dog jumps over the quick brown fox.\nthe end"
    expected = reference_log_likelihood(model, doc)
    assert_allclose(model.score(doc), expected, rtol=rtol)
    assert_allclose(model.perplexity(doc), math.exp(-expected), rtol=rtol)


def test_score_reads_each_document_from_a_zero_state(fitted):
    d1, d2 = "the lazy dog.\n", "jumps over the fox"
    n1, n2 = len(d1) - 1, len(d2) - 1
    joint = fitted.score([d1, d2])
    assert_allclose(joint, (n1 * fitted.score(d1) + n2 * fitted.score(d2))
                    / (n1 + n2), rtol=1e-12)
    assert_allclose(fitted.score(d1),
                    reference_log_likelihood(fitted, d1), rtol=1e-10)
    # The concatenation carries the state across (and scores one more
    # character): not the same.
    assert abs(fitted.score(d1 + d2) - joint) > 1e-6
    # One-character documents have nothing to predict and are skipped.
    assert fitted.score([d1, "t", d2]) == joint


def test_perplexity_is_exp_of_minus_score(fitted):
    for text in [TEXT, "the dog", ["over", "the fox"]]:
        assert_allclose(fitted.perplexity(text), math.exp(-fitted.score(text)),
                        rtol=1e-14)
    # A model that has learned something beats the uniform guess.
    assert fitted.perplexity(TEXT) < len(fitted.vocabulary_)


# -------------------------------------------------------------- sampling


def test_same_seed_same_sample_and_different_seeds_differ(fitted):
    a = fitted.sample(200, prime="the ", random_state=0)
    assert a == fitted.sample(200, prime="the ", random_state=0)
    assert a == fitted.sample(200, prime="the ",
                              random_state=np.random.RandomState(0))
    b = fitted.sample(200, prime="the ", random_state=1)
    assert a != b
    assert len(a) == len(b) == 204
    assert set(a) <= set(fitted.vocabulary_)


def test_greedy_sampling_ignores_the_seed(fitted):
    samples = {fitted.sample(60, prime="the ", temperature=0,
                             random_state=seed) for seed in (0, 1, 2, None)}
    assert len(samples) == 1


def test_the_prime_is_returned_as_the_prefix(fitted):
    text = fitted.sample(30, prime="over the", random_state=3)
    assert text.startswith("over the")
    assert len(text) == len("over the") + 30
    assert fitted.sample(0, prime="over the") == "over the"
    assert fitted.sample(0) == ""


def greedy_by_step(model, prime, n):
    """Greedy decoding with the public step API, one character at a time."""
    state = model.initial_state(1)
    for ch in prime or "\n":
        probs, state = model.step(ch, state)
    out = []
    for _ in range(n):
        code = int(np.argmax(probs[0]))
        out.append(model.vocabulary_[code])
        probs, state = model.step([code], state)
    return prime + "".join(out)


@pytest.mark.parametrize("cell", ["lstm", "gru", "elman"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_greedy_sample_matches_stepping_from_the_prime(cell, dtype):
    model = char_rnn(cell=cell, hidden_sizes=(16, 8), dtype=dtype,
                     max_epochs=4).fit(TEXT)
    for prime in ["the qu", "o", ""]:
        assert model.sample(40, prime=prime, temperature=0) == \
            greedy_by_step(model, prime, 40)


def test_a_tiny_temperature_is_greedy(fitted):
    assert fitted.sample(40, prime="the ", temperature=1e-6,
                         random_state=5) == \
        fitted.sample(40, prime="the ", temperature=0)


@pytest.fixture(scope="module")
def trained():
    """A float64 model that has learned the pangram (loss < 0.1 nats)."""
    model = char_rnn(max_epochs=40, learning_rate=0.03).fit(TEXT)
    assert model.loss_curve_[-1] < 0.1
    return model


@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.0])
def test_sampling_draws_from_the_tempered_distribution(trained,
                                                       temperature):
    # The first character drawn after the prime, over many seeds, follows
    # softmax(logits / temperature) of the step that reads the prime.
    # After "o" the trained model hesitates (its top probability is about
    # 0.25), so the temperature matters.
    probs, _ = trained.step("o")
    p = probs[0] ** (1 / temperature)
    p /= p.sum()
    n = 3000
    counts = np.zeros(len(p))
    for seed in range(n):
        ch = trained.sample(1, prime="o", temperature=temperature,
                            random_state=seed)[-1]
        counts[trained.vocabulary_.index(ch)] += 1
    # Pearson's chi-squared test, the rare characters pooled in one cell.
    expected = n * p
    common = expected >= 5
    observed, expected = counts[common], expected[common]
    if not common.all():
        observed = np.append(observed, counts[~common].sum())
        expected = np.append(expected, n * p[~common].sum())
    stat = np.sum((observed - expected) ** 2 / expected)
    assert chi2.sf(stat, len(observed) - 1) > 1e-6


def test_a_trained_model_writes_what_it_learned(trained):
    assert trained.sample(44, prime="the q", temperature=0).startswith(
        "the quick brown fox jumps over the lazy dog.")


def test_sample_does_not_change_the_model(fitted):
    before = params_of(fitted)
    fitted.sample(50, prime="the ", random_state=0)
    for name, value in fitted.parameters_.items():
        assert_array_equal(value, before[name])


# --------------------------------------------------------- stepping API


def test_step_reads_characters_or_codes_for_several_streams(fitted):
    probs, state = fitted.step("th")
    assert isinstance(state, StreamState)
    assert state.n_streams == 2 and probs.shape == (2, len(fitted.vocabulary_))
    assert_allclose(probs.sum(axis=1), 1, rtol=1e-12)
    codes = [fitted.vocabulary_.index(ch) for ch in "th"]
    probs_codes, _ = fitted.step(np.array(codes))
    assert_array_equal(probs, probs_codes)
    # Streams are independent: stream 1 alone gives the same row.
    assert_array_equal(fitted.step("h")[0][0], probs[1])


def test_step_rejects_unknown_characters_and_bad_codes(fitted):
    state = fitted.initial_state(2)
    with pytest.raises(ValueError, match="'X'"):
        fitted.step("tX", state)
    with pytest.raises(ValueError, match="each of 2 streams"):
        fitted.step("t", state)
    for codes in ([-1, 0], [0, len(fitted.vocabulary_)], [[0, 1]], [0.5, 1]):
        with pytest.raises(ValueError):
            fitted.step(np.array(codes), state)
    with pytest.raises(TypeError, match="StreamState"):
        fitted.step("t", (state.h, state.c))


# ----------------------------------------------------------- persistence


@pytest.mark.parametrize("dump", ["pickle", "joblib"])
def test_a_fitted_model_survives_a_round_trip(fitted, dump, tmp_path):
    if dump == "pickle":
        copy = pickle.loads(pickle.dumps(fitted))
    else:
        joblib.dump(fitted, tmp_path / "model.joblib")
        copy = joblib.load(tmp_path / "model.joblib")
    assert copy.vocabulary_ == fitted.vocabulary_
    assert copy.sample(100, prime="the", random_state=0) == \
        fitted.sample(100, prime="the", random_state=0)
    assert copy.score(TEXT) == fitted.score(TEXT)
    assert_same_params(copy, fitted)
    # It can carry on training, as the original would.
    original = pickle.loads(pickle.dumps(fitted))
    copy.partial_fit(TEXT)
    original.partial_fit(TEXT)
    assert_same_params(copy, original)


# ------------------------------------------------------ training controls


def test_early_stopping_records_the_validation_loss_and_keeps_the_best():
    # One stream reads the held-out tail of the text from a zero state, as
    # score does, so the restored weights score the best validation loss.
    model = char_rnn(batch_size=1, max_epochs=5, early_stopping=True,
                     validation_fraction=0.25, n_iter_no_change=10, tol=0,
                     learning_rate=0.05)
    model.fit(TEXT)
    curve = model.validation_loss_curve_
    assert len(curve) == len(model.loss_curve_) == model.n_iter_ == 5
    assert all(np.isfinite(curve))
    held_out = TEXT[len(TEXT) - int(len(TEXT) * 0.25):]
    assert_allclose(-model.score(held_out), min(curve), rtol=1e-12)


def test_without_early_stopping_there_is_no_validation_curve():
    model = char_rnn().fit(TEXT)
    assert model.validation_loss_curve_ == []
    assert len(model.loss_curve_) == model.n_iter_ == 2


def test_early_stopping_stops_when_the_validation_loss_stalls():
    model = char_rnn(max_epochs=50, early_stopping=True, n_iter_no_change=1,
                     tol=10.0).fit(TEXT)
    assert model.n_iter_ == 2


def test_max_time_stops_training():
    text = PANGRAM * 40
    start = time.perf_counter()
    model = char_rnn(max_epochs=100_000, max_time=0.3).fit(text)
    elapsed = time.perf_counter() - start
    assert 1 <= model.n_iter_ < 100_000
    assert elapsed < 5
    assert model.chars_per_second_ > 0


def test_verbose_prints_losses_and_characters_per_second(capsys):
    char_rnn(verbose=1, early_stopping=True).fit(TEXT)
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("epoch")]
    assert len(lines) == 2
    assert all("chars/s" in line and "validation loss" in line
               for line in lines)
    char_rnn(verbose=0).fit(TEXT)
    assert capsys.readouterr().out == ""


def test_the_thread_count_does_not_change_the_result():
    # Big enough for the kernels to split work across threads: 16 streams,
    # 64 units, chunks of 32 steps.
    text = PANGRAM * 60
    runs = []
    for n_jobs in (1, 2):
        model = CharRNN(hidden_sizes=(64,), batch_size=16, tbptt_length=32,
                        max_epochs=2, random_state=0, n_jobs=n_jobs)
        model.fit(text)
        runs.append((model.loss_curve_, model.parameters_["output.V"].copy(),
                     model.sample(200, prime="the ", random_state=0),
                     model.score(text[:500])))
    assert runs[0][0] == runs[1][0]
    assert_array_equal(runs[0][1], runs[1][1])
    assert runs[0][2] == runs[1][2]
    assert runs[0][3] == runs[1][3]


def test_training_lowers_the_loss():
    model = char_rnn(max_epochs=8, learning_rate=0.02).fit(TEXT)
    assert model.loss_curve_[-1] < 0.8 * model.loss_curve_[0]
    assert model.loss_curve_[0] == pytest.approx(
        math.log(len(model.vocabulary_)), rel=0.1)


def test_a_long_sample_made_in_pieces_is_the_sample_of_one_call(monkeypatch):
    # sample() runs its prime and its draws in pieces (so that Ctrl-C is
    # seen between them), each starting from the last code drawn with the
    # draw counter carried on: pieces of any size give the same text.
    import seqnet.text
    model = char_rnn(max_epochs=2).fit(TEXT)
    prime = TEXT[:50]
    whole = model.sample(300, prime=prime, temperature=0.9, random_state=3)
    for size in (1, 7, 64):
        monkeypatch.setattr(seqnet.text, "_SAMPLE_CHUNK", size)
        assert model.sample(300, prime=prime, temperature=0.9,
                            random_state=3) == whole
        assert model.sample(0, prime=prime) == prime


def test_sample_pieces_are_a_bounded_amount_of_work():
    # Ctrl-C waits for the running piece: its work is bounded by the
    # parameters it reads, not its code count, so large models get short
    # pieces (a 2x128 LSTM's 4096 codes took 1.5 s under ASan).
    from seqnet.text import _SAMPLE_CHUNK, _SAMPLE_WORK, _sample_piece
    assert _sample_piece(1_000) == _SAMPLE_CHUNK
    assert 1 < _sample_piece(202_119) < _SAMPLE_CHUNK
    assert _sample_piece(202_119) * 202_119 <= _SAMPLE_WORK
    assert _sample_piece(10**12) == 1
