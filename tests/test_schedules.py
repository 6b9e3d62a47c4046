"""Learning-rate schedules and the training history: the rate of every epoch
against its closed form, "constant" bit for bit as before, the schedule's
life under warm_start / partial_fit / pickling, and history_'s gradient
norms and update ratios against NumPy."""
import math
import pickle
import re
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from seqnet import (CharRNN, SequenceClassifier, SequenceRegressor,
                    SequenceTagger, _kernels, _monitor, _reference as ref)

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")

TEXT = "to be or not to be, that is the question. " * 12


def data(n=40, T=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, T, 3)).astype(np.float32)
    return X, (X[:, :, 0].sum(axis=1) > 0).astype(int)


def small(**kw):
    return SequenceClassifier(**{"hidden_sizes": 6, "batch_size": 16,
                                 "max_epochs": 6, "random_state": 0, **kw})


def rates(est):
    return [h["learning_rate"] for h in est.history_]


# ------------------------------------------------------------ schedules

@pytest.mark.parametrize("schedule, expected", [
    ("constant", lambda e: 0.01),
    ("exponential", lambda e: 0.01 * 0.5 ** e),
    ("cosine", lambda e: 1e-4 + (0.01 - 1e-4) * (1 + math.cos(
        math.pi * e / 6)) / 2),
])
def test_rate_of_every_epoch_follows_the_closed_form(schedule, expected):
    X, y = data()
    kw = dict(learning_rate_decay=0.5) if schedule == "exponential" else {}
    if schedule == "cosine":
        kw["min_learning_rate"] = 1e-4
    est = small(learning_rate=0.01, learning_rate_schedule=schedule,
                **kw).fit(X, y)
    assert_allclose(rates(est), [expected(e) for e in range(6)], rtol=1e-12)


def test_warm_up_rises_linearly_then_the_schedule_starts():
    X, y = data()
    est = small(learning_rate=0.03, learning_rate_schedule="cosine",
                warmup_epochs=2, max_epochs=6).fit(X, y)
    # Warm-up lr*(e+1)/3, then cosine over the remaining 4 epochs.
    cosine = [0.03 * (1 + math.cos(math.pi * t / 4)) / 2 for t in range(4)]
    assert_allclose(rates(est), [0.01, 0.02] + cosine, rtol=1e-12)


def test_exponential_never_goes_below_the_floor():
    X, y = data()
    est = small(learning_rate=0.01, learning_rate_schedule="exponential",
                learning_rate_decay=0.1, min_learning_rate=1e-4).fit(X, y)
    assert_allclose(rates(est), [1e-2, 1e-3, 1e-4, 1e-4, 1e-4, 1e-4])


def test_plateau_cuts_the_rate_after_patience_epochs_without_progress():
    X, y = data()
    # With tol=10 no epoch after the first improves: the rate is cut every
    # second epoch (patience 2), by half.
    est = small(learning_rate=0.01, learning_rate_schedule="plateau",
                learning_rate_decay=0.5, learning_rate_patience=2, tol=10.0,
                n_iter_no_change=100, max_epochs=7).fit(X, y)
    assert_allclose(rates(est), [0.01, 0.01, 0.01, 0.005, 0.005, 0.0025,
                                 0.0025])
    # With tol=0 and a loss falling every epoch there is no cut.
    est = small(learning_rate=0.01, learning_rate_schedule="plateau",
                tol=0.0).fit(X, y)
    assert np.all(np.diff(est.loss_curve_) < 0)
    assert rates(est) == [0.01] * 6


def test_plateau_watches_the_validation_loss_with_early_stopping():
    X, y = data(60)
    est = small(learning_rate=0.01, learning_rate_schedule="plateau",
                learning_rate_decay=0.5, learning_rate_patience=1,
                early_stopping=True, tol=0.0, n_iter_no_change=100,
                max_epochs=8).fit(X, y)
    expected, best, rate = [], np.inf, 0.01
    for h in est.history_:
        expected.append(rate)
        if h["validation_loss"] < best:
            best = h["validation_loss"]
        else:
            rate /= 2
    assert rates(est) == expected


class _NoSchedule:
    """The loop as it was before schedules: learning_rate, always."""

    def _rate_in_force(self):
        return float(self.learning_rate)


class _PlainClassifier(_NoSchedule, SequenceClassifier):
    pass


class _PlainTagger(_NoSchedule, SequenceTagger):
    pass


class _PlainCharRNN(_NoSchedule, CharRNN):
    pass


@pytest.mark.parametrize("make, fit_args", [
    (lambda cls: cls(hidden_sizes=5, max_epochs=3, batch_size=8,
                     optimizer="adam", early_stopping=True, random_state=1),
     "classifier"),
    (lambda cls: cls(hidden_sizes=5, max_epochs=3, batch_size=8,
                     tbptt_length=2, optimizer="momentum", random_state=1),
     "tagger"),
    (lambda cls: cls(hidden_sizes=(8,), max_epochs=2, batch_size=4,
                     tbptt_length=7, random_state=1), "text"),
])
def test_constant_schedule_is_bit_identical_to_no_schedule(make, fit_args):
    X, y = data()
    if fit_args == "classifier":
        ours, plain = make(SequenceClassifier), make(_PlainClassifier)
        args = (X, y)
    elif fit_args == "tagger":
        ours, plain = make(SequenceTagger), make(_PlainTagger)
        args = (X, [(x[:, 1] > 0).astype(int) for x in X])
    else:
        ours, plain = make(CharRNN), make(_PlainCharRNN)
        args = (TEXT,)
    ours.fit(*args)
    plain.fit(*args)
    assert_array_equal(ours._net.params, plain._net.params)
    assert ours.loss_curve_ == plain.loss_curve_
    ours.partial_fit(*args)
    plain.partial_fit(*args)
    assert_array_equal(ours._net.params, plain._net.params)


def test_partial_fit_continues_the_schedule_and_fit_restarts_it():
    X, y = data()
    est = small(learning_rate=0.01, learning_rate_schedule="exponential",
                learning_rate_decay=0.5)
    for _ in range(3):
        est.partial_fit(X, y, classes=[0, 1])
    assert_allclose(rates(est), [0.01, 0.005, 0.0025])
    assert [h["epoch"] for h in est.history_] == [1, 2, 3]
    # warm_start: the optimiser and its schedule start anew, the weights
    # and the history continue.
    est.set_params(warm_start=True, max_epochs=2).fit(X, y)
    assert_allclose(rates(est)[3:], [0.01, 0.005])
    assert [h["epoch"] for h in est.history_] == [1, 2, 3, 4, 5]
    assert len(est.history_) == est.n_iter_ == len(est.loss_curve_)
    # A fit without warm_start starts everything anew.
    est.set_params(warm_start=False).fit(X, y)
    assert [h["epoch"] for h in est.history_] == [1, 2]


def test_set_params_between_partial_fits_takes_effect():
    X, y = data()
    est = small(learning_rate=0.01).partial_fit(X, y, classes=[0, 1])
    est.set_params(learning_rate=0.002).partial_fit(X, y)
    assert rates(est) == [0.01, 0.002]


def test_the_schedule_survives_pickling():
    X, y = data()
    est = CharRNN(hidden_sizes=(8,), batch_size=4, tbptt_length=8,
                  learning_rate=0.01, learning_rate_schedule="exponential",
                  learning_rate_decay=0.5, random_state=0)
    est.partial_fit(TEXT).partial_fit(TEXT)
    copy = pickle.loads(pickle.dumps(est))
    est.partial_fit(TEXT)
    copy.partial_fit(TEXT)
    assert_allclose(rates(copy), [0.01, 0.005, 0.0025])
    assert rates(copy) == rates(est)
    assert_array_equal(copy._net.params, est._net.params)


def test_a_failed_fit_leaves_the_schedule_as_it_was():
    X, y = data()
    est = small(learning_rate=0.01, learning_rate_schedule="exponential",
                learning_rate_decay=0.5).partial_fit(X, y, classes=[0, 1])
    schedule = est._schedule
    with pytest.raises(ValueError):
        est.partial_fit(X[:, :, :2], y)
    assert est._schedule is schedule and schedule.epoch == 1
    est.partial_fit(X, y)
    assert_allclose(rates(est), [0.01, 0.005])


@pytest.mark.parametrize("params, message", [
    (dict(learning_rate_schedule="linear"), "learning_rate_schedule"),
    (dict(learning_rate_schedule="exponential", learning_rate_decay=-0.5),
     "learning_rate_decay"),
    (dict(learning_rate_schedule="exponential", learning_rate_decay=1.5),
     "learning_rate_decay"),
    (dict(learning_rate_schedule="plateau", learning_rate_patience=-1),
     "learning_rate_patience"),
    (dict(learning_rate_schedule="plateau", learning_rate_patience=0),
     "learning_rate_patience"),
    (dict(warmup_epochs=-1), "warmup_epochs"),
    (dict(min_learning_rate=-1e-3), "min_learning_rate"),
    (dict(learning_rate_schedule="cosine", min_learning_rate=1.0),
     "min_learning_rate"),
    (dict(learning_rate_decay=0.5), "learning_rate_decay"),
])
@pytest.mark.parametrize("cls", [SequenceRegressor, CharRNN])
def test_bad_schedule_parameters_are_refused(cls, params, message):
    est = cls(hidden_sizes=(4,), max_epochs=1, **params)
    args = (TEXT,) if cls is CharRNN else data()
    if cls is SequenceRegressor:
        args = (args[0], args[1].astype(float))
    with pytest.raises(ValueError, match=message):
        est.fit(*args)
    assert not hasattr(est, "history_")


# -------------------------------------------------------------- history

def test_history_has_an_entry_per_epoch_with_every_field():
    X, y = data()
    est = small(bidirectional=True, hidden_sizes=(5, 4)).fit(X, y)
    assert len(est.history_) == est.n_iter_ == 6
    names = {k.rsplit(".", 1)[0] for k in est.parameters_}
    assert names == {"layer0.forward", "layer0.backward", "layer1.forward",
                     "layer1.backward", "output"}
    for e, h in enumerate(est.history_, 1):
        assert h["epoch"] == e
        assert h["loss"] == est.loss_curve_[e - 1]
        assert h["validation_loss"] is None and h["validation_score"] is None
        assert h["seconds"] > 0 and h["grad_norm"] > 0
        assert h["clip_fraction"] == 0.0
        assert set(h["layers"]) == names
        for stats in h["layers"].values():
            assert set(stats) == {"param_rms", "update_rms",
                                  "log10_update_ratio"}
            assert_allclose(stats["log10_update_ratio"], np.log10(
                stats["update_rms"] / stats["param_rms"]))
    es = small(early_stopping=True).fit(X, y)
    assert [h["validation_loss"] for h in es.history_] == \
        es.validation_loss_curve_
    assert [h["validation_score"] for h in es.history_] == \
        es.validation_scores_


def test_history_names_the_embedding_of_token_input():
    rng = np.random.default_rng(0)
    X = ["".join(rng.choice(list("abcd"), 5)) for _ in range(30)]
    y = [int(s.count("a") > 1) for s in X]
    est = small(embedding_size=3).fit(X, y)
    assert set(est.history_[0]["layers"]) == {"embedding", "layer0.forward",
                                              "output"}


class _Recording(SequenceClassifier):
    """Copies the weights after every update."""

    def _step(self, *args, **kwargs):
        out = super()._step(*args, **kwargs)
        self.seen.append(self._net.params.copy())
        return out


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_update_ratios_match_weights_copied_around_every_update(dtype):
    X, y = data(50)
    est = _Recording(hidden_sizes=(5, 4), batch_size=16, max_epochs=2,
                     learning_rate=0.05, random_state=0, dtype=dtype)
    est.seen = []
    est.fit(X, y)
    est.seen = [np.array(w, np.float64) for w in est.seen]
    first = est.history_[0]["n_updates"]
    assert first == 4 and len(est.seen) == 8
    # The weights before the second epoch's first update: the first's last.
    epoch = est.seen[first - 1:]
    offsets = np.cumsum([0] + [v.size for v in est.parameters_.values()])
    for name in ("layer0.forward", "layer1.forward", "output"):
        part = [i for i, k in enumerate(est.parameters_)
                if k.startswith(name + ".")]
        lo, hi = offsets[part[0]], offsets[part[-1] + 1]
        after = np.stack([w[lo:hi] for w in epoch[1:]])
        before = np.stack([w[lo:hi] for w in epoch[:-1]])
        stats = est.history_[1]["layers"][name]
        assert_allclose(stats["param_rms"], np.sqrt(np.mean(after ** 2)),
                        rtol=1e-10)
        assert_allclose(stats["update_rms"],
                        np.sqrt(np.mean((after - before) ** 2)), rtol=1e-5)


def test_grad_norm_matches_the_numpy_reference():
    rng = np.random.default_rng(3)
    n, T = 12, 5
    X = rng.standard_normal((n, T, 2))
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    est = SequenceClassifier(cell="elman", hidden_sizes=4, batch_size=n,
                             max_epochs=1, optimizer="sgd", clip_norm=None,
                             dtype="float64", random_state=0).fit(X, y)
    p = {k: v.copy() for k, v in est.parameters_.items()}
    # One more update from these weights: the whole data as one batch.
    est.set_params(warm_start=True).fit(X, y)
    x = np.ascontiguousarray(X.transpose(1, 0, 2))
    lengths = np.full(n, T, np.int64)
    h, h_n = ref.elman_forward(x, np.zeros((n, 4)), p["layer0.forward.W"],
                               p["layer0.forward.U"], p["layer0.forward.b"],
                               lengths)
    _, _, dX, dV, dc = ref.softmax_xent(h_n, p["output.V"], p["output.c"], y,
                                        np.full(n, 1.0 / n))
    _, _, dW, dU, db = ref.elman_backward(None, dX, x, np.zeros((n, 4)),
                                          p["layer0.forward.W"],
                                          p["layer0.forward.U"], h, lengths)
    norm = np.sqrt(sum(np.sum(g ** 2) for g in (dW, dU, db, dV, dc)))
    assert_allclose(est.history_[-1]["grad_norm"], norm, rtol=1e-9)


def test_clip_fraction_counts_updates_that_clip_norm_rescaled():
    X, y = data()
    tight = small(clip_norm=1e-6, max_epochs=2).fit(X, y)
    assert [h["clip_fraction"] for h in tight.history_] == [1.0, 1.0]
    loose = small(clip_norm=None, max_epochs=2).fit(X, y)
    assert [h["clip_fraction"] for h in loose.history_] == [0.0, 0.0]
    half = small(max_epochs=1).fit(X, y)
    norm = half.history_[0]["grad_norm"]
    assert norm > 0


def test_history_does_not_depend_on_the_thread_count():
    X, y = data(64, T=12)
    runs = [small(hidden_sizes=32, n_jobs=n).fit(X, y).history_
            for n in (1, 2, 3)]
    strip = [[{k: v for k, v in h.items() if k != "seconds"} for h in run]
             for run in runs]
    assert strip[0] == strip[1] == strip[2]


def test_charrnn_history():
    est = CharRNN(hidden_sizes=(8, 6), batch_size=4, tbptt_length=8,
                  max_epochs=2, early_stopping=True,
                  learning_rate_schedule="cosine", random_state=0).fit(TEXT)
    assert [h["epoch"] for h in est.history_] == [1, 2]
    assert rates(est) == [0.003, 0.0015]
    assert set(est.history_[0]["layers"]) == {"layer0.forward",
                                              "layer1.forward", "output"}
    assert est.history_[0]["validation_score"] == \
        -est.history_[0]["validation_loss"]


def test_update_stats_kernel_matches_numpy():
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        p = rng.standard_normal(1000).astype(dtype)
        prev = rng.standard_normal(1000).astype(dtype)
        want_prev = prev.astype(np.float64)
        bounds = np.array([0, 7, 7, 500, 999], np.int64)
        sums = np.ones((4, 2))
        _kernels.update_stats(sums, prev, p, bounds)
        for g in range(4):
            lo, hi = bounds[g], bounds[g + 1]
            q = p[lo:hi].astype(np.float64)
            assert_allclose(sums[g], [1 + np.sum(q ** 2),
                                      1 + np.sum((q - want_prev[lo:hi]) ** 2)],
                            rtol=1e-12)
        assert_array_equal(prev[:999], p[:999])
        assert prev[999] == dtype(want_prev[999])
    with pytest.raises(ValueError, match="update_stats"):
        _kernels.update_stats(np.zeros((1, 2)), p.copy(), p,
                              np.array([0, 1001], np.int64))
    with pytest.raises(ValueError, match="update_stats"):
        _kernels.update_stats(np.zeros((2, 2)), p.copy(), p,
                              np.array([0, 9, 3], np.int64))
    with pytest.raises(ValueError, match="sums"):
        _kernels.update_stats(np.zeros((3, 2)), p.copy(), p,
                              np.array([0, 9, 30], np.int64))


# ------------------------------------------------------------- progress

@pytest.mark.parametrize("make, args", [
    (lambda: small(verbose=1, max_epochs=2), data()),
    (lambda: CharRNN(hidden_sizes=(6,), batch_size=2, tbptt_length=8,
                     max_epochs=2, verbose=1, random_state=0), (TEXT,)),
])
def test_verbose_shows_progress_within_an_epoch(monkeypatch, capsys, make,
                                                args):
    monkeypatch.setattr(_monitor, "PROGRESS_EVERY", {1: 0.0, 2: 0.0})
    make().fit(*args)
    lines = capsys.readouterr().out.splitlines()
    progress = [ln for ln in lines if ln.startswith("  epoch")]
    assert len(progress) >= 4
    pattern = (r"  epoch [12]: [\d,]+/[\d,]+ (batches|chars)(, loss \d\.\d+, "
               r"[\d,]+ chars/s)?, \d+s elapsed, ~\d+s left")
    for line in progress:
        assert re.fullmatch(pattern, line), line
    assert progress[-1].split(":")[1].split()[0].split("/")[0] == \
        progress[-1].split(":")[1].split()[0].split("/")[1].rstrip(",")


def test_progress_is_throttled(capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        small(verbose=2, max_epochs=2).fit(*data())
    lines = capsys.readouterr().out.splitlines()
    # A fit far shorter than a second prints its epoch lines only.
    assert len(lines) == 2 and all(ln.startswith("epoch") for ln in lines)


def test_a_model_pickled_before_schedules_continues_training():
    X, y = data()
    est = small(max_epochs=2).fit(X, y)
    state = est.__getstate__()
    for key in ("_schedule", "history_"):
        del state[key]
    old = SequenceClassifier.__new__(SequenceClassifier)
    old.__setstate__(state)
    old.partial_fit(X, y)
    assert [h["epoch"] for h in old.history_] == [3]
    assert rates(old) == [1e-3]
