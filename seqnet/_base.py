"""The estimator base every seqnet model shares: one training loop.

Subclasses differ only in their output head (an ``_Objective``), their
scoring and their docstrings.  The loop: validate and convert the data once,
then per epoch shuffle, cut batches (time-major, sorted longest first), run
the network forward, the loss, the network backward and one optimiser step
over the flat parameter buffer -- each a C call.  Early stopping holds out
part of the data and restores the best weights.
"""
import copy
import functools
import os
import threading
import time
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from . import _kernels
from ._monitor import EpochMonitor
from ._network import CELLS, Buffers, Network, aligned_zeros
from ._schedules import SCHEDULES, Schedule, check_schedule
from ._tokens import Vocabulary, looks_like_tokens, token_sequences
from ._validation import check_feature_names, check_sequences, pad_batch

# Largest number of gate values one prediction batch may hold (T * B * G),
# which bounds predict's memory on long sequences.
_PREDICT_BATCH_ELEMENTS = 1 << 24
# Format version of the fitted state, checked when a pickle is loaded.
_STATE_VERSION = 1


# The most threads the kernels run a region on (csrc/common.h's
# SN_MAX_THREADS); more would only size workspaces for threads that never
# run.
_MAX_THREADS = 256


def _n_threads(n_jobs):
    """Kernel threads for an ``n_jobs`` value; 0 lets OpenMP decide, which
    honours OMP_NUM_THREADS and threadpoolctl; at most _MAX_THREADS.  (A
    forked child runs every kernel on one thread: csrc/common.h's
    sn_threads, whatever it is asked.)"""
    if n_jobs is None:
        return 0
    if n_jobs < 0:
        return max(1, (os.cpu_count() or 1) + 1 + n_jobs)
    return min(int(n_jobs), _MAX_THREADS)


def _resolve_threads(n_threads):
    """A thread count the kernels and their workspaces agree on, at most
    _MAX_THREADS: 0 (the OpenMP default) read once, here, rather than by
    every call."""
    n = n_threads if n_threads > 0 else _kernels.max_threads()
    return min(max(n, 1), _MAX_THREADS)


def _all_or_nothing(fit):
    """Make a fit method leave the estimator as it was when it raises or is
    interrupted (Ctrl-C): a half-done fit never leaves a model that looks
    fitted but is not (new n_features_in_ with old weights, a network
    without its weights, a curve longer than n_iter_ ...).  Divergence
    (FloatingPointError) is the exception: it keeps the last finite epoch,
    see ``_stop_if_diverged``."""
    @functools.wraps(fit)
    def wrapper(self, *args, **kwargs):
        me = threading.get_ident()
        if self.__dict__.setdefault("_fitting", me) != me:
            raise RuntimeError(
                f"this {type(self).__name__} is being fitted in another "
                "thread: fit a clone (sklearn.base.clone) in each thread")
        try:
            return _restore_on_failure(fit, self, args, kwargs)
        finally:
            self.__dict__.pop("_fitting", None)
    return wrapper


def _restore_on_failure(fit, self, args, kwargs):
    """``fit(self, ...)``, leaving ``self`` as it was if it raises."""
    state = dict(self.__dict__)
    # What fit changes in place rather than replaces: the weights of a
    # continued network, the optimiser state, the curves.
    net = state.get("_net")
    params = None if net is None else net.params.copy()
    contents = {k: v.copy() for k, v in state.items()
                if isinstance(v, (list, np.ndarray))}
    try:
        return fit(self, *args, **kwargs)
    except FloatingPointError:
        raise
    except BaseException:
        self.__dict__.clear()
        self.__dict__.update(state)
        for k, v in contents.items():
            if isinstance(v, list):
                state[k][:] = v
            elif state[k].flags.writeable:   # else it was not changed
                state[k][...] = v
        if params is not None and net.params.flags.writeable:
            net.params[...] = params
        raise


# The order of a batch of one sequence; read-only, as every such batch
# shares it.
_ORDER_OF_ONE = np.zeros(1, np.intp)
_ORDER_OF_ONE.flags.writeable = False


def _pad(seqs, idx, buffers):
    """A batch of sequences ``idx`` (each in ``[0, len(seqs))``) in a reused
    buffer (see pad_batch).  One sequence's packed rows already are its
    batch ``(T, 1, F)``, so they are used in place: no copy."""
    codes = seqs.dtype == np.int64      # token codes: (T, B), not (T, B, 1)
    if len(idx) == 1:
        i = idx[0]
        start, stop = seqs.offsets[i], seqs.offsets[i + 1]
        x = seqs.data[start:stop].reshape(
            (stop - start, 1) if codes else
            (stop - start, 1, seqs.n_features))
        return x, seqs.lengths[i:i + 1], _ORDER_OF_ONE
    need = int(seqs.lengths[idx].max()) * len(idx) * seqs.n_features
    x, lengths, order = pad_batch(
        seqs, idx, out=buffers.get("codes", (need,), np.int64) if codes
        else buffers.get("x", (need,)))
    return (x.reshape(x.shape[:2]) if codes else x), lengths, order


class _SequenceData:
    """Training data of the sequence estimators: the checked sequences, the
    encoded targets, the sample weights, and which sequences train and
    which are held out for validation (None: none)."""

    def __init__(self, seqs, targets, weights, train, validation=None):
        self.seqs, self.targets, self.weights = seqs, targets, weights
        self.train, self.validation = train, validation

    def largest_batch(self, est):
        """(T, B) of the largest batch the loop will make."""
        T = int(self.seqs.lengths[self.train].max())
        if est._per_step and est.tbptt_length:
            T = min(T, est.tbptt_length)
        return T, min(est.batch_size, len(self.train))


class _Run:
    """The scratch one fit or predict call works in: the thread count,
    resolved once; the calling thread's buffers; one workspace sized once
    for the call's largest batch (T, B) and every kernel it calls; and, for
    training, the gradient buffer with its views and layer descriptors."""

    def __init__(self, est, T, B, train, n_threads=None):
        net = est._net
        self.n_threads = _resolve_threads(
            _n_threads(est.n_jobs) if n_threads is None else n_threads)
        self.buffers = est._buffers()
        self.workspace = self.buffers.workspace(max(
            net.workspace_size(T, B, self.n_threads),
            _kernels.gemm_workspace_size(self.n_threads)))
        if train:
            self.grads = aligned_zeros(net.params.size, net.dtype)
            self.gviews, self.glayers = net.gradient_layers(self.grads)
        # The epoch's bookkeeping (seqnet._monitor), set by the loop.
        self.monitor = None


class BaseSequenceEstimator(BaseEstimator):
    """Shared constructor, training loop, prediction and persistence."""

    _parameter_constraints = {
        "cell": [StrOptions(set(CELLS))],
        "hidden_sizes": ["array-like", Interval(Integral, 1, None,
                                                closed="left")],
        "bidirectional": ["boolean"],
        "peepholes": ["boolean"],
        "activation": [StrOptions({"tanh", "relu", "softsign"})],
        "forget_bias": [Real],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "l1": [Interval(Real, 0, None, closed="left")],
        "l2": [Interval(Real, 0, None, closed="left")],
        "optimizer": [StrOptions(set(_kernels.OPTIMIZERS))],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "learning_rate_schedule": [StrOptions(set(SCHEDULES))],
        "learning_rate_decay": [None, Interval(Real, 0, 1, closed="right")],
        "learning_rate_patience": [Interval(Integral, 1, None,
                                            closed="left")],
        "min_learning_rate": [Interval(Real, 0, None, closed="left")],
        "warmup_epochs": [Interval(Integral, 0, None, closed="left")],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "tbptt_length": [None, Interval(Integral, 1, None, closed="left")],
        "clip_norm": [None, Interval(Real, 0, None, closed="neither")],
        "clip_value": [None, Interval(Real, 0, None, closed="neither")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "warm_start": ["boolean"],
        "random_state": ["random_state"],
        "n_jobs": [None, Integral],
        "dtype": [StrOptions({"float32", "float64"})],
        "verbose": ["verbose"],
        "input": [StrOptions({"auto", "numeric", "tokens"})],
        "embedding_size": [None, Interval(Integral, 1, None, closed="left")],
        "min_frequency": [Interval(Integral, 1, None, closed="left")],
        "max_tokens": [None, Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, *, cell="lstm", hidden_sizes=(64,),
                 bidirectional=False, peepholes=False, activation="tanh",
                 forget_bias=1.0, dropout=0.0, l1=0.0, l2=0.0,
                 optimizer="adam", learning_rate=1e-3, momentum=0.9,
                 batch_size=32, max_epochs=100, tbptt_length=None,
                 clip_norm=5.0, clip_value=None, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=10, tol=1e-4,
                 warm_start=False, random_state=None, n_jobs=None,
                 dtype="float32", verbose=0, input="auto",
                 embedding_size=None, min_frequency=1, max_tokens=None,
                 learning_rate_schedule="constant", learning_rate_decay=None,
                 learning_rate_patience=2, min_learning_rate=0.0,
                 warmup_epochs=0):
        self.cell = cell
        self.hidden_sizes = hidden_sizes
        self.bidirectional = bidirectional
        self.peepholes = peepholes
        self.activation = activation
        self.forget_bias = forget_bias
        self.dropout = dropout
        self.l1 = l1
        self.l2 = l2
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.tbptt_length = tbptt_length
        self.clip_norm = clip_norm
        self.clip_value = clip_value
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.warm_start = warm_start
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.dtype = dtype
        self.verbose = verbose
        self.input = input
        self.embedding_size = embedding_size
        self.min_frequency = min_frequency
        self.max_tokens = max_tokens
        self.learning_rate_schedule = learning_rate_schedule
        self.learning_rate_decay = learning_rate_decay
        self.learning_rate_patience = learning_rate_patience
        self.min_learning_rate = min_learning_rate
        self.warmup_epochs = warmup_epochs

    # ---------------------------------------------------- subclass hooks
    # _per_step: the loss is on every step (tagger) instead of the last.
    _per_step = False

    def _encode_targets(self, y, seqs, fitting):
        """Targets as the loss kernel wants them, aligned with ``seqs``."""
        raise NotImplementedError

    def _n_outputs(self):
        raise NotImplementedError

    def _batch_targets(self, targets, idx, order, lengths):
        """Targets of one batch, in the batch's (sorted) row order; for
        per-step objectives, time-major ``(T*B, ...)``."""
        raise NotImplementedError

    def _score_outputs(self, outputs, targets, idx):
        """Validation score of the head's outputs for sequences ``idx``."""
        raise NotImplementedError

    def _validation_loss(self, outputs, targets, idx):
        """Mean loss of the head's outputs for sequences ``idx``."""
        raise NotImplementedError

    # The output layer's C kernel, fused with its loss, by name:
    # "softmax_xent" or "linear_mse" (one signature).
    _head_kernel = None

    def _head_loss(self, run, feats, tgt, w, d_feats):
        """Loss kernel over the features: returns the weighted loss sum,
        writes d_feats (when given) and accumulates the head's gradients
        into the run's."""
        net, g = self._net, run.gviews
        grad = run.buffers.get("head_grad", (feats.shape[0], net.n_outputs))
        return getattr(_kernels, self._head_kernel)(
            grad, d_feats, g["output.V"], g["output.c"], feats,
            net.views["output.V"], net.views["output.c"], tgt, w,
            run.workspace, run.n_threads)

    def _head_predict(self, feats, out, workspace, n_threads):
        """The head's outputs (probabilities or values) into ``out``."""
        net = self._net
        getattr(_kernels, self._head_kernel)(
            out, None, None, None, feats, net.views["output.V"],
            net.views["output.c"], None, None, workspace, n_threads)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags

    # ---------------------------------------------------------- plumbing

    def _real_dtype(self):
        return np.dtype(self.dtype)

    def _check_X(self, X, reset):
        """X as a SequenceData: features of the model's dtype, or int64
        token codes (n_steps, 1) for a model of tokens.  ``reset`` (the
        first fit) decides which, by ``input``, and fixes n_features_in_
        or vocabulary_."""
        tokens = self._reads_tokens(X) if reset else \
            "vocabulary_" in self.__dict__
        if tokens:
            return self._check_tokens(X, reset)
        if reset and self.embedding_size is not None:
            raise ValueError(
                "embedding_size needs token input (a list of str or of token "
                "sequences, or input='tokens'); X holds numeric features")
        check_feature_names(self, X, reset=reset)
        seqs = check_sequences(
            X, dtype=self._real_dtype() if reset else self._net.dtype,
            estimator=self,
            ensure_n_features=None if reset else self.n_features_in_)
        if reset:
            self.n_features_in_ = seqs.n_features
            self._n_inputs = seqs.n_features
            self.__dict__.pop("vocabulary_", None)
            self.__dict__.pop("_vocabulary", None)
        return seqs

    def _reads_tokens(self, X):
        """Whether X is read as tokens: by ``input``, or for "auto" by what
        X holds (see seqnet._tokens.looks_like_tokens)."""
        if self.input == "auto":
            return looks_like_tokens(X)
        return self.input == "tokens"

    def _check_tokens(self, X, reset):
        seqs = token_sequences(X, self, numbers_are_tokens=self.input ==
                               "tokens")
        if reset:
            vocab = Vocabulary(seqs, self.min_frequency, self.max_tokens)
            self._vocabulary = vocab
            self.vocabulary_ = dict(vocab.index)
            self._n_inputs = len(vocab)
            self.__dict__.pop("n_features_in_", None)
        return self._vocabulary.encode(seqs, warn_unseen=not reset)

    def _check_fitted(self):
        """``check_is_fitted(self, "_net")`` (without its tag look-ups when
        the model is fitted), and not while another thread fits it: the
        model would change under the prediction."""
        fitting = self.__dict__.get("_fitting")
        if fitting is not None and fitting != threading.get_ident():
            raise RuntimeError(
                f"this {type(self).__name__} is being fitted in another "
                "thread; predict once that fit has returned")
        if "_net" not in self.__dict__:
            check_is_fitted(self, "_net")

    def _hidden(self):
        sizes = self.hidden_sizes
        if isinstance(sizes, Integral):
            return (int(sizes),)
        sizes = tuple(sizes)
        if not sizes or any(not isinstance(h, Integral) or h < 1
                            for h in sizes):
            raise ValueError("hidden_sizes must be a positive int or a "
                             f"non-empty sequence of them, got {sizes!r}")
        return sizes

    def _new_network(self):
        return Network(self.cell, self._hidden(), self.bidirectional,
                       self.peepholes, self.activation, self._n_inputs,
                       self._n_outputs(), self._real_dtype(),
                       self.embedding_size
                       if "vocabulary_" in self.__dict__ else None)

    def _buffers(self):
        """The calling thread's scratch arrays, reused from batch to batch
        and call to call.  Per thread, because the kernels release the GIL:
        threads predicting with one model at once must not share a
        workspace (its row counts steer the kernels' writes)."""
        cache = self.__dict__.get("_buffer_cache")
        if cache is None:
            # Two threads may both get here; each keeps the cache it made.
            cache = self._buffer_cache = threading.local()
        buffers = getattr(cache, "buffers", None)
        if buffers is None or buffers.dtype != self._net.dtype:
            buffers = cache.buffers = Buffers(self._net.dtype)
        return buffers

    def _optimizer_config(self):
        return dict(optimizer=self.optimizer,
                    learning_rate=self._rate_in_force(),
                    momentum=float(self.momentum), l1=float(self.l1),
                    l2=float(self.l2),
                    clip_value=float(self.clip_value or 0.0),
                    clip_norm=float(self.clip_norm or 0.0))

    def _rate_in_force(self):
        """The learning rate of the epoch being trained: the schedule's
        (seqnet._schedules), or ``learning_rate`` outside a fit."""
        schedule = self.__dict__.get("_schedule")
        return float(self.learning_rate) if schedule is None \
            else schedule.rate

    # ------------------------------------------------------------ training
    # One loop for every estimator: _fit checks the data (_training_data),
    # starts or continues the network, and runs epochs (_train_epoch) with
    # validation (_validate), divergence handling, early stopping with
    # restore, verbose lines and the convergence warning.  Estimators
    # differ in their data, batching, head and scoring.

    @_all_or_nothing
    def _fit(self, X, y=None, sample_weight=None, incremental=False,
             classes=None, max_time=None):
        self._validate_params()
        self._check_config()
        check_schedule(self)
        first = not (incremental or self.warm_start) or \
            "_net" not in self.__dict__
        if not first:
            self._check_same_network()
        data = self._training_data(X, y, sample_weight, first, classes)
        rng = check_random_state(self.random_state)
        if first:
            self._init_network(rng)
        self._start_training(rng, reset_optimizer=first or not incremental)
        if self.early_stopping and not incremental:
            data = self._hold_out(data, rng)
        run = self._new_run(data, train=True)
        self._train_loop(data, run, rng, incremental, max_time)
        return self

    def _init_network(self, rng):
        """A new network with weights drawn from ``rng`` and empty curves:
        what the first fit (and ``initialize``) starts from."""
        self._net = self._new_network()
        self._net.initialize(np.random.default_rng(rng.randint(2**31)),
                             self.forget_bias)
        self.loss_curve_ = []
        self.validation_loss_curve_ = []
        self.validation_scores_ = []
        self.best_validation_score_ = None
        self.history_ = []
        self.n_iter_ = 0
        self._state_version = _STATE_VERSION

    def _train_loop(self, data, run, rng, incremental, max_time,
                    train_epoch=None):
        """Epochs of ``train_epoch`` (default ``self._train_epoch``; the
        data-parallel trainer of seqnet.dask passes its own) with
        validation, divergence handling and early stopping."""
        train_epoch = train_epoch or self._train_epoch
        epochs = 1 if incremental else self.max_epochs
        best_loss, best_params, stall = np.inf, None, 0
        start = time.perf_counter()
        deadline = None if max_time is None else start + max_time
        converged = incremental
        # A copy, so that a fit that fails leaves the old one (see
        # _all_or_nothing).
        self._schedule = schedule = copy.copy(self._schedule)
        history = self.__dict__.setdefault("history_", [])
        for _ in range(epochs):
            before = self._epoch_start()
            rate = schedule.start_epoch(self)
            run.monitor = self._epoch_monitor(run)
            loss, note = train_epoch(data, run, rng, deadline)
            self._stop_if_diverged(loss, before)
            self.n_iter_ += 1
            self.loss_curve_.append(loss)
            line = f"epoch {self.n_iter_}: loss {loss:.5f}"
            monitored, v_loss, v_score = loss, None, None
            if data.validation is not None:
                v_loss, v_score = self._validate(data, run.n_threads)
                self.validation_loss_curve_.append(v_loss)
                self.validation_scores_.append(v_score)
                line += f", validation loss {v_loss:.5f} score {v_score:.4f}"
                monitored = v_loss
            history.append(self._history_entry(run.monitor, loss, v_loss,
                                               v_score, rate))
            schedule.end_epoch(self, monitored)
            run.monitor = None
            if self.verbose:
                elapsed = time.perf_counter() - start
                print(f"{line} ({note + ', ' if note else ''}"
                      f"{elapsed:.1f}s)", flush=True)
            if deadline is not None and time.perf_counter() >= deadline:
                converged = True    # the budget asked for is spent
                break
            if incremental:
                continue
            if monitored < best_loss - self.tol:
                best_loss, stall = monitored, 0
                if data.validation is not None:
                    best_params = self._net.params.copy()
                    self.best_validation_score_ = self.validation_scores_[-1]
            else:
                stall += 1
                if stall >= self.n_iter_no_change:
                    converged = True
                    break
        if best_params is not None:
            self._net.params[...] = best_params
        if not converged:
            warnings.warn(f"{type(self).__name__} stopped after max_epochs="
                          f"{self.max_epochs} epochs without converging.",
                          ConvergenceWarning)

    def _epoch_monitor(self, run):
        """The bookkeeping of the next epoch (its ``history_`` entry and
        progress lines)."""
        return EpochMonitor(self._net, self.clip_norm, self.verbose,
                            self.n_iter_ + 1)

    def _history_entry(self, monitor, loss, v_loss, v_score, rate):
        summary = monitor.summary()
        return {"epoch": self.n_iter_, "loss": float(loss),
                "validation_loss": None if v_loss is None else float(v_loss),
                "validation_score": None if v_score is None
                else float(v_score),
                "learning_rate": rate, **summary}

    def _check_same_network(self):
        """Continuing to train (warm_start, partial_fit) needs the network
        the parameters describe: one whose architecture or dtype they no
        longer describe would go on training while get_params() says
        otherwise."""
        asked, have = self._new_network_spec(), self._fitted_network_spec()
        changed = [f"{k} {have[k]!r} -> {asked[k]!r}" for k in asked
                   if asked[k] != have[k]]
        if changed:
            raise ValueError(
                f"this {type(self).__name__} was fitted with another "
                f"network ({'; '.join(changed)}): continuing to train "
                "(warm_start=True or partial_fit) keeps the fitted one; set "
                "the parameters back, or fit with warm_start=False to "
                "start anew")

    def _fitted_network_spec(self):
        """The fitted network's architecture, as _new_network_spec gives
        it."""
        net = self._net
        return dict(cell=net.cell, hidden_sizes=net.hidden_sizes,
                    bidirectional=net.directions == 2,
                    peepholes=net.peepholes, activation=net.activation,
                    dtype=net.dtype.name, embedding_size=net.embedding_size)

    def _new_network_spec(self):
        """What the parameters ask of the network, as Network records it."""
        info = _kernels.CELLS[self.cell]
        tokens = "vocabulary_" in self.__dict__
        return dict(cell=self.cell, hidden_sizes=self._hidden(),
                    bidirectional=bool(getattr(self, "bidirectional", False)),
                    peepholes=bool(self.peepholes) and info.peepholes,
                    activation=self.activation if info.activation
                    else "tanh",
                    dtype=self._real_dtype().name,
                    embedding_size=getattr(self, "embedding_size", None)
                    if tokens else None)

    def _check_config(self):
        """Parameter combinations the constraints cannot express."""
        if (self.tbptt_length is not None and self.bidirectional
                and self._per_step):
            raise ValueError("tbptt_length needs a unidirectional network: "
                             "a backward direction cannot carry its state "
                             "across chunks")

    def _training_data(self, X, y, sample_weight, first, classes):
        """The checked training data (a ``_SequenceData``); on the first
        fit, also what it fixes: n_features_in_, classes_ ..."""
        if first:
            seqs = self._check_X(X, reset=True)
            self._classes_arg = classes
        else:
            seqs = self._check_X(X, reset=False)
        targets = self._encode_targets(y, seqs, fitting=first)
        weights = self._sample_weights(sample_weight, seqs, targets)
        return _SequenceData(seqs, targets, weights, np.arange(len(seqs)))

    def _new_run(self, data, train):
        """The scratch of one fit (or predict) call, its workspace sized
        for the largest batch the data makes."""
        T, B = data.largest_batch(self)
        return _Run(self, T, B, train)

    def _start_training(self, rng, reset_optimizer):
        """The optimiser state every fit trains with (zeroed when
        ``reset_optimizer``, else continued) and the dropout seed, drawn
        from ``rng``."""
        if reset_optimizer:
            self._opt_state = aligned_zeros(2 * self._net.params.size,
                                            self._net.dtype)
            self._n_updates = 0
        if reset_optimizer or "_schedule" not in self.__dict__:
            # The schedule starts and continues with the optimiser state.
            self._schedule = Schedule(self)
        self._check_writeable()
        self._seed = int(rng.randint(2**31))

    def _check_writeable(self):
        """Continuing to train needs weights it can write."""
        if not (self._net.params.flags.writeable
                and self._opt_state.flags.writeable):
            raise ValueError(
                f"this {type(self).__name__}'s weights are read-only (loaded "
                "with joblib.load(..., mmap_mode='r')?): load it without "
                "mmap_mode to continue training it, or fit it anew")

    def _epoch_start(self):
        """What ``_stop_if_diverged`` restores: weights, optimiser state and
        update count at the start of an epoch."""
        return (self._net.params.copy(), self._opt_state.copy(),
                self._n_updates)

    def _stop_if_diverged(self, loss, before):
        """Raise FloatingPointError, with the weights and optimiser state of
        the epoch's start restored, if the loss or the weights are no longer
        finite.  An update can overflow the weights before any loss shows
        it (always so for the epoch's last one): both are checked."""
        problem = None
        if not np.isfinite(loss):
            problem = f"the loss became {loss}"
        elif not np.isfinite(self._net.params).all():
            problem = "the weights became infinite or NaN"
        if problem:
            params, opt_state, n_updates = before
            self._net.params[...] = params
            self._opt_state[...] = opt_state
            self._n_updates = n_updates
            raise FloatingPointError(
                f"training diverged: {problem} in epoch {self.n_iter_ + 1}; "
                "the weights of the previous epoch were kept. Lower "
                "learning_rate or set clip_norm.")

    def _hold_out(self, data, rng):
        """The data with ``validation_fraction`` of it held out."""
        from sklearn.model_selection import train_test_split
        idx = np.arange(len(data.seqs))
        stratify = self._stratify_labels(data.targets)
        try:
            train, val = train_test_split(
                idx, test_size=self.validation_fraction, stratify=stratify,
                random_state=rng.randint(2**31))
        except ValueError:
            # Too few samples of some class to stratify: split plainly.
            train, val = train_test_split(
                idx, test_size=self.validation_fraction,
                random_state=rng.randint(2**31))
        if len(train) == 0 or len(val) == 0:
            raise ValueError("validation_fraction leaves no training or no "
                             f"validation sequences out of {len(idx)}")
        return _SequenceData(data.seqs, data.targets, data.weights,
                             np.sort(train), np.sort(val))

    def _stratify_labels(self, targets):
        return None

    def _sample_weights(self, sample_weight, seqs, targets):
        if sample_weight is None:
            return None
        w = np.asarray(sample_weight, dtype=np.float64)
        if w.shape != (len(seqs),):
            raise ValueError(f"sample_weight has shape {w.shape}, expected "
                             f"({len(seqs)},)")
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError("sample_weight must be finite and non-negative")
        if not w.sum() > 0:
            raise ValueError("sample_weight is zero for every sequence: "
                             "there is nothing to fit")
        return w

    def _batches(self, idx, rng, shuffle=True):
        idx = rng.permutation(idx) if shuffle else idx
        for start in range(0, len(idx), self.batch_size):
            yield idx[start:start + self.batch_size]

    def _train_epoch(self, data, run, rng, deadline):
        """One pass over the training data, an update per batch (or
        truncated-BPTT chunk); returns the epoch's mean loss and a note
        for the verbose line."""
        total, count = self._train_on(
            data, run, self._batches(data.train, rng), deadline,
            n_batches=-(-len(data.train) // self.batch_size))
        if count == 0:
            raise ValueError("every training sequence has sample weight zero")
        return total / count, ""

    def _train_on(self, data, run, batches, deadline=None, n_batches=None):
        """An update per batch (or truncated-BPTT chunk) of ``batches``
        (arrays of sequence indices; ``n_batches`` of them, for the
        progress line, when known); returns the weighted loss sum and the
        weight it is a sum over."""
        seqs, targets, weights = data.seqs, data.targets, data.weights
        total, count = 0.0, 0.0
        for done, batch in enumerate(batches, 1):
            x, lengths, order = _pad(seqs, batch, run.buffers)
            idx = batch[order]
            tgt = self._batch_targets(targets, idx, order, lengths)
            w = self._row_weights(weights, idx, lengths, tgt)
            if not w.sum() > 0:
                continue  # nothing to learn from (all weights zero)
            if self._per_step and self.tbptt_length:
                loss_sum, norm, _ = self._step_tbptt(run, x, lengths, tgt, w)
            else:
                loss, norm, _ = self._step(run, x, lengths, tgt, w)
                loss_sum = loss * norm
            total += loss_sum
            count += norm
            if run.monitor is not None and n_batches is not None:
                run.monitor.progress(done, n_batches)
            if deadline is not None and time.perf_counter() >= deadline:
                break
        return total, count

    def _row_weights(self, weights, idx, lengths, tgt):
        """Loss weight of every row the head sees: sample weight times class
        weight, and zero on the padding of per-step objectives."""
        sw = np.ones(len(idx)) if weights is None else weights[idx]
        if self._per_step:
            valid = np.arange(int(lengths[0]))[:, None] < lengths[None, :]
            sw = (valid * sw[None, :]).reshape(-1)
        return (sw * self._class_weights_for(tgt)).astype(self._net.dtype)

    def _class_weights_for(self, tgt):
        return 1.0

    def _step(self, run, x, lengths, tgt, w, initial=None):
        """One forward, loss, backward and update; returns the batch's mean
        loss, its weight in the epoch mean and the forward's trace."""
        net = self._net
        self._n_updates += 1
        # The loss is the weighted mean over the batch's sequences (or valid
        # steps), normalised by the sum of the weights as in scikit-learn's
        # MLP: scaling every sample weight by a constant changes nothing.
        # (A truncated-BPTT chunk may weigh zero; it still carries the state.)
        norm = float(w.sum(dtype=np.float64))
        w_norm = (w / norm if norm > 0 else w).astype(net.dtype)
        out, fin, trace = net.forward(
            x, lengths, run.buffers, run.workspace, run.n_threads,
            dropout=self.dropout, seed=self._seed, stream=self._n_updates,
            initial=initial, train=True)
        run.grads.fill(0)
        feats = out.reshape(-1, out.shape[-1]) if self._per_step else fin
        d_feats = run.buffers.get("d_feats", feats.shape)
        loss = self._head_loss(run, feats, tgt, w_norm, d_feats)
        if self._per_step:
            d_out, d_final = d_feats.reshape(out.shape), None
        else:
            d_out, d_final = None, d_feats
        net.backward(trace, d_out, d_final, lengths, run.glayers,
                     run.buffers, run.workspace, run.n_threads,
                     dropout=self.dropout, seed=self._seed,
                     stream=self._n_updates)
        grad_norm = _kernels.optim_step(
            net.params, run.grads, self._opt_state, net.decay,
            step=self._n_updates, n_threads=run.n_threads,
            **self._optimizer_config())
        if run.monitor is not None:
            run.monitor.after_update(net.params, grad_norm, loss)
        return loss, norm, trace

    def _step_tbptt(self, run, x, lengths, tgt, w, initial=None):
        """Truncated BPTT: chunks of tbptt_length steps, one update each,
        the state carried (without gradient) from chunk to chunk, starting
        from ``initial`` (None: zero).  Returns the batch's weighted loss
        sum and weight (a single chunk adds up exactly as ``_step`` does, so
        tbptt_length >= T changes nothing) and the last chunk's trace."""
        T, B = x.shape[:2]
        L = self.tbptt_length
        n_out = tgt.shape[1:] if tgt.ndim > 1 else ()
        tgt = tgt.reshape((T, B) + n_out)
        w = w.reshape(T, B)
        total, count, carried, trace = 0.0, 0.0, initial, None
        for t0 in range(0, T, L):
            t1 = min(T, t0 + L)
            rows = int(np.count_nonzero(lengths > t0))
            chunk_len = np.minimum(lengths[:rows] - t0, t1 - t0)
            xc = np.ascontiguousarray(x[t0:t1, :rows])
            tc = np.ascontiguousarray(tgt[t0:t1, :rows]).reshape(
                (-1,) + n_out)
            wc = np.ascontiguousarray(w[t0:t1, :rows]).reshape(-1)
            start = None
            if carried is not None:
                start = [[(h[:rows].copy(), None if c is None
                           else c[:rows].copy()) for h, c in layer]
                         for layer in carried]
            loss, norm, trace = self._step(run, xc, chunk_len.astype(
                np.int64), tc, wc, initial=start)
            carried = [[(h.copy(), None if c is None else c.copy())
                        for h, c in layer] for layer in trace.final_states()]
            total += loss * norm
            count += norm
        return total, count, trace

    # ------------------------------------------------------ training state
    # The public pieces of the loop, for loops seqnet does not run itself
    # (seqnet.dask.DataParallel, or a user's Ray, MPI or Spark glue):
    # start a model without training, read and write its parameters and
    # optimiser state, and make a given number of updates from that state.

    @_all_or_nothing
    def initialize(self, X, y=None, classes=None):
        """Start the model without training it: fix the inputs (and, for
        classifiers, the classes), build the network with weights drawn
        from ``random_state`` and zero the optimiser state.

        The weights and the dropout seed are those ``fit`` starts from
        with the same ``random_state`` and data.  ``train_batches`` and
        ``partial_fit`` continue from this state; ``fit`` starts anew
        (unless ``warm_start``).

        Parameters
        ----------
        X : sequences
            A sample of the training data (the feature count, or the
            vocabulary of token input, is read from it).
        y : targets of X, optional
            Fixes the classes (when ``classes`` is None) or, for a
            regressor (where it is required), the number of outputs.
        classes : array-like, optional
            Every class the model will see (classifiers); with it, ``y``
            may be omitted.

        Returns
        -------
        self
        """
        self._validate_params()
        self._check_config()
        rng = check_random_state(self.random_state)
        self._initial_data(X, y, classes)
        self._init_network(rng)
        self._start_training(rng, reset_optimizer=True)
        return self

    def _initial_data(self, X, y, classes):
        """What ``initialize`` reads from its sample: as the first fit."""
        self._training_data(X, y, None, True, classes)

    def get_parameters(self):
        """A copy of every parameter as one flat vector (the model's
        dtype), in the order of ``parameters_``."""
        self._check_fitted()
        return self._net.params.copy()

    def set_parameters(self, parameters):
        """Set every parameter from one flat vector, as ``get_parameters``
        returns it: floating point, finite, of the model's size (converted
        to the model's dtype).  Returns self."""
        self._check_fitted()
        self._check_writeable()
        self._net.params[...] = self._checked_vector(
            parameters, "parameters", (self._net.params.size,))
        return self

    def get_optimizer_state(self):
        """The optimiser's state, as a dict of plain values:
        ``"step"`` (int) the updates made so far (Adam's bias correction
        reads it), and ``"moments"`` a (2, n_parameters) array of the
        model's dtype (Adam's first and second moments; one row for
        momentum, AdaGrad and RMSProp; zeros for SGD)."""
        self._check_fitted()
        return {"step": int(self._n_updates),
                "moments": self._opt_state.reshape(2, -1).copy()}

    def set_optimizer_state(self, state):
        """Set the optimiser's state from a dict as
        ``get_optimizer_state`` returns it.  Returns self."""
        self._check_fitted()
        self._check_writeable()
        if not isinstance(state, dict) or set(state) != {"step", "moments"}:
            raise TypeError("the optimizer state must be a dict with the "
                            "keys 'step' and 'moments', as "
                            "get_optimizer_state returns")
        step = state["step"]
        if isinstance(step, (bool, np.bool_)) or \
                not isinstance(step, Integral) or step < 0:
            raise ValueError("the optimizer state's step must be an int >= "
                             f"0, got {step!r}")
        moments = self._checked_vector(
            state["moments"], "the optimizer state's moments",
            (2, self._net.params.size))
        self._opt_state[...] = moments.reshape(-1)
        self._n_updates = int(step)
        return self

    def _checked_vector(self, values, name, shape):
        """``values`` as the model's dtype, if it is finite floating point
        of ``shape``; else a clear error."""
        arr = np.asarray(values)
        if arr.dtype.kind != "f":
            raise TypeError(f"{name} must be floating point, got dtype "
                            f"{arr.dtype}")
        if arr.shape != shape:
            raise ValueError(f"{name} must have shape {shape}, got "
                             f"{arr.shape}")
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} hold NaN or infinity")
        return arr.astype(self._net.dtype, copy=False)

    @_all_or_nothing
    def train_batches(self, X, y=None, sample_weight=None, n_batches=None):
        """Make one update per minibatch of (X, y) from the current state.

        X is cut, in its order, into minibatches of ``batch_size``
        sequences (the last may be smaller); each makes the update ``fit``
        makes on it (the same batch step: forward, loss, backward,
        optimiser step; truncated BPTT chunks for a tagger with
        ``tbptt_length``).  Nothing is shuffled, held out or counted as an
        epoch: ``n_iter_`` and the curves stay as they are.  The model must
        be fitted or initialised (see ``initialize``).

        Parameters
        ----------
        X, y, sample_weight : as for ``fit``
        n_batches : int, optional
            Train on the first ``n_batches`` minibatches only (default:
            all of them).

        Returns
        -------
        loss : float
            The mean training loss over the batches trained on, before
            each update (weighted as the epoch loss of ``fit``).

        Examples
        --------
        Two copies trained on halves of the data, their parameters
        averaged: one round of synchronous data-parallel training.

        >>> import numpy as np
        >>> from seqnet import SequenceClassifier
        >>> rng = np.random.default_rng(0)
        >>> X, y = rng.normal(size=(64, 10, 3)), rng.integers(0, 2, 64)
        >>> a = SequenceClassifier(hidden_sizes=8, batch_size=16,
        ...                        random_state=0).initialize(X, y)
        >>> b = SequenceClassifier(hidden_sizes=8, batch_size=16,
        ...                        random_state=0).initialize(X, y)
        >>> _ = a.train_batches(X[:32], y[:32], n_batches=2)
        >>> _ = b.train_batches(X[32:], y[32:], n_batches=2)
        >>> theta = (a.get_parameters() + b.get_parameters()) / 2
        >>> a.set_parameters(theta).get_optimizer_state()["step"]
        2
        """
        self._check_fitted()
        self._validate_params()
        self._check_config()
        self._check_same_network()
        data = self._training_data(X, y, sample_weight, False, None)
        batches = list(self._batches(data.train, None, shuffle=False))
        if n_batches is not None:
            if isinstance(n_batches, (bool, np.bool_)) or \
                    not isinstance(n_batches, Integral) or n_batches < 1:
                raise ValueError("n_batches must be a positive int, got "
                                 f"{n_batches!r}")
            if n_batches > len(batches):
                raise ValueError(
                    f"n_batches={n_batches} but X makes {len(batches)} "
                    f"batches of batch_size={self.batch_size}")
            batches = batches[:n_batches]
        self._check_writeable()
        before = self._epoch_start()
        total, count = self._train_on(data, self._new_run(data, True),
                                      batches)
        if count == 0:
            raise ValueError("every training sequence has sample weight zero")
        self._stop_if_diverged(total / count, before)
        return total / count

    # ---------------------------------------------------------- inference

    def _forward_outputs(self, seqs, idx=None, n_threads=None):
        """Head outputs (probabilities or values) for sequences ``idx``,
        in that order: (n, K) for many-to-one, or for per-step heads a list
        of (T_i, K) arrays."""
        self._check_fitted()
        net = self._net
        idx = np.arange(len(seqs)) if idx is None else idx
        K = net.n_outputs
        n = len(idx)
        per_batch, t_max = 1, 1
        if n > 1:
            G = max(net.hidden_sizes) * net.info.n_gates
            t_max = int(seqs.lengths[idx].max())
            per_batch = max(1, min(n, _PREDICT_BATCH_ELEMENTS // (t_max * G)))
        elif n == 1:
            t_max = int(seqs.lengths[idx[0]])
        run = _Run(self, t_max, per_batch, train=False, n_threads=n_threads)
        buffers = run.buffers
        results = [None] * n if self._per_step else np.empty((n, K), net.dtype)
        for start in range(0, n, per_batch):
            stop = min(n, start + per_batch)
            x, lengths, order = _pad(seqs, idx[start:stop], buffers)
            out, fin, _ = net.forward(x, lengths, buffers, run.workspace,
                                      run.n_threads)
            feats = out.reshape(-1, out.shape[-1]) if self._per_step else fin
            probs = buffers.get("head_out", (feats.shape[0], K))
            self._head_predict(feats, probs, run.workspace, run.n_threads)
            if self._per_step:
                probs = probs.reshape(out.shape[0], out.shape[1], K)
                for j, p in enumerate(order):
                    results[start + p] = probs[:lengths[j], j].copy()
            elif stop - start == 1:
                results[start] = probs[0]  # no fancy-indexed store
            else:
                results[start:stop][order] = probs
        return results

    def _validate(self, data, n_threads):
        """Mean loss and score on the held-out sequences."""
        idx = data.validation
        outputs = self._forward_outputs(data.seqs, idx, n_threads)
        return self._validation_loss(outputs, data.targets, idx), \
            self._score_outputs(outputs, data.targets, idx)

    # -------------------------------------------------------- persistence

    @property
    def parameters_(self):
        """The fitted parameters as named NumPy views into one buffer
        (``layer0.forward.W`` is (inputs, gates*hidden), gate blocks in the
        order of csrc/seqnet.h; ``output.V``, ``output.c`` the head)."""
        check_is_fitted(self, "_net")
        return dict(self._net.views)

    def save(self, path):
        """Write the fitted model to ``path`` in seqnet's safe format
        (JSON and plain arrays, no pickle; see ``seqnet.load``), with
        everything ``predict``, ``partial_fit`` and ``warm_start`` need,
        the optimiser state included."""
        from ._persist import save
        save(self, path)

    def __getstate__(self):
        state = self.__dict__.copy()
        for scratch in ("_buffer_cache", "_fitting"):
            state.pop(scratch, None)
        return state

    def __setstate__(self, state):
        version = state.get("_state_version", _STATE_VERSION)
        if not isinstance(version, int) or version < 1:
            raise ValueError(f"this {type(self).__name__}'s saved state has "
                             f"no valid format version ({version!r}): the "
                             "file is damaged or not a seqnet model")
        if version > _STATE_VERSION:
            raise ValueError(
                f"this {type(self).__name__} was saved by a newer seqnet "
                f"(state format {version}; this seqnet reads up to "
                f"{_STATE_VERSION}); upgrade seqnet to load it")
        net = state.get("_net")
        if net is not None and not _kernels.all_finite(net.params):
            # A fit never leaves such weights (a diverging one restores the
            # last finite epoch): the file was damaged.  They would predict
            # NaN probabilities, read as class 0 for everything.
            raise ValueError(
                f"this {type(self).__name__}'s saved weights hold NaN or "
                "infinity: the file is damaged")
        self.__dict__.update(state)
