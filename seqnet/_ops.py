"""Allocating wrappers over ``seqnet._kernels``.

Each function has the signature of its twin in ``seqnet._reference`` (plus
``n_threads``) and returns the same tuple, so tests compare the two
directly.  Outputs, zeroed gradient accumulators and the workspace are
allocated here; the estimators keep their own buffers and call
``_kernels`` directly.
"""
import numpy as np

from . import _kernels


def _workspace(size_fn, x, H, n_threads):
    T, B, I = x.shape
    return np.empty(size_fn(x.dtype, T, B, I, H, n_threads), np.uint8)


def lstm_forward(x, h0, c0, W, U, b, p, lengths, reverse=False, n_threads=0,
                 keep_gates=True):
    T, B, _ = x.shape
    H = h0.shape[1]
    h = np.empty((T, B, H), x.dtype)
    c = np.empty_like(h)
    gates = np.empty((T, B, 4 * H), x.dtype)
    h_n = np.empty((B, H), x.dtype)
    c_n = np.empty_like(h_n)
    ws = _workspace(_kernels.lstm_workspace_size, x, H, n_threads)
    _kernels.lstm_forward(h, c, gates, h_n, c_n, x, h0, c0, W, U, b, p,
                          lengths, reverse, ws, n_threads, keep_gates)
    return h, c, gates, h_n, c_n


def lstm_backward(dh, dh_n, dc_n, x, h0, c0, W, U, p, h, c, gates, lengths,
                  reverse=False, n_threads=0):
    dx = np.empty_like(x)
    dh0 = np.empty_like(h0)
    dc0 = np.empty_like(c0)
    dW, dU = np.zeros_like(W), np.zeros_like(U)
    db = np.zeros(W.shape[1], x.dtype)
    dp = None if p is None else np.zeros_like(p)
    ws = _workspace(_kernels.lstm_workspace_size, x, h0.shape[1], n_threads)
    _kernels.lstm_backward(dx, dh0, dc0, dW, dU, db, dp, dh, dh_n, dc_n, x,
                           h0, c0, W, U, p, h, c, gates, lengths, reverse, ws,
                           n_threads)
    return dx, dh0, dc0, dW, dU, db, dp


def gru_forward(x, h0, W, U, b, bh, lengths, reverse=False, n_threads=0,
                keep_gates=True):
    T, B, _ = x.shape
    H = h0.shape[1]
    h = np.empty((T, B, H), x.dtype)
    gates = np.empty((T, B, 3 * H), x.dtype)
    hn = np.empty_like(h)
    h_n = np.empty((B, H), x.dtype)
    ws = _workspace(_kernels.gru_workspace_size, x, H, n_threads)
    _kernels.gru_forward(h, gates, hn, h_n, x, h0, W, U, b, bh, lengths,
                         reverse, ws, n_threads, keep_gates)
    return h, gates, hn, h_n


def gru_backward(dh, dh_n, x, h0, W, U, h, gates, hn, lengths, reverse=False,
                 n_threads=0):
    dx = np.empty_like(x)
    dh0 = np.empty_like(h0)
    dW, dU = np.zeros_like(W), np.zeros_like(U)
    db = np.zeros(W.shape[1], x.dtype)
    dbh = np.zeros(h0.shape[1], x.dtype)
    ws = _workspace(_kernels.gru_workspace_size, x, h0.shape[1], n_threads)
    _kernels.gru_backward(dx, dh0, dW, dU, db, dbh, dh, dh_n, x, h0, W, U, h,
                          gates, hn, lengths, reverse, ws, n_threads)
    return dx, dh0, dW, dU, db, dbh


def elman_forward(x, h0, W, U, b, lengths, activation="tanh", reverse=False,
                  n_threads=0):
    T, B, _ = x.shape
    H = h0.shape[1]
    h = np.empty((T, B, H), x.dtype)
    h_n = np.empty((B, H), x.dtype)
    ws = _workspace(_kernels.elman_workspace_size, x, H, n_threads)
    _kernels.elman_forward(h, h_n, x, h0, W, U, b, lengths, activation,
                           reverse, ws, n_threads)
    return h, h_n


def elman_backward(dh, dh_n, x, h0, W, U, h, lengths, activation="tanh",
                   reverse=False, n_threads=0):
    dx = np.empty_like(x)
    dh0 = np.empty_like(h0)
    dW, dU = np.zeros_like(W), np.zeros_like(U)
    db = np.zeros(W.shape[1], x.dtype)
    ws = _workspace(_kernels.elman_workspace_size, x, h0.shape[1], n_threads)
    _kernels.elman_backward(dx, dh0, dW, dU, db, dh, dh_n, x, h0, W, U, h,
                            lengths, activation, reverse, ws, n_threads)
    return dx, dh0, dW, dU, db


def gemm(A, B, trans_a=False, trans_b=False, n_threads=0):
    """op(A) . op(B) as a new array, through the C GEMM driver."""
    M = A.shape[1] if trans_a else A.shape[0]
    N = B.shape[0] if trans_b else B.shape[1]
    C = np.empty((M, N), A.dtype)
    ws = np.empty(_kernels.gemm_workspace_size(n_threads), np.uint8)
    _kernels.gemm(C, A, B, 0.0, trans_a, trans_b, ws, n_threads)
    return C
