"""Tests of the C GEMM driver, ``C = beta*C + op(A) . op(B)``, against NumPy.

Every ISA path the CPU has, both dtypes, all four transpose combinations,
shapes off the micro-kernel tile grid in both M and N and K across the K
block (256), and beta = 0 (C never read), 1 (accumulate) and another value.

Tolerances
----------
The reference is ``np.matmul`` in float64 (for float32, of the same float32
inputs, so the products are exact and only the kernel's own rounding is
measured).  Each element is compared against its own scale
``s = |beta*C_old| + (|A| . |B|)``, the sum of the magnitudes of the terms
that make it up:

- float64: any order of summing K products is within ``K*u*s`` of the exact
  value (u = eps/2, the unit roundoff), and so is NumPy's; with the beta
  term the difference of the two is within ``(K + 2)*eps*s``.  Twice that is
  the bound used -- about 1e-13 relative for K = 300 -- rigorous, so it
  cannot fail by bad luck.
- float32: the worst case ``K*u`` (1.8e-5 for K = 300) is reached only when
  every rounding error has the same sign; random data gives errors that
  grow like ``sqrt(K)*u`` (about 1e-6 here).  ``1e-5*s`` leaves a tenfold
  margin over that, while a wrong element, a lost K block or a mis-packed
  edge tile is off by O(1) relative.
"""

import numpy as np
import pytest

from seqnet import _kernels, _ops

MN_SIZES = (1, 3, 4, 5, 7, 8, 9, 17, 100, 257)
K_SIZES = (0, 1, 5, 300)   # 300 > kc = 256: two K blocks
BETAS = (0.0, 1.0, -0.75)
DTYPES = (np.float32, np.float64)
TRANS = [(False, False), (False, True), (True, False), (True, True)]


@pytest.fixture(params=_kernels.isa_available())
def isa(request):
    """Run the test on one ISA path, then restore the one in use before."""
    previous = _kernels.isa_current()
    _kernels.set_isa(request.param)
    assert _kernels.isa_current() == request.param
    yield request.param
    _kernels.set_isa(previous)


def _operands(rng, M, N, K, trans_a, trans_b, dtype):
    """Stored A and B such that op(A) is (M, K) and op(B) is (K, N)."""
    A = rng.standard_normal((K, M) if trans_a else (M, K)).astype(dtype)
    B = rng.standard_normal((N, K) if trans_b else (K, N)).astype(dtype)
    return A, B


def _op(X, trans):
    return X.T if trans else X


def _tolerance(scale, K, dtype):
    if dtype == np.float64:
        return 2.0 * (K + 2) * np.finfo(np.float64).eps * scale
    return 1e-5 * scale


def _workspace(n_threads=0):
    return np.empty(_kernels.gemm_workspace_size(n_threads), np.uint8)


def _check(C, expected, scale, K, dtype, what):
    tol = _tolerance(scale, K, dtype) + np.finfo(np.float64).tiny
    err = np.abs(C.astype(np.float64) - expected)
    assert C.dtype == dtype, what
    assert np.all(np.isfinite(C)), what
    worst = np.unravel_index(np.argmax(err - tol), err.shape)
    assert np.all(err <= tol), (
        f"{what}: error {err[worst]:.3g} > tolerance {tol[worst]:.3g} "
        f"at {worst}")


# ------------------------------------------------------------ correctness


@pytest.mark.parametrize("beta", BETAS, ids=lambda b: f"beta={b:g}")
@pytest.mark.parametrize("K", K_SIZES, ids=lambda k: f"K={k}")
@pytest.mark.parametrize("trans_a, trans_b", TRANS,
                         ids=["NN", "NT", "TN", "TT"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_gemm_matches_matmul(isa, dtype, trans_a, trans_b, K, beta):
    rng = np.random.default_rng([K, int(trans_a), int(trans_b)])
    ws = _workspace()
    for M in MN_SIZES:
        for N in MN_SIZES:
            A, B = _operands(rng, M, N, K, trans_a, trans_b, dtype)
            if beta == 0.0:
                # C's old content must be ignored, even NaN.
                C0 = np.full((M, N), np.nan, dtype)
                old = np.zeros((M, N))
            else:
                C0 = rng.standard_normal((M, N)).astype(dtype)
                old = beta * C0.astype(np.float64)
            C = C0.copy()
            _kernels.gemm(C, A, B, beta, trans_a, trans_b, ws)

            A64, B64 = _op(A, trans_a).astype(np.float64), \
                _op(B, trans_b).astype(np.float64)
            expected = old + A64 @ B64
            scale = np.abs(old) + np.abs(A64) @ np.abs(B64)
            _check(C, expected, scale, K, dtype,
                   f"M={M} N={N} K={K} beta={beta} {isa}")


@pytest.mark.parametrize("trans_a, trans_b", TRANS,
                         ids=["NN", "NT", "TN", "TT"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_ops_gemm_allocates_and_matches_matmul(isa, dtype, trans_a, trans_b):
    rng = np.random.default_rng(1)
    for M, N, K in [(1, 1, 1), (5, 9, 300), (257, 3, 5), (17, 100, 0)]:
        A, B = _operands(rng, M, N, K, trans_a, trans_b, dtype)
        C = _ops.gemm(A, B, trans_a, trans_b)
        A64, B64 = _op(A, trans_a).astype(np.float64), \
            _op(B, trans_b).astype(np.float64)
        assert C.shape == (M, N)
        _check(C, A64 @ B64, np.abs(A64) @ np.abs(B64), K, dtype,
               f"M={M} N={N} K={K}")


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_k_zero_scales_c_by_beta(isa, dtype):
    rng = np.random.default_rng(2)
    A = np.empty((9, 0), dtype)
    B = np.empty((0, 17), dtype)
    ws = _workspace()

    C = np.full((9, 17), np.nan, dtype)
    _kernels.gemm(C, A, B, 0.0, False, False, ws)
    assert np.all(C == 0.0)

    C0 = rng.standard_normal((9, 17)).astype(dtype)
    C = C0.copy()
    _kernels.gemm(C, A, B, 1.0, False, False, ws)
    np.testing.assert_array_equal(C, C0)

    C = C0.copy()
    _kernels.gemm(C, A, B, 2.0, False, False, ws)
    np.testing.assert_array_equal(C, 2 * C0)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_beta_one_accumulates_repeated_calls(isa, dtype):
    rng = np.random.default_rng(3)
    # K within one KC block: each call adds one freshly summed product.
    A, B = _operands(rng, 33, 19, 200, False, True, dtype)
    C = np.zeros((33, 19), dtype)
    ws = _workspace()
    _kernels.gemm(C, A, B, 1.0, False, True, ws)
    once = C.copy()
    _kernels.gemm(C, A, B, 1.0, False, True, ws)
    # The second call adds the bit-identical product to itself: exactly 2x.
    np.testing.assert_array_equal(C, 2 * once)


# ------------------------------------------------------------------ threads


@pytest.mark.parametrize("beta", [0.0, 1.0, 0.5], ids=lambda b: f"beta={b:g}")
@pytest.mark.parametrize("trans_a, trans_b", TRANS,
                         ids=["NN", "NT", "TN", "TT"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("M, N", [(300, 200), (100, 400)],
                         ids=["rows", "columns"])
def test_thread_count_does_not_change_bits(isa, dtype, trans_a, trans_b,
                                           beta, M, N):
    # M*N*K >= 2**23 (gemm.c's SN_GEMM_MIN_PARALLEL), so the driver does
    # split the jobs between threads: by row groups (M >= N; M spans two
    # or more row blocks: mc is at most 192) or by column blocks (M < N);
    # K = 300 crosses kc = 256.
    K = 300
    rng = np.random.default_rng(4)
    A, B = _operands(rng, M, N, K, trans_a, trans_b, dtype)
    C0 = rng.standard_normal((M, N)).astype(dtype)
    results = {}
    for n_threads in (1, 2, 3):
        C = C0.copy()
        _kernels.gemm(C, A, B, beta, trans_a, trans_b,
                      _workspace(n_threads), n_threads)
        results[n_threads] = C
    assert not np.array_equal(results[1], C0)
    for n_threads in (2, 3):
        assert np.array_equal(results[n_threads], results[1]), n_threads
    # And through the allocating wrapper.
    for n_threads in (2, 3):
        assert np.array_equal(
            _ops.gemm(A, B, trans_a, trans_b, n_threads=n_threads),
            _ops.gemm(A, B, trans_a, trans_b, n_threads=1)), n_threads


@pytest.mark.parametrize("trans_a, trans_b", TRANS,
                         ids=["NN", "NT", "TN", "TT"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_blocks_past_every_edge_match_matmul_on_any_thread_count(
        isa, dtype, trans_a, trans_b):
    # N = 1100 spans two or more column blocks (nc is at most 1024
    # float32, 512 double: gemm.c's sn_gemm_blocks_of), M = 420 three or
    # more row blocks (mc at most 192; grouped differently for 1, 2 and 3
    # threads), K = 520 three kc = 256 blocks.
    M, N, K = 420, 1100, 520
    rng = np.random.default_rng(6)
    A, B = _operands(rng, M, N, K, trans_a, trans_b, dtype)
    C0 = rng.standard_normal((M, N)).astype(dtype)
    results = {}
    for n_threads in (1, 2, 3):
        C = C0.copy()
        _kernels.gemm(C, A, B, 0.5, trans_a, trans_b,
                      _workspace(n_threads), n_threads)
        results[n_threads] = C
    A64, B64 = _op(A, trans_a).astype(np.float64), \
        _op(B, trans_b).astype(np.float64)
    old = 0.5 * C0.astype(np.float64)
    _check(results[1], old + A64 @ B64, np.abs(old) + np.abs(A64) @ np.abs(B64),
           K, dtype, f"M={M} N={N} K={K} {isa}")
    for n_threads in (2, 3):
        assert np.array_equal(results[n_threads], results[1]), n_threads


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_transposed_a_in_place_or_packed_gives_the_same_bits(isa, dtype):
    # With trans_a, A's rows are read in place when they are at most 512
    # bytes apart (gemm.c; 100 float32 or 50 float64 elements here) and
    # packed when farther (padded to 3x): the same products, summed the
    # same way, so the shared rows of C agree to the bit -- edge rows
    # (past the last multiple of mr) included.
    M, N, K = 400 // np.dtype(dtype).itemsize, 70, 300
    rng = np.random.default_rng(8)
    A = rng.standard_normal((K, M)).astype(dtype)
    B = rng.standard_normal((K, N)).astype(dtype)
    wide = np.zeros((K, 3 * M), dtype)
    wide[:, :M] = A
    C = np.zeros((M, N), dtype)
    C_wide = np.zeros((3 * M, N), dtype)
    _kernels.gemm(C, A, B, 0.0, True, False, _workspace(1), 1)
    _kernels.gemm(C_wide, wide, B, 0.0, True, False, _workspace(1), 1)
    assert np.array_equal(C, C_wide[:M])
    np.testing.assert_allclose(C, A.T.astype(np.float64) @ B, rtol=1e-4,
                               atol=1e-4)


@pytest.mark.parametrize("trans_a", [False, True], ids=["A", "A^T"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_a_row_has_the_same_bits_in_any_tile(isa, dtype, trans_a):
    # Every row count from 1 to 29 cuts the rows differently into full
    # tiles, partial tiles (gemm.h's sn_ukr.part) and single rows; the
    # first row is always the same product, so its bits must not change
    # with where it falls -- a sequence predicts the same alone or in any
    # batch.  N spans a full panel and an edge; K two K blocks.
    N, K = 70, 300
    rng = np.random.default_rng(12)
    A = rng.standard_normal((29, K)).astype(dtype)
    B = rng.standard_normal((K, N)).astype(dtype)
    rows = []
    for M in range(1, 30):
        a = np.ascontiguousarray(A[:M].T) if trans_a else A[:M]
        C = np.zeros((M, N), dtype)
        _kernels.gemm(C, a, B, 0.0, trans_a, False, _workspace(1), 1)
        rows.append(C)
    for M, C in enumerate(rows, start=1):
        assert np.array_equal(C, rows[-1][:M]), f"M={M}"


# ---------------------------------------------------------------- bad input


def _good(dtype=np.float64):
    rng = np.random.default_rng(5)
    C = np.zeros((5, 7), dtype)
    A = rng.standard_normal((5, 3)).astype(dtype)
    B = rng.standard_normal((3, 7)).astype(dtype)
    return C, A, B


def test_good_arguments_are_accepted():
    C, A, B = _good()
    _kernels.gemm(C, A, B, 0.0, False, False, _workspace())
    np.testing.assert_allclose(C, A @ B, rtol=1e-13)


def test_read_only_inputs_are_accepted():
    C, A, B = _good()
    A.flags.writeable = False
    B.flags.writeable = False
    _kernels.gemm(C, A, B, 0.0, False, False, _workspace())
    np.testing.assert_allclose(C, A @ B, rtol=1e-13)


def _bad_cases():
    C, A, B = _good()
    f32 = np.float32
    readonly = C.copy()
    readonly.flags.writeable = False
    return {
        "A_rows": (C, A[:4].copy(), B, False, False),
        "inner": (C, A, B[:2].copy(), False, False),
        "B_cols": (C, A, B[:, :6].copy(), False, False),
        "trans_a_mismatch": (C, A, B, True, False),
        "trans_b_mismatch": (C, A, B, False, True),
        "A_1d": (C, A.ravel(), B, False, False),
        "C_3d": (C[None], A, B, False, False),
        "int_C": (C.astype(np.int64), A, B, False, False),
        "int_A": (C, A.astype(np.int32), B, False, False),
        "float16_all": (C.astype(np.float16), A.astype(np.float16),
                        B.astype(np.float16), False, False),
        "float16_B": (C, A, B.astype(np.float16), False, False),
        "mixed_C32": (C.astype(f32), A, B, False, False),
        "mixed_A32": (C, A.astype(f32), B, False, False),
        "mixed_B32": (C.astype(f32), A.astype(f32), B, False, False),
        "strided_A": (C, np.repeat(A, 2, axis=1)[:, ::2], B, False, False),
        "strided_C": (np.zeros((5, 14))[:, ::2], A, B, False, False),
        "fortran_B": (C, A, np.asfortranarray(B), False, False),
        "readonly_C": (readonly, A, B, False, False),
    }


@pytest.mark.parametrize("case", list(_bad_cases()))
def test_bad_arguments_raise_value_error(case):
    C, A, B, trans_a, trans_b = _bad_cases()[case]
    with pytest.raises(ValueError):
        _kernels.gemm(C, A, B, 0.0, trans_a, trans_b, _workspace())


@pytest.mark.parametrize("n_threads", [1, 2])
def test_small_workspace_raises(n_threads):
    C, A, B = _good()
    need = _kernels.gemm_workspace_size(n_threads)
    assert need > 0
    with pytest.raises(ValueError, match="workspace"):
        _kernels.gemm(C, A, B, 0.0, False, False,
                      np.empty(need - 1, np.uint8), n_threads)
    # A workspace of the wrong dtype is not reinterpreted as bytes.
    with pytest.raises(ValueError):
        _kernels.gemm(C, A, B, 0.0, False, False,
                      np.empty(need, np.float64), n_threads)


def test_unknown_isa_raises():
    with pytest.raises(ValueError):
        _kernels.set_isa("sse9")
    assert _kernels.isa_current() in _kernels.isa_available()
