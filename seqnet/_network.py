"""A stack of recurrent layers with a dense output layer, run by C kernels.

``Network`` owns the parameters, in one flat buffer with named views, and
nothing else: it runs a batch forward and backward, one kernel call per
layer and direction, and a forward returns what its backward needs (a
``Trace``, owned by the caller), so one network serves any number of
threads at once.  Python here only arranges buffers between those calls;
all arithmetic is in ``csrc/``.

Shapes follow the kernels: a batch is time-major ``(T, B, F)`` -- or
``(T, B)`` int64 token codes -- with its sequences sorted longest first and
``lengths`` non-increasing.
"""
import math

import numpy as np
from threadpoolctl import threadpool_limits

from . import _kernels

CELLS = tuple(_kernels.CELLS)

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

    def tape(self, info, layer, d, T, B, H):
        """The tape one direction of one layer writes over a (T, B) batch
        of a cell described by ``info``; batches of one shape get the same
        one (fetched once: a fifth of predicting one short sequence)."""
        def make():
            key = f"{layer}.{d}."
            get = self.get
            return _kernels.Tape(
                get(key + "h", (T, B, H)),
                get(key + "c", (T, B, H)) if info.has_c else None,
                None if info.gates_in_h
                else get(key + "gates", (T, B, info.n_gates * H)),
                get(key + "hn", (T, B, H)) if info.has_hn else None,
                get(key + "h_n", (B, H)),
                get(key + "c_n", (B, H)) if info.has_c else None)
        return self.memo(("tape", info.kind, layer, d, T, B, H), make)


class Trace:
    """What one forward pass leaves for its backward pass: per layer its
    input and, per direction, its initial states and its tape.  Owned by
    the caller (its arrays are the caller's buffers), never by the
    network."""

    __slots__ = ("codes", "inputs", "initial", "tapes")

    def __init__(self):
        self.codes = None      # the token codes an embedding read
        self.inputs, self.initial, self.tapes = [], [], []

    def final_states(self):
        """Per layer and direction, the final states (h_n, c_n) -- what a
        truncated-BPTT chunk carries to the next."""
        return [[(t.h_n, t.c_n) for t in tapes] for tapes in self.tapes]


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
        Cells that have them: Graves peephole connections.
    activation : {"tanh", "relu", "softsign"}
        Every cell's squashing function (gates stay sigmoid).
    n_inputs, n_outputs : int
        Features per step (the vocabulary size for token codes) and units
        of the output layer.
    dtype : numpy float dtype
    embedding_size : int or None
        Token codes in [0, n_inputs) go through a learned table of this
        many columns (``embedding.E``, (n_inputs, embedding_size)) before
        the first layer; None feeds them to it as one-hot rows.
    """

    def __init__(self, cell, hidden_sizes, bidirectional, peepholes,
                 activation, n_inputs, n_outputs, dtype, embedding_size=None):
        self.cell = cell
        self.info = _kernels.CELLS[cell]
        self.hidden_sizes = tuple(int(h) for h in hidden_sizes)
        self.directions = 2 if bidirectional else 1
        self.peepholes = bool(peepholes) and self.info.peepholes
        self.activation = activation if self.info.activation else "tanh"
        self.n_inputs = int(n_inputs)
        self.n_outputs = int(n_outputs)
        self.dtype = np.dtype(dtype)
        self.embedding_size = None if embedding_size is None \
            else int(embedding_size)
        self._layout = self._make_layout()
        size = sum(math.prod(shape) for _, shape, _ in self._layout)
        self.params = aligned_zeros(size, self.dtype)
        self.decay = np.concatenate(
            [np.full(math.prod(shape), decay, np.uint8)
             for _, shape, decay in self._layout])
        self._set_views()

    def __getstate__(self):
        # Views and layer descriptors point into params: rebuilt on load.
        state = self.__dict__.copy()
        for key in ("views", "_layer_views", "_layers", "_stack", "info",
                    "_workspace_sizes"):
            state.pop(key, None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.__dict__.setdefault("embedding_size", None)   # older pickles
        self.info = _kernels.CELLS[self.cell]
        # Unpickled parameters are realigned; memory-mapped ones (joblib's
        # mmap_mode, shared between processes) are left where they are.
        if type(self.params) is np.ndarray and \
                self.params.__array_interface__["data"][0] % _ALIGN:
            params = aligned_empty(self.params.size, self.params.dtype)
            params[:] = self.params
            self.params = params
        self._set_views()

    def _set_views(self):
        """The named views of ``params``, those of each layer and direction
        by kind (``layer_params``) and their kernel descriptors
        (``layer``), built once rather than per batch."""
        self.views = self._carve(self.params)
        self._layer_views = self._by_layer(self.views)
        self._layers = self.kernel_layers(self._layer_views)
        self.__dict__.pop("_stack", None)

    def _by_layer(self, views):
        """Named views grouped by (layer, direction), keyed by kind."""
        out = {}
        for layer in range(len(self.hidden_sizes)):
            for d in range(self.directions):
                prefix = f"layer{layer}.{('forward', 'backward')[d]}."
                out[layer, d] = {k[len(prefix):]: v for k, v in views.items()
                                 if k.startswith(prefix)}
        return out

    def kernel_layers(self, layer_views):
        """``_kernels.Layer`` descriptors of views grouped by layer."""
        return {key: _kernels.Layer(self.cell, P["W"], P["U"], P["b"],
                                    P.get("p"), P.get("bh"), self.activation)
                for key, P in layer_views.items()}

    def gradient_layers(self, grads):
        """The views of a flat gradient buffer (laid out as ``params``) by
        name, and as layer descriptors for ``backward`` (with the
        embedding's under "embedding"): made once per buffer, not per
        batch."""
        gviews = self._carve(grads)
        glayers = self.kernel_layers(self._by_layer(gviews))
        if self.embedding_size is not None:
            glayers["embedding"] = gviews["embedding.E"]
        return gviews, glayers

    # ---------------------------------------------------------- parameters

    def _make_layout(self):
        """(name, shape, decays) for every tensor, in buffer order.

        Weights decay under L1/L2; biases and peepholes do not (as in
        scikit-learn's MLP, which penalises only the weights).
        """
        G = self.info.n_gates
        layout = []
        n_in = self.n_inputs
        if self.embedding_size is not None:
            layout.append(("embedding.E", (n_in, self.embedding_size), True))
            n_in = self.embedding_size
        for layer, H in enumerate(self.hidden_sizes):
            for d in range(self.directions):
                prefix = f"layer{layer}.{('forward', 'backward')[d]}."
                layout += [(prefix + "W", (n_in, G * H), True),
                           (prefix + "U", (H, G * H), True),
                           (prefix + "b", (G * H,), False)]
                if self.peepholes:
                    layout.append((prefix + "p", (3 * H,), False))
                if self.info.has_bh:
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
        weights (per gate block), zero biases except a forget gate's (the
        LSTM's), which start at ``forget_bias``."""
        G, forget = self.info.n_gates, self.info.forget_gate
        for name, view in self.views.items():
            kind = name.rsplit(".", 1)[1]
            if kind == "E":
                # As torch.nn.Embedding: rows of unit-variance values.
                view[...] = rng.standard_normal(view.shape)
            elif kind in ("W", "V"):
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
            if kind == "b" and forget is not None:
                H = view.shape[0] // G
                view[forget * H:(forget + 1) * H] = forget_bias

    # ------------------------------------------------------------ running

    def layer_params(self, layer, direction):
        """The views of one layer and direction by kind: W, U, b and (if
        the cell has them) p, bh."""
        return dict(self._layer_views.get((layer, direction), ()))

    def layer(self, layer, direction):
        """The kernel descriptor (``_kernels.Layer``) of one layer and
        direction."""
        return self._layers[layer, direction]

    def stack(self):
        """The layers as a ``_kernels.Stack`` for stepping one step at a
        time (unidirectional networks only), made once."""
        if self.directions != 1:
            raise ValueError("stepping one step at a time needs a "
                             "unidirectional model (bidirectional=False)")
        stack = self.__dict__.get("_stack")
        if stack is None:
            stack = self._stack = _kernels.Stack(
                [self._layers[layer, 0]
                 for layer in range(len(self.hidden_sizes))])
        return stack

    def workspace_size(self, T, B, n_threads):
        """Bytes of workspace that every layer's forward and backward over
        batches of at most T steps and B sequences fits in (kept by shape:
        a call per layer is a tenth of predicting one short sequence's
        Python)."""
        sizes = self.__dict__.setdefault("_workspace_sizes", {})
        size = sizes.get((T, B, n_threads))
        if size is None:
            if len(sizes) >= 64:
                sizes.clear()
            size = sizes[T, B, n_threads] = max(
                _kernels.layer_workspace_size(layer, T, B, n_threads)
                for layer in self._layers.values())
        return size

    def forward(self, x, lengths, buffers, workspace, n_threads, dropout=0.0,
                seed=0, stream=0, initial=None, train=False):
        """Run every layer over a batch.

        ``x`` is ``(T, B, I)`` or int64 token codes ``(T, B)``.  Returns
        the top layer's output ``(T, B, D)``, its final states ``(B, D)``
        and the ``Trace`` that ``backward`` (and a truncated-BPTT carry)
        reads.  ``initial`` optionally gives per layer and direction the
        states (h0, c0) to start from.  ``dropout`` applies inverted
        dropout to each layer's output, with masks drawn from (seed,
        stream + layer) so that backward replays them.
        """
        T, B = x.shape[:2]
        trace = Trace()
        top = len(self.hidden_sizes) - 1
        if self.embedding_size is not None:
            trace.codes = x
            x = buffers.get("embedded", (T, B, self.embedding_size))
            _kernels.embedding_forward(x, self.views["embedding.E"],
                                       trace.codes, lengths)
        inp, fin = x, None
        for layer in range(top + 1):
            H = self.hidden_sizes[layer]
            tapes, starts = [], []
            for d in range(self.directions):
                tape = buffers.tape(self.info, layer, d, T, B, H)
                if initial is None:
                    h0 = buffers.zeros(f"zeros_h{layer}.{d}.", (B, H))
                    c0 = h0 if self.info.has_c else None
                else:
                    h0, c0 = initial[layer][d]
                    c0 = c0 if self.info.has_c else None
                _kernels.layer_forward(self._layers[layer, d], tape, inp, h0,
                                       c0, lengths, d == 1, workspace,
                                       n_threads, train)
                tapes.append(tape)
                starts.append((h0, c0))
            trace.inputs.append(inp)
            trace.initial.append(starts)
            trace.tapes.append(tapes)
            out = self._join([t.h for t in tapes], f"out{layer}", buffers)
            if layer == top:
                fin = self._join([t.h_n for t in tapes], "final", buffers)
            if train and dropout > 0:
                # The kernels' own outputs stay intact for the backward pass.
                if out is tapes[0].h:
                    out = self._copy(out, f"drop{layer}", buffers)
                _kernels.dropout(out, dropout, seed,
                                 _stream(stream, layer, 0), n_threads)
                if layer == top:
                    if fin is tapes[0].h_n:
                        fin = self._copy(fin, "dropfinal", buffers)
                    _kernels.dropout(fin, dropout, seed,
                                     _stream(stream, layer, 1), n_threads)
            inp = out
        return inp, fin, trace

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

    def backward(self, trace, d_out, d_final, lengths, grad_layers, buffers,
                 workspace, n_threads, dropout=0.0, seed=0, stream=0):
        """Backpropagate through every layer of the forward that made
        ``trace``.

        ``d_out`` (T, B, D) is the gradient of the top layer's output or
        None, ``d_final`` (B, D) that of its final states or None.
        Parameter gradients accumulate into ``grad_layers`` (from
        ``gradient_layers``).  Returns per layer and direction the
        gradients (dh0, dc0) of the initial states (buffers, dc0 None
        without a cell state).
        """
        d_initial = [None] * len(self.hidden_sizes)
        for layer in reversed(range(len(self.hidden_sizes))):
            x = trace.inputs[layer]
            T, B = x.shape[:2]
            H = self.hidden_sizes[layer]
            if dropout > 0:
                if d_out is not None:
                    _kernels.dropout(d_out, dropout, seed,
                                     _stream(stream, layer, 0), n_threads)
                if d_final is not None:
                    _kernels.dropout(d_final, dropout, seed,
                                     _stream(stream, layer, 1), n_threads)
            want_dx = layer > 0 or trace.codes is not None
            dx_sum = None
            for d in range(self.directions):
                dh = self._split(d_out, d, H, f"dh{layer}.{d}", buffers)
                dh_n = self._split(d_final, d, H, f"dhn{layer}.{d}", buffers)
                key = f"{layer}.{d}."
                dx = buffers.get(key + "dx", x.shape) if want_dx else None
                dh0 = buffers.get(key + "dh0", (B, H))
                dc0 = buffers.get(key + "dc0", (B, H)) \
                    if self.info.has_c else None
                h0, c0 = trace.initial[layer][d]
                _kernels.layer_backward(self._layers[layer, d],
                                        grad_layers[layer, d], dx, dh0, dc0,
                                        dh, dh_n, None, x, h0, c0,
                                        trace.tapes[layer][d], lengths,
                                        d == 1, workspace, n_threads)
                d_initial[layer] = (d_initial[layer] or []) + [(dh0, dc0)]
                if want_dx:
                    if dx_sum is None:
                        dx_sum = buffers.get(f"dxsum{layer}", dx.shape)
                        dx_sum[...] = dx
                    else:
                        dx_sum += dx
            d_out, d_final = dx_sum, None
        if trace.codes is not None:
            _kernels.embedding_backward(grad_layers["embedding"], d_out,
                                        trace.codes, lengths)
        return d_initial

    def _split(self, grad, d, H, name, buffers):
        """Direction d's half of a gradient, as its own contiguous array."""
        if grad is None:
            return None
        if self.directions == 1:
            return grad
        part = buffers.get(name, grad.shape[:-1] + (H,))
        part[...] = grad[..., d * H:(d + 1) * H]
        return part
