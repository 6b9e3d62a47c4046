# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Thin binding of the C kernels in csrc/ (see csrc/seqnet.h for the maths).

Each public function checks shapes, dtypes and contiguity, raising
``ValueError``, then makes exactly one C call with the GIL released.  A
recurrent layer is a ``Layer`` (its cell and arrays, checked once); one
``layer_forward`` and one ``layer_backward`` serve every cell kind and both
precisions, and the cells' facts (``CELLS``) and every enumeration's names
come from C.  Every
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
    SN_ECODE: "a token code is outside [0, I)",
}


cdef tuple _names(const char *(*name_of)(int) noexcept nogil, int n):
    """The names C gives the values 0 .. n-1 of one of its enumerations."""
    return tuple(name_of(i).decode() for i in range(n))


# Enumerations by name, in C's order: the index is the C value.
ACTIVATIONS = _names(sn_activation_name, SN_N_ACTIVATIONS)
ISAS = _names(sn_isa_name, SN_N_ISAS)
OPTIMIZERS = _names(sn_optimizer_name, SN_N_OPTIMIZERS)
FUNCTIONS = _names(sn_function_name, SN_N_FUNCTIONS)


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


def fma_peak(double seconds=0.2):
    """One core's float32 FMA throughput in GFLOP/s on the path in use
    (``isa_current()``), measured for about ``seconds`` on the calling
    thread: the yardstick of the benchmarks' %peak."""
    if not (0 < seconds <= 10):   # also refuses NaN
        raise ValueError(f"seconds must be finite, in (0, 10], got "
                         f"{seconds!r}")
    cdef double gflops
    with nogil:
        gflops = sn_fma_peak_gflops(seconds)
    return gflops


def set_adaptive_threads(bint on):
    """Let parallel regions drop to one thread for a while after one of
    their threads finished late, as when other processes hold the cores
    (the default; SEQNET_ADAPTIVE_THREADS=0 turns it off at load), or
    always run the threads asked for.  Never changes a result's bits."""
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


# ---------------------------------------------------------------- layers

class CellInfo(tuple):
    """What a cell kind is (csrc/seqnet.h's sn_cell_info), read from C."""
    __slots__ = ()
    _fields = ("kind", "name", "n_gates", "has_c", "has_hn", "has_bh",
               "peepholes", "activation", "gates_in_h", "forget_gate")

    def __new__(cls, *values):
        return tuple.__new__(cls, values)

    def __getattr__(self, name):
        try:
            return self[CellInfo._fields.index(name)]
        except ValueError:
            raise AttributeError(name) from None

    def __repr__(self):
        return "CellInfo(" + ", ".join(
            f"{k}={v!r}" for k, v in zip(CellInfo._fields, self)) + ")"

    def __reduce__(self):
        return (CellInfo, tuple(self))


def _cells():
    cdef const sn_cell_info *c
    cells = {}
    for kind in range(SN_N_CELLS):
        c = sn_cell_info_of(kind)
        name = c.name.decode()
        cells[name] = CellInfo(kind, name, c.n_gates, bool(c.has_c),
                               bool(c.has_hn), bool(c.has_bh),
                               bool(c.peepholes), bool(c.activation),
                               bool(c.gates_in_h),
                               None if c.forget_gate < 0 else c.forget_gate)
    return cells


#: The cell kinds by name, as csrc/ describes them.
CELLS = _cells()


cdef class Layer:
    """One recurrent layer as the kernels see it: its cell and its arrays
    (W (I, G), U (H, G), b (G), peepholes p (3H) or None, GRU's bh (H)),
    checked once here.  The same class holds a layer's gradients (arrays
    of the same shapes, which must be writeable).  Keeps the arrays alive
    while the C descriptor points into them."""
    cdef sn_layer desc
    cdef readonly object info, activation, dtype, W, U, b, p, bh
    cdef readonly int64_t I, H, G
    cdef readonly bint writeable

    def __init__(self, cell, W, U, b, p=None, bh=None, activation="tanh"):
        info = CELLS.get(cell)
        if info is None:
            raise ValueError(f"unknown cell {cell!r}; choose from "
                             f"{sorted(CELLS)}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose "
                             f"from {ACTIVATIONS}")
        if not info.activation and activation != "tanh":
            raise ValueError(f"the {cell} cell has no activation choice, "
                             f"got {activation!r}")
        dtype = _real_dtype("W", W)
        if getattr(W, "ndim", None) != 2 or getattr(U, "ndim", None) != 2:
            raise ValueError(f"{cell} layer: W and U must be 2-D arrays")
        I, H = W.shape[0], U.shape[0]
        G = info.n_gates * H
        if min(I, H) < 1:
            raise ValueError(f"{cell} layer: I={I} and H={H} must be at "
                             "least 1")
        arrays = [("W", W, (I, G)), ("U", U, (H, G)), ("b", b, (G,))]
        if p is not None:
            if not info.peepholes:
                raise ValueError(f"the {cell} cell has no peepholes")
            arrays.append(("p", p, (3 * H,)))
        if info.has_bh:
            arrays.append(("bh", bh, (H,)))
        elif bh is not None:
            raise ValueError(f"the {cell} cell has no recurrent bias bh")
        writeable = True
        for name, arr, shape in arrays:
            _expect(name, arr, shape)
            if arr.dtype != dtype or not arr.flags.c_contiguous:
                raise ValueError(f"{cell} layer: {name} must be a "
                                 f"C-contiguous {dtype.name} array like W")
            writeable = writeable and arr.flags.writeable
        self.info, self.activation, self.dtype = info, activation, dtype
        self.W, self.U, self.b, self.p, self.bh = W, U, b, p, bh
        self.I, self.H, self.G = I, H, G
        self.writeable = writeable
        self.desc.cell = info.kind
        self.desc.activation = ACTIVATIONS.index(activation)
        self.desc.I, self.desc.H = I, H
        if dtype == np.float64:
            _point[double](self, W, U, b, p, bh)
        else:
            _point[float](self, W, U, b, p, bh)

    @property
    def cell(self):
        return self.info.name


cdef _point(Layer layer, const floating[:, ::1] W, const floating[:, ::1] U,
            const floating[::1] b, const floating[::1] p,
            const floating[::1] bh):
    layer.desc.W, layer.desc.U, layer.desc.b = &W[0, 0], &U[0, 0], &b[0]
    layer.desc.p = &p[0] if p is not None else NULL
    layer.desc.bh = &bh[0] if bh is not None else NULL


cdef class Tape:
    """What one layer's forward writes and its backward reads: h (T, B, H),
    c (T, B, H) for cells with a cell state, gates (T, B, G) unless the
    cell's gates are h, hn (T, B, H) for the GRU, and the final states h_n,
    c_n (B, H); None where the cell has none.  Checked once, here, for
    consistency (one dtype, C-contiguous, shapes agreeing on T, B, H); a
    call then only compares its sizes with the layer's and the batch's."""
    cdef sn_tape t
    cdef readonly object h, c, gates, hn, h_n, c_n, dtype
    cdef readonly int64_t T, B, H, G
    cdef readonly bint writeable

    def __init__(self, h, c, gates, hn, h_n, c_n):
        if getattr(h, "ndim", None) != 3:
            raise ValueError("tape.h must be a 3-D array (T, B, H)")
        dtype = _real_dtype("tape.h", h)
        T, B, H = h.shape
        if min(T, B, H) < 1:
            raise ValueError(f"tape.h has shape {h.shape}: every dimension "
                             "must be at least 1")
        G = 0
        if gates is not None:
            if getattr(gates, "ndim", None) != 3:
                raise ValueError("tape.gates must be a 3-D array (T, B, G)")
            G = gates.shape[2]
            _expect("tape.gates", gates, (T, B, G))
        writeable = True
        for name, arr, shape in (("h", h, (T, B, H)), ("c", c, (T, B, H)),
                                 ("gates", gates, (T, B, G)),
                                 ("hn", hn, (T, B, H)), ("h_n", h_n, (B, H)),
                                 ("c_n", c_n, (B, H))):
            if arr is None:
                if name in ("h", "h_n"):
                    raise ValueError(f"tape.{name} is required")
                continue
            _expect("tape." + name, arr, shape)
            if arr.dtype != dtype or not arr.flags.c_contiguous:
                raise ValueError(f"tape.{name} must be a C-contiguous "
                                 f"{dtype.name} array like tape.h")
            writeable = writeable and arr.flags.writeable
        if (c is None) != (c_n is None):
            raise ValueError("tape.c and tape.c_n go together")
        self.h, self.c, self.gates, self.hn = h, c, gates, hn
        self.h_n, self.c_n, self.dtype = h_n, c_n, dtype
        self.T, self.B, self.H, self.G = T, B, H, G
        self.writeable = writeable
        if dtype == np.float64:
            _tape_point[double](self, h, c, gates, hn, h_n, c_n)
        else:
            _tape_point[float](self, h, c, gates, hn, h_n, c_n)


cdef _tape_point(Tape tape, const floating[:, :, ::1] h,
                 const floating[:, :, ::1] c, const floating[:, :, ::1] gates,
                 const floating[:, :, ::1] hn, const floating[:, ::1] h_n,
                 const floating[:, ::1] c_n):
    # The C API writes through these only in layer_forward, which first
    # checks that the tape is writeable.
    tape.t.h, tape.t.h_n = <void *>&h[0, 0, 0], <void *>&h_n[0, 0]
    tape.t.c = <void *>&c[0, 0, 0] if c is not None else NULL
    tape.t.gates = <void *>&gates[0, 0, 0] if gates is not None else NULL
    tape.t.hn = <void *>&hn[0, 0, 0] if hn is not None else NULL
    tape.t.c_n = <void *>&c_n[0, 0] if c_n is not None else NULL


def _real_dtype(name, arr):
    dtype = getattr(arr, "dtype", None)
    if dtype == np.float32 or dtype == np.float64:
        return dtype
    raise ValueError(f"{name} must be a float32 or float64 array, got "
                     f"{dtype if dtype is not None else type(arr).__name__}")


def layer_workspace_size(Layer layer not None, int64_t T, int64_t B,
                         int n_threads=0):
    """Bytes of workspace for a forward or backward of ``layer`` over T
    steps of B sequences."""
    if T < 1 or B < 1:
        raise ValueError(f"T={T} and B={B} must be at least 1")
    cdef size_t size
    if layer.dtype == np.float64:
        size = sn_layer_workspace_size_f64(&layer.desc, T, B, n_threads)
    else:
        size = sn_layer_workspace_size_f32(&layer.desc, T, B, n_threads)
    if size == 0:
        raise ValueError(f"a {layer.cell} layer of I={layer.I}, H={layer.H} "
                         f"over T={T}, B={B} is too large")
    return size


cdef _check_batch(Layer layer, Tape tape, x, h0, c0, lengths):
    """T and B of a batch, after checking the tape against the layer and
    the batch's inputs against both: x is (T, B, I) of the layer's dtype,
    or int64 token codes (T, B)."""
    info = layer.info
    if (tape.dtype != layer.dtype or tape.H != layer.H or
            (tape.c is not None) != info.has_c or
            (tape.hn is not None) != info.has_hn or
            (tape.gates is not None) == info.gates_in_h or
            (tape.gates is not None and tape.G != layer.G)):
        raise ValueError(
            f"the tape does not fit this {layer.cell} layer (H={layer.H}, "
            f"{layer.dtype}): it needs h, h_n"
            + (", c, c_n" if info.has_c else "")
            + ("" if info.gates_in_h else f", gates (G={layer.G})")
            + (", hn" if info.has_hn else ""))
    T, B = tape.T, tape.B
    if getattr(x, "ndim", None) == 2 and x.dtype == np.int64:
        _expect("codes", x, (T, B))
    elif getattr(x, "ndim", None) == 3:
        _expect("x", x, (T, B, layer.I))
        if x.dtype != layer.dtype:
            raise ValueError(f"x is {x.dtype}, the layer {layer.dtype}")
    else:
        raise ValueError("x must be a 3-D array (T, B, I) or int64 token "
                         "codes (T, B)")
    _expect("lengths", lengths, (B,))
    _expect("h0", h0, (B, layer.H))
    if info.has_c:
        _expect("c0", c0, (B, layer.H))
    elif c0 is not None:
        raise ValueError(f"c0 must be None: the {layer.cell} cell has no "
                         "cell state")
    return T, B


cdef _layer_forward(Layer layer, Tape tape, const floating[:, :, ::1] x,
                    const int64_t[:, ::1] codes, const floating[:, ::1] h0,
                    const floating[:, ::1] c0, const int64_t[::1] lengths,
                    int64_t T, int64_t B, bint reverse, bint keep,
                    unsigned char[::1] workspace, int n_threads):
    cdef const floating *px = &x[0, 0, 0] if x is not None else NULL
    cdef const int64_t *pcodes = &codes[0, 0] if codes is not None else NULL
    cdef const floating *pc0 = &c0[0, 0] if c0 is not None else NULL
    cdef int st
    with nogil:
        if floating is float:
            st = sn_layer_forward_f32(&tape.t, &layer.desc, px, pcodes, &h0[0, 0],
                                      pc0, &lengths[0], T, B, reverse, keep,
                                      &workspace[0], workspace.shape[0],
                                      n_threads)
        else:
            st = sn_layer_forward_f64(&tape.t, &layer.desc, px, pcodes, &h0[0, 0],
                                      pc0, &lengths[0], T, B, reverse, keep,
                                      &workspace[0], workspace.shape[0],
                                      n_threads)
    _check_status(st, f"{layer.cell} forward")


def layer_forward(Layer layer not None, Tape tape not None, x, h0, c0, lengths,
                  bint reverse,
                  workspace, int n_threads=0, bint keep=True):
    """One direction of one layer over a batch: ``tape`` written in place.

    ``x`` is (T, B, I) of the layer's dtype or int64 token codes (T, B);
    h0, c0 (B, H) the initial states (c0 None for cells without a cell
    state); lengths (B,) int64, longest first.  keep=False (inference, no
    backward pass to follow) leaves the tape's gates and hn unspecified:
    the kernel may then keep them out of memory.  Size the workspace with
    ``layer_workspace_size``."""
    T, B = _check_batch(layer, tape, x, h0, c0, lengths)
    if not tape.writeable:
        raise ValueError("the tape's arrays must be writeable")
    codes = x if x.ndim == 2 else None
    if layer.dtype == np.float64:
        _layer_forward[double](layer, tape, None if codes is not None else x,
                               codes, h0, c0, lengths, T, B, reverse, keep,
                               workspace, n_threads)
    else:
        _layer_forward[float](layer, tape, None if codes is not None else x,
                              codes, h0, c0, lengths, T, B, reverse, keep,
                              workspace, n_threads)


cdef _layer_backward(Layer layer, Layer grads, floating[:, :, ::1] dx,
                     floating[:, ::1] dh0, floating[:, ::1] dc0,
                     const floating[:, :, ::1] dh,
                     const floating[:, ::1] dh_n, const floating[:, ::1] dc_n,
                     const floating[:, :, ::1] x, const int64_t[:, ::1] codes,
                     const floating[:, ::1] h0, const floating[:, ::1] c0,
                     Tape tape, const int64_t[::1] lengths, int64_t T,
                     int64_t B, bint reverse, unsigned char[::1] workspace,
                     int n_threads):
    cdef sn_layer_grads g
    g.W, g.U, g.b = <void *>grads.desc.W, <void *>grads.desc.U, <void *>grads.desc.b
    g.p, g.bh = <void *>grads.desc.p, <void *>grads.desc.bh
    cdef floating *pdx = &dx[0, 0, 0] if dx is not None else NULL
    cdef floating *pdc0 = &dc0[0, 0] if dc0 is not None else NULL
    cdef const floating *pdh = &dh[0, 0, 0] if dh is not None else NULL
    cdef const floating *pdh_n = &dh_n[0, 0] if dh_n is not None else NULL
    cdef const floating *pdc_n = &dc_n[0, 0] if dc_n is not None else NULL
    cdef const floating *px = &x[0, 0, 0] if x is not None else NULL
    cdef const int64_t *pcodes = &codes[0, 0] if codes is not None else NULL
    cdef const floating *pc0 = &c0[0, 0] if c0 is not None else NULL
    cdef int st
    with nogil:
        if floating is float:
            st = sn_layer_backward_f32(pdx, &dh0[0, 0], pdc0, &g, pdh, pdh_n,
                                       pdc_n, &layer.desc, px, pcodes,
                                       &h0[0, 0], pc0, &tape.t, &lengths[0],
                                       T, B, reverse, &workspace[0],
                                       workspace.shape[0], n_threads)
        else:
            st = sn_layer_backward_f64(pdx, &dh0[0, 0], pdc0, &g, pdh, pdh_n,
                                       pdc_n, &layer.desc, px, pcodes,
                                       &h0[0, 0], pc0, &tape.t, &lengths[0],
                                       T, B, reverse, &workspace[0],
                                       workspace.shape[0], n_threads)
    _check_status(st, f"{layer.cell} backward")


def layer_backward(Layer layer not None, Layer grads not None, dx, dh0, dc0,
                   dh, dh_n, dc_n, x, h0, c0, Tape tape not None, lengths,
                   bint reverse, workspace, int n_threads=0):
    """Backpropagate through one direction of one layer.

    ``grads`` (a Layer of the gradient arrays, writeable) accumulates dW,
    dU, db (and dp, dbh); dx (T, B, I) or None (always None for token
    codes), dh0 and dc0 (B, H) are written.  dh (T, B, H) is the upstream
    gradient of every output or None, dh_n and dc_n (B, H) that of the
    final states or None.  x, h0, c0, lengths and the tape as the forward
    had them."""
    T, B = _check_batch(layer, tape, x, h0, c0, lengths)
    if (grads.info is not layer.info or grads.I != layer.I or
            grads.H != layer.H or grads.dtype != layer.dtype or
            (grads.p is None) != (layer.p is None)):
        raise ValueError("grads must be a Layer shaped as the layer")
    if not grads.writeable:
        raise ValueError("grads must be writeable")
    H = layer.H
    codes = x if x.ndim == 2 else None
    if codes is not None and dx is not None:
        raise ValueError("dx must be None for token codes")
    _expect_optional("dx", dx, (T, B, layer.I))
    _expect("dh0", dh0, (B, H))
    if layer.info.has_c:
        _expect("dc0", dc0, (B, H))
        _expect_optional("dc_n", dc_n, (B, H))
    elif dc0 is not None or dc_n is not None:
        raise ValueError(f"dc0 and dc_n must be None: the {layer.cell} cell "
                         "has no cell state")
    _expect_optional("dh", dh, (T, B, H))
    _expect_optional("dh_n", dh_n, (B, H))
    if layer.dtype == np.float64:
        _layer_backward[double](layer, grads, dx, dh0, dc0, dh, dh_n, dc_n,
                                None if codes is not None else x, codes, h0,
                                c0, tape, lengths, T, B, reverse, workspace,
                                n_threads)
    else:
        _layer_backward[float](layer, grads, dx, dh0, dc0, dh, dh_n, dc_n,
                               None if codes is not None else x, codes, h0,
                               c0, tape, lengths, T, B, reverse, workspace,
                               n_threads)


# ------------------------------------------------------------- embedding

cdef _embed(floating[:, :, ::1] out, const floating[:, ::1] E,
            const int64_t[:, ::1] codes, const int64_t[::1] lengths,
            bint backward):
    cdef int64_t T = codes.shape[0], B = codes.shape[1]
    cdef int64_t V = E.shape[0], D = E.shape[1]
    cdef int st
    with nogil:
        if floating is float:
            if backward:
                st = sn_embed_backward_f32(<float *>&E[0, 0], &out[0, 0, 0],
                                           &codes[0, 0], &lengths[0], T, B,
                                           V, D)
            else:
                st = sn_embed_forward_f32(&out[0, 0, 0], &E[0, 0],
                                          &codes[0, 0], &lengths[0], T, B, V,
                                          D)
        else:
            if backward:
                st = sn_embed_backward_f64(<double *>&E[0, 0], &out[0, 0, 0],
                                           &codes[0, 0], &lengths[0], T, B,
                                           V, D)
            else:
                st = sn_embed_forward_f64(&out[0, 0, 0], &E[0, 0],
                                          &codes[0, 0], &lengths[0], T, B, V,
                                          D)
    _check_status(st, "embedding backward" if backward else
                  "embedding forward")


def _check_embed(table_name, E, rows_name, rows, codes, lengths):
    dtype = _real_dtype(table_name, E)
    if getattr(E, "ndim", None) != 2 or min(E.shape) < 1:
        raise ValueError(f"{table_name} must be a non-empty 2-D array (V, D)")
    if getattr(codes, "ndim", None) != 2 or codes.dtype != np.int64:
        raise ValueError("codes must be a 2-D int64 array (T, B)")
    T, B = codes.shape
    if min(T, B) < 1:
        raise ValueError(f"every dimension must be at least 1, got T={T}, "
                         f"B={B}")
    _expect(rows_name, rows, (T, B, E.shape[1]))
    _expect("lengths", lengths, (B,))
    if rows.dtype != dtype:
        raise ValueError(f"{rows_name} is {rows.dtype}, {table_name} {dtype}")
    return dtype


def embedding_forward(out, E, codes, lengths):
    """out (T, B, D) = row codes[t, b] of the table E (V, D) at every valid
    (t, b), zero past each length; codes (T, B) int64 in [0, V)."""
    dtype = _check_embed("E", E, "out", out, codes, lengths)
    if dtype == np.float64:
        _embed[double](out, E, codes, lengths, False)
    else:
        _embed[float](out, E, codes, lengths, False)


def embedding_backward(dE, dout, codes, lengths):
    """dE (V, D) += dout (T, B, D), row by row into the rows codes[t, b], at
    every valid (t, b), in the order t, then b (the same bits for any
    thread count).  dE must be writeable."""
    dtype = _check_embed("dE", dE, "dout", dout, codes, lengths)
    if not dE.flags.writeable:
        raise ValueError("dE must be writeable")
    if dtype == np.float64:
        _embed[double](dout, dE, codes, lengths, True)
    else:
        _embed[float](dout, dE, codes, lengths, True)


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


# ------------------------------------------------------------- monitor

cdef _update_stats(double[::1] sums, floating[::1] prev,
                   const floating[::1] param, const int64_t[::1] bounds):
    cdef int64_t n = param.shape[0], groups = bounds.shape[0] - 1
    cdef int st
    with nogil:
        if floating is float:
            st = sn_update_stats_f32(&sums[0], &prev[0], &param[0],
                                     &bounds[0], groups, n)
        else:
            st = sn_update_stats_f64(&sums[0], &prev[0], &param[0],
                                     &bounds[0], groups, n)
    _check_status(st, "update_stats")


def update_stats(sums, prev, param, bounds):
    """Per group g (elements ``bounds[g]:bounds[g+1]`` of the flat buffer):
    ``sums[g, 0] += sum(param**2)``, ``sums[g, 1] += sum((param -
    prev)**2)``; then ``prev[:] = param``.  ``bounds`` (int64) rises from 0
    to at most ``len(param)``."""
    if getattr(param, "ndim", None) != 1 or param.shape[0] < 1:
        raise ValueError("param must be a non-empty 1-D array")
    if getattr(bounds, "ndim", None) != 1 or bounds.shape[0] < 1:
        raise ValueError("bounds must be a non-empty 1-D array")
    _expect("prev", prev, param.shape)
    _expect("sums", sums, (bounds.shape[0] - 1, 2))
    if _real_type("param", param):
        _update_stats[double](sums.reshape(-1), prev, param, bounds)
    else:
        _update_stats[float](sums.reshape(-1), prev, param, bounds)


# ------------------------------------------------------ stateful stepping

cdef class Stack:
    """Unidirectional layers stacked bottom first, as stack_step and
    generate read them: each layer reads the one below."""
    cdef sn_layer *desc
    cdef readonly tuple layers
    cdef readonly object dtype
    cdef readonly int64_t I, width, top

    def __cinit__(self, layers):
        self.desc = NULL
        layers = tuple(layers)
        if not layers:
            raise ValueError("the stack needs at least one layer")
        for l, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layer {l} must be a Layer, got "
                                f"{type(layer).__name__}")
            if layer.dtype != layers[0].dtype:
                raise ValueError(f"layer {l} is {layer.dtype}, layer 0 "
                                 f"{layers[0].dtype}")
            if l > 0 and layer.I != layers[l - 1].H:
                raise ValueError(f"layer {l} reads {layer.I} inputs but layer "
                                 f"{l - 1} has {layers[l - 1].H} units")
        self.desc = <sn_layer *>malloc(len(layers) * sizeof(sn_layer))
        if self.desc == NULL:
            raise MemoryError()
        cdef Layer layer_
        for l, layer_ in enumerate(layers):
            self.desc[l] = layer_.desc
        self.layers, self.dtype = layers, layers[0].dtype
        self.I = layers[0].I
        self.width = sum(layer.H for layer in layers)
        self.top = layers[len(layers) - 1].H

    def __dealloc__(self):
        free(self.desc)

    def workspace_size(self, int64_t B, int64_t K=1):
        """Bytes of workspace for stack_step (B streams) or generate (K
        codes)."""
        if B < 1 or K < 1:
            raise ValueError(f"B={B} and K={K} must be at least 1")
        cdef size_t size
        if self.dtype == np.float64:
            size = sn_stack_workspace_size_f64(self.desc, len(self.layers),
                                               B, K)
        else:
            size = sn_stack_workspace_size_f32(self.desc, len(self.layers),
                                               B, K)
        if size == 0:
            raise ValueError(f"a stack of {len(self.layers)} layers with "
                             f"K={K} codes is too large")
        return size


cdef _stack_step(Stack stack, floating[:, ::1] top, floating[:, ::1] h,
                 floating[:, ::1] c, const floating[:, ::1] x,
                 const int64_t[::1] codes, int64_t B,
                 unsigned char[::1] workspace):
    cdef int st
    cdef int n = len(stack.layers)
    cdef const floating *px = &x[0, 0] if x is not None else NULL
    cdef const int64_t *pcodes = &codes[0] if codes is not None else NULL
    with nogil:
        if floating is float:
            st = sn_stack_step_f32(&top[0, 0], &h[0, 0], &c[0, 0], px, pcodes,
                                   stack.desc, n, B, &workspace[0],
                                   workspace.shape[0])
        else:
            st = sn_stack_step_f64(&top[0, 0], &h[0, 0], &c[0, 0], px, pcodes,
                                   stack.desc, n, B, &workspace[0],
                                   workspace.shape[0])
    _check_status(st, "stack_step")


def stack_step(top, h, c, x, Stack stack not None, workspace):
    """One step of a layer stack for B streams (see csrc/seqnet.h).

    x (B, I) of the stack's dtype, or int64 token codes (B,), in; h and c
    (B, sum of H) are the states, updated in place; top (B, H of the last
    layer) receives the top layer's new state."""
    if getattr(x, "ndim", None) == 1 and x.dtype == np.int64:
        B = x.shape[0]
        codes, x = x, None
    elif getattr(x, "ndim", None) == 2:
        B = x.shape[0]
        _expect("x", x, (B, stack.I))
        codes = None
    else:
        raise ValueError("x must be a 2-D array (B, I) or int64 token codes "
                         "(B,)")
    if B < 1:
        raise ValueError("x must hold at least one stream")
    _expect("h", h, (B, stack.width))
    _expect("c", c, (B, stack.width))
    _expect("top", top, (B, stack.top))
    if stack.dtype == np.float64:
        _stack_step[double](stack, top, h, c, x, codes, B, workspace)
    else:
        _stack_step[float](stack, top, h, c, x, codes, B, workspace)


cdef _generate(Stack stack, int64_t[::1] out, floating[::1] h,
               floating[::1] c, const floating[:, ::1] V,
               const floating[::1] cb, const int64_t[::1] prime,
               int64_t start, double temperature, uint64_t seed,
               uint64_t stream, uint64_t first, unsigned char[::1] workspace):
    cdef int st
    cdef int n_layers = len(stack.layers)
    cdef int64_t K = V.shape[1], n = out.shape[0], n_prime = prime.shape[0]
    cdef int64_t *pout = &out[0] if n > 0 else NULL
    cdef const int64_t *pprime = &prime[0] if n_prime > 0 else NULL
    with nogil:
        if floating is float:
            st = sn_generate_f32(pout, &h[0], &c[0], stack.desc, n_layers,
                                 &V[0, 0], &cb[0], K, pprime, n_prime, start,
                                 n, temperature, seed, stream, first,
                                 &workspace[0], workspace.shape[0])
        else:
            st = sn_generate_f64(pout, &h[0], &c[0], stack.desc, n_layers,
                                 &V[0, 0], &cb[0], K, pprime, n_prime, start,
                                 n, temperature, seed, stream, first,
                                 &workspace[0], workspace.shape[0])
    _check_status(st, "generate")


def generate(out, h, c, Stack stack not None, V, cb, prime, int64_t start,
             double temperature, uint64_t seed, uint64_t stream, workspace,
             uint64_t first=0):
    """Feed the token codes ``prime`` (or ``start``) through the stack,
    then draw ``len(out)`` codes into ``out`` (see csrc/seqnet.h); draw i
    uses the counter ``first + i``.  h and c (sum of H,) hold one stream's
    state, updated in place."""
    if getattr(V, "ndim", None) != 2:
        raise ValueError("V must be a 2-D array")
    K = V.shape[1]
    _expect("V", V, (stack.top, K))
    _expect("cb", cb, (K,))
    if stack.I != K:
        raise ValueError(f"the first layer reads {stack.I} inputs, but the "
                         f"head has {K} codes")
    _expect("h", h, (stack.width,))
    _expect("c", c, (stack.width,))
    if getattr(out, "ndim", None) != 1 or getattr(prime, "ndim", None) != 1:
        raise ValueError("out and prime must be 1-D int64 arrays")
    if prime.shape[0] == 0 and not 0 <= start < K:
        raise ValueError(f"start code {start} is outside [0, {K})")
    if stack.dtype == np.float64:
        _generate[double](stack, out, h, c, V, cb, prime, start, temperature,
                          seed, stream, first, workspace)
    else:
        _generate[float](stack, out, h, c, V, cb, prime, start, temperature,
                         seed, stream, first, workspace)


def decode_workspace_size(Stack stack not None, int64_t K, int64_t B,
                          int64_t max_len, int64_t width, int n_threads=0):
    """Bytes of workspace for ``decode``."""
    cdef size_t size
    if stack.dtype == np.float64:
        size = sn_decode_workspace_size_f64(stack.desc, len(stack.layers), K,
                                            B, max_len, width, n_threads)
    else:
        size = sn_decode_workspace_size_f32(stack.desc, len(stack.layers), K,
                                            B, max_len, width, n_threads)
    if size == 0:
        raise ValueError(f"decoding K={K} codes, B={B}, max_len={max_len}, "
                         f"width={width}: a size is out of range")
    return size


cdef _decode(Stack stack, int64_t[:, ::1] out, int64_t[::1] lengths,
             double[::1] scores, const floating[:, ::1] h0,
             const floating[:, ::1] c0, const floating[:, ::1] E,
             const floating[:, ::1] V, const floating[::1] cb, int64_t width,
             unsigned char[::1] workspace, int n_threads):
    cdef int st
    cdef int n_layers = len(stack.layers)
    cdef int64_t K = V.shape[1], B = out.shape[0], max_len = out.shape[1]
    cdef const floating *pE = &E[0, 0] if E is not None else NULL
    with nogil:
        if floating is float:
            st = sn_decode_f32(&out[0, 0], &lengths[0], &scores[0], &h0[0, 0],
                               &c0[0, 0], stack.desc, n_layers, pE, &V[0, 0],
                               &cb[0], K, B, max_len, width, &workspace[0],
                               workspace.shape[0], n_threads)
        else:
            st = sn_decode_f64(&out[0, 0], &lengths[0], &scores[0], &h0[0, 0],
                               &c0[0, 0], stack.desc, n_layers, pE, &V[0, 0],
                               &cb[0], K, B, max_len, width, &workspace[0],
                               workspace.shape[0], n_threads)
    _check_status(st, "decode")


def decode(out, lengths, scores, h0, c0, Stack stack not None, E, V, cb,
           int64_t width, workspace, int n_threads=0):
    """Greedy (and, width > 1, beam) decoding of B samples from their
    initial states h0, c0 (B, sum of H) (see csrc/seqnet.h): out (B,
    max_len) int64 codes, lengths (B,) int64 and scores (B,) float64
    written."""
    if getattr(V, "ndim", None) != 2 or getattr(out, "ndim", None) != 2:
        raise ValueError("V and out must be 2-D arrays")
    K = V.shape[1]
    B, max_len = out.shape
    if B < 1 or max_len < 1 or width < 1:
        raise ValueError(f"B={B}, max_len={max_len} and width={width} must "
                         "be at least 1")
    _expect("V", V, (stack.top, K))
    _expect("cb", cb, (K,))
    _expect("h0", h0, (B, stack.width))
    _expect("c0", c0, (B, stack.width))
    _expect("lengths", lengths, (B,))
    _expect("scores", scores, (B,))
    if E is None:
        if stack.I != K:
            raise ValueError(f"the first layer reads {stack.I} inputs, but "
                             f"the head has {K} codes")
    else:
        _expect("E", E, (K, stack.I))
    _check_workspace(workspace, decode_workspace_size(stack, K, B, max_len,
                                                      width, n_threads))
    if stack.dtype == np.float64:
        _decode[double](stack, out, lengths, scores, h0, c0, E, V, cb, width,
                        workspace, n_threads)
    else:
        _decode[float](stack, out, lengths, scores, h0, c0, E, V, cb, width,
                       workspace, n_threads)


# ------------------------------------------------------------ activations

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
