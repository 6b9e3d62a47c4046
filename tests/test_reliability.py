"""Reliability: memory, long and extreme sequences, divergence, threads,
fork, interrupts and persistence.

What each section promises (and the numbers measured on the 2-core CI
machine, for the closing note of issue 6):

* memory: 200 fit/predict cycles of every estimator with changing shapes
  grow the resident set by 0.9 to 1.9 MB (bound: ``RSS_GROWTH_BOUND_MB``);
* T = 100,000 steps train and predict; inputs of +-1e4 saturate the cells
  and give finite outputs and gradients; ``clip_norm`` holds a model whose
  gradients explode, which without it stops with FloatingPointError;
* a NaN or infinity in the loss or the weights stops ``fit`` with
  FloatingPointError and the weights (and optimiser state) of the previous
  epoch; never a model full of NaN;
* 8 threads predicting with one model at once get the serial answers;
  ``fit`` works in joblib workers (loky, threading) and in a process forked
  after OpenMP ran (which runs the kernels on one thread, see
  csrc/common.h's ``sn_threads``); 1 to 4 threads fit the same bits;
* Ctrl-C during ``fit`` raises KeyboardInterrupt within
  ``INTERRUPT_LATENCY_BOUND_S`` (measured: median 1 to 16 ms, at most
  80 ms on a loaded machine) and leaves the estimator *as it was* before
  the call;
* pickle, joblib and memory-mapped joblib loads predict identically, a
  model pickled under ``SEQNET_ISA=ref`` predicts the same (to rounding)
  on the other ISA paths, and a pickle from a newer state format is
  refused with a message that says so.

Subprocesses run where a test could hang, kill or signal the interpreter.
"""
import hashlib
import json
import os
import pickle
import subprocess
import sys
import textwrap
import threading
import warnings

import joblib
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from seqnet import (CharRNN, SequenceClassifier, SequenceRegressor,
                    SequenceTagger, _kernels, _ops)
from seqnet._base import _STATE_VERSION

# Resident-set growth allowed over 200 fit/predict cycles.  Measured: 0.9
# to 1.9 MB (allocator arenas settling); a leak of one small workspace per
# cycle (>= 40 kB) would exceed it.
RSS_GROWTH_BOUND_MB = 8.0
# Ctrl-C to KeyboardInterrupt.  Measured: median 1 to 16 ms, at most 80 ms
# (the rest of the kernel call running when the signal comes).
INTERRUPT_LATENCY_BOUND_S = 1.0


TESTS = os.path.dirname(os.path.abspath(__file__))


def run_python(code, timeout=120, env=None, cwd=None):
    """Run ``code`` in a fresh interpreter (outside the source tree, so it
    imports the installed seqnet); return the JSON its last line prints."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
        text=True, timeout=timeout, cwd=cwd or os.path.expanduser("~"),
        env={**os.environ, "PYTHONPATH": TESTS, **(env or {})})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def ragged(n=24, features=3, low=3, high=12, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((int(t), features))
            for t in rng.integers(low, high, n)]


def fit_quietly(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


def targets(kind, X):
    if kind == "classifier":
        return np.array([int(x[:, 0].sum() > 0) for x in X])
    if kind == "regressor":
        return np.array([x[:, 0].sum() for x in X])
    return [(np.cumsum(x[:, 0]) > 0).astype(int) for x in X]


ESTIMATORS = {"classifier": SequenceClassifier,
              "regressor": SequenceRegressor, "tagger": SequenceTagger}


def outputs(model, X):
    """What a model answers for X, as one array."""
    if isinstance(model, SequenceRegressor):
        return model.predict(X)
    proba = model.predict_proba(X)
    return np.concatenate(proba) if isinstance(proba, list) else proba


# ------------------------------------------------------------------ memory

MEMORY_SCRIPT = """
    import gc, json, os, warnings
    import numpy as np
    warnings.simplefilter("ignore")
    from seqnet import (CharRNN, SequenceClassifier, SequenceRegressor,
                        SequenceTagger)

    PAGE = os.sysconf("SC_PAGE_SIZE")

    def rss_mb():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE / 2**20

    rng = np.random.default_rng(0)
    # One model kept across cycles (its buffers grow to the largest batch
    # and stay), new models every cycle (theirs must be freed).
    kept = SequenceTagger(hidden_sizes=6, max_epochs=1, batch_size=8,
                          random_state=0)

    def cycle(i):
        n, F = int(rng.integers(4, 20)), int(rng.integers(1, 5))
        X = [rng.standard_normal((int(t), F))
             for t in rng.integers(1, 40, n)]
        cell = ("lstm", "gru", "elman")[i % 3]
        kind = i % 4
        if kind == 0:
            m = SequenceClassifier(cell=cell, hidden_sizes=int(rng.integers(
                2, 16)), max_epochs=1, batch_size=8, random_state=i)
            m.fit(X, np.arange(n) % 3).predict_proba(X)
        elif kind == 1:
            m = SequenceRegressor(cell=cell, hidden_sizes=(6, 3),
                                  bidirectional=bool(i % 2), max_epochs=1,
                                  batch_size=8, random_state=i)
            m.fit(X, rng.standard_normal(n)).predict(X)
            if not m.bidirectional:
                m.step(rng.standard_normal((2, F)))
        elif kind == 2:
            y = [(x[:, 0] > 0).astype(int) for x in X]
            kept.set_params(cell=cell, tbptt_length=int(rng.integers(2, 9)))
            kept.fit(X, y).predict(X)
        else:
            m = CharRNN(cell=cell, hidden_sizes=(6,), max_epochs=1,
                        tbptt_length=8, random_state=i)
            m.fit("abcdefg hij " * int(rng.integers(3, 20)))
            m.sample(30, random_state=0)
            m.score("abc def")

    for i in range(20):   # warm up: imports, allocator arenas, caches
        cycle(i)
    gc.collect()
    start = rss_mb()
    trace = []
    for i in range(20, 220):
        cycle(i)
        if i % 40 == 39:
            gc.collect()
            trace.append(round(rss_mb() - start, 2))
    gc.collect()
    print(json.dumps({"start_mb": start, "growth_mb": rss_mb() - start,
                      "trace": trace}))
"""


def test_200_fit_predict_cycles_do_not_grow_memory():
    result = run_python(MEMORY_SCRIPT, timeout=300)
    print(f"RSS after warm-up {result['start_mb']:.1f} MB, growth over 200 "
          f"cycles {result['growth_mb']:.2f} MB (trace {result['trace']})")
    assert result["growth_mb"] < RSS_GROWTH_BOUND_MB, result


# ------------------------------------------------ long and extreme inputs

@pytest.mark.parametrize("cell", ["lstm", "gru", "elman"])
def test_a_hundred_thousand_steps_train_and_predict(cell):
    rng = np.random.default_rng(0)
    T = 100_000
    X = rng.standard_normal((2, T, 1))
    model = SequenceRegressor(cell=cell, hidden_sizes=2, max_epochs=2,
                              batch_size=2, random_state=0)
    fit_quietly(model, X, [0.5, -0.5])
    assert np.all(np.isfinite(model.loss_curve_))
    assert np.all(np.isfinite(model.predict(X)))
    tags = [(x[:, 0] > 0).astype(int) for x in X]
    tagger = SequenceTagger(cell=cell, hidden_sizes=2, max_epochs=1,
                            tbptt_length=5000, random_state=0)
    fit_quietly(tagger, list(X), tags)
    pred = tagger.predict(list(X))
    assert [p.shape for p in pred] == [(T,), (T,)]
    assert np.all(np.isfinite(tagger.loss_curve_))


def test_long_sequences_need_no_deep_stack():
    # 512 kB of stack for the main thread, and (glibc takes the default
    # from the same limit) for every OpenMP thread: enough for any loop,
    # never for an array of T elements on the stack.
    code = """
        import json, resource, warnings
        import numpy as np
        warnings.simplefilter("ignore")
        from seqnet import SequenceClassifier, SequenceTagger, _ops
        rng = np.random.default_rng(0)
        T = 100_000
        X = rng.standard_normal((4, T, 2))
        for cell in ("lstm", "gru", "elman"):
            m = SequenceClassifier(cell=cell, hidden_sizes=3, max_epochs=1,
                                   n_jobs=2, random_state=0)
            m.fit(X, [0, 1, 0, 1])
            assert np.isfinite(m.predict_proba(X)).all()
        print(json.dumps({"stack": resource.getrlimit(
            resource.RLIMIT_STACK)[0]}))
    """
    script = "import resource; resource.setrlimit(resource.RLIMIT_STACK, " \
             "(512 * 1024, resource.getrlimit(resource.RLIMIT_STACK)[1]))\n" \
             "import os, sys; os.execv(sys.executable, [sys.executable, " \
             f"'-c', {textwrap.dedent(code)!r}])"
    assert run_python(script, timeout=300)["stack"] == 512 * 1024


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell", ["lstm", "gru", "elman-tanh", "elman-relu",
                                  "elman-softsign"])
def test_saturating_inputs_give_finite_outputs_and_gradients(cell, dtype):
    cell, _, activation = cell.partition("-")
    rng = np.random.default_rng(1)
    T, B, I, H = 40, 6, 5, 7
    G = {"lstm": 4, "gru": 3, "elman": 1}[cell] * H
    x = (1e4 * np.sign(rng.standard_normal((T, B, I)))).astype(dtype)
    h0 = rng.uniform(-1, 1, (B, H)).astype(dtype)
    W = rng.uniform(-1, 1, (I, G)).astype(dtype)
    # Recurrent weights of norm < 1, so relu stays bounded over time.
    U = (rng.uniform(-1, 1, (H, G)) / (2 * H)).astype(dtype)
    b = rng.uniform(-1, 1, G).astype(dtype)
    lengths = np.array([T, T, 30, 20, 10, 1], np.int64)
    dh = rng.uniform(-1, 1, (T, B, H)).astype(dtype)
    if cell == "lstm":
        p = rng.uniform(-1, 1, 3 * H).astype(dtype)
        fwd = _ops.lstm_forward(x, h0, h0, W, U, b, p, lengths)
        grads = _ops.lstm_backward(dh, None, None, x, h0, h0, W, U, p,
                                   fwd[0], fwd[1], fwd[2], lengths)
    elif cell == "gru":
        bh = rng.uniform(-1, 1, H).astype(dtype)
        fwd = _ops.gru_forward(x, h0, W, U, b, bh, lengths)
        grads = _ops.gru_backward(dh, None, x, h0, W, U, fwd[0], fwd[1],
                                  fwd[2], lengths)
    else:
        fwd = _ops.elman_forward(x, h0, W, U, b, lengths, activation)
        grads = _ops.elman_backward(dh, None, x, h0, W, U, fwd[0], lengths,
                                    activation)
    for array in fwd + tuple(g for g in grads if g is not None):
        assert np.all(np.isfinite(array))
    if activation != "relu":
        assert np.all(np.abs(fwd[0]) <= 1)


@pytest.mark.parametrize("kind", ["classifier", "regressor", "tagger"])
def test_estimators_fit_and_predict_saturating_inputs(kind):
    X = [1e4 * np.sign(x) for x in ragged()]
    y = targets(kind, [x / 1e4 for x in X])
    for cell in ("lstm", "gru", "elman"):
        model = ESTIMATORS[kind](cell=cell, hidden_sizes=6, max_epochs=3,
                                 random_state=0)
        fit_quietly(model, X, y)
        assert np.all(np.isfinite(model.loss_curve_))
        assert np.all(np.isfinite(model._net.params))
        assert np.all(np.isfinite(outputs(model, X)))


def _exploding_model(clip_norm):
    """An Elman relu regressor whose recurrent weights (1.02 I) grow the
    state, and the gradient with it, over 300 steps."""
    rng = np.random.default_rng(0)
    X = np.abs(rng.standard_normal((16, 300, 2)))
    y = rng.standard_normal(16)
    model = SequenceRegressor(cell="elman", activation="relu", hidden_sizes=8,
                              optimizer="sgd", learning_rate=0.01,
                              clip_norm=clip_norm, max_epochs=1,
                              warm_start=True, batch_size=16, random_state=0)
    fit_quietly(model, X[:, :2], y)
    params = model.parameters_
    params["layer0.forward.U"][...] = 1.02 * np.eye(8)
    params["layer0.forward.W"][...] = np.abs(params["layer0.forward.W"])
    model.set_params(max_epochs=5)
    model.loss_curve_.clear()
    return model, X, y


def test_clip_norm_holds_exploding_gradients():
    model, X, y = _exploding_model(clip_norm=1.0)
    fit_quietly(model, X, y)
    assert len(model.loss_curve_) == 5
    assert np.all(np.isfinite(model.loss_curve_))
    assert model.loss_curve_[-1] < model.loss_curve_[0]
    assert np.all(np.isfinite(model.predict(X)))


def test_without_clipping_exploding_gradients_stop_fit_clearly():
    model, X, y = _exploding_model(clip_norm=None)
    with pytest.raises(FloatingPointError, match="training diverged"):
        fit_quietly(model, X, y)
    assert np.all(np.isfinite(model._net.params))
    assert len(model.loss_curve_) == model.n_iter_ - 1   # the warm-up epoch


# ----------------------------------------------------- NaN or inf in training

def _poison(monkeypatch, name, after, what):
    """Make the ``after``-th call of ``_kernels.<name>`` (and every later
    one) return a NaN loss or leave NaN in the weights."""
    real = getattr(_kernels, name)
    calls = [0]

    def poisoned(*args, **kwargs):
        result = real(*args, **kwargs)
        calls[0] += 1
        if calls[0] >= after:
            if what == "loss":
                return np.nan
            args[0][len(args[0]) // 2] = np.inf   # optim_step's params
        return result

    monkeypatch.setattr(_kernels, name, poisoned)


@pytest.mark.parametrize("what", ["loss", "weights"])
@pytest.mark.parametrize("kind", ["classifier", "regressor", "tagger",
                                  "tagger-tbptt", "charrnn"])
def test_nan_in_training_stops_fit_and_keeps_the_last_finite_epoch(
        kind, what, monkeypatch):
    X = ragged(n=16)
    if kind == "charrnn":
        model = CharRNN(hidden_sizes=(8,), max_epochs=4, tbptt_length=8,
                        batch_size=4, random_state=0)
        data, y, head = ["hello world, hello seqnet"] * 3, None, \
            "softmax_xent"
    else:
        kind, _, tbptt = kind.partition("-")
        model = ESTIMATORS[kind](hidden_sizes=5, max_epochs=4, batch_size=4,
                                 tbptt_length=5 if tbptt else None,
                                 random_state=0)
        data, y = X, targets(kind, X)
        head = "linear_mse" if kind == "regressor" else "softmax_xent"
    clean = clone(model).set_params(max_epochs=2)
    fit_quietly(clean, data, y)
    # The first update of the third epoch goes wrong.
    updates_per_epoch = clean._n_updates // 2
    _poison(monkeypatch, head if what == "loss" else "optim_step",
            2 * updates_per_epoch + 1, what)
    with pytest.raises(FloatingPointError,
                       match=r"training diverged: the (loss became nan|"
                             r"weights became infinite or NaN) in epoch 3"):
        fit_quietly(model, data, y)
    assert model.n_iter_ == 2 == len(model.loss_curve_)
    assert_array_equal(model._net.params, clean._net.params)
    assert_array_equal(model._opt_state, clean._opt_state)
    assert model._n_updates == clean._n_updates
    monkeypatch.undo()
    # Still a working model, which can continue training.
    model.partial_fit(data, y) if kind != "classifier" else \
        model.partial_fit(data, y, classes=model.classes_)
    assert np.all(np.isfinite(model._net.params))


def test_charrnn_divergence_keeps_finite_weights():
    model = CharRNN(hidden_sizes=(8,), max_epochs=2, learning_rate=1e38,
                    optimizer="adam", clip_norm=None, tbptt_length=16,
                    random_state=0)
    with pytest.raises(FloatingPointError, match="training diverged"):
        model.fit("hello world " * 50)
    assert np.all(np.isfinite(model._net.params))
    assert len(model.sample(20, random_state=0)) == 20


# ----------------------------------------------------------------- threads

def _concurrently(calls, rounds=5):
    """Run every call on its own thread, all released at once, ``rounds``
    times; return the results of each round."""
    results = []
    for _ in range(rounds):
        out = [None] * len(calls)
        errors = []
        barrier = threading.Barrier(len(calls))

        def run(i):
            barrier.wait()
            try:
                out[i] = calls[i]()
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(i,))
                   for i in range(len(calls))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        results.append(out)
    return results


@pytest.mark.parametrize("kind", ["classifier", "regressor", "tagger"])
def test_eight_threads_predicting_with_one_model_agree_with_serial(kind):
    X = ragged(n=40)
    model = fit_quietly(ESTIMATORS[kind](hidden_sizes=(12, 6), max_epochs=2,
                                         random_state=0), X, targets(kind, X))
    # Different inputs (lengths, batch sizes) per thread, so that shared
    # scratch buffers would be resized and overwritten under each other.
    inputs = [ragged(n=5 + 7 * i, low=1, high=10 + 9 * i, seed=i)
              for i in range(8)]
    serial = [outputs(model, x) for x in inputs]
    steps = [np.random.default_rng(i).standard_normal((1 + i, 3))
             for i in range(8)]
    serial_steps = [model.step(s)[0] for s in steps]
    calls = [lambda x=x: outputs(model, x) for x in inputs]
    calls += [lambda s=s: model.step(s)[0] for s in steps]
    for round_ in _concurrently(calls):
        for got, want in zip(round_, serial + serial_steps):
            assert_array_equal(got, want)


def test_eight_threads_scoring_and_sampling_one_charrnn_agree_with_serial():
    model = CharRNN(hidden_sizes=(16,), max_epochs=1, random_state=0)
    model.fit("hello world, this is a test of many things. " * 10)
    texts = ["hello world " * (i + 1) + "test " * i for i in range(8)]
    serial = [(model.score(t), model.sample(40, prime="he", random_state=i))
              for i, t in enumerate(texts)]
    calls = [lambda i=i, t=t: (model.score(t),
                               model.sample(40, prime="he", random_state=i))
             for i, t in enumerate(texts)]
    for round_ in _concurrently(calls):
        assert round_ == serial


@pytest.mark.parametrize("kind", ["classifier", "tagger", "charrnn"])
def test_predicting_while_another_thread_fits_never_changes_the_fit(kind):
    # The network keeps no per-call state, so a prediction cannot disturb a
    # fit: while the fit runs, other threads' predictions and fits are
    # refused with a clear error (the model would change under them), and
    # the fit's weights are bit for bit those of a solo fit.
    X = ragged(n=48)
    text = "the quick brown fox jumps over the lazy dog. " * 30

    def fit(model):
        if kind == "charrnn":
            return model.fit(text)
        return fit_quietly(model, X, targets(kind, X))

    def make():
        if kind == "charrnn":
            return CharRNN(hidden_sizes=(16,), max_epochs=6, batch_size=8,
                           tbptt_length=8, random_state=0)
        return ESTIMATORS[kind](hidden_sizes=(16,), max_epochs=12,
                                random_state=0)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        solo = fit(make())._net.params.copy()
        model = fit(make())      # fitted, then refitted below
    outcomes, done = [], threading.Event()

    def predict_meanwhile():
        while not done.is_set():
            try:
                if kind == "charrnn":
                    model.score(text[:60])
                else:
                    outputs(model, X[:5])
                outcomes.append("predicted")
            except RuntimeError as exc:
                assert "being fitted in another thread" in str(exc)
                outcomes.append("refused")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        other = threading.Thread(target=predict_meanwhile)
        other.start()
        try:
            for _ in range(3):
                fit(model)
                assert_array_equal(model._net.params, solo)
        finally:
            done.set()
            other.join()
    assert outcomes and set(outcomes) <= {"predicted", "refused"}

    # A second fit while the first runs is refused; the first is untouched.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = threading.Thread(target=fit, args=(model,))
        first.start()
        while "_fitting" not in model.__dict__ and first.is_alive():
            pass
        refused = first.is_alive()
        if refused:
            with pytest.raises(RuntimeError, match="another thread"):
                fit(model)
        first.join()
    assert_array_equal(model._net.params, solo)


@pytest.mark.parametrize("backend", ["loky", "threading"])
def test_fit_in_joblib_workers(backend):
    X = ragged(n=32)
    models = [SequenceClassifier(cell=cell, hidden_sizes=8, max_epochs=3,
                                 random_state=0)
              for cell in ("lstm", "gru", "elman", "lstm")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = joblib.Parallel(n_jobs=2, backend=backend)(
            joblib.delayed(clone(m).fit)(X, targets("classifier", X))
            for m in models)
    for model, remote in zip(models, fitted):
        local = fit_quietly(clone(model), X, targets("classifier", X))
        assert_array_equal(remote._net.params, local._net.params)
        assert_array_equal(remote.predict_proba(X), local.predict_proba(X))


def test_kernels_called_directly_after_fork_do_not_hang():
    # The fork rule lives where every kernel's thread count is resolved
    # (csrc/common.h's sn_threads), not in the estimators: a child calling
    # the low-level kernels with n_threads=2 runs them on one thread.
    code = """
        import json, os
        from _child import wait_child
        import numpy as np
        from seqnet import _kernels, _ops
        rng = np.random.default_rng(0)
        A = rng.standard_normal((512, 512))
        parent = _ops.gemm(A, A, n_threads=2)       # starts the pool
        pid = os.fork()
        if pid == 0:
            child = _ops.gemm(A, A, n_threads=2)
            x = rng.standard_normal((30, 64, 16))
            h0 = np.zeros((64, 32))
            W, U = rng.standard_normal((16, 128)), rng.standard_normal((32, 128))
            h = _ops.lstm_forward(x, h0, h0, W, U, np.zeros(128), None,
                                  np.full(64, 30), n_threads=2)[0]
            os._exit(0 if np.array_equal(child, parent)
                     and np.isfinite(h).all() else 3)
        code = wait_child(pid)
        print(json.dumps({"child": code}))
    """
    result = run_python(code, timeout=240, env={"OMP_NUM_THREADS": "2"})
    assert result["child"] == 0, result


def test_fit_after_fork_of_a_process_that_ran_openmp():
    # GNU libgomp hangs in the first parallel region of a forked child
    # whose parent had started its thread pool; seqnet then runs the
    # kernels on one thread (the same bits), so the child finishes.
    code = """
        import json, os, time, warnings
        import numpy as np
        warnings.simplefilter("ignore")
        from _child import wait_child
        from seqnet import SequenceClassifier
        rng = np.random.default_rng(0)
        X = rng.standard_normal((128, 30, 8))
        y = np.arange(128) % 2
        params = dict(hidden_sizes=64, max_epochs=2, batch_size=64,
                      random_state=0, n_jobs=2)
        # Big enough batches that the parent's kernels start threads.
        parent = SequenceClassifier(**params).fit(X, y).predict_proba(X)
        pid = os.fork()
        if pid == 0:
            child = SequenceClassifier(**params).fit(X, y).predict_proba(X)
            os._exit(0 if np.array_equal(child, parent) else 3)
        start = time.time()
        code = wait_child(pid)
        # The parent keeps its threads.
        again = SequenceClassifier(**params).fit(X, y).predict_proba(X)
        print(json.dumps({"child": code, "seconds": time.time() - start,
                          "parent_same": bool(np.array_equal(again,
                                                             parent))}))
    """
    result = run_python(code, timeout=240, env={"OMP_NUM_THREADS": "2"})
    assert result["child"] == 0, result
    assert result["parent_same"]


@pytest.mark.parametrize("kind", ["classifier", "regressor", "tagger",
                                  "charrnn"])
def test_one_to_four_threads_fit_the_same_bits(kind):
    # Batches of 32 rows and 32 units: the time loop splits over rows and
    # the GEMMs over tiles.
    X = ragged(n=64, features=6, low=10, high=30)
    results = []
    for n_jobs in (1, 2, 3, 4):
        if kind == "charrnn":
            model = CharRNN(hidden_sizes=(32,), max_epochs=1, batch_size=32,
                            tbptt_length=16, n_jobs=n_jobs, random_state=0)
            model.fit("the quick brown fox jumps over the lazy dog. " * 30)
        else:
            model = ESTIMATORS[kind](hidden_sizes=(32, 16), max_epochs=2,
                                     batch_size=32, dropout=0.1,
                                     n_jobs=n_jobs, random_state=0)
            fit_quietly(model, X, targets(kind, X))
        results.append(model._net.params.copy())
    for params in results[1:]:
        assert_array_equal(params, results[0])


BACKOFF_SCRIPT = """
    import hashlib, json, threading, time, warnings
    import numpy as np
    warnings.simplefilter("ignore")
    from seqnet import SequenceClassifier, _kernels

    rng = np.random.default_rng(0)
    X = [rng.standard_normal((int(t), 6)) for t in rng.integers(10, 30, 64)]
    y = [int(x[:, 0].sum() > 0) for x in X]
    stop = threading.Event()

    def spin():          # a thread holding a core while the fit runs
        while not stop.is_set():
            sum(range(1000))

    spinner = threading.Thread(target=spin)
    spinner.start()
    try:
        model = SequenceClassifier(hidden_sizes=(32, 16), max_epochs=3,
                                   batch_size=32, n_jobs=2, random_state=0)
        model.fit(X, y)
    finally:
        stop.set()
        spinner.join()
    print(json.dumps(hashlib.sha256(model._net.params.tobytes()).hexdigest()))
"""


@pytest.mark.parametrize("setting", ["", "0", "1"])
def test_thread_backoff_never_changes_the_bits(setting):
    # The back-off (csrc/team.c) is on unless SEQNET_ADAPTIVE_THREADS=0,
    # and the suite runs with it as users do.  Either way, with a busy core
    # or not, the fit is bit for bit the same.
    got = run_python(BACKOFF_SCRIPT,
                     env={"SEQNET_ADAPTIVE_THREADS": setting})
    model = SequenceClassifier(hidden_sizes=(32, 16), max_epochs=3,
                               batch_size=32, n_jobs=1, random_state=0)
    rng = np.random.default_rng(0)
    X = [rng.standard_normal((int(t), 6)) for t in rng.integers(10, 30, 64)]
    fit_quietly(model, X, [int(x[:, 0].sum() > 0) for x in X])
    assert got == hashlib.sha256(model._net.params.tobytes()).hexdigest()


# -------------------------------------------------------------- interrupts

INTERRUPT_SCRIPT = """
    import gc, json, os, signal, threading, time, warnings
    import numpy as np
    warnings.simplefilter("ignore")
    from sklearn.exceptions import NotFittedError
    from seqnet import CharRNN, SequenceClassifier, SequenceTagger

    from _child import catch_ctrl_c, interrupted
    catch_ctrl_c()

    PAGE = os.sysconf("SC_PAGE_SIZE")

    def rss_mb():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE / 2**20

    def snapshot(model):
        # The fitted state: every attribute but the parameters of
        # __init__, the scratch buffers and the network (its weights).
        state = {k: v for k, v in vars(model).items()
                 if (k.startswith("_") or k.endswith("_")) and k not in (
                     "_net", "_buffer_cache", "_grads")}
        net = getattr(model, "_net", None)
        return (None if net is None else net.params.copy(),
                {k: (v.copy() if hasattr(v, "copy") else v)
                 for k, v in state.items()})

    def same(a, b):
        if (a[0] is None) != (b[0] is None):
            return False
        if a[0] is not None and not np.array_equal(a[0], b[0]):
            return False
        if a[1].keys() != b[1].keys():
            return False
        return all(np.array_equal(a[1][k], b[1][k]) if isinstance(
            a[1][k], np.ndarray) else a[1][k] == b[1][k] for k in a[1])

    rng = np.random.default_rng(0)
    X = [rng.standard_normal((int(t), 8)) for t in rng.integers(20, 60, 256)]
    y = np.arange(256) % 3
    long_fit = dict(hidden_sizes=(64, 64), max_epochs=10_000,
                    n_iter_no_change=10_000, tol=0.0, random_state=0)
    latencies, report = [], {}

    # 1. An unfitted estimator stays unfitted.
    model = SequenceClassifier(**long_fit)
    latencies.append(('first fit', interrupted(lambda: model.fit(X, y), 0.5)))
    try:
        model.predict(X[:2])
        report["unfitted_stays_unfitted"] = False
    except NotFittedError:
        report["unfitted_stays_unfitted"] = not hasattr(model, "n_iter_")

    # 2. A fitted estimator keeps its model through an interrupted refit,
    #    warm_start continuation and partial_fit, which are all undone.
    model = SequenceClassifier(**{**long_fit, "max_epochs": 2}).fit(X, y)
    before, proba = snapshot(model), model.predict_proba(X)
    model.set_params(max_epochs=10_000)
    latencies.append(('refit', interrupted(lambda: model.fit(X, y), 0.5)))
    report["refit_undone"] = same(snapshot(model), before)
    model.set_params(warm_start=True)
    latencies.append(('warm_start fit',
                      interrupted(lambda: model.fit(X, y), 0.5)))
    report["warm_start_undone"] = same(snapshot(model), before)
    big = [40 * x for x in X * 16]   # one epoch: a second or more
    latencies.append(('partial_fit', interrupted(
        lambda: model.partial_fit(big, np.ones(len(big), int)), 0.2)))
    report["partial_fit_undone"] = same(snapshot(model), before)
    report["predicts_as_before"] = bool(np.array_equal(
        model.predict_proba(X), proba))

    # 3. Truncated BPTT and CharRNN.
    tags = [(x[:, 0] > 0).astype(int) for x in X]
    tagger = SequenceTagger(**{**long_fit, "tbptt_length": 8})
    latencies.append(('tagger fit',
                      interrupted(lambda: tagger.fit(X, tags), 0.5)))
    report["tagger_unfitted"] = not hasattr(tagger, "_net")
    char = CharRNN(hidden_sizes=(128, 128), max_epochs=2, random_state=0)
    char.fit("to be or not to be " * 30)
    before = snapshot(char)
    char.set_params(max_epochs=10_000)
    latencies.append(('CharRNN fit', interrupted(
        lambda: char.fit("to be or not to be " * 3000), 0.5)))
    report["charrnn_undone"] = same(snapshot(char), before)
    # Sampling millions of characters, in C, is interruptible too.
    latencies.append(('CharRNN sample',
                      interrupted(lambda: char.sample(3_000_000), 0.5)))

    # 4. No workspace piles up: ten more interrupted fits.
    gc.collect()
    start = rss_mb()
    for i in range(10):
        model = SequenceClassifier(**long_fit)
        latencies.append(('fit in the memory loop',
                          interrupted(lambda: model.fit(X, y), 0.2)))
    gc.collect()
    report["rss_growth_mb"] = rss_mb() - start

    # 5. Still usable: fit runs to the end.
    model.set_params(max_epochs=1).fit(X[:20], y[:20])
    report["fits_after"] = bool(np.isfinite(model.predict_proba(X)).all())
    report["latencies"] = latencies
    print(json.dumps(report))
"""


def test_ctrl_c_interrupts_fit_quickly_and_leaves_the_estimator_as_it_was():
    report = run_python(INTERRUPT_SCRIPT, timeout=300)
    named = report.pop("latencies")
    latencies = [seconds for _, seconds in named]
    print(f"Ctrl-C latency over {len(latencies)} interrupted fits: median "
          f"{1e3 * np.median(latencies):.1f} ms, max "
          f"{1e3 * max(latencies):.1f} ms; RSS growth over 10 of them "
          f"{report['rss_growth_mb']:.2f} MB")
    assert max(latencies) < INTERRUPT_LATENCY_BOUND_S, \
        [(call, seconds) for call, seconds in named
         if seconds >= INTERRUPT_LATENCY_BOUND_S]
    assert report.pop("rss_growth_mb") < RSS_GROWTH_BOUND_MB
    assert all(report.values()), report


def test_a_failed_refit_leaves_the_fitted_model_usable():
    X = ragged()
    model = fit_quietly(SequenceClassifier(hidden_sizes=4, max_epochs=2,
                                           random_state=0), X,
                        targets("classifier", X))
    proba = model.predict_proba(X)
    wider = [np.hstack([x, x]) for x in X]
    with pytest.raises(ValueError, match="sequences but y has"):
        model.fit(wider, [0, 1])
    assert model.n_features_in_ == 3
    assert_array_equal(model.predict_proba(X), proba)


# ------------------------------------------------------------- persistence

@pytest.fixture(scope="module")
def fitted_models():
    X = ragged(n=30)
    models = {kind: fit_quietly(ESTIMATORS[kind](
        cell=cell, hidden_sizes=(6, 4), max_epochs=2, random_state=0), X,
        targets(kind, X)) for kind, cell in (("classifier", "lstm"),
                                             ("regressor", "gru"),
                                             ("tagger", "elman"))}
    models["charrnn"] = CharRNN(hidden_sizes=(8,), max_epochs=2,
                                random_state=0).fit("hello world " * 20)
    return models, X


def _answers(model, X):
    if isinstance(model, CharRNN):
        return (model.sample(30, prime="he", random_state=0),
                model.score("hello there"))
    state = model.step(X[0][:2])[0]
    return outputs(model, X), state


def _assert_same_answers(a, b):
    for x, y in zip(a, b):
        if isinstance(x, np.ndarray):
            assert_array_equal(x, y)
        else:
            assert x == y


@pytest.mark.parametrize("how", ["pickle", "joblib", "joblib-mmap"])
@pytest.mark.parametrize("kind", ["classifier", "regressor", "tagger",
                                  "charrnn"])
def test_round_trips_predict_identically(kind, how, fitted_models, tmp_path):
    models, X = fitted_models
    model = models[kind]
    if how == "pickle":
        loaded = pickle.loads(pickle.dumps(model))
    else:
        joblib.dump(model, tmp_path / "model.joblib")
        loaded = joblib.load(tmp_path / "model.joblib",
                             mmap_mode="r" if how == "joblib-mmap" else None)
    if how == "joblib-mmap":
        assert isinstance(loaded._net.params, np.memmap)
        assert not loaded._net.params.flags.writeable
    _assert_same_answers(_answers(loaded, X), _answers(model, X))
    # Continuing to train a mapped (read-only) model is refused clearly,
    # and leaves it as it was; fitting it anew works.
    if kind == "charrnn":
        data, y, more = "hello world " * 5, None, ("hello world",)
    else:
        data, y = X, targets(kind, X)
        more = (X, y) if kind == "regressor" else (X, y, model.classes_)
    if how == "joblib-mmap":
        with pytest.raises(ValueError, match=r"weights are read-only \("
                                             r"loaded with joblib.load"):
            loaded.partial_fit(*more)
        _assert_same_answers(_answers(loaded, X), _answers(model, X))
    else:
        loaded.partial_fit(*more)
    fit_quietly(loaded, data, y)
    assert np.all(np.isfinite(loaded._net.params))


def test_a_model_pickled_on_one_isa_predicts_on_every_other(tmp_path):
    available = _kernels.isa_available()
    if len(available) < 2:
        pytest.skip("one ISA path only")
    fit = """
        import json, pickle, warnings
        import numpy as np
        warnings.simplefilter("ignore")
        from seqnet import (CharRNN, SequenceClassifier, SequenceRegressor,
                            _kernels)
        rng = np.random.default_rng(0)
        X = [rng.standard_normal((int(t), 5))
             for t in rng.integers(3, 40, 50)]
        y = np.array([x[:, 0].sum() for x in X])
        models = [SequenceClassifier(hidden_sizes=(40, 20), max_epochs=3,
                                     random_state=0).fit(X, y > 0),
                  SequenceRegressor(cell="gru", hidden_sizes=33, max_epochs=3,
                                    dtype="float64", random_state=0).fit(X, y)]
        char = CharRNN(hidden_sizes=(24,), max_epochs=2, random_state=0)
        models.append(char.fit("some text to learn, some text to write. "
                               * 10))
        with open({path!r}, "wb") as f:
            pickle.dump((models, X), f)
        print(json.dumps({{"isa": _kernels.isa_current()}}))
    """
    predict = """
        import json, pickle
        import numpy as np
        from seqnet import _kernels
        with open({path!r}, "rb") as f:
            models, X = pickle.load(f)
        out = [models[0].predict_proba(X).tolist(),
               models[1].predict(X).tolist(),
               models[2].score("some text to write"),
               models[2].sample(30, temperature=0, random_state=0)]
        print(json.dumps({{"isa": _kernels.isa_current(), "out": out}}))
    """
    path = str(tmp_path / "models.pkl")
    assert run_python(fit.format(path=path),
                      env={"SEQNET_ISA": "ref"})["isa"] == "ref"
    results = {isa: run_python(predict.format(path=path),
                               env={"SEQNET_ISA": isa})
               for isa in available}
    ref = results["ref"]["out"]
    for isa, result in results.items():
        assert result["isa"] == isa
        proba, values, score, text = result["out"]
        assert_allclose(proba, ref[0], rtol=1e-5, atol=1e-6)   # float32
        assert_allclose(values, ref[1], rtol=1e-12, atol=1e-12)
        assert_allclose(score, ref[2], rtol=1e-5)
        assert len(text) == 30


@pytest.mark.parametrize("kind", ["classifier", "regressor", "tagger",
                                  "charrnn"])
def test_a_pickle_from_a_newer_state_format_is_refused_clearly(
        kind, fitted_models):
    model = clone(fitted_models[0][kind])
    model.__dict__.update(fitted_models[0][kind].__dict__)
    assert model._state_version == _STATE_VERSION
    model._state_version = _STATE_VERSION + 1
    data = pickle.dumps(model)
    with pytest.raises(ValueError, match=rf"saved by a newer seqnet \(state "
                                         rf"format {_STATE_VERSION + 1}; "
                                         rf"this seqnet reads up to "
                                         rf"{_STATE_VERSION}\); upgrade"):
        pickle.loads(data)


# ------------------------------------------- what was silently accepted


@pytest.mark.parametrize("n_jobs", [10**6, 2**31])
def test_huge_thread_counts_are_clamped_not_sized_for(n_jobs):
    # Workspaces are sized for the threads that can run (at most 256), so
    # an absurd n_jobs neither asks for terabytes nor overflows a C int;
    # and the bits are those of one thread.
    X = ragged(n=20)
    y = targets("classifier", X)
    many = fit_quietly(SequenceClassifier(hidden_sizes=4, max_epochs=2,
                                          n_jobs=n_jobs, random_state=0),
                       X, y)
    one = fit_quietly(SequenceClassifier(hidden_sizes=4, max_epochs=2,
                                         n_jobs=1, random_state=0), X, y)
    assert_array_equal(many._net.params, one._net.params)


@pytest.mark.parametrize("change", [
    dict(hidden_sizes=8), dict(cell="gru"), dict(dtype="float64"),
    dict(activation="softsign"), dict(bidirectional=True),
    dict(peepholes=True)])
@pytest.mark.parametrize("how", ["warm_start", "partial_fit"])
def test_continuing_with_another_network_is_refused(change, how):
    X = ragged(n=20)
    y = targets("classifier", X)
    model = fit_quietly(SequenceClassifier(hidden_sizes=4, max_epochs=1,
                                           random_state=0), X, y)
    before = model._net.params.copy()
    model.set_params(**change)
    key = next(iter(change))
    with pytest.raises(ValueError, match=f"fitted with another network "
                                         f"\\({key}"):
        if how == "warm_start":
            model.set_params(warm_start=True).fit(X, y)
        else:
            model.partial_fit(X, y)
    assert_array_equal(model._net.params, before)
    model.set_params(warm_start=False).fit(X, y)       # starting anew works
    assert model.get_params()[key] == change[key]


@pytest.mark.parametrize("class_weight, message", [
    ({0: -1.0, 1: 1.0}, "non-negative"),
    ({0: float("inf"), 1: 1.0}, "finite"),
    ({0: 1.0, 7: 2.0}, r"labels \[7\]"),
])
def test_class_weight_is_checked_as_sample_weight_is(class_weight, message):
    X = ragged(n=20)
    model = SequenceClassifier(hidden_sizes=4, max_epochs=1,
                               class_weight=class_weight)
    with pytest.raises(ValueError, match=message):
        model.fit(X, targets("classifier", X))


@pytest.mark.parametrize("how", ["pickle", "joblib"])
def test_a_model_file_with_non_finite_weights_is_refused(how, tmp_path):
    X = ragged(n=20)
    model = fit_quietly(SequenceClassifier(hidden_sizes=4, max_epochs=1),
                        X, targets("classifier", X))
    model._net.params[5] = np.nan
    path = tmp_path / "model"
    with pytest.raises(ValueError, match="NaN or infinity: the file is "
                                         "damaged"):
        if how == "pickle":
            pickle.loads(pickle.dumps(model))
        else:
            joblib.dump(model, path)
            joblib.load(path)


# --------------------------------------------- errors that name the problem


@pytest.mark.parametrize("asked, message", [
    ("bogus", "the paths are ref, avx2, avx512"),
    ("ref", None),
])
def test_seqnet_isa_that_cannot_be_used_warns_once(asked, message):
    proc = subprocess.run(
        [sys.executable, "-c", "import seqnet, seqnet.text; print('ok')"],
        capture_output=True, text=True, timeout=120,
        cwd=os.path.expanduser("~"), env={**os.environ, "SEQNET_ISA": asked})
    assert proc.returncode == 0, proc.stderr
    if message is None:
        assert "SEQNET_ISA" not in proc.stderr
    else:
        assert proc.stderr.count("SEQNET_ISA") == 1, proc.stderr
        assert message in proc.stderr


def test_steps_that_are_not_numbers_or_streams_are_named():
    X = ragged(n=10)
    model = fit_quietly(SequenceClassifier(hidden_sizes=4, max_epochs=1),
                        X, targets("classifier", X))
    for bad in (None, [["a", "b", "c"]], "abc"):
        with pytest.raises(ValueError, match="step reads numbers"):
            model.step(bad)
    char = CharRNN(hidden_sizes=(8,), max_epochs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        char.fit("hello world " * 5)
    with pytest.raises(ValueError, match="at least one stream"):
        char.step("")


@pytest.mark.parametrize("version", ["1", 1.0, None, 0, -3])
def test_a_state_version_of_the_wrong_kind_is_named(version):
    X = ragged(n=10)
    model = fit_quietly(SequenceClassifier(hidden_sizes=4, max_epochs=1),
                        X, targets("classifier", X))
    state = model.__getstate__()
    state["_state_version"] = version
    fresh = SequenceClassifier.__new__(SequenceClassifier)
    with pytest.raises(ValueError, match="no valid format version"):
        fresh.__setstate__(state)


@pytest.mark.parametrize("T, B", [(2**62, 1), (1, 2**62), (2**21, 2**21)])
def test_workspace_sizes_of_impossible_batches_are_refused(T, B):
    # Every size the C workspace arithmetic forms is bounded (no array of
    # more than 2**40 elements), so it cannot overflow into a small,
    # wrong size: the C size function reports 0 and the binding says so.
    from seqnet import _kernels
    layer = _kernels.Layer("lstm", np.zeros((3, 8)), np.zeros((2, 8)),
                           np.zeros(8))
    with pytest.raises(ValueError, match="too large"):
        _kernels.layer_workspace_size(layer, T, B)
    stack = _kernels.Stack([layer])
    with pytest.raises(ValueError, match="too large"):
        stack.workspace_size(1, 2**62)
