"""Export fitted models as ONNX graphs of the standard LSTM, GRU and RNN
operators, which onnxruntime and other ONNX runtimes run.

Each recurrent layer becomes one ONNX operator (both directions in one
node) whose weights are seqnet's, rearranged:

- weights: seqnet's ``W`` (I, G*H) and ``U`` (H, G*H) are input-major with
  gate blocks LSTM ``i f g o`` and GRU ``r z n``; ONNX's ``W`` and ``R``
  are (G*H, I) and (G*H, H) with gate blocks LSTM ``i o f c`` and GRU
  ``z r h``: transposed, blocks reordered.
- biases: ONNX adds two, ``Wb`` and ``Rb``.  seqnet's ``b`` is ``Wb``
  (``Rb`` zero), except the GRU's recurrent bias of the candidate, ``bh``,
  which sits inside the reset product (``n = act(x W_n + b_n +
  r * (h U_n + bh))``): it is ``Rb_h`` of ONNX's GRU with
  ``linear_before_reset=1``, which computes exactly that.
- peepholes: seqnet's ``p = (p_i, p_f, p_o)``, ONNX's ``P = (p_i, p_o,
  p_f)``; both apply p_o to the new cell state (Graves).
- activations: the gates stay ``Sigmoid``; seqnet's ``activation`` is
  ONNX's ``g`` and ``h`` of the LSTM (cell input and output), ``g`` of the
  GRU (candidate) and ``f`` of the RNN: ``Tanh``, ``Relu`` or ``Softsign``.

Ragged batches ride on the operators' ``sequence_lens``: a sequence's
outputs past its length are zero, a backward direction reads each
sequence from its own last step, and ``Y_h`` holds each sequence's final
state -- the state seqnet's many-to-one heads read.

onnx is an optional dependency (the ``onnx`` extra), imported only here.
"""
import numpy as np

from ._base import BaseSequenceEstimator

# The opset the graphs are written for: ONNX 1.12 / onnxruntime 1.12 and
# later run it.
DEFAULT_OPSET = 17
_MIN_OPSET = 14

# ONNX's gate blocks in terms of seqnet's (csrc/seqnet.h): LSTM i o f c
# from i f g o; GRU z r h from r z n.
_GATE_ORDER = {"lstm": (0, 3, 1, 2), "gru": (1, 0, 2), "elman": (0,)}
_OPERATOR = {"lstm": "LSTM", "gru": "GRU", "elman": "RNN"}
_ACTIVATION = {"tanh": "Tanh", "relu": "Relu", "softsign": "Softsign"}


def _import_onnx():
    try:
        import onnx
    except ImportError as exc:
        raise ImportError(
            "seqnet.to_onnx needs the onnx package: install seqnet's onnx "
            "extra, `pip install seqnet[onnx]` (onnx and onnxruntime)"
        ) from exc
    return onnx


def to_onnx(estimator, path=None, *, opset=DEFAULT_OPSET):
    """Export a fitted seqnet model as an ONNX graph.

    Parameters
    ----------
    estimator : SequenceClassifier, SequenceRegressor, SequenceTagger or \
CharRNN
        A fitted model, of numeric features or of tokens.
    path : str or path-like, default=None
        Also write the graph to this file.
    opset : int, default=17
        ONNX opset of the graph (14 or later).

    Returns
    -------
    onnx.ModelProto

    Notes
    -----
    Sequence models take ``X``, float32 ``(batch, time, features)`` -- for
    a model of tokens int64 codes ``(batch, time)``, each token's index in
    ``vocabulary_`` (0 for an unknown token) -- and ``sequence_lens``,
    int32 ``(batch,)``, each sequence's number of valid steps (1 to time;
    steps past it are padding and never read).  Outputs:

    - ``SequenceClassifier``: ``probabilities`` (batch, n_classes) and
      ``label`` int64 (batch,), an index into ``classes_``;
    - ``SequenceTagger``: ``probabilities`` (batch, time, n_classes) and
      ``label`` int64 (batch, time); steps past a sequence's length hold
      no prediction (the head of a zero state);
    - ``SequenceRegressor``: ``predictions`` (batch, n_outputs) (for a
      model fitted on 1-D y, column 0 is ``predict``).

    ``CharRNN`` exports one step, so that a runtime can generate: inputs
    ``token`` int64 (batch,) (an index into ``vocabulary_``), ``h`` and
    ``c`` float32 (batch, sum(hidden_sizes)), laid out as
    ``StreamState``'s (layer after layer; ``c`` is the LSTM's cell state,
    passed through unchanged by other cells); outputs ``probabilities``
    (batch, len(vocabulary_)) of the next character and the new state
    ``h_out``, ``c_out``.  Start from zeros and feed each output's state
    back in, as ``CharRNN.step`` does.

    Every graph computes in float32: a float64 model's weights are
    rounded to float32 (ONNX runtimes implement the recurrent operators
    in float32 only).
    """
    onnx = _import_onnx()
    if not isinstance(estimator, BaseSequenceEstimator):
        raise TypeError("to_onnx exports seqnet's estimators, got "
                        f"{type(estimator).__name__}")
    from .seq2seq import SequenceToSequence
    if isinstance(estimator, SequenceToSequence):
        raise TypeError(
            "to_onnx does not export SequenceToSequence: its decoding loop "
            "(greedy or beam search) has no single-graph form here yet")
    estimator._check_fitted()
    if not isinstance(opset, int) or opset < _MIN_OPSET:
        raise ValueError(f"opset must be an int >= {_MIN_OPSET}, got "
                         f"{opset!r}")
    from .text import CharRNN
    builder = _Graph(onnx)
    if isinstance(estimator, CharRNN):
        _step_graph(builder, estimator)
        name = "seqnet CharRNN step"
    else:
        _sequence_graph(builder, estimator)
        name = f"seqnet {type(estimator).__name__}"
    model = builder.model(name, opset)
    if path is not None:
        onnx.save_model(model, path)
    return model


class _Graph:
    """Nodes, weights, inputs and outputs of the graph being written, with
    a fresh name for every value."""

    def __init__(self, onnx):
        self.onnx = onnx
        self.nodes, self.initializers = [], []
        self.inputs, self.outputs = [], []
        self._count = 0

    def name(self, hint):
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, hint, value):
        """A weight (float arrays as float32), named."""
        value = np.asarray(value)
        if value.dtype.kind == "f":
            value = value.astype(np.float32)
        name = self.name(hint)
        self.initializers.append(
            self.onnx.numpy_helper.from_array(np.ascontiguousarray(value),
                                              name))
        return name

    def node(self, op, inputs, hint=None, n_outputs=1, output=None,
             **attrs):
        """Add a node; returns its output name (or names, n_outputs > 1)."""
        if output is not None:
            outs = [output]
        else:
            outs = [self.name(hint or op.lower()) for _ in range(n_outputs)]
        self.nodes.append(self.onnx.helper.make_node(
            op, inputs, outs, name=self.name(op), **attrs))
        return outs[0] if n_outputs == 1 else outs

    def input(self, name, elem_type, shape):
        self.inputs.append(self.onnx.helper.make_tensor_value_info(
            name, elem_type, shape))
        return name

    def output(self, name, elem_type, shape):
        self.outputs.append(self.onnx.helper.make_tensor_value_info(
            name, elem_type, shape))

    def model(self, name, opset):
        helper = self.onnx.helper
        from . import __version__
        graph = helper.make_graph(self.nodes, name, self.inputs,
                                  self.outputs, self.initializers)
        model = helper.make_model(
            graph, producer_name="seqnet", producer_version=__version__,
            opset_imports=[helper.make_opsetid("", opset)])
        # The oldest IR version that carries this opset, so that older
        # runtimes read the file (onnx's make_model writes its newest).
        model.ir_version = 8
        return model


def _onnx_weights(net, layer, cell):
    """ONNX's W, R, B (and LSTM P or None) of one layer, every direction
    stacked on the first axis."""
    G, H = net.info.n_gates, net.hidden_sizes[layer]
    order = _GATE_ORDER[cell]
    Ws, Rs, Bs, Ps = [], [], [], []
    for d in range(net.directions):
        p = net.layer_params(layer, d)

        def blocks(a):     # gate blocks on the last axis, in ONNX's order
            return np.concatenate([a[..., g * H:(g + 1) * H] for g in order],
                                  axis=-1)
        Ws.append(blocks(p["W"]).T)
        Rs.append(blocks(p["U"]).T)
        rb = np.zeros(G * H, net.dtype)
        if cell == "gru":
            rb[2 * H:] = p["bh"]
        Bs.append(np.concatenate([blocks(p["b"]), rb]))
        if net.peepholes:
            p_i, p_f, p_o = np.split(p["p"], 3)
            Ps.append(np.concatenate([p_i, p_o, p_f]))
    stack = [np.stack(a) for a in (Ws, Rs, Bs)]
    return stack + [np.stack(Ps) if Ps else None]


def _recurrent(g, net, layer, x, lengths, initial=None):
    """One layer as its ONNX operator over time-major ``x`` (T, B, I);
    returns its outputs Y (T, D, B, H), Y_h (D, B, H) and (LSTM) Y_c.
    ``initial`` gives (initial_h, initial_c) (D, B, H) names or None."""
    cell = net.cell
    W, R, B, P = _onnx_weights(net, layer, cell)
    H = net.hidden_sizes[layer]
    act = _ACTIVATION[net.activation]
    per_direction = {"lstm": ["Sigmoid", act, act], "gru": ["Sigmoid", act],
                     "elman": [act]}[cell]
    inputs = [x, g.const(f"W{layer}", W), g.const(f"R{layer}", R),
              g.const(f"B{layer}", B), lengths or ""]
    if initial is not None:
        inputs.append(initial[0])
        if cell == "lstm":
            inputs.append(initial[1])
    if P is not None:
        while len(inputs) < 7:
            inputs.append("")
        inputs.append(g.const(f"P{layer}", P))
    attrs = dict(hidden_size=H, activations=per_direction * net.directions,
                 direction="bidirectional" if net.directions == 2
                 else "forward")
    if cell == "gru":
        attrs["linear_before_reset"] = 1
    n_out = 3 if cell == "lstm" else 2
    outs = g.node(_OPERATOR[cell], inputs, hint=f"layer{layer}",
                  n_outputs=n_out, **attrs)
    return outs if cell == "lstm" else outs + [None]


def _input_rows(g, est, net, X):
    """The first layer's input, batch-major (B, T, I), from the graph's
    ``X``: the features themselves, or a token model's embedding rows
    (a Gather) or one-hot rows (OneHot)."""
    if "vocabulary_" not in est.__dict__:
        return X
    if net.embedding_size is not None:
        return g.node("Gather", [g.const("embedding", net.views[
            "embedding.E"]), X], hint="embedded", axis=0)
    return _one_hot(g, X, net.n_inputs)


def _one_hot(g, codes, depth):
    return g.node("OneHot", [codes, g.const("depth", np.array(depth,
                                                              np.int64)),
                             g.const("off_on", np.array([0, 1],
                                                        np.float32))],
                  hint="one_hot", axis=-1)


def _sequence_graph(g, est):
    """Inputs X, sequence_lens; a stack of recurrent operators; the head."""
    onnx = g.onnx
    F = onnx.TensorProto.FLOAT
    I64 = onnx.TensorProto.INT64
    net = est._net
    tokens = "vocabulary_" in est.__dict__
    if tokens:
        X = g.input("X", I64, ["batch", "time"])
    else:
        X = g.input("X", F, ["batch", "time", est.n_features_in_])
    lengths = g.input("sequence_lens", onnx.TensorProto.INT32, ["batch"])
    x = g.node("Transpose", [_input_rows(g, est, net, X)], hint="time_major",
               perm=[1, 0, 2])
    flat = g.const("shape", np.array([0, 0, -1], np.int64))
    for layer in range(len(net.hidden_sizes)):
        Y, Y_h, _ = _recurrent(g, net, layer, x, lengths)
        # (T, D, B, H) -> (T, B, D*H): the directions side by side.
        Y = g.node("Transpose", [Y], perm=[0, 2, 1, 3])
        x = g.node("Reshape", [Y, flat], hint=f"out{layer}")
    if est._per_step:
        feats = g.node("Transpose", [x], hint="batch_major", perm=[1, 0, 2])
    else:
        # Y_h (D, B, H) -> (B, D*H): the forward direction's state after
        # each sequence's last step, the backward one's after its first.
        Y_h = g.node("Transpose", [Y_h], perm=[1, 0, 2])
        feats = g.node("Reshape", [Y_h, g.const(
            "shape", np.array([0, -1], np.int64))], hint="final")
    head = g.node("Add", [g.node("MatMul", [feats, g.const(
        "V", net.views["output.V"])]), g.const("c", net.views["output.c"])],
        hint="logits")
    K = net.n_outputs
    batch = ["batch", "time"] if est._per_step else ["batch"]
    if est._head_kernel == "linear_mse":
        g.node("Identity", [head], output="predictions")
        g.output("predictions", F, batch + [K])
        return
    g.node("Softmax", [head], output="probabilities", axis=-1)
    g.node("ArgMax", ["probabilities"], output="label", axis=-1, keepdims=0)
    g.output("probabilities", F, batch + [K])
    g.output("label", I64, batch)


def _step_graph(g, est):
    """CharRNN's one step: token, h, c in; probabilities, h_out, c_out
    out (see to_onnx)."""
    onnx = g.onnx
    F = onnx.TensorProto.FLOAT
    net = est._net
    width = sum(net.hidden_sizes)
    token = g.input("token", onnx.TensorProto.INT64, ["batch"])
    h = g.input("h", F, ["batch", width])
    c = g.input("c", F, ["batch", width])
    first = g.const("axis0", np.array([0], np.int64))
    x = _one_hot(g, g.node("Unsqueeze", [token, first]), net.n_inputs)
    hs, cs, off = [], [], 0
    for layer, H in enumerate(net.hidden_sizes):
        def part(state, name):     # (B, width) -> this layer's (1, B, H)
            piece = g.node("Slice", [state, g.const("start", np.array(
                [off], np.int64)), g.const("stop", np.array(
                    [off + H], np.int64)), g.const("axis1", np.array(
                        [1], np.int64))])
            return g.node("Unsqueeze", [piece, first], hint=name)
        Y, Y_h, Y_c = _recurrent(g, net, layer, x, None,
                                 (part(h, f"h{layer}"), part(c, f"c{layer}")))
        # Y (1, 1, B, H) -> the next layer's (1, B, H).
        x = g.node("Squeeze", [Y, g.const("axis1", np.array([1], np.int64))])
        hs.append(g.node("Squeeze", [Y_h, first]))
        if Y_c is not None:
            cs.append(g.node("Squeeze", [Y_c, first]))
        off += H
    g.node("Concat", hs, output="h_out", axis=1)
    if cs:
        g.node("Concat", cs, output="c_out", axis=1)
    else:
        g.node("Identity", [c], output="c_out")
    top = hs[-1]
    logits = g.node("Add", [g.node("MatMul", [top, g.const(
        "V", net.views["output.V"])]), g.const("c", net.views["output.c"])])
    g.node("Softmax", [logits], output="probabilities", axis=-1)
    g.output("probabilities", F, ["batch", net.n_outputs])
    g.output("h_out", F, ["batch", width])
    g.output("c_out", F, ["batch", width])
