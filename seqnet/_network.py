"""A stack of recurrent layers with a dense output layer, run by C kernels.

``Network`` owns the parameters, in one flat buffer with named views, and
runs a batch forward and backward: one kernel call per layer and direction,
one for the output layer and its loss.  Python here only arranges buffers
between those calls; all arithmetic is in ``csrc/``.

Shapes follow the kernels: a batch is time-major ``(T, B, F)`` with its
sequences sorted longest first and ``lengths`` non-increasing.
"""
import math

import numpy as np
from threadpoolctl import threadpool_limits

from . import _kernels

CELLS = ("lstm", "gru", "elman")
_GATES = {"lstm": 4, "gru": 3, "elman": 1}

# Buffers the kernels stream start on a cache line: their vector loads and
# stores are 64 bytes wide, numpy's allocator aligns to 16, and a 64-byte
# access that is not aligned spans two lines (the medium LSTM forward ran
# 1-4 % slower with its arrays 16 bytes off: bench/test_bench_kernels.py,
# -k alignment).
_ALIGN = 64


def aligned_empty(n, dtype):
    """A new 1-D array of ``n`` elements whose data starts on a cache line.
    It is made from a buffer (not as a view of an array), so that views of
    it have it, not the padded storage, as their ``base``."""
    dtype = np.dtype(dtype)
    raw = np.empty(n * dtype.itemsize + _ALIGN, np.uint8)
    start = -raw.__array_interface__["data"][0] % _ALIGN
    return np.frombuffer(raw.data[start:start + n * dtype.itemsize], dtype)


def aligned_zeros(n, dtype):
    """``aligned_empty``, zeroed."""
    out = aligned_empty(n, dtype)
    out.fill(0)
    return out


def _stream(step, layer, which):
    """The dropout stream of one mask: update step, layer, output (0) or
    final state (1).  Distinct for every triple below 128 layers."""
    return (step << 8) | (layer << 1) | which


class Buffers:
    """Arrays reused across batches, grown only when a batch needs more.

    ``get(name, shape)`` returns a C-contiguous view of the first
    ``prod(shape)`` elements of a flat buffer, so batches of any size share
    storage and a training loop stops allocating once it has seen its
    largest batch.  Views are kept by name and shape and handed out again,
    which spares predict on small batches a microsecond per buffer; those
    of a buffer that grows are dropped with it, and all of them when there
    are more than ``_MAX_VIEWS`` (ragged input brings many shapes).
    ``memo`` keeps collections of views the same way.
    """

    _MAX_VIEWS = 256

    def __init__(self, dtype):
        self.dtype = dtype
        self._flat = {}
        self._views = {}
        self._memo = {}

    def memo(self, key, make):
        """``make()``, kept by ``key``: for a collection of views that
        ``make`` fetches with ``get``, the same while no buffer grows (then
        every kept collection is dropped)."""
        value = self._memo.get(key)
        if value is None:
            if len(self._memo) >= self._MAX_VIEWS:
                self._memo.clear()
            value = make()
            self._memo[key] = value
        return value

    def get(self, name, shape, dtype=None):
        shape = tuple(shape)
        view = self._views.get((name, shape))
        if view is not None:
            return view
        n = math.prod(shape)
        flat = self._flat.get(name)
        if flat is None or flat.size < n:
            flat = aligned_empty(max(n, 1), dtype or self.dtype)
            self._flat[name] = flat
            self._views = {key: v for key, v in self._views.items()
                           if key[0] != name}
            self._memo.clear()
        if len(self._views) >= self._MAX_VIEWS:
            self._views.clear()
        view = flat[:n].reshape(shape)
        self._views[name, shape] = view
        return view

    def zeros(self, name, shape):
        out = self.get(name, shape)
        out.fill(0)
        return out

    def workspace(self, nbytes):
        return self.get("workspace", (nbytes,), np.uint8)


class Network:
    """Parameters and batch computation of a stacked recurrent network.

    Parameters
    ----------
    cell : {"lstm", "gru", "elman"}
    hidden_sizes : tuple of int
        Units of each recurrent layer, bottom first.
    bidirectional : bool
        Each layer runs both directions; its output concatenates them.
    peepholes : bool
        LSTM only: Graves peephole connections.
    activation : {"tanh", "relu", "softsign"}
        Elman only.
    n_inputs, n_outputs : int
        Features per step and units of the output layer.
    dtype : numpy float dtype
    """

    def __init__(self, cell, hidden_sizes, bidirectional, peepholes,
                 activation, n_inputs, n_outputs, dtype):
        self.cell = cell
        self.hidden_sizes = tuple(int(h) for h in hidden_sizes)
        self.directions = 2 if bidirectional else 1
        self.peepholes = bool(peepholes) and cell == "lstm"
        self.activation = activation
        self.n_inputs = int(n_inputs)
        self.n_outputs = int(n_outputs)
        self.dtype = np.dtype(dtype)
        self._layout = self._make_layout()
        size = sum(math.prod(shape) for _, shape, _ in self._layout)
        self.params = aligned_zeros(size, self.dtype)
        self.decay = np.concatenate(
            [np.full(math.prod(shape), decay, np.uint8)
             for _, shape, decay in self._layout])
        self._set_views()

    def __getstate__(self):
        # Views and the last batch's saved activations are not state.
        state = self.__dict__.copy()
        for key in ("views", "_layer_views", "_saved", "final"):
            state.pop(key, None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        # Unpickled parameters are realigned; memory-mapped ones (joblib's
        # mmap_mode, shared between processes) are left where they are.
        if type(self.params) is np.ndarray and \
                self.params.__array_interface__["data"][0] % _ALIGN:
            params = aligned_empty(self.params.size, self.params.dtype)
            params[:] = self.params
            self.params = params
        self._set_views()

    def _set_views(self):
        """The named views of ``params``, and those of each layer and
        direction by kind (``layer_params``), built once rather than per
        batch."""
        self.views = self._carve(self.params)
        self._layer_views = {}
        for layer in range(len(self.hidden_sizes)):
            for d in range(self.directions):
                prefix = f"layer{layer}.{('forward', 'backward')[d]}."
                self._layer_views[layer, d] = {
                    k[len(prefix):]: v for k, v in self.views.items()
                    if k.startswith(prefix)}

    # ---------------------------------------------------------- parameters

    def _make_layout(self):
        """(name, shape, decays) for every tensor, in buffer order.

        Weights decay under L1/L2; biases and peepholes do not (as in
        scikit-learn's MLP, which penalises only the weights).
        """
        G = _GATES[self.cell]
        layout = []
        n_in = self.n_inputs
        for layer, H in enumerate(self.hidden_sizes):
            for d in range(self.directions):
                prefix = f"layer{layer}.{('forward', 'backward')[d]}."
                layout += [(prefix + "W", (n_in, G * H), True),
                           (prefix + "U", (H, G * H), True),
                           (prefix + "b", (G * H,), False)]
                if self.peepholes:
                    layout.append((prefix + "p", (3 * H,), False))
                if self.cell == "gru":
                    layout.append((prefix + "bh", (H,), False))
            n_in = H * self.directions
        layout += [("output.V", (n_in, self.n_outputs), True),
                   ("output.c", (self.n_outputs,), False)]
        return layout

    def _carve(self, flat):
        views, offset = {}, 0
        for name, shape, _ in self._layout:
            n = math.prod(shape)
            views[name] = flat[offset:offset + n].reshape(shape)
            offset += n
        return views

    @property
    def n_features_out(self):
        """Width of the top layer's output per step."""
        return self.hidden_sizes[-1] * self.directions

    def initialize(self, rng, forget_bias):
        """Glorot-uniform input and output weights, orthogonal recurrent
        weights (per gate block), zero biases except the LSTM forget gate."""
        G = _GATES[self.cell]
        for name, view in self.views.items():
            kind = name.rsplit(".", 1)[1]
            if kind in ("W", "V"):
                fan_in = view.shape[0]
                fan_out = view.shape[1] // (G if kind == "W" else 1)
                limit = np.sqrt(6.0 / (fan_in + fan_out))
                view[...] = rng.uniform(-limit, limit, view.shape)
            elif kind == "U":
                H = view.shape[0]
                for g in range(G):
                    # One BLAS thread: a small QR is slower threaded, badly
                    # so on a busy machine.
                    with threadpool_limits(1, user_api="blas"):
                        q, r = np.linalg.qr(rng.standard_normal((H, H)))
                    view[:, g * H:(g + 1) * H] = q * np.sign(np.diag(r))
            else:
                view[...] = 0
            if kind == "b" and self.cell == "lstm":
                H = view.shape[0] // 4
                view[H:2 * H] = forget_bias

    # ------------------------------------------------------------ running

    def layer_params(self, layer, direction):
        """The views of one layer and direction by kind: W, U, b and (if
        the cell has them) p, bh."""
        return dict(self._layer_views.get((layer, direction), ()))

    def forward(self, x, lengths, buffers, n_threads, dropout=0.0,
                seed=0, stream=0, initial=None, train=False):
        """Run every layer over a batch.

        Returns the top layer's output ``(T, B, D)`` and its final states
        ``(B, D)``.  ``initial`` optionally gives per layer and direction
        the states (h0, c0) to start from (truncated BPTT carries them);
        the final states of every layer are kept in ``self.final``.
        ``dropout`` applies inverted dropout to each layer's output, with
        masks drawn from (seed, stream + layer) so that backward replays
        them.
        """
        T, B, _ = x.shape
        self._saved = []
        self.final = []
        top = len(self.hidden_sizes) - 1
        inp, fin = x, None
        for layer in range(top + 1):
            saved = [self._run_cell(layer, d, inp, lengths,
                                    None if initial is None
                                    else initial[layer][d],
                                    buffers, n_threads, keep=train)
                     for d in range(self.directions)]
            self.final.append([(s["h_n"], s.get("c_n")) for s in saved])
            self._saved.append((inp, saved))
            out = self._join([s["h"] for s in saved], f"out{layer}", buffers)
            if layer == top:
                fin = self._join([s["h_n"] for s in saved], "final", buffers)
            if train and dropout > 0:
                # The kernels' own outputs stay intact for the backward pass.
                if out is saved[0]["h"]:
                    out = self._copy(out, f"drop{layer}", buffers)
                _kernels.dropout(out, dropout, seed,
                                 _stream(stream, layer, 0), n_threads)
                if layer == top:
                    if fin is saved[0]["h_n"]:
                        fin = self._copy(fin, "dropfinal", buffers)
                    _kernels.dropout(fin, dropout, seed,
                                     _stream(stream, layer, 1), n_threads)
            inp = out
        return inp, fin

    @staticmethod
    def _copy(arr, name, buffers):
        out = buffers.get(name, arr.shape)
        out[...] = arr
        return out

    def _join(self, parts, name, buffers):
        """The directions' outputs side by side (one direction: itself)."""
        if len(parts) == 1:
            return parts[0]
        H = parts[0].shape[-1]
        out = buffers.get(name, parts[0].shape[:-1] + (2 * H,))
        out[..., :H] = parts[0]
        out[..., H:] = parts[1]
        return out

    def _cell_outputs(self, layer, d, T, B, buffers):
        """The arrays one direction of one layer writes over a batch of
        ``B`` sequences of ``T`` steps, by name."""
        H = self.hidden_sizes[layer]
        key = f"{layer}.{d}."
        s = {"h": buffers.get(key + "h", (T, B, H)),
             "h_n": buffers.get(key + "h_n", (B, H))}
        if self.cell == "lstm":
            s["c"] = buffers.get(key + "c", (T, B, H))
            s["gates"] = buffers.get(key + "gates", (T, B, 4 * H))
            s["c_n"] = buffers.get(key + "c_n", (B, H))
        elif self.cell == "gru":
            s["gates"] = buffers.get(key + "gates", (T, B, 3 * H))
            s["hn"] = buffers.get(key + "hn", (T, B, H))
        return s

    def _run_cell(self, layer, d, x, lengths, state0, buffers, n_threads,
                  keep=True):
        """One direction of one layer over the batch; ``keep`` keeps the
        gates for a backward pass (without it, inference, the kernel need
        not write them out)."""
        T, B, I = x.shape
        H = self.hidden_sizes[layer]
        P = self._layer_views[layer, d]
        # Batches of one shape get the same views: fetched once (a fifth of
        # predicting one short sequence), copied as the caller keeps them.
        s = dict(buffers.memo((self.cell, H, layer, d, T, B),
                              lambda: self._cell_outputs(layer, d, T, B,
                                                         buffers)))
        if state0 is None:
            h0 = buffers.zeros(f"zeros_h{layer}.{d}.", (B, H))
            c0 = h0
        else:
            h0, c0 = state0
        s["h0"], s["c0"] = h0, c0
        reverse = d == 1
        # The workspace is sized per call: with n_threads=0 its size
        # follows the OpenMP thread count, which may change between calls.
        if self.cell == "lstm":
            ws = buffers.workspace(_kernels.lstm_workspace_size(
                self.dtype, T, B, I, H, n_threads))
            _kernels.lstm_forward(s["h"], s["c"], s["gates"], s["h_n"],
                                  s["c_n"], x, h0, c0, P["W"], P["U"], P["b"],
                                  P.get("p"), lengths, reverse, ws, n_threads,
                                  keep)
        elif self.cell == "gru":
            ws = buffers.workspace(_kernels.gru_workspace_size(
                self.dtype, T, B, I, H, n_threads))
            _kernels.gru_forward(s["h"], s["gates"], s["hn"], s["h_n"], x, h0,
                                 P["W"], P["U"], P["b"], P["bh"], lengths,
                                 reverse, ws, n_threads, keep)
        else:
            ws = buffers.workspace(_kernels.elman_workspace_size(
                self.dtype, T, B, I, H, n_threads))
            _kernels.elman_forward(s["h"], s["h_n"], x, h0, P["W"], P["U"],
                                   P["b"], lengths, self.activation, reverse,
                                   ws, n_threads)
        return s

    def backward(self, d_out, d_final, lengths, gviews, buffers, n_threads,
                 dropout=0.0, seed=0, stream=0):
        """Backpropagate through every layer of the last ``forward``.

        ``d_out`` (T, B, D) is the gradient of the top layer's output or
        None, ``d_final`` (B, D) that of its final states or None.
        Parameter gradients accumulate into ``gviews``, the named views of
        a flat gradient buffer laid out like ``params`` (``_carve``).
        """
        for layer in reversed(range(len(self.hidden_sizes))):
            x, saved = self._saved[layer]
            H = self.hidden_sizes[layer]
            if dropout > 0:
                if d_out is not None:
                    _kernels.dropout(d_out, dropout, seed,
                                     _stream(stream, layer, 0), n_threads)
                if d_final is not None:
                    _kernels.dropout(d_final, dropout, seed,
                                     _stream(stream, layer, 1), n_threads)
            dx_sum = None
            for d in range(self.directions):
                dh = self._split(d_out, d, H, f"dh{layer}.{d}", buffers)
                dh_n = self._split(d_final, d, H, f"dhn{layer}.{d}", buffers)
                want_dx = layer > 0
                dx = self._cell_backward(layer, d, x, saved[d], dh, dh_n,
                                         lengths, gviews, buffers, n_threads,
                                         want_dx)
                if want_dx:
                    if dx_sum is None:
                        dx_sum = buffers.get(f"dxsum{layer}", dx.shape)
                        dx_sum[...] = dx
                    else:
                        dx_sum += dx
            d_out, d_final = dx_sum, None

    def _split(self, grad, d, H, name, buffers):
        """Direction d's half of a gradient, as its own contiguous array."""
        if grad is None:
            return None
        if self.directions == 1:
            return grad
        part = buffers.get(name, grad.shape[:-1] + (H,))
        part[...] = grad[..., d * H:(d + 1) * H]
        return part

    def _cell_backward(self, layer, d, x, s, dh, dh_n, lengths, gviews,
                       buffers, n_threads, want_dx):
        T, B, I = x.shape
        H = self.hidden_sizes[layer]
        prefix = f"layer{layer}.{('forward', 'backward')[d]}."
        P = self._layer_views[layer, d]
        g = {k.rsplit(".", 1)[1]: v for k, v in gviews.items()
             if k.startswith(prefix)}
        key = f"{layer}.{d}."
        dx = buffers.get(key + "dx", (T, B, I)) if want_dx else None
        dh0 = buffers.get(key + "dh0", (B, H))
        reverse = d == 1
        if self.cell == "lstm":
            dc0 = buffers.get(key + "dc0", (B, H))
            ws = buffers.workspace(_kernels.lstm_workspace_size(
                self.dtype, T, B, I, H, n_threads))
            _kernels.lstm_backward(dx, dh0, dc0, g["W"], g["U"], g["b"],
                                   g.get("p"), dh, dh_n, None, x, s["h0"],
                                   s["c0"], P["W"], P["U"], P.get("p"),
                                   s["h"], s["c"], s["gates"], lengths,
                                   reverse, ws, n_threads)
        elif self.cell == "gru":
            ws = buffers.workspace(_kernels.gru_workspace_size(
                self.dtype, T, B, I, H, n_threads))
            _kernels.gru_backward(dx, dh0, g["W"], g["U"], g["b"], g["bh"],
                                  dh, dh_n, x, s["h0"], P["W"], P["U"],
                                  s["h"], s["gates"], s["hn"], lengths,
                                  reverse, ws, n_threads)
        else:
            ws = buffers.workspace(_kernels.elman_workspace_size(
                self.dtype, T, B, I, H, n_threads))
            _kernels.elman_backward(dx, dh0, g["W"], g["U"], g["b"], dh,
                                    dh_n, x, s["h0"], P["W"], P["U"], s["h"],
                                    lengths, self.activation, reverse, ws,
                                    n_threads)
        return dx
