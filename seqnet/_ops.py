"""Allocating wrappers over ``seqnet._kernels``.

``layer_forward`` and ``layer_backward`` run any cell through the one layer
API; the per-cell functions below have the signatures of their twins in
``seqnet._reference`` (plus ``n_threads``) and return the same tuples, so
tests compare the two directly.  Outputs, zeroed gradient accumulators and the workspace are
allocated here; the estimators keep their own buffers and call
``_kernels`` directly.
"""
import numpy as np

from . import _kernels


def _tape(layer, T, B, dtype):
    """A new tape for ``layer`` over a (T, B) batch."""
    info, H = layer.info, layer.H
    return _kernels.Tape(
        np.empty((T, B, H), dtype),
        np.empty((T, B, H), dtype) if info.has_c else None,
        None if info.gates_in_h else np.empty((T, B, layer.G), dtype),
        np.empty((T, B, H), dtype) if info.has_hn else None,
        np.empty((B, H), dtype),
        np.empty((B, H), dtype) if info.has_c else None)


def layer_forward(layer, x, h0, c0, lengths, reverse=False, n_threads=0,
                  keep_gates=True):
    """The tape of one layer over x (T, B, I), or over int64 token codes
    (T, B)."""
    T, B = x.shape[:2]
    tape = _tape(layer, T, B, layer.dtype)
    ws = np.empty(_kernels.layer_workspace_size(layer, T, B, n_threads),
                  np.uint8)
    _kernels.layer_forward(layer, tape, x, h0, c0, lengths, reverse, ws,
                           n_threads, keep_gates)
    return tape


def layer_backward(layer, tape, dh, dh_n, dc_n, x, h0, c0, lengths,
                   reverse=False, n_threads=0):
    """(dx, dh0, dc0, grads): dx None for token codes, dc0 None without a
    cell state; grads a Layer of new gradient arrays."""
    T, B = x.shape[:2]
    dtype = layer.dtype
    dx = None if x.ndim == 2 else np.empty_like(x)
    dh0 = np.empty((B, layer.H), dtype)
    dc0 = np.empty_like(dh0) if layer.info.has_c else None
    grads = _kernels.Layer(
        layer.cell, np.zeros_like(layer.W), np.zeros_like(layer.U),
        np.zeros_like(layer.b),
        None if layer.p is None else np.zeros_like(layer.p),
        None if layer.bh is None else np.zeros_like(layer.bh),
        layer.activation)
    ws = np.empty(_kernels.layer_workspace_size(layer, T, B, n_threads),
                  np.uint8)
    _kernels.layer_backward(layer, grads, dx, dh0, dc0, dh, dh_n, dc_n, x,
                            h0, c0, tape, lengths, reverse, ws, n_threads)
    return dx, dh0, dc0, grads


# The cells one at a time, with the signatures of seqnet._reference.

def lstm_forward(x, h0, c0, W, U, b, p, lengths, reverse=False, n_threads=0,
                 keep_gates=True, activation="tanh"):
    t = layer_forward(_kernels.Layer("lstm", W, U, b, p,
                                     activation=activation),
                      x, h0, c0, lengths, reverse, n_threads, keep_gates)
    return t.h, t.c, t.gates, t.h_n, t.c_n


def lstm_backward(dh, dh_n, dc_n, x, h0, c0, W, U, p, h, c, gates, lengths,
                  reverse=False, n_threads=0, activation="tanh"):
    layer = _kernels.Layer("lstm", W, U, np.zeros(W.shape[1], W.dtype), p,
                           activation=activation)
    tape = _kernels.Tape(h, c, gates, None, h[0], c[0])
    dx, dh0, dc0, g = layer_backward(layer, tape, dh, dh_n, dc_n, x, h0, c0,
                                     lengths, reverse, n_threads)
    return dx, dh0, dc0, g.W, g.U, g.b, g.p


def gru_forward(x, h0, W, U, b, bh, lengths, reverse=False, n_threads=0,
                keep_gates=True, activation="tanh"):
    t = layer_forward(_kernels.Layer("gru", W, U, b, bh=bh,
                                     activation=activation),
                      x, h0, None, lengths, reverse, n_threads, keep_gates)
    return t.h, t.gates, t.hn, t.h_n


def gru_backward(dh, dh_n, x, h0, W, U, h, gates, hn, lengths, reverse=False,
                 n_threads=0, activation="tanh"):
    H = h0.shape[1]
    layer = _kernels.Layer("gru", W, U, np.zeros(W.shape[1], W.dtype),
                           bh=np.zeros(H, W.dtype), activation=activation)
    tape = _kernels.Tape(h, None, gates, hn, h[0], None)
    dx, dh0, _, g = layer_backward(layer, tape, dh, dh_n, None, x, h0, None,
                                   lengths, reverse, n_threads)
    return dx, dh0, g.W, g.U, g.b, g.bh


def elman_forward(x, h0, W, U, b, lengths, activation="tanh", reverse=False,
                  n_threads=0):
    t = layer_forward(_kernels.Layer("elman", W, U, b, activation=activation),
                      x, h0, None, lengths, reverse, n_threads)
    return t.h, t.h_n


def elman_backward(dh, dh_n, x, h0, W, U, h, lengths, activation="tanh",
                   reverse=False, n_threads=0):
    layer = _kernels.Layer("elman", W, U, np.zeros(W.shape[1], W.dtype),
                           activation=activation)
    tape = _kernels.Tape(h, None, None, None, h[0], None)
    dx, dh0, _, g = layer_backward(layer, tape, dh, dh_n, None, x, h0, None,
                                   lengths, reverse, n_threads)
    return dx, dh0, g.W, g.U, g.b


def gemm(A, B, trans_a=False, trans_b=False, n_threads=0):
    """op(A) . op(B) as a new array, through the C GEMM driver."""
    M = A.shape[1] if trans_a else A.shape[0]
    N = B.shape[0] if trans_b else B.shape[1]
    C = np.empty((M, N), A.dtype)
    ws = np.empty(_kernels.gemm_workspace_size(n_threads), np.uint8)
    _kernels.gemm(C, A, B, 0.0, trans_a, trans_b, ws, n_threads)
    return C
