"""Stateful stepping: feed one step at a time and carry the state.

What DL4J calls ``rnnTimeStep``: a fitted unidirectional model reads the
next step of ``n_streams`` independent streams and returns its output for
that step, keeping each stream's recurrent state in a ``StreamState`` the
caller passes back in.  One C call (``stack_step``) runs every layer (the
network's ``Stack``); the output layer is the estimator's own head.  ``CharRNN.sample`` runs the same
step in a C loop.
"""
from numbers import Number

import numpy as np
from sklearn.utils.validation import check_is_fitted

from . import _kernels
from ._tokens import token_sequences


class StreamState:
    """Recurrent state of ``n_streams`` streams, for ``step``.

    ``h`` and ``c`` are ``(n_streams, sum of hidden_sizes)``: layer after
    layer, the hidden state and (LSTM) the cell state.  Copy it to branch a
    stream; create a new one (``initial_state``) to reset.
    """

    def __init__(self, h, c):
        self.h = h
        self.c = c

    @property
    def n_streams(self):
        return self.h.shape[0]

    def copy(self):
        return StreamState(self.h.copy(), self.c.copy())


class StatefulMixin:
    """``initial_state`` and ``step`` for the sequence estimators."""

    def initial_state(self, n_streams=1):
        """Zero state for ``n_streams`` streams (a fresh start)."""
        check_is_fitted(self, "_net")
        width = sum(self._net.hidden_sizes)
        zeros = np.zeros((int(n_streams), width), self._net.dtype)
        return StreamState(zeros, zeros.copy())

    def _check_state(self, state):
        """A StreamState of this model: the C step updates it in place."""
        net = self._net
        width = sum(net.hidden_sizes)
        if not isinstance(state, StreamState):
            raise TypeError(f"state must be a StreamState (from "
                            f"initial_state or step), got "
                            f"{type(state).__name__}")
        for name in ("h", "c"):
            arr = getattr(state, name)
            if (not isinstance(arr, np.ndarray) or arr.ndim != 2
                    or arr.shape[1] != width or arr.shape[0] < 1
                    or arr.dtype != net.dtype
                    or not arr.flags.c_contiguous or not arr.flags.writeable):
                raise ValueError(
                    f"state.{name} must be a writeable C-contiguous "
                    f"{net.dtype} array of shape (n_streams, {width}); got "
                    f"{getattr(arr, 'dtype', None)} "
                    f"{getattr(arr, 'shape', None)}")
        if state.c.shape != state.h.shape:
            raise ValueError(f"state.h {state.h.shape} and state.c "
                             f"{state.c.shape} disagree")

    def _step_inputs(self, x, n_streams):
        if "vocabulary_" in self.__dict__:
            return self._step_tokens(x, n_streams)
        if np.iscomplexobj(x):
            # The cast below would drop the imaginary part with a warning.
            raise ValueError("Complex data not supported")
        values = np.asarray(x)
        if not (values.dtype.kind in "biuf" or values.dtype.kind == "O" and
                all(isinstance(v, Number) for v in values.ravel())):
            # np.asarray(None, float) is NaN: say what was wrong instead.
            raise ValueError(f"step reads numbers: one step of each stream, "
                             f"shape (n_streams, {self.n_features_in_}); got "
                             f"{type(x).__name__} of dtype "
                             f"{np.asarray(x).dtype}")
        with np.errstate(over="ignore"):   # too large: inf, refused below
            x = np.asarray(x, dtype=self._net.dtype)
        if x.ndim == 1 and n_streams == 1:
            x = x[None, :]
        if x.shape != (n_streams, self.n_features_in_):
            raise ValueError(f"step expects one step of each of {n_streams} "
                             f"streams, shape ({n_streams}, "
                             f"{self.n_features_in_}); got {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("Input X contains NaN or infinity.")
        return np.ascontiguousarray(x)

    def _step_tokens(self, x, n_streams):
        """One token per stream: their codes, or (with an embedding) their
        rows of the table."""
        if isinstance(x, str) or not hasattr(x, "__len__"):
            raise ValueError(f"step of a model of tokens expects one token "
                             f"for each of {n_streams} streams (a list), got "
                             f"{x!r}")
        seqs = token_sequences([[token] for token in x], self,
                               self.input == "tokens")
        if len(seqs) != n_streams:
            raise ValueError(f"step expects one token for each of "
                             f"{n_streams} streams, got {len(seqs)}")
        codes = self._vocabulary.encode(seqs, warn_unseen=True).data
        net = self._net
        if net.embedding_size is None:
            return np.ascontiguousarray(codes.reshape(-1))
        rows = np.empty((1, n_streams, net.embedding_size), net.dtype)
        _kernels.embedding_forward(rows, net.views["embedding.E"],
                                   codes.reshape(1, -1),
                                   np.ones(n_streams, np.int64))
        return rows[0]

    def step(self, x, state=None):
        """Advance every stream by one step.

        Parameters
        ----------
        x : array of shape (n_streams, n_features), or tokens
            The next step of each stream: its features, or for a model of
            tokens a list of one token per stream.
        state : StreamState or None
            The state returned by the previous call; None starts from zero.

        Returns
        -------
        outputs : ndarray of shape (n_streams, n_outputs)
            The head's output after this step: class probabilities for
            classifiers and taggers (columns in ``classes_`` order), values
            for regressors.  For a classifier this is the prediction for
            the sequence read so far.
        state : StreamState
            The state after this step (updated in place).
        """
        self._check_fitted()
        net = self._net
        stack = net.stack()
        if state is None:
            tokens = "vocabulary_" in self.__dict__
            state = self.initial_state(
                len(x) if tokens and not isinstance(x, str) else
                np.shape(x)[0] if np.ndim(x) > 1 else 1)
        self._check_state(state)
        x = self._step_inputs(x, state.n_streams)
        B = state.n_streams
        buffers = self._buffers()
        top = buffers.get("step_top", (B, net.hidden_sizes[-1]))
        ws = buffers.workspace(max(stack.workspace_size(B),
                                   _kernels.gemm_workspace_size(1)))
        _kernels.stack_step(top, state.h, state.c, x, stack, ws)
        out = np.empty((B, net.n_outputs), net.dtype)
        self._head_predict(top, out, ws, 1)
        return out, state
