# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Thin binding of the C kernels in csrc/ (see csrc/seqnet.h for the maths).

Each public function checks shapes, dtypes and contiguity, raising
``ValueError``, then makes exactly one C call with the GIL released.  Every
output and the workspace are allocated by the caller: size the workspace
with the matching ``*_workspace_size`` function (bytes, ``numpy.uint8``).
Parameter gradients accumulate (``+=``); activation gradients are
overwritten.  ``seqnet._ops`` wraps these with allocation for convenience.
"""
from libc.stdint cimport int64_t, uint8_t, uint64_t
cimport cython
from libc.stdlib cimport malloc, free
from cython cimport floating

import numpy as np

_ERRORS = {
    SN_EDIM: "a dimension is out of range",
    SN_ELENGTHS: "lengths must lie in [1, T] and be sorted longest first",
    SN_EARG: "a required array is missing or an option is unknown",
    SN_EWORKSPACE: "the workspace is smaller than *_workspace_size returned",
    SN_ELABEL: "a class label is outside [0, n_classes)",
}

ACTIVATIONS = {"tanh": 0, "relu": 1, "softsign": 2}
ISAS = ("ref", "avx2", "avx512")


cdef int _check_status(int status, str where) except -1:
    if status != SN_OK:
        raise ValueError(f"{where}: {_ERRORS.get(status, status)}")
    return 0


def _real_type(name, arr):
    """The fused specialisation for ``arr``'s dtype, or a ValueError."""
    dtype = getattr(arr, "dtype", None)
    if dtype == np.float32:
        return 0
    if dtype == np.float64:
        return 1
    raise ValueError(f"{name} must be a float32 or float64 array, got "
                     f"{dtype if dtype is not None else type(arr).__name__}")


def _expect(name, arr, shape):
    if arr is None:
        raise ValueError(f"{name} is required")
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array, got "
                        f"{type(arr).__name__}")
    got = tuple(arr.shape)
    if got != shape:
        raise ValueError(f"{name} has shape {got}, expected {shape}")


def _expect_optional(name, arr, shape):
    if arr is not None:
        _expect(name, arr, shape)


def _dims(x, h0):
    """T, B, I from x (T, B, I) and H from h0 (B, H), all at least 1."""
    for name, arr in (("x", x), ("h0", h0)):
        if arr is None:
            raise ValueError(f"{name} is required")
        if not isinstance(arr, np.ndarray):
            raise TypeError(f"{name} must be a NumPy array, got "
                            f"{type(arr).__name__}")
    if getattr(x, "ndim", None) != 3:
        raise ValueError("x must be a 3-D array (T, B, I)")
    if getattr(h0, "ndim", None) != 2:
        raise ValueError("h0 must be a 2-D array (B, H)")
    T, B, I = x.shape
    H = h0.shape[1]
    if min(T, B, I, H) < 1:
        raise ValueError(f"every dimension must be at least 1, got T={T}, "
                         f"B={B}, I={I}, H={H}")
    return T, B, I, H


def _check_sizes(T, B, I, H):
    if min(T, B, I, H) < 1:
        raise ValueError(f"every dimension must be at least 1, got T={T}, "
                         f"B={B}, I={I}, H={H}")


def _check_workspace(workspace, size_t need):
    shape = getattr(workspace, "shape", None)
    if shape is None or len(shape) != 1:
        raise TypeError("workspace must be a 1-D uint8 NumPy array")
    if workspace.shape[0] < need:
        raise ValueError(f"workspace has {workspace.shape[0]} bytes, the "
                         f"kernel needs {need}")


# ---------------------------------------------------------------- config

def isa_available():
    """Names of the micro-kernel paths this build and CPU can run."""
    cdef int mask = sn_isa_available()
    return [ISAS[i] for i in range(len(ISAS)) if mask & (1 << i)]


def isa_current():
    """Name of the micro-kernel path in use."""
    return ISAS[sn_isa_current()]


def set_isa(name):
    """Force a micro-kernel path by name (one of ``isa_available()``)."""
    if name not in ISAS:
        raise ValueError(f"unknown ISA path {name!r}; choose from {ISAS}")
    if sn_set_isa(ISAS.index(name)) != SN_OK:
        raise ValueError(f"ISA path {name!r} is not available here; "
                         f"available: {isa_available()}")


def has_openmp():
    return bool(sn_has_openmp())


def max_threads():
    return sn_max_threads()


def set_adaptive_threads(bint on):
    """Let parallel regions drop to one thread while other processes hold
    the cores (the default), or always use the threads asked for."""
    sn_set_adaptive_threads(on)


# ------------------------------------------------------------------ GEMM

def gemm_workspace_size(int n_threads=0):
    return sn_gemm_workspace_size(n_threads)


cdef _gemm(floating[:, ::1] C, const floating[:, ::1] A,
           const floating[:, ::1] Bm, double beta, bint trans_a,
           bint trans_b, unsigned char[::1] workspace, int n_threads):
    cdef int64_t M = C.shape[0], N = C.shape[1]
    cdef int64_t K = A.shape[0] if trans_a else A.shape[1]
    cdef int64_t am = A.shape[1] if trans_a else A.shape[0]
    cdef int64_t bk = Bm.shape[1] if trans_b else Bm.shape[0]
    cdef int64_t bn = Bm.shape[0] if trans_b else Bm.shape[1]
    if am != M or bn != N or bk != K:
        raise ValueError(f"gemm shapes do not agree: C {(M, N)}, op(A) "
                         f"{(am, K)}, op(B) {(bk, bn)}")
    if M == 0 or N == 0:
        return
    _check_workspace(workspace, sn_gemm_workspace_size(n_threads))
    cdef const floating *pa = &A[0, 0] if A.shape[0] * A.shape[1] else NULL
    cdef const floating *pb = &Bm[0, 0] if Bm.shape[0] * Bm.shape[1] else NULL
    cdef int st
    with nogil:
        if floating is float:
            st = sn_gemm_f32(&C[0, 0], N, pa, A.shape[1], pb, Bm.shape[1],
                             <float>beta, trans_a, trans_b, M, N, K,
                             &workspace[0], workspace.shape[0], n_threads)
        else:
            st = sn_gemm_f64(&C[0, 0], N, pa, A.shape[1], pb, Bm.shape[1],
                             beta, trans_a, trans_b, M, N, K,
                             &workspace[0], workspace.shape[0], n_threads)
    _check_status(st, "gemm")


def gemm(C, A, B, double beta, bint trans_a, bint trans_b, workspace,
         int n_threads=0):
    """C = beta*C + op(A) . op(B) in place; op transposes when asked."""
    if _real_type("C", C):
        _gemm[double](C, A, B, beta, trans_a, trans_b, workspace, n_threads)
    else:
        _gemm[float](C, A, B, beta, trans_a, trans_b, workspace, n_threads)


# ------------------------------------------------------------------ LSTM

def lstm_workspace_size(dtype, T, B, I, H, int n_threads=0):
    _check_sizes(T, B, I, H)
    if np.dtype(dtype) == np.float32:
        return sn_lstm_workspace_size_f32(T, B, I, H, n_threads)
    return sn_lstm_workspace_size_f64(T, B, I, H, n_threads)


cdef _lstm_forward(floating[:, :, ::1] h, floating[:, :, ::1] c,
                   floating[:, :, ::1] gates, floating[:, ::1] h_n,
                   floating[:, ::1] c_n, const floating[:, :, ::1] x,
                   const floating[:, ::1] h0, const floating[:, ::1] c0,
                   const floating[:, ::1] W, const floating[:, ::1] U,
                   const floating[::1] b, const floating[::1] p,
                   const int64_t[::1] lengths, bint reverse, bint keep,
                   unsigned char[::1] workspace, int n_threads):
    cdef int64_t T = x.shape[0], B = x.shape[1], I = x.shape[2], H = h0.shape[1]
    cdef const floating *pp = &p[0] if p is not None else NULL
    cdef int st
    with nogil:
        if floating is float:
            st = sn_lstm_forward_f32(&h[0, 0, 0], &c[0, 0, 0], &gates[0, 0, 0],
                                     &h_n[0, 0], &c_n[0, 0], &x[0, 0, 0],
                                     &h0[0, 0], &c0[0, 0], &W[0, 0], &U[0, 0],
                                     &b[0], pp, &lengths[0], T, B, I, H,
                                     reverse, keep, &workspace[0],
                                     workspace.shape[0], n_threads)
        else:
            st = sn_lstm_forward_f64(&h[0, 0, 0], &c[0, 0, 0], &gates[0, 0, 0],
                                     &h_n[0, 0], &c_n[0, 0], &x[0, 0, 0],
                                     &h0[0, 0], &c0[0, 0], &W[0, 0], &U[0, 0],
                                     &b[0], pp, &lengths[0], T, B, I, H,
                                     reverse, keep, &workspace[0],
                                     workspace.shape[0], n_threads)
    _check_status(st, "lstm_forward")


def lstm_forward(h, c, gates, h_n, c_n, x, h0, c0, W, U, b, p, lengths,
                 bint reverse, workspace, int n_threads=0, bint keep_gates=True):
    """LSTM over a batch; outputs h, c, gates, h_n, c_n written in place.

    keep_gates=False (inference, no backward pass to follow) leaves gates
    unspecified: the kernel may then keep them out of memory."""
    T, B, I, H = _dims(x, h0)
    for name, arr, shape in (("h0", h0, (B, H)),
                             ("h", h, (T, B, H)), ("c", c, (T, B, H)),
                             ("gates", gates, (T, B, 4 * H)),
                             ("h_n", h_n, (B, H)), ("c_n", c_n, (B, H)),
                             ("c0", c0, (B, H)), ("W", W, (I, 4 * H)),
                             ("U", U, (H, 4 * H)), ("b", b, (4 * H,)),
                             ("lengths", lengths, (B,))):
        _expect(name, arr, shape)
    _expect_optional("p", p, (3 * H,))
    _check_workspace(workspace, lstm_workspace_size(x.dtype, T, B, I, H, n_threads))
    if _real_type("x", x):
        _lstm_forward[double](h, c, gates, h_n, c_n, x, h0, c0, W, U, b, p,
                              lengths, reverse, keep_gates, workspace,
                              n_threads)
    else:
        _lstm_forward[float](h, c, gates, h_n, c_n, x, h0, c0, W, U, b, p,
                             lengths, reverse, keep_gates, workspace,
                             n_threads)


cdef _lstm_backward(floating[:, :, ::1] dx, floating[:, ::1] dh0,
                    floating[:, ::1] dc0, floating[:, ::1] dW,
                    floating[:, ::1] dU, floating[::1] db, floating[::1] dp,
                    const floating[:, :, ::1] dh, const floating[:, ::1] dh_n,
                    const floating[:, ::1] dc_n, const floating[:, :, ::1] x,
                    const floating[:, ::1] h0, const floating[:, ::1] c0,
                    const floating[:, ::1] W, const floating[:, ::1] U,
                    const floating[::1] p, const floating[:, :, ::1] h,
                    const floating[:, :, ::1] c, const floating[:, :, ::1] gates,
                    const int64_t[::1] lengths, bint reverse,
                    unsigned char[::1] workspace, int n_threads):
    cdef int64_t T = x.shape[0], B = x.shape[1], I = x.shape[2], H = h0.shape[1]
    cdef floating *pdx = &dx[0, 0, 0] if dx is not None else NULL
    cdef floating *pdp = &dp[0] if dp is not None else NULL
    cdef const floating *pdh = &dh[0, 0, 0] if dh is not None else NULL
    cdef const floating *pdh_n = &dh_n[0, 0] if dh_n is not None else NULL
    cdef const floating *pdc_n = &dc_n[0, 0] if dc_n is not None else NULL
    cdef const floating *pp = &p[0] if p is not None else NULL
    cdef int st
    with nogil:
        if floating is float:
            st = sn_lstm_backward_f32(pdx, &dh0[0, 0], &dc0[0, 0], &dW[0, 0],
                                      &dU[0, 0], &db[0], pdp, pdh, pdh_n, pdc_n,
                                      &x[0, 0, 0], &h0[0, 0], &c0[0, 0],
                                      &W[0, 0], &U[0, 0], pp, &h[0, 0, 0],
                                      &c[0, 0, 0], &gates[0, 0, 0],
                                      &lengths[0], T, B, I, H, reverse,
                                      &workspace[0], workspace.shape[0],
                                      n_threads)
        else:
            st = sn_lstm_backward_f64(pdx, &dh0[0, 0], &dc0[0, 0], &dW[0, 0],
                                      &dU[0, 0], &db[0], pdp, pdh, pdh_n, pdc_n,
                                      &x[0, 0, 0], &h0[0, 0], &c0[0, 0],
                                      &W[0, 0], &U[0, 0], pp, &h[0, 0, 0],
                                      &c[0, 0, 0], &gates[0, 0, 0],
                                      &lengths[0], T, B, I, H, reverse,
                                      &workspace[0], workspace.shape[0],
                                      n_threads)
    _check_status(st, "lstm_backward")


def lstm_backward(dx, dh0, dc0, dW, dU, db, dp, dh, dh_n, dc_n, x, h0, c0,
                  W, U, p, h, c, gates, lengths, bint reverse, workspace,
                  int n_threads=0):
    """LSTM BPTT; dx (optional), dh0, dc0 written, dW dU db dp accumulated."""
    T, B, I, H = _dims(x, h0)
    for name, arr, shape in (("h0", h0, (B, H)),
                             ("dh0", dh0, (B, H)), ("dc0", dc0, (B, H)),
                             ("dW", dW, (I, 4 * H)), ("dU", dU, (H, 4 * H)),
                             ("db", db, (4 * H,)), ("c0", c0, (B, H)),
                             ("W", W, (I, 4 * H)), ("U", U, (H, 4 * H)),
                             ("h", h, (T, B, H)), ("c", c, (T, B, H)),
                             ("gates", gates, (T, B, 4 * H)),
                             ("lengths", lengths, (B,))):
        _expect(name, arr, shape)
    for name, arr, shape in (("dx", dx, (T, B, I)), ("dh", dh, (T, B, H)),
                             ("dh_n", dh_n, (B, H)), ("dc_n", dc_n, (B, H)),
                             ("p", p, (3 * H,)), ("dp", dp, (3 * H,))):
        _expect_optional(name, arr, shape)
    if (p is None) != (dp is None):
        raise ValueError("p and dp must be given together")
    _check_workspace(workspace, lstm_workspace_size(x.dtype, T, B, I, H, n_threads))
    if _real_type("x", x):
        _lstm_backward[double](dx, dh0, dc0, dW, dU, db, dp, dh, dh_n, dc_n,
                               x, h0, c0, W, U, p, h, c, gates, lengths,
                               reverse, workspace, n_threads)
    else:
        _lstm_backward[float](dx, dh0, dc0, dW, dU, db, dp, dh, dh_n, dc_n,
                              x, h0, c0, W, U, p, h, c, gates, lengths,
                              reverse, workspace, n_threads)


# ------------------------------------------------------------------- GRU

def gru_workspace_size(dtype, T, B, I, H, int n_threads=0):
    _check_sizes(T, B, I, H)
    if np.dtype(dtype) == np.float32:
        return sn_gru_workspace_size_f32(T, B, I, H, n_threads)
    return sn_gru_workspace_size_f64(T, B, I, H, n_threads)


cdef _gru_forward(floating[:, :, ::1] h, floating[:, :, ::1] gates,
                  floating[:, :, ::1] hn, floating[:, ::1] h_n,
                  const floating[:, :, ::1] x, const floating[:, ::1] h0,
                  const floating[:, ::1] W, const floating[:, ::1] U,
                  const floating[::1] b, const floating[::1] bh,
                  const int64_t[::1] lengths, bint reverse, bint keep,
                  unsigned char[::1] workspace, int n_threads):
    cdef int64_t T = x.shape[0], B = x.shape[1], I = x.shape[2], H = h0.shape[1]
    cdef int st
    with nogil:
        if floating is float:
            st = sn_gru_forward_f32(&h[0, 0, 0], &gates[0, 0, 0], &hn[0, 0, 0],
                                    &h_n[0, 0], &x[0, 0, 0], &h0[0, 0],
                                    &W[0, 0], &U[0, 0], &b[0], &bh[0],
                                    &lengths[0], T, B, I, H, reverse, keep,
                                    &workspace[0], workspace.shape[0],
                                    n_threads)
        else:
            st = sn_gru_forward_f64(&h[0, 0, 0], &gates[0, 0, 0], &hn[0, 0, 0],
                                    &h_n[0, 0], &x[0, 0, 0], &h0[0, 0],
                                    &W[0, 0], &U[0, 0], &b[0], &bh[0],
                                    &lengths[0], T, B, I, H, reverse, keep,
                                    &workspace[0], workspace.shape[0],
                                    n_threads)
    _check_status(st, "gru_forward")


def gru_forward(h, gates, hn, h_n, x, h0, W, U, b, bh, lengths,
                bint reverse, workspace, int n_threads=0, bint keep_gates=True):
    """GRU over a batch; outputs h, gates, hn, h_n written in place.

    keep_gates=False (inference) leaves gates and hn unspecified."""
    T, B, I, H = _dims(x, h0)
    for name, arr, shape in (("h0", h0, (B, H)),
                             ("h", h, (T, B, H)), ("gates", gates, (T, B, 3 * H)),
                             ("hn", hn, (T, B, H)), ("h_n", h_n, (B, H)),
                             ("W", W, (I, 3 * H)), ("U", U, (H, 3 * H)),
                             ("b", b, (3 * H,)), ("bh", bh, (H,)),
                             ("lengths", lengths, (B,))):
        _expect(name, arr, shape)
    _check_workspace(workspace, gru_workspace_size(x.dtype, T, B, I, H, n_threads))
    if _real_type("x", x):
        _gru_forward[double](h, gates, hn, h_n, x, h0, W, U, b, bh, lengths,
                             reverse, keep_gates, workspace, n_threads)
    else:
        _gru_forward[float](h, gates, hn, h_n, x, h0, W, U, b, bh, lengths,
                            reverse, keep_gates, workspace, n_threads)


cdef _gru_backward(floating[:, :, ::1] dx, floating[:, ::1] dh0,
                   floating[:, ::1] dW, floating[:, ::1] dU, floating[::1] db,
                   floating[::1] dbh, const floating[:, :, ::1] dh,
                   const floating[:, ::1] dh_n, const floating[:, :, ::1] x,
                   const floating[:, ::1] h0, const floating[:, ::1] W,
                   const floating[:, ::1] U, const floating[:, :, ::1] h,
                   const floating[:, :, ::1] gates, const floating[:, :, ::1] hn,
                   const int64_t[::1] lengths, bint reverse,
                   unsigned char[::1] workspace, int n_threads):
    cdef int64_t T = x.shape[0], B = x.shape[1], I = x.shape[2], H = h0.shape[1]
    cdef floating *pdx = &dx[0, 0, 0] if dx is not None else NULL
    cdef const floating *pdh = &dh[0, 0, 0] if dh is not None else NULL
    cdef const floating *pdh_n = &dh_n[0, 0] if dh_n is not None else NULL
    cdef int st
    with nogil:
        if floating is float:
            st = sn_gru_backward_f32(pdx, &dh0[0, 0], &dW[0, 0], &dU[0, 0],
                                     &db[0], &dbh[0], pdh, pdh_n, &x[0, 0, 0],
                                     &h0[0, 0], &W[0, 0], &U[0, 0],
                                     &h[0, 0, 0], &gates[0, 0, 0],
                                     &hn[0, 0, 0], &lengths[0], T, B, I, H,
                                     reverse, &workspace[0],
                                     workspace.shape[0], n_threads)
        else:
            st = sn_gru_backward_f64(pdx, &dh0[0, 0], &dW[0, 0], &dU[0, 0],
                                     &db[0], &dbh[0], pdh, pdh_n, &x[0, 0, 0],
                                     &h0[0, 0], &W[0, 0], &U[0, 0],
                                     &h[0, 0, 0], &gates[0, 0, 0],
                                     &hn[0, 0, 0], &lengths[0], T, B, I, H,
                                     reverse, &workspace[0],
                                     workspace.shape[0], n_threads)
    _check_status(st, "gru_backward")


def gru_backward(dx, dh0, dW, dU, db, dbh, dh, dh_n, x, h0, W, U, h, gates,
                 hn, lengths, bint reverse, workspace, int n_threads=0):
    """GRU BPTT; dx (optional), dh0 written, dW dU db dbh accumulated."""
    T, B, I, H = _dims(x, h0)
    for name, arr, shape in (("h0", h0, (B, H)),
                             ("dh0", dh0, (B, H)), ("dW", dW, (I, 3 * H)),
                             ("dU", dU, (H, 3 * H)), ("db", db, (3 * H,)),
                             ("dbh", dbh, (H,)), ("W", W, (I, 3 * H)),
                             ("U", U, (H, 3 * H)), ("h", h, (T, B, H)),
                             ("gates", gates, (T, B, 3 * H)),
                             ("hn", hn, (T, B, H)), ("lengths", lengths, (B,))):
        _expect(name, arr, shape)
    for name, arr, shape in (("dx", dx, (T, B, I)), ("dh", dh, (T, B, H)),
                             ("dh_n", dh_n, (B, H))):
        _expect_optional(name, arr, shape)
    _check_workspace(workspace, gru_workspace_size(x.dtype, T, B, I, H, n_threads))
    if _real_type("x", x):
        _gru_backward[double](dx, dh0, dW, dU, db, dbh, dh, dh_n, x, h0, W, U,
                              h, gates, hn, lengths, reverse, workspace,
                              n_threads)
    else:
        _gru_backward[float](dx, dh0, dW, dU, db, dbh, dh, dh_n, x, h0, W, U,
                             h, gates, hn, lengths, reverse, workspace,
                             n_threads)


# ----------------------------------------------------------------- Elman

def elman_workspace_size(dtype, T, B, I, H, int n_threads=0):
    _check_sizes(T, B, I, H)
    if np.dtype(dtype) == np.float32:
        return sn_elman_workspace_size_f32(T, B, I, H, n_threads)
    return sn_elman_workspace_size_f64(T, B, I, H, n_threads)


def _activation_code(activation):
    try:
        return ACTIVATIONS[activation]
    except (KeyError, TypeError):
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, "
                         f"got {activation!r}") from None


cdef _elman_forward(floating[:, :, ::1] h, floating[:, ::1] h_n,
                    const floating[:, :, ::1] x, const floating[:, ::1] h0,
                    const floating[:, ::1] W, const floating[:, ::1] U,
                    const floating[::1] b, const int64_t[::1] lengths,
                    int activation, bint reverse,
                    unsigned char[::1] workspace, int n_threads):
    cdef int64_t T = x.shape[0], B = x.shape[1], I = x.shape[2], H = h0.shape[1]
    cdef int st
    with nogil:
        if floating is float:
            st = sn_elman_forward_f32(&h[0, 0, 0], &h_n[0, 0], &x[0, 0, 0],
                                      &h0[0, 0], &W[0, 0], &U[0, 0], &b[0],
                                      &lengths[0], T, B, I, H, activation,
                                      reverse, &workspace[0],
                                      workspace.shape[0], n_threads)
        else:
            st = sn_elman_forward_f64(&h[0, 0, 0], &h_n[0, 0], &x[0, 0, 0],
                                      &h0[0, 0], &W[0, 0], &U[0, 0], &b[0],
                                      &lengths[0], T, B, I, H, activation,
                                      reverse, &workspace[0],
                                      workspace.shape[0], n_threads)
    _check_status(st, "elman_forward")


def elman_forward(h, h_n, x, h0, W, U, b, lengths, activation, bint reverse,
                  workspace, int n_threads=0):
    """Elman RNN over a batch; outputs h, h_n written in place."""
    T, B, I, H = _dims(x, h0)
    for name, arr, shape in (("h0", h0, (B, H)),
                             ("h", h, (T, B, H)), ("h_n", h_n, (B, H)),
                             ("W", W, (I, H)), ("U", U, (H, H)),
                             ("b", b, (H,)), ("lengths", lengths, (B,))):
        _expect(name, arr, shape)
    code = _activation_code(activation)
    _check_workspace(workspace, elman_workspace_size(x.dtype, T, B, I, H, n_threads))
    if _real_type("x", x):
        _elman_forward[double](h, h_n, x, h0, W, U, b, lengths, code, reverse,
                               workspace, n_threads)
    else:
        _elman_forward[float](h, h_n, x, h0, W, U, b, lengths, code, reverse,
                              workspace, n_threads)


cdef _elman_backward(floating[:, :, ::1] dx, floating[:, ::1] dh0,
                     floating[:, ::1] dW, floating[:, ::1] dU,
                     floating[::1] db, const floating[:, :, ::1] dh,
                     const floating[:, ::1] dh_n, const floating[:, :, ::1] x,
                     const floating[:, ::1] h0, const floating[:, ::1] W,
                     const floating[:, ::1] U, const floating[:, :, ::1] h,
                     const int64_t[::1] lengths, int activation, bint reverse,
                     unsigned char[::1] workspace, int n_threads):
    cdef int64_t T = x.shape[0], B = x.shape[1], I = x.shape[2], H = h0.shape[1]
    cdef floating *pdx = &dx[0, 0, 0] if dx is not None else NULL
    cdef const floating *pdh = &dh[0, 0, 0] if dh is not None else NULL
    cdef const floating *pdh_n = &dh_n[0, 0] if dh_n is not None else NULL
    cdef int st
    with nogil:
        if floating is float:
            st = sn_elman_backward_f32(pdx, &dh0[0, 0], &dW[0, 0], &dU[0, 0],
                                       &db[0], pdh, pdh_n, &x[0, 0, 0],
                                       &h0[0, 0], &W[0, 0], &U[0, 0],
                                       &h[0, 0, 0], &lengths[0], T, B, I, H,
                                       activation, reverse, &workspace[0],
                                       workspace.shape[0], n_threads)
        else:
            st = sn_elman_backward_f64(pdx, &dh0[0, 0], &dW[0, 0], &dU[0, 0],
                                       &db[0], pdh, pdh_n, &x[0, 0, 0],
                                       &h0[0, 0], &W[0, 0], &U[0, 0],
                                       &h[0, 0, 0], &lengths[0], T, B, I, H,
                                       activation, reverse, &workspace[0],
                                       workspace.shape[0], n_threads)
    _check_status(st, "elman_backward")


def elman_backward(dx, dh0, dW, dU, db, dh, dh_n, x, h0, W, U, h, lengths,
                   activation, bint reverse, workspace, int n_threads=0):
    """Elman BPTT; dx (optional), dh0 written, dW dU db accumulated."""
    T, B, I, H = _dims(x, h0)
    for name, arr, shape in (("h0", h0, (B, H)),
                             ("dh0", dh0, (B, H)), ("dW", dW, (I, H)),
                             ("dU", dU, (H, H)), ("db", db, (H,)),
                             ("W", W, (I, H)), ("U", U, (H, H)),
                             ("h", h, (T, B, H)), ("lengths", lengths, (B,))):
        _expect(name, arr, shape)
    for name, arr, shape in (("dx", dx, (T, B, I)), ("dh", dh, (T, B, H)),
                             ("dh_n", dh_n, (B, H))):
        _expect_optional(name, arr, shape)
    code = _activation_code(activation)
    _check_workspace(workspace, elman_workspace_size(x.dtype, T, B, I, H, n_threads))
    if _real_type("x", x):
        _elman_backward[double](dx, dh0, dW, dU, db, dh, dh_n, x, h0, W, U, h,
                                lengths, code, reverse, workspace, n_threads)
    else:
        _elman_backward[float](dx, dh0, dW, dU, db, dh, dh_n, x, h0, W, U, h,
                               lengths, code, reverse, workspace, n_threads)


# ---------------------------------------------------------- output layers

cdef _softmax_xent(floating[:, ::1] P, floating[:, ::1] dX,
                   floating[:, ::1] dV, floating[::1] dc,
                   const floating[:, ::1] X, const floating[:, ::1] V,
                   const floating[::1] c, const int64_t[::1] y,
                   const floating[::1] w, unsigned char[::1] workspace,
                   int n_threads):
    cdef int64_t N = X.shape[0], H = X.shape[1], K = V.shape[1]
    cdef double loss = 0
    cdef floating *pdX = &dX[0, 0] if dX is not None else NULL
    cdef floating *pdV = &dV[0, 0] if dV is not None else NULL
    cdef floating *pdc = &dc[0] if dc is not None else NULL
    cdef const int64_t *py = &y[0] if y is not None else NULL
    cdef const floating *pw = &w[0] if w is not None else NULL
    cdef int st
    with nogil:
        if floating is float:
            st = sn_softmax_xent_f32(&loss, &P[0, 0], pdX, pdV, pdc, &X[0, 0],
                                     &V[0, 0], &c[0], py, pw, N, H, K,
                                     &workspace[0], workspace.shape[0],
                                     n_threads)
        else:
            st = sn_softmax_xent_f64(&loss, &P[0, 0], pdX, pdV, pdc, &X[0, 0],
                                     &V[0, 0], &c[0], py, pw, N, H, K,
                                     &workspace[0], workspace.shape[0],
                                     n_threads)
    _check_status(st, "softmax_xent")
    return loss


def _check_dense(name, P, dX, dV, dc, X, V, c, w, workspace, n_threads):
    if getattr(X, "ndim", None) != 2 or getattr(V, "ndim", None) != 2:
        raise ValueError(f"{name}: X and V must be 2-D arrays")
    N, H = X.shape
    K = V.shape[1]
    if min(N, H, K) < 1:
        raise ValueError(f"{name}: every dimension must be at least 1, got "
                         f"N={N}, H={H}, K={K}")
    for arr_name, arr, shape in (("P", P, (N, K)), ("V", V, (H, K)),
                                 ("c", c, (K,))):
        _expect(arr_name, arr, shape)
    for arr_name, arr, shape in (("dX", dX, (N, H)), ("dV", dV, (H, K)),
                                 ("dc", dc, (K,)), ("w", w, (N,))):
        _expect_optional(arr_name, arr, shape)
    _check_workspace(workspace, sn_gemm_workspace_size(n_threads))
    return N, K


def softmax_xent(P, dX, dV, dc, X, V, c, y, w, workspace, int n_threads=0):
    """Dense layer + softmax cross-entropy; returns the weighted loss sum.

    With ``y`` None, P receives the class probabilities and the gradients
    are untouched; otherwise P receives the gradient of the logits, dX is
    written (when given), dV and dc accumulate.
    """
    N, _ = _check_dense("softmax_xent", P, dX, dV, dc, X, V, c, w, workspace,
                        n_threads)
    if y is not None:
        _expect("y", y, (N,))
        if dV is None or dc is None:
            raise ValueError("softmax_xent: dV and dc are required with y")
    if _real_type("X", X):
        return _softmax_xent[double](P, dX, dV, dc, X, V, c, y, w, workspace,
                                     n_threads)
    return _softmax_xent[float](P, dX, dV, dc, X, V, c, y, w, workspace,
                                n_threads)


cdef _linear_mse(floating[:, ::1] Z, floating[:, ::1] dX, floating[:, ::1] dV,
                 floating[::1] dc, const floating[:, ::1] X,
                 const floating[:, ::1] V, const floating[::1] c,
                 const floating[:, ::1] y, const floating[::1] w,
                 unsigned char[::1] workspace, int n_threads):
    cdef int64_t N = X.shape[0], H = X.shape[1], K = V.shape[1]
    cdef double loss = 0
    cdef floating *pdX = &dX[0, 0] if dX is not None else NULL
    cdef floating *pdV = &dV[0, 0] if dV is not None else NULL
    cdef floating *pdc = &dc[0] if dc is not None else NULL
    cdef const floating *py = &y[0, 0] if y is not None else NULL
    cdef const floating *pw = &w[0] if w is not None else NULL
    cdef int st
    with nogil:
        if floating is float:
            st = sn_linear_mse_f32(&loss, &Z[0, 0], pdX, pdV, pdc, &X[0, 0],
                                   &V[0, 0], &c[0], py, pw, N, H, K,
                                   &workspace[0], workspace.shape[0], n_threads)
        else:
            st = sn_linear_mse_f64(&loss, &Z[0, 0], pdX, pdV, pdc, &X[0, 0],
                                   &V[0, 0], &c[0], py, pw, N, H, K,
                                   &workspace[0], workspace.shape[0], n_threads)
    _check_status(st, "linear_mse")
    return loss


def linear_mse(Z, dX, dV, dc, X, V, c, y, w, workspace, int n_threads=0):
    """Dense layer + mean squared error; returns the weighted loss sum.

    With ``y`` None, Z receives the outputs; otherwise the gradient of the
    outputs, dX is written (when given), dV and dc accumulate.
    """
    N, K = _check_dense("linear_mse", Z, dX, dV, dc, X, V, c, w, workspace,
                        n_threads)
    if y is not None:
        _expect("y", y, (N, K))
        if dV is None or dc is None:
            raise ValueError("linear_mse: dV and dc are required with y")
    if _real_type("X", X):
        return _linear_mse[double](Z, dX, dV, dc, X, V, c, y, w, workspace,
                                   n_threads)
    return _linear_mse[float](Z, dX, dV, dc, X, V, c, y, w, workspace,
                              n_threads)


# ------------------------------------------------------------- optimiser

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")


cdef _optim_step(floating[::1] param, floating[::1] grad, floating[::1] state,
                 const uint8_t[::1] decay, sn_optim_config cfg, int64_t step,
                 int n_threads):
    cdef double norm = 0
    cdef const uint8_t *pdecay = &decay[0] if decay is not None else NULL
    cdef int64_t n = param.shape[0]
    cdef int st
    with nogil:
        if floating is float:
            st = sn_optim_step_f32(&param[0], &grad[0], &state[0], &norm,
                                   pdecay, n, &cfg, step, n_threads)
        else:
            st = sn_optim_step_f64(&param[0], &grad[0], &state[0], &norm,
                                   pdecay, n, &cfg, step, n_threads)
    _check_status(st, "optim_step")
    return norm


def optim_step(param, grad, state, decay, optimizer, double learning_rate,
               int64_t step, double momentum=0.9, double beta1=0.9,
               double beta2=0.999, double rho=0.9, double epsilon=1e-8,
               double l1=0.0, double l2=0.0, double clip_value=0.0,
               double clip_norm=0.0, int n_threads=0):
    """One update of the flat buffer ``param`` in place; returns ||grad||.

    ``state`` holds 2*len(param) values, zero before the first step;
    ``step`` counts from 1.  ``decay`` (uint8, optional) marks the elements
    that L1/L2 apply to.  ``grad`` is modified (clipped, regularised).
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got "
                         f"{optimizer!r}")
    if getattr(param, "ndim", None) != 1 or param.shape[0] < 1:
        raise ValueError("param must be a non-empty 1-D array")
    n = param.shape[0]
    _expect("grad", grad, (n,))
    _expect("state", state, (2 * n,))
    _expect_optional("decay", decay, (n,))
    if step < 1:
        raise ValueError("step counts from 1")
    cdef sn_optim_config cfg
    cfg.kind = OPTIMIZERS.index(optimizer)
    cfg.learning_rate = learning_rate
    cfg.momentum = momentum
    cfg.beta1 = beta1
    cfg.beta2 = beta2
    cfg.rho = rho
    cfg.epsilon = epsilon
    cfg.l1 = l1
    cfg.l2 = l2
    cfg.clip_value = clip_value
    cfg.clip_norm = clip_norm
    if _real_type("param", param):
        return _optim_step[double](param, grad, state, decay, cfg, step,
                                   n_threads)
    return _optim_step[float](param, grad, state, decay, cfg, step, n_threads)


# --------------------------------------------------------------- dropout

cdef _dropout(floating[::1] a, double rate, uint64_t seed, uint64_t stream,
              int n_threads):
    cdef int st
    with nogil:
        if floating is float:
            st = sn_dropout_f32(&a[0], a.shape[0], rate, seed, stream, n_threads)
        else:
            st = sn_dropout_f64(&a[0], a.shape[0], rate, seed, stream, n_threads)
    _check_status(st, "dropout")


def dropout(a, double rate, uint64_t seed, uint64_t stream, int n_threads=0):
    """Inverted dropout in place on the flat view of C-contiguous ``a``.

    The mask is a pure function of (seed, stream, element index): the same
    call on the gradient replays it.
    """
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
    if not isinstance(a, np.ndarray):
        raise TypeError(f"dropout needs a NumPy array, got {type(a).__name__}")
    if a.size == 0:
        return
    flat = a.reshape(-1)
    if not np.shares_memory(flat, a):
        raise ValueError("dropout needs a C-contiguous array")
    if _real_type("a", a):
        _dropout[double](flat, rate, seed, stream, n_threads)
    else:
        _dropout[float](flat, rate, seed, stream, n_threads)


def uniform(uint64_t seed, uint64_t stream, uint64_t i):
    """The counter-based uniform draw behind dropout (for tests)."""
    return sn_uniform(seed, stream, i)


# ------------------------------------------------------------ validation

cdef bint _all_finite(const floating[::1] a) except -1:
    cdef int finite = 0, st
    with nogil:
        if floating is float:
            st = sn_all_finite_f32(&finite, &a[0], a.shape[0])
        else:
            st = sn_all_finite_f64(&finite, &a[0], a.shape[0])
    _check_status(st, "all_finite")
    return finite


def all_finite(a):
    """Whether no value of the array ``a`` is NaN or infinite.

    C-contiguous float32 and float64 arrays in the machine's byte order are
    scanned in C; anything else goes through ``np.isfinite(a).all()``.
    """
    if (type(a) is not np.ndarray or a.size == 0
            or not a.flags.c_contiguous
            or (a.dtype != np.float32 and a.dtype != np.float64)):
        return bool(np.isfinite(a).all())
    if a.dtype == np.float64:
        return _all_finite[double](a.reshape(-1))
    return _all_finite[float](a.reshape(-1))


# ------------------------------------------------------ stateful stepping

CELL_KINDS = {"lstm": 0, "gru": 1, "elman": 2}


def _check_stack(layers, dtype):
    """Shapes of a layer stack given as dicts with keys cell, W, U, b and,
    as the cell needs, p, bh, activation; returns (Is, Hs)."""
    if not layers:
        raise ValueError("the stack needs at least one layer")
    Is, Hs = [], []
    for l, layer in enumerate(layers):
        if not isinstance(layer, dict):
            raise TypeError(f"layer {l} must be a dict, got "
                            f"{type(layer).__name__}")
        cell = layer.get("cell")
        if cell not in CELL_KINDS:
            raise ValueError(f"layer {l}: unknown cell {cell!r}")
        activation = layer.get("activation") or "tanh"
        if activation not in ACTIVATIONS:
            raise ValueError(f"layer {l}: unknown activation {activation!r}")
        G = {"lstm": 4, "gru": 3, "elman": 1}[cell]
        W, U = layer.get("W"), layer.get("U")
        if getattr(W, "ndim", None) != 2 or getattr(U, "ndim", None) != 2:
            raise ValueError(f"layer {l}: W and U must be 2-D arrays")
        I, H = W.shape[0], U.shape[0]
        if l > 0 and I != Hs[len(Hs) - 1]:
            raise ValueError(f"layer {l} reads {I} inputs but layer {l - 1} "
                             f"has {Hs[len(Hs) - 1]} units")
        _expect(f"layer {l} W", W, (I, G * H))
        _expect(f"layer {l} U", U, (H, G * H))
        _expect(f"layer {l} b", layer.get("b"), (G * H,))
        if cell == "gru":
            _expect(f"layer {l} bh", layer.get("bh"), (H,))
        if layer.get("p") is not None:
            if cell != "lstm":
                raise ValueError(f"layer {l}: peepholes need an LSTM cell")
            _expect(f"layer {l} p", layer["p"], (3 * H,))
        for name in ("W", "U", "b", "p", "bh"):
            arr = layer.get(name)
            if arr is not None and (arr.dtype != dtype or
                                    not arr.flags.c_contiguous):
                raise ValueError(f"layer {l} {name} must be a C-contiguous "
                                 f"{np.dtype(dtype).name} array")
        Is.append(I)
        Hs.append(H)
    return Is, Hs


cdef sn_layer_f32 *_layers_f32(list layers) except NULL:
    cdef sn_layer_f32 *out = <sn_layer_f32 *>malloc(len(layers) * sizeof(sn_layer_f32))
    cdef const float[:, ::1] W
    cdef const float[:, ::1] U
    cdef const float[::1] v
    if out == NULL:
        raise MemoryError()
    for l, layer in enumerate(layers):
        W, U = layer["W"], layer["U"]
        out[l].cell = CELL_KINDS[layer["cell"]]
        out[l].activation = ACTIVATIONS[layer.get("activation") or "tanh"]
        out[l].I, out[l].H = W.shape[0], U.shape[0]
        out[l].W, out[l].U = &W[0, 0], &U[0, 0]
        v = layer["b"]
        out[l].b = &v[0]
        out[l].p = out[l].bh = NULL
        if layer.get("p") is not None:
            v = layer["p"]
            out[l].p = &v[0]
        if layer.get("bh") is not None:
            v = layer["bh"]
            out[l].bh = &v[0]
    return out


cdef sn_layer_f64 *_layers_f64(list layers) except NULL:
    cdef sn_layer_f64 *out = <sn_layer_f64 *>malloc(len(layers) * sizeof(sn_layer_f64))
    cdef const double[:, ::1] W
    cdef const double[:, ::1] U
    cdef const double[::1] v
    if out == NULL:
        raise MemoryError()
    for l, layer in enumerate(layers):
        W, U = layer["W"], layer["U"]
        out[l].cell = CELL_KINDS[layer["cell"]]
        out[l].activation = ACTIVATIONS[layer.get("activation") or "tanh"]
        out[l].I, out[l].H = W.shape[0], U.shape[0]
        out[l].W, out[l].U = &W[0, 0], &U[0, 0]
        v = layer["b"]
        out[l].b = &v[0]
        out[l].p = out[l].bh = NULL
        if layer.get("p") is not None:
            v = layer["p"]
            out[l].p = &v[0]
        if layer.get("bh") is not None:
            v = layer["bh"]
            out[l].bh = &v[0]
    return out


def stack_workspace_size(layers, dtype, B, K=1):
    """Bytes of workspace for stack_step (B streams) or generate (K codes)."""
    dtype = np.dtype(dtype)
    _check_stack(layers, dtype)
    cdef sn_layer_f32 *l32
    cdef sn_layer_f64 *l64
    cdef size_t size
    if dtype == np.float32:
        l32 = _layers_f32(list(layers))
        size = sn_stack_workspace_size_f32(l32, len(layers), B, K)
        free(l32)
    else:
        l64 = _layers_f64(list(layers))
        size = sn_stack_workspace_size_f64(l64, len(layers), B, K)
        free(l64)
    return size


cdef _stack_step(floating[:, ::1] top, floating[:, ::1] h, floating[:, ::1] c,
                 const floating[:, ::1] x, list layers,
                 unsigned char[::1] workspace):
    cdef int st
    cdef int n = len(layers)
    cdef int64_t B = x.shape[0]
    cdef sn_layer_f32 *l32 = NULL
    cdef sn_layer_f64 *l64 = NULL
    try:
        if floating is float:
            l32 = _layers_f32(layers)
            with nogil:
                st = sn_stack_step_f32(&top[0, 0], &h[0, 0], &c[0, 0],
                                       &x[0, 0], l32, n, B, &workspace[0],
                                       workspace.shape[0])
        else:
            l64 = _layers_f64(layers)
            with nogil:
                st = sn_stack_step_f64(&top[0, 0], &h[0, 0], &c[0, 0],
                                       &x[0, 0], l64, n, B, &workspace[0],
                                       workspace.shape[0])
    finally:
        free(l32)
        free(l64)
    _check_status(st, "stack_step")


def stack_step(top, h, c, x, layers, workspace):
    """One step of a layer stack for B streams (see csrc/seqnet.h).

    x (B, I) in; h and c (B, sum of H) are the states, updated in place;
    top (B, H of the last layer) receives the top layer's new state.
    """
    dtype = np.float64 if _real_type("x", x) else np.float32
    Is, Hs = _check_stack(layers, np.dtype(dtype))
    if getattr(x, "ndim", None) != 2 or x.shape[0] < 1:
        raise ValueError("x must be a non-empty 2-D array (B, I)")
    B = x.shape[0]
    _expect("x", x, (B, Is[0]))
    _expect("h", h, (B, sum(Hs)))
    _expect("c", c, (B, sum(Hs)))
    _expect("top", top, (B, Hs[len(Hs) - 1]))
    _check_workspace(workspace, stack_workspace_size(layers, dtype, B))
    if dtype == np.float64:
        _stack_step[double](top, h, c, x, list(layers), workspace)
    else:
        _stack_step[float](top, h, c, x, list(layers), workspace)


cdef _generate(int64_t[::1] out, floating[::1] h, floating[::1] c,
               list layers, const floating[:, ::1] V, const floating[::1] cb,
               const int64_t[::1] prime, int64_t start, double temperature,
               uint64_t seed, uint64_t stream, unsigned char[::1] workspace):
    cdef int st
    cdef int n_layers = len(layers)
    cdef int64_t K = V.shape[1], n = out.shape[0], n_prime = prime.shape[0]
    cdef int64_t *pout = &out[0] if n > 0 else NULL
    cdef const int64_t *pprime = &prime[0] if n_prime > 0 else NULL
    cdef sn_layer_f32 *l32 = NULL
    cdef sn_layer_f64 *l64 = NULL
    try:
        if floating is float:
            l32 = _layers_f32(layers)
            with nogil:
                st = sn_generate_f32(pout, &h[0], &c[0], l32, n_layers,
                                     &V[0, 0], &cb[0], K, pprime, n_prime,
                                     start, n, temperature, seed, stream,
                                     &workspace[0], workspace.shape[0])
        else:
            l64 = _layers_f64(layers)
            with nogil:
                st = sn_generate_f64(pout, &h[0], &c[0], l64, n_layers,
                                     &V[0, 0], &cb[0], K, pprime, n_prime,
                                     start, n, temperature, seed, stream,
                                     &workspace[0], workspace.shape[0])
    finally:
        free(l32)
        free(l64)
    _check_status(st, "generate")


def generate(out, h, c, layers, V, cb, prime, int64_t start,
             double temperature, uint64_t seed, uint64_t stream, workspace):
    """Feed the codes ``prime`` (or ``start``) through a one-hot character
    model, then draw ``len(out)`` codes into ``out`` (see csrc/seqnet.h).
    h and c (sum of H,) hold one stream's state, updated in place."""
    dtype = np.float64 if _real_type("V", V) else np.float32
    Is, Hs = _check_stack(layers, np.dtype(dtype))
    if getattr(V, "ndim", None) != 2:
        raise ValueError("V must be a 2-D array")
    K = V.shape[1]
    _expect("V", V, (Hs[len(Hs) - 1], K))
    _expect("cb", cb, (K,))
    if Is[0] != K:
        raise ValueError(f"the first layer reads {Is[0]} inputs, but the "
                         f"head has {K} codes")
    _expect("h", h, (sum(Hs),))
    _expect("c", c, (sum(Hs),))
    if getattr(out, "ndim", None) != 1 or getattr(prime, "ndim", None) != 1:
        raise ValueError("out and prime must be 1-D int64 arrays")
    if prime.shape[0] == 0 and not 0 <= start < K:
        raise ValueError(f"start code {start} is outside [0, {K})")
    _check_workspace(workspace, stack_workspace_size(layers, dtype, 1, K))
    if dtype == np.float64:
        _generate[double](out, h, c, list(layers), V, cb, prime, start,
                          temperature, seed, stream, workspace)
    else:
        _generate[float](out, h, c, list(layers), V, cb, prime, start,
                         temperature, seed, stream, workspace)


# ------------------------------------------------------------ activations

FUNCTIONS = ("exp", "sigmoid", "tanh", "softsign")


cdef _activate(floating[::1] y, const floating[::1] x, int kind):
    cdef int st
    with nogil:
        if floating is float:
            st = sn_activate_f32(&y[0], &x[0], x.shape[0], kind)
        else:
            st = sn_activate_f64(&y[0], &x[0], x.shape[0], kind)
    _check_status(st, "activate")


def activate(name, x):
    """The kernels' own exp, sigmoid, tanh or softsign of a 1-D array (a
    new array), for measuring their accuracy."""
    if name not in FUNCTIONS:
        raise ValueError(f"function must be one of {FUNCTIONS}, got {name!r}")
    if getattr(x, "ndim", None) != 1 or x.shape[0] == 0:
        raise ValueError("x must be a non-empty 1-D array")
    y = np.empty_like(x)
    if _real_type("x", x):
        _activate[double](y, x, FUNCTIONS.index(name))
    else:
        _activate[float](y, x, FUNCTIONS.index(name))
    return y
