"""Output-layer losses, the optimiser and dropout: C against the reference."""
import numpy as np
import pytest

from seqnet import _kernels, _reference as ref

OPTIMIZERS = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"]
# float64 kernels differ from the reference only by rounding order; float32
# kernels carry ~1e-7 relative error per operation over sums of <= 40 terms.
RTOL = {np.float64: 1e-11, np.float32: 2e-5}


def close(a, r, dtype):
    scale = np.max(np.abs(r)) + 1e-30
    assert np.max(np.abs(np.asarray(a, np.float64) - r)) <= RTOL[dtype] * scale


def dense_case(rng, dtype, N=13, H=7, K=5, weighted=True):
    X = rng.standard_normal((N, H)).astype(dtype)
    V = (rng.standard_normal((H, K)) * 0.5).astype(dtype)
    c = rng.standard_normal(K).astype(dtype)
    w = rng.uniform(0, 2, N).astype(dtype) if weighted else None
    if weighted:
        w[3] = 0  # a padded row: no loss, no gradient
    return X, V, c, w


def workspace():
    return np.empty(_kernels.gemm_workspace_size(0), np.uint8)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
def test_softmax_xent_matches_reference(dtype, weighted):
    rng = np.random.default_rng(0)
    X, V, c, w = dense_case(rng, dtype, weighted=weighted)
    y = rng.integers(0, V.shape[1], len(X)).astype(np.int64)
    N, H = X.shape
    K = V.shape[1]
    P, dX = np.empty((N, K), dtype), np.empty((N, H), dtype)
    dV, dc = np.ones((H, K), dtype), np.ones(K, dtype)   # accumulate onto 1
    loss = _kernels.softmax_xent(P, dX, dV, dc, X, V, c, y, w, workspace())
    r = ref.softmax_xent(*(a.astype(np.float64) if a is not None else None
                           for a in (X, V, c)), y,
                         None if w is None else w.astype(np.float64))
    assert abs(loss - r[0]) <= RTOL[dtype] * abs(r[0]) * 10
    close(dX, r[2], dtype)
    close(dV - 1, r[3], dtype)
    close(dc - 1, r[4], dtype)
    probs = np.empty((N, K), dtype)
    _kernels.softmax_xent(probs, None, None, None, X, V, c, None, None,
                          workspace())
    close(probs, r[1], dtype)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)


def test_softmax_xent_gradient_by_finite_differences():
    rng = np.random.default_rng(1)
    X, V, c, w = dense_case(rng, np.float64)
    y = rng.integers(0, V.shape[1], len(X)).astype(np.int64)
    _, _, dX, dV, dc = ref.softmax_xent(X, V, c, y, w)
    eps = 1e-6
    for arr, grad in ((X, dX), (V, dV), (c, dc)):
        num = np.empty_like(arr)
        for i in np.ndindex(arr.shape):
            old = arr[i]
            arr[i] = old + eps
            up = ref.softmax_xent(X, V, c, y, w)[0]
            arr[i] = old - eps
            down = ref.softmax_xent(X, V, c, y, w)[0]
            arr[i] = old
            num[i] = (up - down) / (2 * eps)
        np.testing.assert_allclose(grad, num, rtol=1e-6, atol=1e-8)


def test_softmax_xent_is_stable_for_huge_logits():
    X = np.array([[1e4, -1e4]], np.float32)
    V = np.eye(2, dtype=np.float32)
    c = np.zeros(2, np.float32)
    P, dV, dc = np.empty((1, 2), np.float32), np.zeros((2, 2), np.float32), np.zeros(2, np.float32)
    loss = _kernels.softmax_xent(P, None, dV, dc, X, V, c, np.array([1]), None,
                                 workspace())
    assert loss == pytest.approx(2e4, rel=1e-6)
    assert np.all(np.isfinite(P))


def test_softmax_xent_rejects_labels_out_of_range():
    rng = np.random.default_rng(2)
    X, V, c, _ = dense_case(rng, np.float64)
    N, K = len(X), V.shape[1]
    y = np.full(N, K, np.int64)
    with pytest.raises(ValueError, match="label"):
        _kernels.softmax_xent(np.empty((N, K)), None, np.zeros(V.shape),
                              np.zeros(K), X, V, c, y, None, workspace())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_linear_mse_matches_reference(dtype):
    rng = np.random.default_rng(3)
    X, V, c, w = dense_case(rng, dtype)
    y = rng.standard_normal((len(X), V.shape[1])).astype(dtype)
    N, H = X.shape
    K = V.shape[1]
    Z, dX = np.empty((N, K), dtype), np.empty((N, H), dtype)
    dV, dc = np.zeros((H, K), dtype), np.zeros(K, dtype)
    loss = _kernels.linear_mse(Z, dX, dV, dc, X, V, c, y, w, workspace())
    r = ref.linear_mse(*(a.astype(np.float64) for a in (X, V, c, y, w)))
    assert abs(loss - r[0]) <= RTOL[dtype] * abs(r[0]) * 10
    for a, b in zip((dX, dV, dc), r[2:]):
        close(a, b, dtype)
    out = np.empty((N, K), dtype)
    _kernels.linear_mse(out, None, None, None, X, V, c, None, None, workspace())
    close(out, r[1], dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("clip", [{}, {"clip_value": 0.3}, {"clip_norm": 0.5},
                                  {"l1": 0.01, "l2": 0.1}])
def test_optimizer_steps_match_reference(dtype, optimizer, clip):
    rng = np.random.default_rng(4)
    n = 50
    param = rng.standard_normal(n).astype(dtype)
    state = np.zeros(2 * n, dtype)
    decay = (rng.uniform(size=n) < 0.7).astype(np.uint8)
    p_ref, s_ref = param.astype(np.float64), state.astype(np.float64)
    for step in range(1, 4):
        grad = rng.standard_normal(n).astype(dtype)
        p_ref, s_ref, norm_ref = ref.optim_step(
            p_ref, grad.astype(np.float64), s_ref, decay, optimizer, 0.05,
            step, **clip)
        norm = _kernels.optim_step(param, grad.copy(), state, decay, optimizer,
                                   0.05, step, **clip)
        assert norm == pytest.approx(norm_ref, rel=1e-6)
    close(param, p_ref, dtype)
    close(state, s_ref, dtype)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_optimizer_threads_split_a_large_buffer_without_changing_bits(
        optimizer):
    # 100,003 > 2**15 elements: the update is split over threads, in ranges
    # that end off the 32-lane norm and the cache line.
    rng = np.random.default_rng(5)
    n = 100_003
    param0 = rng.standard_normal(n).astype(np.float32)
    grad0 = rng.standard_normal(n).astype(np.float32)
    decay = (rng.uniform(size=n) < 0.7).astype(np.uint8)
    config = dict(l1=0.001, l2=0.01, clip_norm=50.0)
    results = []
    for n_threads in (1, 2, 3):
        param, state = param0.copy(), np.zeros(2 * n, np.float32)
        norms = [_kernels.optim_step(param, grad0.copy(), state, decay,
                                     optimizer, 0.01, step, n_threads=n_threads,
                                     **config) for step in (1, 2)]
        results.append((param, state, norms))
    for param, state, norms in results[1:]:
        assert np.array_equal(param, results[0][0])
        assert np.array_equal(state, results[0][1])
        assert norms == results[0][2]
    p_ref, s_ref = param0.astype(np.float64), np.zeros(2 * n)
    for step in (1, 2):
        p_ref, s_ref, _ = ref.optim_step(p_ref, grad0.astype(np.float64),
                                         s_ref, decay, optimizer, 0.01, step,
                                         **config)
    close(results[0][0], p_ref, np.float32)
    close(results[0][1], s_ref, np.float32)


def test_clip_norm_bounds_the_update():
    n = 10
    param = np.zeros(n)
    grad = np.full(n, 100.0)
    norm = _kernels.optim_step(param, grad, np.zeros(2 * n), None, "sgd", 1.0,
                               1, clip_norm=1.0)
    assert norm == pytest.approx(100 * np.sqrt(n))
    assert np.linalg.norm(param) == pytest.approx(1.0)


def test_optimizer_rejects_bad_arguments():
    p = np.zeros(4)
    with pytest.raises(ValueError, match="optimizer"):
        _kernels.optim_step(p, p.copy(), np.zeros(8), None, "lbfgs", 0.1, 1)
    with pytest.raises(ValueError, match="state"):
        _kernels.optim_step(p, p.copy(), np.zeros(4), None, "adam", 0.1, 1)
    with pytest.raises(ValueError):
        _kernels.optim_step(p, p.astype(np.float32), np.zeros(8), None, "sgd",
                            0.1, 1)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dropout_replays_its_mask_and_keeps_the_expectation(dtype):
    a = np.ones(200_000, dtype)
    _kernels.dropout(a, 0.25, seed=7, stream=3)
    kept = a != 0
    assert abs(kept.mean() - 0.75) < 0.005
    np.testing.assert_allclose(a[kept], 1 / 0.75, rtol=1e-6)
    g = np.full(200_000, 2.0, dtype)
    _kernels.dropout(g, 0.25, seed=7, stream=3)
    np.testing.assert_array_equal(g != 0, kept)
    other = np.ones(200_000, dtype)
    _kernels.dropout(other, 0.25, seed=7, stream=4)
    assert not np.array_equal(other != 0, kept)


def test_dropout_is_thread_count_invariant():
    masks = []
    for n_threads in (1, 2, 3):
        a = np.ones((300, 400))
        _kernels.dropout(a, 0.5, seed=1, stream=2, n_threads=n_threads)
        masks.append(a)
    assert np.array_equal(masks[0], masks[1])
    assert np.array_equal(masks[0], masks[2])


def test_uniform_draws_look_uniform():
    u = np.array([_kernels.uniform(5, 0, i) for i in range(20000)])
    assert u.min() >= 0 and u.max() < 1
    hist = np.histogram(u, bins=10, range=(0, 1))[0]
    assert hist.min() > 1800 and hist.max() < 2200
