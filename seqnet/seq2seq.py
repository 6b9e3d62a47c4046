"""SequenceToSequence: an encoder-decoder that reads a whole input and
writes an output of another length (many to many), or writes one from a
single vector per sample (one to many).

The encoder is the shared stack (``Network``, possibly bidirectional) run
over the input; the final states of its top layer (both directions) pass
through a learned bridge, ``tanh(s . M + m)``, which sets every decoder
layer's initial state (h, and c for an LSTM).  The decoder is a
unidirectional stack reading the previous target token (teacher forcing),
with a softmax over the target tokens plus an end token.  Code 0 is the
end token on the output side and the start token on the input side.
Training runs the one loop of ``BaseSequenceEstimator``; decoding (greedy
and beam search) runs in C for a whole batch (``_kernels.decode``).
The NumPy oracle is ``seqnet._reference_seq2seq``.
"""
import threading
import time
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval

from . import _kernels
from ._base import (BaseSequenceEstimator, _Run, _pad, _resolve_threads,
                    _n_threads, _SequenceData)
from ._network import Buffers, Network, aligned_zeros
from ._reference_seq2seq import state_sizes
from ._validation import check_feature_names, check_sequences

# Samples per decoding call: Ctrl-C is seen between calls.
_DECODE_CHUNK = 256
# Parameter segments start on a cache line (in elements of float32).
_SEGMENT = 16


def _round_up(n):
    return -(-n // _SEGMENT) * _SEGMENT


class _Seq2SeqNet:
    """Encoder (None in the one-to-many case), bridge and decoder, their
    parameters in one flat buffer with named views (``encoder.*``,
    ``bridge.M``, ``bridge.m``, ``decoder.*``)."""

    def __init__(self, *args):
        self._spec = self.spec(*args)
        self.dtype = np.dtype(self._spec["dtype"])
        self._build()
        self.params = aligned_zeros(self._size, self.dtype)
        self.decay = np.zeros(self._size, np.uint8)
        for name, (start, stop), net in self._segments():
            if net is not None:
                self.decay[start:start + net.params.size] = net.decay
            elif name == "bridge":
                self.decay[start:start + self._bridge_shape[0] *
                           self._bridge_shape[1]] = 1
        self._set_views()

    @staticmethod
    def spec(cell, encoder_sizes, decoder_sizes, bidirectional, peepholes,
             activation, n_inputs, input_embedding, n_codes,
             output_embedding, dtype):
        """The architecture, normalised, as the network records it."""
        return dict(
            cell=cell, encoder_sizes=None if encoder_sizes is None
            else tuple(int(h) for h in encoder_sizes),
            decoder_sizes=tuple(int(h) for h in decoder_sizes),
            bidirectional=bool(bidirectional), peepholes=bool(peepholes),
            activation=activation, n_inputs=int(n_inputs),
            input_embedding=input_embedding, n_codes=int(n_codes),
            output_embedding=output_embedding, dtype=np.dtype(dtype).name)

    def _build(self):
        s = self._spec
        self.cell = s["cell"]
        self.encoder = None if s["encoder_sizes"] is None else Network(
            s["cell"], s["encoder_sizes"], s["bidirectional"], s["peepholes"],
            s["activation"], s["n_inputs"], 0, s["dtype"],
            s["input_embedding"])
        self.decoder = Network(s["cell"], s["decoder_sizes"], False,
                               s["peepholes"], s["activation"], s["n_codes"],
                               s["n_codes"], s["dtype"], s["output_embedding"])
        S = s["n_inputs"] if self.encoder is None else \
            self.encoder.n_features_out
        self.widths = state_sizes(s["cell"], s["decoder_sizes"])
        self._bridge_shape = (S, sum(self.widths))
        sizes = [0 if self.encoder is None else self.encoder.params.size,
                 (S + 1) * sum(self.widths), self.decoder.params.size]
        bounds, at = [], 0
        for n in sizes:
            bounds.append((at, at + n))
            at += _round_up(n)
        self._bounds = bounds
        self._size = max(at, 1)

    def _segments(self):
        return zip(("encoder", "bridge", "decoder"), self._bounds,
                   (self.encoder, None, self.decoder))

    def carve(self, flat):
        """Views of a flat buffer laid out as ``params``: (encoder part,
        bridge M, bridge m, decoder part)."""
        (e0, e1), (b0, b1), (d0, d1) = self._bounds
        S, Z = self._bridge_shape
        return (flat[e0:e1], flat[b0:b0 + S * Z].reshape(S, Z),
                flat[b0 + S * Z:b1], flat[d0:d1])

    def named(self, flat):
        """Named views of a flat buffer laid out as ``params``."""
        enc, M, m, dec = self.carve(flat)
        views = {}
        for net, part, prefix in ((self.encoder, enc, "encoder."),
                                  (self.decoder, dec, "decoder.")):
            if net is not None:
                views.update({prefix + k: v for k, v in
                              net._carve(part).items()
                              if v.size or not k.startswith("output")})
        views["bridge.M"], views["bridge.m"] = M, m
        return views

    def _set_views(self):
        enc, self.M, self.m, dec = self.carve(self.params)
        for net, part in ((self.encoder, enc), (self.decoder, dec)):
            if net is not None:
                net.params = part
                net._set_views()
        self.views = self.named(self.params)
        self.stack = self.decoder.stack()

    def gradients(self, grads):
        """(encoder gradient layers or None, bridge dM, dm, decoder
        gradient layers) over a flat gradient buffer."""
        enc, dM, dm, dec = self.carve(grads)
        return (None if self.encoder is None else
                self.encoder.gradient_layers(enc)[1], dM, dm,
                self.decoder.gradient_layers(dec))

    def __getstate__(self):
        return {"_spec": self._spec, "params": self.params,
                "decay": self.decay, "dtype": self.dtype}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._build()
        if self.params.__array_interface__["data"][0] % 64:
            params = aligned_zeros(self.params.size, self.dtype)
            params[:] = self.params
            self.params = params
        self._set_views()

    def initialize(self, rng, forget_bias):
        """Each stack as ``Network.initialize`` does; the bridge Glorot
        uniform with zero bias."""
        for net in (self.encoder, self.decoder):
            if net is not None:
                net.initialize(rng, forget_bias)
        S, Z = self._bridge_shape
        limit = np.sqrt(6.0 / (S + Z))
        self.M[...] = rng.uniform(-limit, limit, (S, Z))
        self.m[...] = 0

    def workspace_size(self, T_in, T_out, B, n_threads):
        size = self.decoder.workspace_size(T_out, B, n_threads)
        if self.encoder is not None:
            size = max(size, self.encoder.workspace_size(T_in, B, n_threads))
        return max(size, _kernels.gemm_workspace_size(n_threads))

    def split_states(self, z, rows=None):
        """The decoder's initial states per layer, [[(h0, c0)]], from the
        bridge's output z (B, Z) (rows ``rows`` of it, in that order)."""
        z = z if rows is None else z[rows]
        per = 2 if self.cell == "lstm" else 1
        out, at = [], 0
        for H in self._spec["decoder_sizes"]:
            h0 = np.ascontiguousarray(z[:, at:at + H])
            c0 = np.ascontiguousarray(z[:, at + H:at + 2 * H]) \
                if per == 2 else None
            out.append([(h0, c0)])
            at += per * H
        return out


class _Vectors:
    """One vector per sample (the one-to-many input), as a sequence store
    that batches by row."""

    def __init__(self, data):
        self.data = data
        self.lengths = np.ones(len(data), np.int64)

    def __len__(self):
        return len(self.data)


class _Targets:
    """Target sequences as codes in [1, K), packed."""

    def __init__(self, codes):
        self.lengths = np.array([len(c) for c in codes], np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)])
        self.codes = np.concatenate(codes).astype(np.int64)

    def batch(self, idx):
        """Decoder inputs and targets, time-major (T, B) codes, for
        samples ``idx`` (sorted longest target first), and lengths n + 1."""
        lengths = self.lengths[idx] + 1
        T, B = int(lengths.max()), len(idx)
        inp = np.zeros((T, B), np.int64)
        tgt = np.zeros((T, B), np.int64)
        for j, i in enumerate(idx):
            y = self.codes[self.offsets[i]:self.offsets[i + 1]]
            inp[1:len(y) + 1, j] = y
            tgt[:len(y), j] = y
        return inp, tgt, lengths


class SequenceToSequence(BaseSequenceEstimator):
    """Encoder-decoder: reads a sequence (or one vector) and writes a
    sequence of tokens of its own length.

    ``fit(X, Y)``: X holds numeric sequences (3-D or a ragged list), token
    sequences (a list of str or of token lists), or -- the one-to-many
    case -- a 2-D numeric array of one vector per sample, which sets the
    decoder's initial state through the bridge (no encoder).  Y is a list
    of str (each character a token) or a list of token sequences, each
    non-empty.

    The encoder's top layer's final states (both directions when
    ``bidirectional``) go through a learned bridge, ``tanh(s . M + m)``,
    which gives every decoder layer its initial h (and c for an LSTM).
    The decoder reads the previous target token (the start token first)
    and predicts the next (the end token last): softmax cross-entropy on
    every output step, the end step included, padding ignored.

    Parameters
    ----------
    cell, hidden_sizes, bidirectional, peepholes, activation, forget_bias,
    dropout, l1, l2, optimizer, learning_rate, momentum, batch_size,
    max_epochs, clip_norm, clip_value, early_stopping, validation_fraction,
    n_iter_no_change, tol, warm_start, random_state, n_jobs, dtype,
    verbose, input, min_frequency, max_tokens, learning_rate_schedule,
    learning_rate_decay, learning_rate_patience, min_learning_rate,
    warmup_epochs
        As for ``SequenceClassifier``; ``hidden_sizes`` are the encoder's.
        ``bidirectional=True`` with one-to-many X is an error (there is no
        sequence to read backwards).  Unlike the other estimators, a 2-D
        numeric array is always one vector per sample, never sequences of
        one step (give those as (n_samples, 1, n_features)).
    decoder_sizes : tuple of int or None, default=None
        The decoder's layers; None: ``hidden_sizes``.
    embedding_size : int or None, default=None
        Width of the learned embeddings of the input tokens (token X) and
        of the output tokens the decoder reads; None: one-hot.
    max_output_length : int or None, default=None
        Most tokens a prediction holds; None: the longest training target
        plus half of it (rounded up).
    beam_width : int, default=1
        Hypotheses kept by ``predict``'s beam search; 1 is greedy.
    max_time : float or None, default=None
        Stop training after this many seconds (checked after every batch).

    Attributes
    ----------
    output_tokens_ : list
        The target tokens, in code order (code i + 1 is token i).
    max_output_length_ : int
    samples_per_second_ : float
        Training throughput of the last ``fit``.
    vocabulary_ : dict
        With token X: the input tokens' codes.
    n_features_in_ : int
        With numeric X.
    loss_curve_, validation_loss_curve_, validation_scores_,
    best_validation_score_, n_iter_, history_
        As for ``SequenceClassifier`` (``history_``'s layers are
        "encoder.layer0.forward", ..., "bridge", "decoder.embedding",
        "decoder.layer0.forward", "decoder.output"); the loss is the mean cross-entropy
        per output token (nats), the validation score the exact-match
        accuracy of greedy decoding.

    Examples
    --------
    >>> from seqnet import SequenceToSequence
    >>> X = ["abc", "ba", "cab", "ac"] * 8
    >>> Y = [x[::-1] for x in X]
    >>> model = SequenceToSequence(hidden_sizes=(16,), max_epochs=2,
    ...                            random_state=0).fit(X, Y)
    >>> len(model.predict(["abc"]))
    1
    """

    _per_step = True
    _parameter_constraints = {
        **{k: v for k, v in
           BaseSequenceEstimator._parameter_constraints.items()
           if k != "tbptt_length"},
        "decoder_sizes": [None, "array-like",
                          Interval(Integral, 1, None, closed="left")],
        "max_output_length": [None, Interval(Integral, 1, None,
                                             closed="left")],
        "beam_width": [Interval(Integral, 1, None, closed="left")],
        "max_time": [None, Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, *, cell="lstm", hidden_sizes=(64,),
                 decoder_sizes=None, bidirectional=False, peepholes=False,
                 activation="tanh", forget_bias=1.0, dropout=0.0, l1=0.0,
                 l2=0.0, optimizer="adam", learning_rate=1e-3, momentum=0.9,
                 batch_size=32, max_epochs=100, max_time=None, clip_norm=5.0,
                 clip_value=None, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=10, tol=1e-4,
                 warm_start=False, random_state=None, n_jobs=None,
                 dtype="float32", verbose=0, input="auto",
                 embedding_size=None, min_frequency=1, max_tokens=None,
                 max_output_length=None, beam_width=1,
                 learning_rate_schedule="constant", learning_rate_decay=None,
                 learning_rate_patience=2, min_learning_rate=0.0,
                 warmup_epochs=0):
        self.cell = cell
        self.hidden_sizes = hidden_sizes
        self.decoder_sizes = decoder_sizes
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
        self.input = input
        self.embedding_size = embedding_size
        self.min_frequency = min_frequency
        self.max_tokens = max_tokens
        self.max_output_length = max_output_length
        self.beam_width = beam_width
        self.learning_rate_schedule = learning_rate_schedule
        self.learning_rate_decay = learning_rate_decay
        self.learning_rate_patience = learning_rate_patience
        self.min_learning_rate = min_learning_rate
        self.warmup_epochs = warmup_epochs

    tbptt_length = None

    def train_batches(self, X, y=None, sample_weight=None, n_batches=None):
        """Not yet for an encoder-decoder, whose minibatch step differs
        from the other estimators'; continue training with
        ``partial_fit``."""
        raise NotImplementedError(
            "SequenceToSequence has no train_batches yet: continue training "
            "with partial_fit")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

    # ------------------------------------------------------------ input

    @staticmethod
    def _is_vectors(X):
        """Whether X is one vector per sample: a 2-D numeric array."""
        if isinstance(X, np.ndarray):
            return X.ndim == 2 and X.dtype.kind in "biuf"
        if hasattr(X, "iloc") or hasattr(X, "to_numpy"):
            return getattr(X, "ndim", 0) == 2
        return False

    def _check_inputs(self, X, reset):
        """X as a SequenceData (numeric or codes) or _Vectors."""
        vectors = self._is_vectors(X) if reset else \
            self.__dict__.get("_one_to_many", False)
        if vectors:
            if reset and self.bidirectional:
                raise ValueError(
                    "a 2-D X is one vector per sample (one to many): there "
                    "is no sequence for a bidirectional encoder to read "
                    "backwards; set bidirectional=False")
            if not self._is_vectors(X):
                raise ValueError("this model was fitted on one vector per "
                                 "sample: X must be a 2-D numeric array")
            check_feature_names(self, X, reset=reset)
            data = np.asarray(X, dtype=self._real_dtype() if reset
                              else self._net.dtype)
            if data.shape[0] < 1 or data.shape[1] < 1:
                raise ValueError(f"X has shape {data.shape}: needs at least "
                                 "one sample and one feature")
            if not _kernels.all_finite(np.ascontiguousarray(data)):
                raise ValueError("X holds NaN or infinity")
            if reset:
                self.n_features_in_ = data.shape[1]
                self._n_inputs = data.shape[1]
                self._one_to_many = True
                self.__dict__.pop("vocabulary_", None)
            elif data.shape[1] != self.n_features_in_:
                raise ValueError(f"X has {data.shape[1]} features, the model "
                                 f"was fitted with {self.n_features_in_}")
            return _Vectors(np.ascontiguousarray(data))
        if reset:
            self._one_to_many = False
        elif self._is_vectors(X):
            raise ValueError(
                "this model was fitted on sequences; a 2-D array is one "
                "vector per sample (the one-to-many input): give sequences "
                "of one step as a 3-D array (n_samples, 1, n_features)")
        tokens = self._reads_tokens(X) if reset else \
            "vocabulary_" in self.__dict__
        if tokens:
            return self._check_tokens(X, reset)
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

    def _check_targets(self, Y, n, reset):
        """Y as lists of tokens; on the first fit, also its kind and the
        output tokens."""
        if isinstance(Y, str) or not hasattr(Y, "__len__"):
            raise TypeError("Y is a list of str or a list of token "
                            f"sequences, got {type(Y).__name__}")
        Y = list(Y)
        if len(Y) != n:
            raise ValueError(f"Y holds {len(Y)} targets but X {n} samples")
        strs = [isinstance(y, str) for y in Y]
        if any(strs) and not all(strs):
            raise TypeError("Y mixes str and token sequences: give all "
                            "targets as str or all as token sequences")
        out = []
        for i, y in enumerate(Y):
            if not isinstance(y, (str, list, tuple, np.ndarray)) or \
                    np.ndim(y) != 1 and not isinstance(y, str):
                raise TypeError(f"target {i} is a {type(y).__name__}, not a "
                                "str or a sequence of tokens")
            seq = list(y)
            if not seq:
                raise ValueError(f"target {i} is empty; every target needs "
                                 "at least one token")
            out.append(seq)
        if reset:
            self._targets_are_str = all(strs)
            tokens = list(dict.fromkeys(tok for seq in out for tok in seq))
            try:
                tokens.sort()
            except TypeError:
                pass
            self.output_tokens_ = tokens
            self._out_index = {t: i + 1 for i, t in enumerate(tokens)}
        elif all(strs) != self._targets_are_str:
            raise TypeError("Y must be of the kind fit saw: "
                            + ("str" if self._targets_are_str
                               else "token sequences"))
        return out

    def _encode_targets_of(self, Y, strict=True):
        index = self._out_index
        codes = []
        for i, seq in enumerate(Y):
            unknown = [t for t in seq if t not in index]
            if unknown:
                if strict:
                    raise ValueError(f"target {i} holds tokens fit never saw "
                                     f"in Y: {unknown[:5]!r}")
                codes.append(None)
                continue
            codes.append(np.array([index[t] for t in seq], np.int64))
        return codes

    # ---------------------------------------------------------- network

    def _decoder_hidden(self):
        if self.decoder_sizes is None:
            return self._hidden()
        sizes = self.decoder_sizes
        if isinstance(sizes, Integral):
            return (int(sizes),)
        sizes = tuple(sizes)
        if not sizes or any(not isinstance(h, Integral) or h < 1
                            for h in sizes):
            raise ValueError("decoder_sizes must be a positive int or a "
                             f"non-empty sequence of them, got {sizes!r}")
        return sizes

    def _network_args(self):
        tokens = "vocabulary_" in self.__dict__
        return (self.cell, None if self._one_to_many else self._hidden(),
                self._decoder_hidden(), self.bidirectional, self.peepholes,
                self.activation, self._n_inputs,
                self.embedding_size if tokens else None,
                len(self.output_tokens_) + 1, self.embedding_size,
                self._real_dtype())

    def _new_network(self):
        return _Seq2SeqNet(*self._network_args())

    # The sizes of the data (inputs, output tokens) are the fitted model's,
    # not parameters: continuing to train compares the rest.
    def _new_network_spec(self):
        spec = _Seq2SeqNet.spec(*self._network_args())
        del spec["n_inputs"], spec["n_codes"]
        return spec

    def _fitted_network_spec(self):
        spec = dict(self._net._spec)
        del spec["n_inputs"], spec["n_codes"]
        return spec

    def _check_config(self):
        pass

    # ---------------------------------------------------------- training

    def fit(self, X, Y):
        """Learn to write Y[i] from X[i]."""
        return self._fit(X, Y, max_time=self.max_time)

    def partial_fit(self, X, Y):
        """One epoch over (X, Y); the first call fixes the input and output
        vocabularies (later targets must use tokens it saw)."""
        return self._fit(X, Y, incremental=True, max_time=self.max_time)

    def _training_data(self, X, y, sample_weight, first, classes):
        seqs = self._check_inputs(X, reset=first)
        Y = self._check_targets(y, len(seqs), reset=first)
        if first:
            longest = max(len(t) for t in Y)
            self.max_output_length_ = int(
                self.max_output_length or longest + -(-longest // 2))
        targets = _Targets(self._encode_targets_of(Y))
        return _SequenceData(seqs, targets, None, np.arange(len(seqs)))

    def _new_run(self, data, train):
        idx = data.train
        B = min(self.batch_size, len(idx))
        T_in = int(data.seqs.lengths[idx].max())
        T_out = int(data.targets.lengths[idx].max()) + 1
        run = self._make_run(T_in, T_out, B, train)
        run.started, run.samples = time.perf_counter(), 0
        return run

    def _make_run(self, T_in, T_out, B, train, n_threads=None):
        net = self._net
        run = _Run.__new__(_Run)
        run.n_threads = _resolve_threads(
            _n_threads(self.n_jobs) if n_threads is None else n_threads)
        run.buffers = self._buffers()
        run.enc_buffers = self._buffers("enc")
        run.workspace = run.buffers.workspace(
            net.workspace_size(T_in, T_out, B, run.n_threads))
        if train:
            run.grads = aligned_zeros(net.params.size, net.dtype)
            run.glayers = net.gradients(run.grads)
        return run

    def _buffers(self, which="dec"):
        cache = self.__dict__.get("_buffer_cache")
        if cache is None:
            cache = self._buffer_cache = threading.local()
        name = "buffers_" + which
        buffers = getattr(cache, name, None)
        if buffers is None or buffers.dtype != self._net.dtype:
            buffers = Buffers(self._net.dtype)
            setattr(cache, name, buffers)
        return buffers

    def _train_epoch(self, data, run, rng, deadline):
        total, count = 0.0, 0
        n_batches = -(-len(data.train) // self.batch_size)
        for done, batch in enumerate(self._batches(data.train, rng), 1):
            self._n_updates += 1
            loss, n = self._loss_and_gradient(run, data, batch, train=True)
            grad_norm = _kernels.optim_step(
                self._net.params, run.grads, self._opt_state,
                self._net.decay, step=self._n_updates,
                n_threads=run.n_threads, **self._optimizer_config())
            total += loss
            count += n
            run.samples += len(batch)
            if run.monitor is not None:
                run.monitor.after_update(self._net.params, grad_norm,
                                         loss / max(n, 1))
                run.monitor.progress(done, n_batches)
            if deadline is not None and time.perf_counter() >= deadline:
                break
        elapsed = time.perf_counter() - run.started
        self.samples_per_second_ = run.samples / max(elapsed, 1e-9)
        return total / count, f"{self.samples_per_second_:,.0f} samples/s"

    def _encode(self, run, seqs, idx, dropout=0.0, keep=False):
        """The encoder's summary s (B, S) of samples ``idx``, its rows in
        the order ``idx[order]``; the trace and lengths (None without an
        encoder)."""
        net = self._net
        if net.encoder is None:
            return seqs.data[idx], np.arange(len(idx)), None, None
        x, lengths, order = _pad(seqs, idx, run.enc_buffers)
        _, fin, trace = net.encoder.forward(
            x, lengths, run.enc_buffers, run.workspace, run.n_threads,
            dropout=dropout, seed=self._seed, stream=self._n_updates,
            train=keep)
        return fin, order, trace, lengths

    def _bridge(self, run, s):
        """z = tanh(s . M + m), (B, Z)."""
        net = self._net
        z = run.buffers.get("bridge_z", (s.shape[0], net.M.shape[1]))
        _kernels.gemm(z, np.ascontiguousarray(s), net.M, 0.0, False, False,
                      run.workspace, run.n_threads)
        z += net.m
        np.tanh(z, out=z)
        return z

    def _loss_and_gradient(self, run, data, batch, train=False,
                           gradient=True):
        """Summed loss over the output tokens of samples ``batch`` and
        their count; with ``gradient``, the gradient of the mean loss in
        run.grads (zeroed first) -- without, no backward pass is run."""
        net = self._net
        dropout = self.dropout if train else 0.0
        s, order, trace, x_lengths = self._encode(run, data.seqs, batch,
                                                  dropout, keep=gradient)
        rows = batch[order]
        z = self._bridge(run, s)
        perm = np.argsort(-data.targets.lengths[rows], kind="stable")
        inp, tgt, lengths = data.targets.batch(rows[perm])
        initial = net.split_states(z, perm)
        dec = net.decoder
        out, _, dtrace = dec.forward(
            inp, lengths, run.buffers, run.workspace, run.n_threads,
            dropout=dropout, seed=self._seed + 1, stream=self._n_updates,
            initial=initial, train=gradient)
        T, B = inp.shape
        valid = (np.arange(T)[:, None] < lengths[None, :]).reshape(-1)
        count = int(valid.sum())
        w = (valid / count).astype(net.dtype)
        run.grads.fill(0)
        g_enc, dM, dm, (g_dec_views, g_dec) = run.glayers
        feats = out.reshape(-1, out.shape[-1])
        d_feats = run.buffers.get("d_feats", feats.shape)
        P = run.buffers.get("head_grad", (feats.shape[0], dec.n_outputs))
        loss = _kernels.softmax_xent(
            P, d_feats, g_dec_views["output.V"], g_dec_views["output.c"],
            feats, dec.views["output.V"], dec.views["output.c"],
            tgt.reshape(-1), w, run.workspace, run.n_threads)
        if not gradient:
            return loss * count, count
        d_init = dec.backward(dtrace, d_feats.reshape(out.shape), None,
                              lengths, g_dec, run.buffers, run.workspace,
                              run.n_threads, dropout=dropout,
                              seed=self._seed + 1, stream=self._n_updates)
        dz = np.empty_like(z)
        dz[perm] = np.concatenate(
            [g for layer in d_init for dh0, dc0 in layer
             for g in ((dh0,) if dc0 is None else (dh0, dc0))], axis=1)
        da = dz * (1 - z * z)
        _kernels.gemm(dM, np.ascontiguousarray(s), da, 1.0, True, False,
                      run.workspace, run.n_threads)
        dm += da.sum(axis=0)
        if trace is not None:
            ds = run.enc_buffers.get("d_summary", s.shape)
            _kernels.gemm(ds, da, net.M, 0.0, False, True, run.workspace,
                          run.n_threads)
            net.encoder.backward(trace, None, ds, x_lengths, g_enc,
                                 run.enc_buffers, run.workspace,
                                 run.n_threads, dropout=dropout,
                                 seed=self._seed, stream=self._n_updates)
        return loss * count, count

    def _validate(self, data, n_threads):
        idx = data.validation
        loss, count = self._token_loss(data.seqs, data.targets, idx,
                                       n_threads)
        codes, lengths, _ = self._decode(data.seqs, idx, 1, n_threads)
        t = data.targets
        hits = [lengths[j] == t.lengths[i] and np.array_equal(
            codes[j, :lengths[j]], t.codes[t.offsets[i]:t.offsets[i + 1]])
            for j, i in enumerate(idx)]
        return loss / count, float(np.mean(hits))

    def _token_loss(self, seqs, targets, idx, n_threads=None):
        """Summed negative log-likelihood of the target tokens (end tokens
        included) of samples ``idx``, and their count."""
        total, count = 0.0, 0
        run = self._make_run(int(seqs.lengths[idx].max()),
                             int(targets.lengths[idx].max()) + 1,
                             min(self.batch_size, len(idx)), True, n_threads)
        data = _SequenceData(seqs, targets, None, None)
        for start in range(0, len(idx), self.batch_size):
            loss, n = self._loss_and_gradient(
                run, data, idx[start:start + self.batch_size],
                gradient=False)
            total += loss
            count += n
        return total, count

    # ---------------------------------------------------------- decoding

    def _initial_states(self, seqs, idx, n_threads=None):
        """The decoder's initial states (h0, c0), (n, sum H) each, of
        samples ``idx`` in that order."""
        net = self._net
        n = len(idx)
        width = net.stack.width
        h0 = np.zeros((n, width), net.dtype)
        c0 = np.zeros((n, width), net.dtype)
        per = 2 if net.cell == "lstm" else 1
        for start in range(0, n, _DECODE_CHUNK):
            batch = idx[start:start + _DECODE_CHUNK]
            run = self._make_run(int(seqs.lengths[batch].max()), 1,
                                 len(batch), False, n_threads)
            s, order, _, _ = self._encode(run, seqs, batch)
            z = self._bridge(run, s)
            target = start + order
            at = off = 0
            for H in net._spec["decoder_sizes"]:
                h0[target, off:off + H] = z[:, at:at + H]
                if per == 2:
                    c0[target, off:off + H] = z[:, at + H:at + 2 * H]
                at += per * H
                off += H
        return h0, c0

    def _decode(self, seqs, idx, width, n_threads=None):
        """(codes (n, max_len), lengths (n,), scores (n,)) of samples
        ``idx``: greedy, or beam search of ``width``."""
        net = self._net
        threads = _resolve_threads(
            _n_threads(self.n_jobs) if n_threads is None else n_threads)
        h0, c0 = self._initial_states(seqs, idx, threads)
        n, L = len(idx), self.max_output_length_
        codes = np.zeros((n, L), np.int64)
        lengths = np.zeros(n, np.int64)
        scores = np.zeros(n, np.float64)
        dec = net.decoder
        E = dec.views.get("embedding.E")
        chunk = max(1, _DECODE_CHUNK // width)
        ws = np.empty(_kernels.decode_workspace_size(
            net.stack, dec.n_outputs, min(n, chunk), L, width, threads),
            np.uint8)
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            _kernels.decode(codes[start:stop], lengths[start:stop],
                            scores[start:stop], h0[start:stop],
                            c0[start:stop], net.stack, E,
                            dec.views["output.V"], dec.views["output.c"],
                            width, ws, threads)
        return codes, lengths, scores

    def _outputs(self, codes, lengths):
        tokens = self.output_tokens_
        out = [[tokens[c - 1] for c in row[:n]]
               for row, n in zip(codes, lengths)]
        if self._targets_are_str:
            return ["".join(seq) for seq in out]
        return out

    def predict(self, X, beam_width=None):
        """The output sequence of every sample: str when fit's Y held str,
        else lists of tokens.  ``beam_width`` (default: the parameter's)
        > 1 runs beam search."""
        self._check_fitted()
        width = self.beam_width if beam_width is None else beam_width
        if not isinstance(width, Integral) or isinstance(width, bool) or \
                width < 1:
            raise ValueError(f"beam_width must be an int >= 1, got "
                             f"{width!r}")
        seqs = self._check_inputs(X, reset=False)
        codes, lengths, _ = self._decode(seqs, np.arange(len(seqs)),
                                         int(width))
        return self._outputs(codes, lengths)

    def decode_scores(self, X, beam_width=None):
        """The length-normalised log-likelihood (mean log-probability per
        step, the end step included) of each sequence ``predict`` returns."""
        self._check_fitted()
        width = self.beam_width if beam_width is None else beam_width
        if not isinstance(width, Integral) or width < 1:
            raise ValueError(f"beam_width must be an int >= 1, got "
                             f"{width!r}")
        seqs = self._check_inputs(X, reset=False)
        return self._decode(seqs, np.arange(len(seqs)), int(width))[2]

    def score(self, X, Y, sample_weight=None):
        """Exact-match accuracy of ``predict(X)`` against Y."""
        self._check_fitted()
        Y = self._check_targets(Y, self._n_samples(X), reset=False)
        pred = self.predict(X)
        hits = np.array([list(p) == list(y) for p, y in zip(pred, Y)],
                        float)
        return float(np.average(hits, weights=sample_weight))

    def _n_samples(self, X):
        return len(X)

    def log_likelihood(self, X, Y):
        """Mean log-likelihood per output token (nats; every target's end
        token included) of Y given X, with teacher forcing."""
        self._check_fitted()
        seqs = self._check_inputs(X, reset=False)
        Y = self._check_targets(Y, len(seqs), reset=False)
        targets = _Targets(self._encode_targets_of(Y))
        total, count = self._token_loss(seqs, targets, np.arange(len(seqs)))
        return -total / count


__all__ = ["SequenceToSequence"]
