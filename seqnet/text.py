"""CharRNN: a character-level language model that writes text.

The classic showcase of recurrent nets (Karpathy's char-rnn, the DL4J
Shakespeare example): read a text one character at a time, predict the next
character with a softmax at every step, train with truncated BPTT over
``batch_size`` parallel streams whose state is carried from chunk to chunk,
then sample new text one character at a time.
"""
import time
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval

from . import _kernels
from ._base import BaseSequenceEstimator, _Run
from ._network import Network
from ._stateful import StatefulMixin, StreamState
from .classification import _SoftmaxHead


def _as_documents(X):
    """A str, or a list/tuple of str, as a list of non-empty documents."""
    if isinstance(X, str):
        docs = [X]
    elif isinstance(X, (list, tuple)) and all(isinstance(d, str) for d in X):
        docs = list(X)
    else:
        raise TypeError("CharRNN reads text: a str or a list of str, got "
                        f"{type(X).__name__}")
    if not docs or all(len(d) == 0 for d in docs):
        raise ValueError("the text is empty")
    return [d for d in docs if d]


class _Streams:
    """Documents cut into ``n`` parallel streams for truncated BPTT.

    The documents are laid end to end and their input positions cut into
    ``n`` contiguous ranges, one per stream: every (input character, next
    character) pair inside a document belongs to exactly one stream (a
    stream's last input reads its target across the cut).  A chunk gives
    each stream its next ``length`` pairs without crossing a document
    boundary; a stream that reaches the end of a document starts the next
    one from a zero state, exactly as if the documents were fed separately.
    """

    def __init__(self, docs, n):
        self.codes = np.concatenate(docs)
        self.doc_ends = np.cumsum([len(d) for d in docs])
        total = len(self.codes)
        n = max(1, min(int(n), total // 2))
        bounds = np.linspace(0, total, n + 1).astype(np.int64)
        self.pos = bounds[:-1].copy()     # next input of each stream
        self.end = bounds[1:].copy()      # its inputs end here (exclusive)
        self.reset = np.ones(n, bool)     # the stream starts a new state

    def next_chunk(self, length):
        """(streams, starts, counts) of the next chunk; streams empty at the
        end.  Advances the positions and marks streams whose document
        ended (their state restarts at zero)."""
        last = len(self.doc_ends) - 1
        while True:
            which = np.searchsorted(self.doc_ends, self.pos, side="right")
            doc_end = self.doc_ends[which.clip(max=last)]
            # A document's last character is a target, never an input.
            stop = np.minimum(doc_end - 1, self.end)
            count = np.minimum(length, stop - self.pos)
            # A stream with no pair left in its document moves on to the
            # next document, if it still owns inputs there, with a fresh
            # state.
            moved = (count <= 0) & (doc_end < self.end)
            if not moved.any():
                break
            self.pos[moved] = doc_end[moved]
            self.reset[moved] = True
        streams = np.flatnonzero(count > 0)
        starts = self.pos[streams].copy()
        counts = count[streams]
        self.pos[streams] += counts
        return streams, starts, counts


def _progress_note(run, total, count):
    """The loss so far and the throughput, for a progress line."""
    rate = (run.chars + count) / max(time.perf_counter() - run.started, 1e-9)
    return f"loss {total / count:.4f}, {rate:,.0f} chars/s"


# Codes per C call of sample(), at most: Ctrl-C is seen between calls.
_SAMPLE_CHUNK = 4096
# Parameters read per C call of sample(), at most (each code reads every
# parameter about once): a call is then a few milliseconds of work
# whatever the model's size, also under a sanitizer's tenfold slowdown.
_SAMPLE_WORK = 1 << 26


def _sample_piece(n_params):
    """Codes per C call of sample() for a network of ``n_params``."""
    return max(1, min(_SAMPLE_CHUNK, _SAMPLE_WORK // max(n_params, 1)))


class _TextData:
    """Training data of a CharRNN: documents as arrays of codes, those
    trained on and those held out (the end of every document) or None."""

    def __init__(self, train, validation=None):
        self.train, self.validation = train, validation


class CharRNN(StatefulMixin, _SoftmaxHead, BaseSequenceEstimator):
    """Character-level recurrent language model (one-to-many generation).

    ``fit`` reads a text (or a list of documents), builds the vocabulary,
    and learns to predict every next character.  ``sample`` writes new
    text; ``score`` is the mean log-likelihood per character.

    The input is one-hot (each character a unit vector of the vocabulary),
    as in char-rnn and the DL4J example, given to the kernels as character
    codes: the input projection of a step is one row of the weights,
    vocabularies of characters are small, and there is no embedding size
    to choose.

    Characters not seen in ``fit`` are dropped from a ``prime`` or a scored
    text, with a warning naming them.

    Parameters
    ----------
    cell : {"lstm", "gru", "elman"}, default="lstm"
    hidden_sizes : tuple of int, default=(256, 256)
    peepholes, activation, forget_bias, dropout, l1, l2, optimizer,
    momentum, clip_norm, clip_value, warm_start, random_state, n_jobs, dtype
        As for ``SequenceClassifier``.
    learning_rate : float, default=3e-3
        Adam's step size.  3e-3 rather than char-rnn's 2e-3: on
        tinyshakespeare (2 x LSTM 256) it reaches 0.065 nats/char lower
        validation loss after 2 M characters (bench/charlm_per_char.py).
    batch_size : int, default=32
        Parallel streams the text is cut into: contiguous stretches of
        the documents laid end to end, each read from a zero state, which
        restarts at every document boundary.
    tbptt_length : int, default=64
        Steps per truncated-BPTT chunk; one update per chunk.
    max_epochs : int, default=10
        Passes over the training text.
    max_time : float or None, default=None
        Stop training after this many seconds (checked after every chunk).
    early_stopping : bool, default=False
        Hold out the last ``validation_fraction`` of every document, report
        its loss and score (the mean log-likelihood per character) each
        epoch, stop when the loss has not improved by ``tol`` for
        ``n_iter_no_change`` epochs and restore the best weights.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=2
    tol : float, default=1e-3
    verbose : int, default=0
        1 prints a line per epoch and, every 10 s within it, progress
        (characters done, loss, characters per second, time left); 2 every
        second.
    learning_rate_schedule, learning_rate_decay, learning_rate_patience, \
min_learning_rate, warmup_epochs
        As for ``SequenceClassifier``: an epoch is a pass over the text.

    Attributes
    ----------
    vocabulary_ : str
        The characters the model knows, in code order.
    classes_ : ndarray of str
        The same characters, one per output unit.
    loss_curve_, validation_loss_curve_ : list of float
        Mean loss per character (nats) of each epoch.
    validation_scores_ : list of float
        With ``early_stopping``: the held-out text's score (mean
        log-likelihood per character, as ``score``) of each epoch.
    best_validation_score_ : float or None
        The score of the restored weights.
    n_iter_ : int
        Epochs run (a last epoch cut short by ``max_time`` counts).
    history_ : list of dict
        Per epoch, as for ``SequenceClassifier``.
    chars_per_second_ : float
        Training throughput of the last ``fit``.

    Examples
    --------
    >>> from seqnet import CharRNN
    >>> model = CharRNN(hidden_sizes=(32,), max_epochs=3, random_state=0)
    >>> model = model.fit("to be or not to be, that is the question. " * 20)
    >>> len(model.sample(40, prime="to be", random_state=0))
    45
    """

    _per_step = True
    _parameter_constraints = {
        **{k: v for k, v in
           BaseSequenceEstimator._parameter_constraints.items()
           if k not in ("bidirectional", "input", "embedding_size",
                        "min_frequency", "max_tokens")},
        "tbptt_length": [Interval(Integral, 1, None, closed="left")],
        "max_time": [None, Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, *, cell="lstm", hidden_sizes=(256, 256),
                 peepholes=False, activation="tanh", forget_bias=1.0,
                 dropout=0.0, l1=0.0, l2=0.0, optimizer="adam",
                 learning_rate=3e-3, momentum=0.9, batch_size=32,
                 max_epochs=10, tbptt_length=64, max_time=None,
                 clip_norm=5.0, clip_value=None, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=2, tol=1e-3,
                 warm_start=False, random_state=None, n_jobs=None,
                 dtype="float32", verbose=0,
                 learning_rate_schedule="constant", learning_rate_decay=None,
                 learning_rate_patience=2, min_learning_rate=0.0,
                 warmup_epochs=0):
        self.cell = cell
        self.hidden_sizes = hidden_sizes
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
        self.max_time = max_time
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
        self.learning_rate_schedule = learning_rate_schedule
        self.learning_rate_decay = learning_rate_decay
        self.learning_rate_patience = learning_rate_patience
        self.min_learning_rate = min_learning_rate
        self.warmup_epochs = warmup_epochs

    # ------------------------------------------------------ vocabulary

    def _encode_text(self, docs):
        """Documents as arrays of codes, dropping unknown characters."""
        lookup = self._lookup
        unknown = sorted({ch for d in docs for ch in set(d)} - lookup.keys())
        if unknown:
            warnings.warn(f"characters not in the vocabulary are dropped: "
                          f"{''.join(unknown)!r}", UserWarning)
        return [np.array([lookup[ch] for ch in d if ch in lookup], np.int64)
                for d in docs]

    def _set_vocabulary(self, docs):
        self.vocabulary_ = "".join(sorted(set().union(*map(set, docs))))
        self.classes_ = np.array(list(self.vocabulary_))
        self._lookup = {ch: i for i, ch in enumerate(self.vocabulary_)}
        self.n_features_in_ = len(self.vocabulary_)
        self._class_weight_vec = None

    # -------------------------------------------------------- training
    # The shared loop (BaseSequenceEstimator._fit) with text as its data:
    # documents cut into streams, an update per truncated-BPTT chunk.

    def fit(self, X, y=None):
        """Learn the text X (a str or a list of str documents)."""
        return self._fit(X, max_time=self.max_time)

    def partial_fit(self, X, y=None):
        """One epoch over the text X; the first call fixes the vocabulary,
        later calls drop characters outside it (with a warning)."""
        return self._fit(X, incremental=True, max_time=self.max_time)

    def _check_config(self):
        pass

    def train_batches(self, X, y=None, sample_weight=None, n_batches=None):
        """Not for text: a CharRNN's minibatches are chunks of streams
        that carry their state from chunk to chunk, not sets of
        sequences; continue training with ``partial_fit``."""
        raise NotImplementedError(
            "CharRNN trains on streams of text whose state runs from chunk "
            "to chunk, so it has no minibatches to train one at a time: "
            "use partial_fit")

    def _new_network(self):
        V = self.n_features_in_
        return Network(self.cell, self._hidden(), False, self.peepholes,
                       self.activation, V, V, self._real_dtype())

    def _training_data(self, X, y, sample_weight, first, classes):
        docs = _as_documents(X)
        if first:
            self._set_vocabulary(docs)
        codes = [c for c in self._encode_text(docs) if len(c) > 1]
        if not codes:
            raise ValueError("the text needs at least two known characters "
                             "in one document")
        return _TextData(codes)

    def _hold_out(self, data, rng):
        codes = data.train
        cut = [len(c) - max(2, int(len(c) * self.validation_fraction))
               for c in codes]
        train = [c[:k] for c, k in zip(codes, cut) if k > 1]
        if not train:
            raise ValueError("the text is too short to hold out "
                             "validation_fraction of it")
        return _TextData(train, [c[k:] for c, k in zip(codes, cut)])

    def _new_run(self, data, train):
        run = _Run(self, self.tbptt_length, self.batch_size, train)
        run.started, run.chars = time.perf_counter(), 0
        return run

    def _train_epoch(self, data, run, rng, deadline):
        loss, seen = self._run_streams(data.train, self.batch_size, run,
                                       train=True, deadline=deadline)
        run.chars += seen
        elapsed = time.perf_counter() - run.started
        self.chars_per_second_ = run.chars / max(elapsed, 1e-9)
        return loss, f"{self.chars_per_second_:,.0f} chars/s"

    def _validate(self, data, n_threads):
        run = _Run(self, self.tbptt_length, self.batch_size, False, n_threads)
        loss, _ = self._run_streams(data.validation, self.batch_size, run)
        return loss, -loss

    def _run_streams(self, docs, n_streams, run, train=False, deadline=None):
        """Mean loss per character over documents cut into streams, with
        an update per chunk when ``train``.  Returns (loss, characters)."""
        net = self._net
        buffers = run.buffers
        streams = _Streams(docs, n_streams)
        width = sum(net.hidden_sizes)
        state_h = np.zeros((len(streams.pos), width), net.dtype)
        state_c = np.zeros_like(state_h)
        total, count = 0.0, 0
        n_chars = sum(len(d) - 1 for d in docs)
        while True:
            idx, starts, counts = streams.next_chunk(self.tbptt_length)
            if len(idx) == 0:
                break
            restart = streams.reset[idx]
            state_h[idx[restart]] = 0
            state_c[idx[restart]] = 0
            streams.reset[idx] = False
            order = np.argsort(-counts, kind="stable")
            idx, starts, counts = idx[order], starts[order], counts[order]
            T, B = int(counts[0]), len(idx)
            # Time-major character codes and next-character targets.
            t_of = np.arange(T)[:, None]
            valid = t_of < counts[None, :]
            where = np.nonzero(valid)
            at = starts[where[1]] + where[0]
            x = np.zeros((T, B), np.int64)
            x[where] = streams.codes[at]
            tgt = np.zeros((T, B), np.int64)
            tgt[where] = streams.codes[at + 1]
            w = valid.astype(net.dtype).reshape(-1)
            initial = self._gather_state(state_h, state_c, idx)
            if train:
                loss, _, trace = self._step(run, x, counts, tgt.reshape(-1),
                                            w, initial=initial)
            else:
                loss, trace = self._chunk_loss(run, x, counts,
                                               tgt.reshape(-1), w, initial)
            self._scatter_state(trace, state_h, state_c, idx)
            n = int(counts.sum())
            total += loss * n
            count += n
            if train and run.monitor is not None:
                run.monitor.progress(count, n_chars, "chars",
                                     lambda: _progress_note(run, total, count))
            if deadline is not None and time.perf_counter() >= deadline:
                break
        return total / max(count, 1), count

    def _gather_state(self, state_h, state_c, idx):
        """Per layer, the (h0, c0) of the chunk's rows."""
        initial, off = [], 0
        for H in self._net.hidden_sizes:
            initial.append([(np.ascontiguousarray(state_h[idx, off:off + H]),
                             np.ascontiguousarray(state_c[idx, off:off + H]))])
            off += H
        return initial

    def _scatter_state(self, trace, state_h, state_c, idx):
        off = 0
        for H, layer in zip(self._net.hidden_sizes, trace.final_states()):
            h_n, c_n = layer[0]
            state_h[idx, off:off + H] = h_n
            if c_n is not None:
                state_c[idx, off:off + H] = c_n
            off += H

    def _chunk_loss(self, run, x, lengths, tgt, w, initial):
        """Mean loss of a chunk without training, and its trace."""
        net = self._net
        out, _, trace = net.forward(x, lengths, run.buffers, run.workspace,
                                    run.n_threads, initial=initial)
        feats = out.reshape(-1, out.shape[-1])
        K = net.n_outputs
        buffers = run.buffers
        probs = buffers.get("eval_probs", (feats.shape[0], K))
        dV = buffers.get("eval_dV", net.views["output.V"].shape)
        dc = buffers.get("eval_dc", (K,))
        loss = _kernels.softmax_xent(
            probs, None, dV, dc, feats, net.views["output.V"],
            net.views["output.c"], tgt, w / w.sum(), run.workspace,
            run.n_threads)
        return loss, trace

    # ------------------------------------------------------ using it

    def score(self, X, y=None):
        """Mean log-likelihood per character (nats) of the text X, each
        document read as one stream with its state carried throughout."""
        self._check_fitted()
        codes = [c for c in self._encode_text(_as_documents(X)) if len(c) > 1]
        if not codes:
            raise ValueError("the text needs at least two known characters")
        run = _Run(self, self.tbptt_length, 1, train=False)
        total, count = 0.0, 0
        for c in codes:
            loss, n = self._run_streams([c], 1, run)
            total += loss * n
            count += n
        return -total / count

    def perplexity(self, X):
        """exp of the mean negative log-likelihood per character."""
        return float(np.exp(-self.score(X)))

    def sample(self, n_chars, prime="", temperature=1.0, random_state=None):
        """Write ``n_chars`` characters after ``prime``.

        The prime is fed first (from a zero state); then each character is
        drawn from softmax(logits / temperature) and fed back, in C.
        ``temperature`` -> 0 approaches greedy decoding; 0 is greedy.
        Without a prime, generation starts as after a line break (or the
        first character of the vocabulary if there is none).

        Returns
        -------
        str
            ``prime`` (its known characters) followed by the sample.
        """
        self._check_fitted()
        if not isinstance(n_chars, Integral) or n_chars < 0:
            raise ValueError(f"n_chars must be a non-negative int, got "
                             f"{n_chars!r}")
        if not isinstance(temperature, Real) or not temperature >= 0:
            raise ValueError(f"temperature must be >= 0, got {temperature!r}")
        if not isinstance(prime, str):
            raise TypeError(f"prime must be a str, got {type(prime).__name__}")
        net = self._net
        prime_codes = self._encode_text([prime])[0] if prime else \
            np.zeros(0, np.int64)
        start = self._lookup.get("\n", 0)
        state = self.initial_state(1)
        stack = net.stack()
        out = np.empty(int(n_chars), np.int64)
        seed = check_random_state(random_state).randint(2**31)
        ws = np.empty(stack.workspace_size(1, net.n_outputs), np.uint8)
        # In pieces of _sample_piece codes, each a C call, so that Ctrl-C is
        # seen between them: the prime fed first (drawing nothing), then
        # the draws, each piece starting from the last code drawn, with the
        # draw counter carried on (the same codes as one call would draw).
        V, cb = net.views["output.V"], net.views["output.c"]
        h, c, none = state.h[0], state.c[0], np.zeros(0, np.int64)
        chunk, fed = _sample_piece(net.params.size), 0
        while len(prime_codes) - fed > chunk:
            _kernels.generate(out[:0], h, c, stack, V, cb,
                              prime_codes[fed:fed + chunk], start,
                              float(temperature), seed, 0, ws)
            fed += chunk
        prime_rest, drawn = prime_codes[fed:], 0
        while True:
            piece = min(chunk, len(out) - drawn)
            _kernels.generate(out[drawn:drawn + piece], h, c, stack, V, cb,
                              prime_rest, start, float(temperature), seed, 0,
                              ws, drawn)
            drawn += piece
            if drawn >= len(out):
                break
            prime_rest, start = none, int(out[drawn - 1])
        vocab = self.vocabulary_
        return "".join(vocab[c] for c in prime_codes) + \
            "".join(vocab[c] for c in out)

    def _step_codes(self, x):
        """Characters (a str, one per stream) or their codes as int64."""
        if isinstance(x, str):
            unknown = sorted(set(x) - self._lookup.keys())
            if unknown:
                raise ValueError(f"step reads characters of vocabulary_; "
                                 f"{''.join(unknown)!r} are not in it")
            return np.array([self._lookup[ch] for ch in x], np.int64)
        codes = np.asarray(x)
        if codes.ndim != 1 or codes.dtype.kind not in "iu":
            raise ValueError("step reads a str with one character per stream "
                             "or a 1-D array of integer codes, got "
                             f"{type(x).__name__} of shape {codes.shape}")
        if codes.size and not (codes.min() >= 0 and
                               codes.max() < self.n_features_in_):
            raise ValueError(f"character codes must be in [0, "
                             f"{self.n_features_in_}), got {codes.tolist()}")
        return codes.astype(np.int64)

    def _step_codes_of_streams(self, x):
        codes = self._step_codes(x)
        if len(codes) == 0:
            raise ValueError("step reads one character for each stream, and "
                             "needs at least one stream; got none")
        return codes

    def _step_inputs(self, x, n_streams):
        """One step of every stream as character codes."""
        codes = self._step_codes_of_streams(x)
        if len(codes) != n_streams:
            raise ValueError(f"step expects one character for each of "
                             f"{n_streams} streams, got {len(codes)}")
        return codes

    def step(self, x, state=None):
        """Advance every stream by one character.

        Parameters
        ----------
        x : str or array of int of shape (n_streams,)
            The next character of each stream, or its code (its index in
            ``vocabulary_``).
        state : StreamState or None
            The state returned by the previous call; None starts every
            stream from zero.

        Returns
        -------
        probabilities : ndarray of shape (n_streams, len(vocabulary_))
            The distribution of each stream's next character.
        state : StreamState
            The state after this step (updated in place).
        """
        self._check_fitted()
        if state is None:
            state = self.initial_state(len(self._step_codes_of_streams(x)))
        return super().step(x, state)


__all__ = ["CharRNN", "StreamState"]
