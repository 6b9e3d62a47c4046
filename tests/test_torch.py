"""Cross-check of the C kernels against PyTorch with copied weights.

``torch.nn.LSTM``, ``torch.nn.GRU`` and ``torch.nn.RNN`` (tanh, relu) run in
float64 on variable-length batches packed with ``pack_padded_sequence``;
outputs, final states and, through autograd on a random linear functional
of the outputs and final states, the gradients of the input, the initial
states, the weights and the biases are compared with ``seqnet._ops``.

Weight mapping (``csrc/seqnet.h``): torch's ``weight_ih_l0`` is ``(G, I)`` =
our ``W.T`` and ``weight_hh_l0`` is ``U.T``, gates in the same order (LSTM
``i f g o``, GRU ``r z n``).  LSTM and Elman use one bias ``b = b_ih +
b_hh``; the GRU's input-side bias is ``b = b_ih + [b_hr, b_hz, 0]`` and its
recurrent n bias ``bh = b_hn`` (reset applied after the recurrent matmul, as
torch does).

Both sides are float64 and compute the same maths in different orders, so
every array agrees to ``1e-10`` of its largest entry (the observed
differences are around 1e-15).
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from seqnet import _ops  # noqa: E402

pack_padded_sequence = torch.nn.utils.rnn.pack_padded_sequence
pad_packed_sequence = torch.nn.utils.rnn.pad_packed_sequence

RTOL = 1e-10
TINY = 1e-30

CELLS = ("lstm", "gru", "rnn_tanh", "rnn_relu")
# name: (T, lengths, I, H); lengths sorted longest first, as both require.
SHAPES = {
    "ragged": (6, [6, 4, 3, 1], 3, 5),
    "short": (6, [4, 4, 2, 1], 7, 17),     # every sequence ends before T
    "equal": (4, [4, 4, 4], 1, 2),
}


def _assert_close(actual, expected, what):
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, what
    err = np.max(np.abs(actual - expected), initial=0.0)
    scale = np.max(np.abs(expected), initial=0.0)
    assert err <= RTOL * scale + TINY, (
        f"{what}: max error {err:.3g}, max|torch| {scale:.3g}")


def _module(cell, I, H, bidirectional, seed):
    torch.manual_seed(seed)
    if cell == "lstm":
        m = torch.nn.LSTM(I, H, bidirectional=bidirectional)
    elif cell == "gru":
        m = torch.nn.GRU(I, H, bidirectional=bidirectional)
    else:
        m = torch.nn.RNN(I, H, nonlinearity=cell.split("_")[1],
                         bidirectional=bidirectional)
    m = m.double()
    with torch.no_grad():
        # Larger than torch's default U(-1/sqrt(H), 1/sqrt(H)) for H = 1.
        for p in m.parameters():
            p.normal_(0.0, 0.6)
    return m


def _our_params(m, cell, suffix):
    """Our (W, U, b[, bh]) from torch's parameters of one direction."""
    H = m.hidden_size
    get = lambda name: getattr(m, name + suffix).detach().numpy()  # noqa
    W = np.ascontiguousarray(get("weight_ih_l0").T)
    U = np.ascontiguousarray(get("weight_hh_l0").T)
    b_ih, b_hh = get("bias_ih_l0"), get("bias_hh_l0")
    if cell == "gru":
        b = b_ih + np.concatenate([b_hh[:2 * H], np.zeros(H)])
        return {"W": W, "U": U, "b": b, "bh": b_hh[2 * H:].copy()}
    return {"W": W, "U": U, "b": b_ih + b_hh}


def _torch_grads(m, cell, suffix):
    """torch's parameter gradients of one direction, in our layout."""
    H = m.hidden_size
    get = lambda name: getattr(m, name + suffix).grad.numpy()  # noqa
    grads = {"W": get("weight_ih_l0").T, "U": get("weight_hh_l0").T}
    g_ih, g_hh = get("bias_ih_l0"), get("bias_hh_l0")
    # Every bias enters where its partner does: their gradients coincide
    # (for the GRU only on r and z; b_hn is our bh).
    if cell == "gru":
        _assert_close(g_hh[:2 * H], g_ih[:2 * H], f"b_hh{suffix}[:2H]")
        grads.update(b=g_ih, bh=g_hh[2 * H:])
    else:
        _assert_close(g_hh, g_ih, f"b_hh{suffix}")
        grads["b"] = g_ih
    return grads


def _ours(cell, x, h0, c0, params, lengths, reverse, up):
    """Forward and backward through seqnet._ops.

    Returns (h, h_n, c_n or None, grads keyed x, h0, c0, W, U, b, bh)."""
    P = params
    if cell == "lstm":
        h, c, gates, h_n, c_n = _ops.lstm_forward(
            x, h0, c0, P["W"], P["U"], P["b"], None, lengths, reverse)
        dx, dh0, dc0, dW, dU, db, dp = _ops.lstm_backward(
            up["h"], up["h_n"], up["c_n"], x, h0, c0, P["W"], P["U"], None,
            h, c, gates, lengths, reverse)
        assert dp is None
        return h, h_n, c_n, {"x": dx, "h0": dh0, "c0": dc0, "W": dW,
                             "U": dU, "b": db}
    if cell == "gru":
        h, gates, hn, h_n = _ops.gru_forward(
            x, h0, P["W"], P["U"], P["b"], P["bh"], lengths, reverse)
        dx, dh0, dW, dU, db, dbh = _ops.gru_backward(
            up["h"], up["h_n"], x, h0, P["W"], P["U"], h, gates, hn, lengths,
            reverse)
        return h, h_n, None, {"x": dx, "h0": dh0, "W": dW, "U": dU, "b": db,
                              "bh": dbh}
    act = cell.split("_")[1]
    h, h_n = _ops.elman_forward(x, h0, P["W"], P["U"], P["b"], lengths, act,
                                reverse)
    dx, dh0, dW, dU, db = _ops.elman_backward(
        up["h"], up["h_n"], x, h0, P["W"], P["U"], h, lengths, act, reverse)
    return h, h_n, None, {"x": dx, "h0": dh0, "W": dW, "U": dU, "b": db}


def _run_torch(m, cell, x, h0, c0, lengths, up):
    """Torch forward on the packed batch and autograd of
    L = sum(out*up_h) + sum(h_n*up_h_n) [+ sum(c_n*up_c_n)]."""
    T = x.shape[0]
    xt = torch.tensor(x, requires_grad=True)
    h0t = torch.tensor(h0, requires_grad=True)
    c0t = torch.tensor(c0, requires_grad=True)
    packed = pack_padded_sequence(xt, torch.tensor(lengths),
                                  enforce_sorted=True)
    if cell == "lstm":
        out, (h_n, c_n) = m(packed, (h0t, c0t))
    else:
        out, h_n = m(packed, h0t)
        c_n = None
    out, _ = pad_packed_sequence(out, total_length=T)
    loss = (out * torch.tensor(up["h"])).sum() \
        + (h_n * torch.tensor(up["h_n"])).sum()
    if c_n is not None:
        loss = loss + (c_n * torch.tensor(up["c_n"])).sum()
    m.zero_grad()
    loss.backward()
    return {"out": out.detach().numpy(), "h_n": h_n.detach().numpy(),
            "c_n": None if c_n is None else c_n.detach().numpy(),
            "dx": xt.grad.numpy(), "dh0": h0t.grad.numpy(),
            "dc0": c0t.grad.numpy() if cell == "lstm" else None}


def _data(T, lengths, I, H, D, seed):
    rng = np.random.default_rng(seed)
    B = len(lengths)
    x = rng.standard_normal((T, B, I))
    h0 = rng.standard_normal((D, B, H))
    c0 = rng.standard_normal((D, B, H))
    # Upstream gradients random everywhere, padded positions included.
    up = {"h": rng.standard_normal((T, B, D * H)),
          "h_n": rng.standard_normal((D, B, H)),
          "c_n": rng.standard_normal((D, B, H))}
    return x, h0, c0, up


def _direction_upstream(up, d, H):
    return {"h": np.ascontiguousarray(up["h"][:, :, d * H:(d + 1) * H]),
            "h_n": up["h_n"][d], "c_n": up["c_n"][d]}


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("cell", CELLS)
def test_matches_torch(cell, shape):
    T, lengths, I, H = SHAPES[shape]
    lengths = np.array(lengths, dtype=np.int64)
    m = _module(cell, I, H, False, seed=CELLS.index(cell))
    x, h0, c0, up = _data(T, lengths, I, H, 1, seed=len(shape) + H)
    got = _run_torch(m, cell, x, h0, c0, lengths, up)
    h, h_n, c_n, grads = _ours(cell, x, h0[0], c0[0], _our_params(m, cell, ""),
                               lengths, False, _direction_upstream(up, 0, H))

    _assert_close(h, got["out"], "h")
    _assert_close(h_n, got["h_n"][0], "h_n")
    if cell == "lstm":
        _assert_close(c_n, got["c_n"][0], "c_n")
        _assert_close(grads["c0"], got["dc0"][0], "dc0")
    _assert_close(grads["x"], got["dx"], "dx")
    _assert_close(grads["h0"], got["dh0"][0], "dh0")
    for name, g in _torch_grads(m, cell, "").items():
        _assert_close(grads[name], g, f"d{name}")
    # The comparison is not vacuous.
    assert np.any(grads["W"] != 0.0) and np.any(h != 0.0)
    if cell == "rnn_relu":
        # Both branches of relu taken at valid steps (pre-activations at
        # exactly 0, where the two could disagree, have probability 0 in
        # float64 and these inputs are fixed).
        valid = np.arange(T)[:, None] < lengths[None, :]
        assert np.any(h[valid] > 0.0) and np.any(h[valid] == 0.0)


@pytest.mark.parametrize("cell", CELLS)
def test_bidirectional_reverse_direction_matches_torch(cell):
    T, lengths, I, H = SHAPES["ragged"]
    lengths = np.array(lengths, dtype=np.int64)
    m = _module(cell, I, H, True, seed=10 + CELLS.index(cell))
    x, h0, c0, up = _data(T, lengths, I, H, 2, seed=20)
    got = _run_torch(m, cell, x, h0, c0, lengths, up)

    dx = np.zeros_like(x)
    for d, (suffix, reverse) in enumerate([("", False), ("_reverse", True)]):
        h, h_n, c_n, grads = _ours(cell, x, h0[d], c0[d],
                                   _our_params(m, cell, suffix), lengths,
                                   reverse, _direction_upstream(up, d, H))
        what = f"direction {suffix or '_forward'}"
        _assert_close(h, got["out"][:, :, d * H:(d + 1) * H], f"{what} h")
        _assert_close(h_n, got["h_n"][d], f"{what} h_n")
        if cell == "lstm":
            _assert_close(c_n, got["c_n"][d], f"{what} c_n")
            _assert_close(grads["c0"], got["dc0"][d], f"{what} dc0")
        _assert_close(grads["h0"], got["dh0"][d], f"{what} dh0")
        for name, g in _torch_grads(m, cell, suffix).items():
            _assert_close(grads[name], g, f"{what} d{name}")
        dx += grads["x"]
    # The input feeds both directions.
    _assert_close(dx, got["dx"], "dx")
