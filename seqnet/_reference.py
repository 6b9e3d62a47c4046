"""Plain NumPy forward and backward (BPTT) of seqnet's recurrent cells.

This module is the oracle the C kernels in ``csrc/`` are tested against.  It
is written for clarity, not speed: every row of the batch is processed on its
own, one time step at a time, so that each line can be read next to the
equation it implements.  Its own backward is in turn checked against central
finite differences (``tests/test_reference.py``).

The semantics are those of ``csrc/seqnet.h``:

- Arrays are time-major: ``x`` is ``(T, B, I)``, states are ``(B, H)``.
  Weights are input-major: ``W`` is ``(I, G)`` and ``U`` is ``(H, G)``, with
  the gate blocks as contiguous columns in the fixed order LSTM ``i f g o``,
  GRU ``r z n``.
- Row ``b`` processes only the times ``t < lengths[b]``.  Outputs at
  ``t >= lengths[b]`` are zero and the final state is the state after the
  row's last processed step.  Any order of ``lengths`` is accepted here
  (the C kernels require non-increasing lengths).
- With ``reverse=True`` row ``b`` runs from ``t = lengths[b] - 1`` down to
  ``t = 0``: the step at time ``t`` reads the state written at ``t + 1`` (or
  the initial state at ``t = lengths[b] - 1``), and the final state is the
  state after ``t = 0``.  Outputs stay indexed by time in both directions.
- The backward functions return full gradients of every input, given the
  upstream gradients ``dh`` of every step's output and ``dh_n`` (``dc_n``)
  of the final state; ``None`` stands for zeros.  Entries of ``dh`` past a
  row's length are ignored.  Unlike the C kernels, nothing is accumulated
  into caller-owned buffers.

Everything is computed in the floating dtype of ``x``.
"""

import numpy as np

__all__ = [
    "lstm_forward",
    "lstm_backward",
    "gru_forward",
    "gru_backward",
    "elman_forward",
    "elman_backward",
    "embedding_forward",
    "embedding_backward",
    "softmax_xent",
    "linear_mse",
    "optim_step",
]


def _sigmoid(a):
    """Logistic function, in a form that cannot overflow."""
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def _softsign(a):
    return a / (1.0 + np.abs(a))


# Each activation maps to (function, derivative written in terms of the
# function's output), because the backward only sees the saved outputs h.
_ACTIVATIONS = {
    "tanh": (np.tanh, lambda y: 1.0 - y * y),
    "relu": (lambda a: np.maximum(a, 0.0),
             lambda y: (y > 0.0).astype(y.dtype)),
    "softsign": (_softsign, lambda y: (1.0 - np.abs(y)) ** 2),
}


def _activation(name):
    """Return ``(function, derivative_from_output)`` for an activation name."""
    try:
        return _ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"activation must be one of {sorted(_ACTIVATIONS)}, got {name!r}"
        ) from None


def _as_real(array, dtype):
    """Return ``array`` as a C-contiguous array of ``dtype`` (None passes)."""
    if array is None:
        return None
    return np.ascontiguousarray(array, dtype=dtype)


def _real_dtype(x):
    """The floating dtype every computation uses: that of ``x``."""
    dtype = np.asarray(x).dtype
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"x must be float32 or float64, got {dtype}")
    return dtype


def _check_lengths(lengths, T, B):
    """Return ``lengths`` as int64 after checking shape ``(B,)`` and range."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if lengths.shape != (B,):
        raise ValueError(
            f"lengths must have shape ({B},), got {lengths.shape}")
    if np.any(lengths < 1) or np.any(lengths > T):
        raise ValueError(f"every length must lie in [1, {T}], got {lengths}")
    return lengths


def _time_order(length, reverse):
    """Times one row visits, in the order the forward pass visits them."""
    if reverse:
        return range(length - 1, -1, -1)
    return range(length)


def _previous(states, initial, t, length, reverse):
    """State read by the step at time ``t`` of one row.

    Parameters
    ----------
    states : ndarray of shape (T, H)
        The row's states as written by the forward pass.
    initial : ndarray of shape (H,)
        The row's initial state.
    t : int
        Time of the step.
    length : int
        The row's length.
    reverse : bool
        Direction of the run.

    Returns
    -------
    ndarray of shape (H,)
        ``states[t - 1]`` (forward) or ``states[t + 1]`` (reverse), or
        ``initial`` for the row's first processed step.
    """
    if reverse:
        return initial if t == length - 1 else states[t + 1]
    return initial if t == 0 else states[t - 1]


def _upstream(grad, shape, dtype):
    """Upstream gradient as an array, zeros when ``grad`` is None."""
    if grad is None:
        return np.zeros(shape, dtype=dtype)
    grad = _as_real(grad, dtype)
    if grad.shape != shape:
        raise ValueError(
            f"upstream gradient must have shape {shape}, got {grad.shape}")
    return grad


def _peepholes(p, H, dtype):
    """Split ``p`` into ``(p_i, p_f, p_o)``; zeros stand in when p is None."""
    if p is None:
        p = np.zeros(3 * H, dtype=dtype)
    return np.split(_as_real(p, dtype), 3)


# --------------------------------------------------------------------- LSTM


def lstm_forward(x, h0, c0, W, U, b, p, lengths, reverse=False,
                 activation="tanh"):
    """Run an LSTM over a batch of sequences.

    Per step, with ``a = x_t . W + h_prev . U + b`` split into ``i f g o``
    and ``act`` the activation (the gates stay sigmoid)::

        i = sigmoid(a_i + p_i * c_prev)
        f = sigmoid(a_f + p_f * c_prev)
        g = act(a_g)
        c = f * c_prev + i * g
        o = sigmoid(a_o + p_o * c)
        h = o * act(c)

    Parameters
    ----------
    x : ndarray of shape (T, B, I)
        Inputs, time-major.
    h0, c0 : ndarray of shape (B, H)
        Initial hidden and cell states.
    W : ndarray of shape (I, 4H)
        Input weights, gate blocks ``i f g o``.
    U : ndarray of shape (H, 4H)
        Recurrent weights, gate blocks ``i f g o``.
    b : ndarray of shape (4H,)
        Bias.
    p : ndarray of shape (3H,) or None
        Graves peepholes ``(p_i, p_f, p_o)``; None for a plain LSTM.
    lengths : ndarray of int64, shape (B,)
        Length of each sequence, in ``[1, T]``.
    reverse : bool, default=False
        Run each sequence backwards within its own length.
    activation : {"tanh", "relu", "softsign"}, default="tanh"

    Returns
    -------
    h, c : ndarray of shape (T, B, H)
        Hidden and cell state after each step; zero past each length.
    gates : ndarray of shape (T, B, 4H)
        Post-activation gates ``i f g o``; zero past each length.
    h_n, c_n : ndarray of shape (B, H)
        States after each row's last processed step.
    """
    dtype = _real_dtype(x)
    x, h0, c0, W, U, b = (_as_real(a, dtype) for a in (x, h0, c0, W, U, b))
    T, B, _ = x.shape
    H = h0.shape[1]
    lengths = _check_lengths(lengths, T, B)
    p_i, p_f, p_o = _peepholes(p, H, dtype)
    act, _ = _activation(activation)

    h = np.zeros((T, B, H), dtype=dtype)
    c = np.zeros((T, B, H), dtype=dtype)
    gates = np.zeros((T, B, 4 * H), dtype=dtype)
    h_n = np.empty((B, H), dtype=dtype)
    c_n = np.empty((B, H), dtype=dtype)

    for row in range(B):
        h_prev, c_prev = h0[row], c0[row]
        for t in _time_order(lengths[row], reverse):
            a_i, a_f, a_g, a_o = np.split(x[t, row] @ W + h_prev @ U + b, 4)
            i = _sigmoid(a_i + p_i * c_prev)
            f = _sigmoid(a_f + p_f * c_prev)
            g = act(a_g)
            c_t = f * c_prev + i * g
            o = _sigmoid(a_o + p_o * c_t)
            h_t = o * act(c_t)

            h[t, row], c[t, row] = h_t, c_t
            gates[t, row] = np.concatenate([i, f, g, o])
            h_prev, c_prev = h_t, c_t
        h_n[row], c_n[row] = h_prev, c_prev
    return h, c, gates, h_n, c_n


def lstm_backward(dh, dh_n, dc_n, x, h0, c0, W, U, p, h, c, gates, lengths,
                  reverse=False, activation="tanh"):
    """Backpropagate through an LSTM run (BPTT).

    Parameters
    ----------
    dh : ndarray of shape (T, B, H) or None
        Upstream gradient of every step's ``h``; entries past a row's length
        are ignored.  None means zeros.
    dh_n, dc_n : ndarray of shape (B, H) or None
        Upstream gradients of the final states.  None means zeros.
    x, h0, c0, W, U, p, lengths, reverse, activation
        As given to `lstm_forward`.
    h, c, gates : ndarray
        As returned by `lstm_forward`.

    Returns
    -------
    dx : ndarray of shape (T, B, I)
        Zero past each length.
    dh0, dc0 : ndarray of shape (B, H)
    dW : ndarray of shape (I, 4H)
    dU : ndarray of shape (H, 4H)
    db : ndarray of shape (4H,)
    dp : ndarray of shape (3H,) or None
        None when ``p`` is None.
    """
    dtype = _real_dtype(x)
    x, h0, c0, W, U, h, c, gates = (
        _as_real(a, dtype) for a in (x, h0, c0, W, U, h, c, gates))
    T, B, I = x.shape
    H = h0.shape[1]
    lengths = _check_lengths(lengths, T, B)
    p_i, p_f, p_o = _peepholes(p, H, dtype)
    act, act_grad = _activation(activation)
    dh = _upstream(dh, (T, B, H), dtype)
    dh_n = _upstream(dh_n, (B, H), dtype)
    dc_n = _upstream(dc_n, (B, H), dtype)

    dx = np.zeros((T, B, I), dtype=dtype)
    dh0 = np.empty((B, H), dtype=dtype)
    dc0 = np.empty((B, H), dtype=dtype)
    dW = np.zeros_like(W)
    dU = np.zeros_like(U)
    db = np.zeros(4 * H, dtype=dtype)
    dp_i, dp_f, dp_o = (np.zeros(H, dtype=dtype) for _ in range(3))

    for row in range(B):
        length = lengths[row]
        # Gradients flowing into the state read by the step being undone.
        dh_next, dc_next = dh_n[row], dc_n[row]
        for t in reversed(_time_order(length, reverse)):
            h_prev = _previous(h[:, row], h0[row], t, length, reverse)
            c_prev = _previous(c[:, row], c0[row], t, length, reverse)
            i, f, g, o = np.split(gates[t, row], 4)
            c_t = c[t, row]
            act_c = act(c_t)

            # h = o * act(c)
            dh_t = dh[t, row] + dh_next
            da_o = dh_t * act_c * o * (1.0 - o)
            # o = sigmoid(a_o + p_o * c): c also reaches h through o.
            dc_t = dc_next + dh_t * o * act_grad(act_c) + da_o * p_o
            # c = f * c_prev + i * g, with i, f seeing c_prev via peepholes.
            da_i = dc_t * g * i * (1.0 - i)
            da_f = dc_t * c_prev * f * (1.0 - f)
            da_g = dc_t * i * act_grad(g)           # g = act(a_g)
            da = np.concatenate([da_i, da_f, da_g, da_o])

            # a = x_t . W + h_prev . U + b
            dx[t, row] = W @ da
            dW += np.outer(x[t, row], da)
            dU += np.outer(h_prev, da)
            db += da
            dp_i += da_i * c_prev
            dp_f += da_f * c_prev
            dp_o += da_o * c_t

            dh_next = U @ da
            dc_next = dc_t * f + da_i * p_i + da_f * p_f
        dh0[row], dc0[row] = dh_next, dc_next

    dp = None if p is None else np.concatenate([dp_i, dp_f, dp_o])
    return dx, dh0, dc0, dW, dU, db, dp


# ---------------------------------------------------------------------- GRU


def gru_forward(x, h0, W, U, b, bh, lengths, reverse=False,
                activation="tanh"):
    """Run a GRU (reset after the recurrent matmul) over a batch.

    Per step, with gate blocks ``r z n`` of ``W``, ``U`` and ``b`` and
    ``act`` the activation (the gates stay sigmoid)::

        r  = sigmoid(x_t . W_r + b_r + h_prev . U_r)
        z  = sigmoid(x_t . W_z + b_z + h_prev . U_z)
        hn = h_prev . U_n + bh
        n  = act(x_t . W_n + b_n + r * hn)
        h  = (1 - z) * n + z * h_prev

    Parameters
    ----------
    x : ndarray of shape (T, B, I)
        Inputs, time-major.
    h0 : ndarray of shape (B, H)
        Initial state.
    W : ndarray of shape (I, 3H)
        Input weights, gate blocks ``r z n``.
    U : ndarray of shape (H, 3H)
        Recurrent weights, gate blocks ``r z n``.
    b : ndarray of shape (3H,)
        Input-side bias.
    bh : ndarray of shape (H,)
        Recurrent bias of ``n`` (PyTorch's ``b_hn``).
    lengths : ndarray of int64, shape (B,)
        Length of each sequence, in ``[1, T]``.
    reverse : bool, default=False
        Run each sequence backwards within its own length.
    activation : {"tanh", "relu", "softsign"}, default="tanh"

    Returns
    -------
    h : ndarray of shape (T, B, H)
        State after each step; zero past each length.
    gates : ndarray of shape (T, B, 3H)
        Post-activation gates ``r z n``; zero past each length.
    hn : ndarray of shape (T, B, H)
        ``h_prev . U_n + bh`` of each step; zero past each length.
    h_n : ndarray of shape (B, H)
        State after each row's last processed step.
    """
    dtype = _real_dtype(x)
    x, h0, W, U, b, bh = (_as_real(a, dtype) for a in (x, h0, W, U, b, bh))
    T, B, _ = x.shape
    H = h0.shape[1]
    lengths = _check_lengths(lengths, T, B)

    act, _ = _activation(activation)
    h = np.zeros((T, B, H), dtype=dtype)
    gates = np.zeros((T, B, 3 * H), dtype=dtype)
    hn = np.zeros((T, B, H), dtype=dtype)
    h_n = np.empty((B, H), dtype=dtype)

    for row in range(B):
        h_prev = h0[row]
        for t in _time_order(lengths[row], reverse):
            ax_r, ax_z, ax_n = np.split(x[t, row] @ W + b, 3)
            ah_r, ah_z, ah_n = np.split(h_prev @ U, 3)
            r = _sigmoid(ax_r + ah_r)
            z = _sigmoid(ax_z + ah_z)
            hn_t = ah_n + bh
            n = act(ax_n + r * hn_t)
            h_t = (1.0 - z) * n + z * h_prev

            h[t, row] = h_t
            gates[t, row] = np.concatenate([r, z, n])
            hn[t, row] = hn_t
            h_prev = h_t
        h_n[row] = h_prev
    return h, gates, hn, h_n


def gru_backward(dh, dh_n, x, h0, W, U, h, gates, hn, lengths, reverse=False,
                 activation="tanh"):
    """Backpropagate through a GRU run (BPTT).

    Parameters
    ----------
    dh : ndarray of shape (T, B, H) or None
        Upstream gradient of every step's ``h``; entries past a row's length
        are ignored.  None means zeros.
    dh_n : ndarray of shape (B, H) or None
        Upstream gradient of the final state.  None means zeros.
    x, h0, W, U, lengths, reverse, activation
        As given to `gru_forward`.
    h, gates, hn : ndarray
        As returned by `gru_forward`.

    Returns
    -------
    dx : ndarray of shape (T, B, I)
        Zero past each length.
    dh0 : ndarray of shape (B, H)
    dW : ndarray of shape (I, 3H)
    dU : ndarray of shape (H, 3H)
    db : ndarray of shape (3H,)
    dbh : ndarray of shape (H,)
    """
    dtype = _real_dtype(x)
    x, h0, W, U, h, gates, hn = (
        _as_real(a, dtype) for a in (x, h0, W, U, h, gates, hn))
    T, B, I = x.shape
    H = h0.shape[1]
    lengths = _check_lengths(lengths, T, B)
    dh = _upstream(dh, (T, B, H), dtype)
    dh_n = _upstream(dh_n, (B, H), dtype)
    _, act_grad = _activation(activation)

    dx = np.zeros((T, B, I), dtype=dtype)
    dh0 = np.empty((B, H), dtype=dtype)
    dW = np.zeros_like(W)
    dU = np.zeros_like(U)
    db = np.zeros(3 * H, dtype=dtype)
    dbh = np.zeros(H, dtype=dtype)

    for row in range(B):
        length = lengths[row]
        dh_next = dh_n[row]
        for t in reversed(_time_order(length, reverse)):
            h_prev = _previous(h[:, row], h0[row], t, length, reverse)
            r, z, n = np.split(gates[t, row], 3)
            hn_t = hn[t, row]

            # h = (1 - z) * n + z * h_prev
            dh_t = dh[t, row] + dh_next
            dz = dh_t * (h_prev - n)
            # n = act(x_t . W_n + b_n + r * hn)
            da_n = dh_t * (1.0 - z) * act_grad(n)
            dhn = da_n * r
            # r = sigmoid(...), z = sigmoid(...)
            da_r = da_n * hn_t * r * (1.0 - r)
            da_z = dz * z * (1.0 - z)

            # Input side: x_t . W + b feeds r, z and n directly.
            dax = np.concatenate([da_r, da_z, da_n])
            dx[t, row] = W @ dax
            dW += np.outer(x[t, row], dax)
            db += dax
            # Recurrent side: h_prev . U feeds r, z directly and n via hn.
            dah = np.concatenate([da_r, da_z, dhn])
            dU += np.outer(h_prev, dah)
            dbh += dhn

            dh_next = dh_t * z + U @ dah
        dh0[row] = dh_next
    return dx, dh0, dW, dU, db, dbh


# -------------------------------------------------------------------- Elman


def elman_forward(x, h0, W, U, b, lengths, activation="tanh", reverse=False):
    """Run an Elman RNN, ``h = act(x_t . W + h_prev . U + b)``, over a batch.

    Parameters
    ----------
    x : ndarray of shape (T, B, I)
        Inputs, time-major.
    h0 : ndarray of shape (B, H)
        Initial state.
    W : ndarray of shape (I, H)
        Input weights.
    U : ndarray of shape (H, H)
        Recurrent weights.
    b : ndarray of shape (H,)
        Bias.
    lengths : ndarray of int64, shape (B,)
        Length of each sequence, in ``[1, T]``.
    activation : {"tanh", "relu", "softsign"}, default="tanh"
        ``softsign(a) = a / (1 + |a|)``.
    reverse : bool, default=False
        Run each sequence backwards within its own length.

    Returns
    -------
    h : ndarray of shape (T, B, H)
        State after each step; zero past each length.
    h_n : ndarray of shape (B, H)
        State after each row's last processed step.
    """
    act, _ = _activation(activation)
    dtype = _real_dtype(x)
    x, h0, W, U, b = (_as_real(a, dtype) for a in (x, h0, W, U, b))
    T, B, _ = x.shape
    H = h0.shape[1]
    lengths = _check_lengths(lengths, T, B)

    h = np.zeros((T, B, H), dtype=dtype)
    h_n = np.empty((B, H), dtype=dtype)
    for row in range(B):
        h_prev = h0[row]
        for t in _time_order(lengths[row], reverse):
            h_t = act(x[t, row] @ W + h_prev @ U + b)
            h[t, row] = h_t
            h_prev = h_t
        h_n[row] = h_prev
    return h, h_n


def elman_backward(dh, dh_n, x, h0, W, U, h, lengths, activation="tanh",
                   reverse=False):
    """Backpropagate through an Elman RNN run (BPTT).

    The activation's derivative is taken from the saved outputs ``h``; for
    ``relu`` it is 1 where ``h > 0`` and 0 elsewhere.

    Parameters
    ----------
    dh : ndarray of shape (T, B, H) or None
        Upstream gradient of every step's ``h``; entries past a row's length
        are ignored.  None means zeros.
    dh_n : ndarray of shape (B, H) or None
        Upstream gradient of the final state.  None means zeros.
    x, h0, W, U, lengths, activation, reverse
        As given to `elman_forward`.
    h : ndarray of shape (T, B, H)
        As returned by `elman_forward`.

    Returns
    -------
    dx : ndarray of shape (T, B, I)
        Zero past each length.
    dh0 : ndarray of shape (B, H)
    dW : ndarray of shape (I, H)
    dU : ndarray of shape (H, H)
    db : ndarray of shape (H,)
    """
    _, act_grad = _activation(activation)
    dtype = _real_dtype(x)
    x, h0, W, U, h = (_as_real(a, dtype) for a in (x, h0, W, U, h))
    T, B, I = x.shape
    H = h0.shape[1]
    lengths = _check_lengths(lengths, T, B)
    dh = _upstream(dh, (T, B, H), dtype)
    dh_n = _upstream(dh_n, (B, H), dtype)

    dx = np.zeros((T, B, I), dtype=dtype)
    dh0 = np.empty((B, H), dtype=dtype)
    dW = np.zeros_like(W)
    dU = np.zeros_like(U)
    db = np.zeros(H, dtype=dtype)

    for row in range(B):
        length = lengths[row]
        dh_next = dh_n[row]
        for t in reversed(_time_order(length, reverse)):
            h_prev = _previous(h[:, row], h0[row], t, length, reverse)
            # h = act(x_t . W + h_prev . U + b)
            da = (dh[t, row] + dh_next) * act_grad(h[t, row])
            dx[t, row] = W @ da
            dW += np.outer(x[t, row], da)
            dU += np.outer(h_prev, da)
            db += da
            dh_next = U @ da
        dh0[row] = dh_next
    return dx, dh0, dW, dU, db


# ---------------------------------------------------------------- embedding


def embedding_forward(E, codes, lengths):
    """Rows of the table ``E`` (V, D) for token codes ``codes`` (T, B).

    Returns ``out`` (T, B, D): ``out[t, b] = E[codes[t, b]]`` for
    ``t < lengths[b]``, zero after.
    """
    E = np.asarray(E)
    codes = np.asarray(codes, dtype=np.int64)
    T, B = codes.shape
    lengths = _check_lengths(lengths, T, B)
    out = np.zeros((T, B, E.shape[1]), dtype=E.dtype)
    for b in range(B):
        for t in range(lengths[b]):
            out[t, b] = E[codes[t, b]]
    return out


def embedding_backward(dout, codes, lengths, V):
    """Gradient of the table of `embedding_forward`, given ``dout``
    (T, B, D): each valid step's gradient added to its code's row (a row
    used by several steps sums them).  Returns ``dE`` (V, D)."""
    dout = np.asarray(dout)
    codes = np.asarray(codes, dtype=np.int64)
    T, B = codes.shape
    lengths = _check_lengths(lengths, T, B)
    dE = np.zeros((V, dout.shape[2]), dtype=dout.dtype)
    for t in range(T):
        for b in range(B):
            if t < lengths[b]:
                dE[codes[t, b]] += dout[t, b]
    return dE


# ---------------------------------------------------------------------------
# Output layers and the optimiser (csrc/loss.c, csrc/optim.c)


def softmax_xent(X, V, c, y, w=None):
    """Dense layer + softmax cross-entropy.

    Returns ``(loss, probs, dX, dV, dc)`` where ``loss`` is
    ``sum_i w_i * -log softmax(X_i V + c)[y_i]`` and the gradients are of
    that sum.  ``w`` None means every row weighs 1.
    """
    z = X @ V + c
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    probs = np.exp(logp)
    w = np.ones(len(X), X.dtype) if w is None else w
    rows = np.arange(len(X))
    loss = float(np.sum(w * -logp[rows, y]))
    dz = probs.copy()
    dz[rows, y] -= 1.0
    dz *= w[:, None]
    return loss, probs, dz @ V.T, X.T @ dz, dz.sum(axis=0)


def linear_mse(X, V, c, y, w=None):
    """Dense layer + mean squared error.

    Returns ``(loss, z, dX, dV, dc)`` with ``loss = sum_i w_i *
    mean_k (z_ik - y_ik)^2`` for ``z = X V + c``.
    """
    z = X @ V + c
    w = np.ones(len(X), X.dtype) if w is None else w
    K = V.shape[1]
    e = z - y
    loss = float(np.sum(w * (e * e).mean(axis=1)))
    dz = 2.0 * w[:, None] * e / K
    return loss, z, dz @ V.T, X.T @ dz, dz.sum(axis=0)


def optim_step(param, grad, state, decay, optimizer, learning_rate, step,
               momentum=0.9, beta1=0.9, beta2=0.999, rho=0.9, epsilon=1e-8,
               l1=0.0, l2=0.0, clip_value=0.0, clip_norm=0.0):
    """One optimiser update; returns ``(param, state, grad_norm)`` as new
    arrays, in the order of operations documented in csrc/optim.c."""
    param = param.copy()
    state = state.copy()
    g = grad.astype(np.float64)
    norm = float(np.sqrt(np.sum(g * g)))
    if clip_value > 0:
        g = np.clip(g, -clip_value, clip_value)
    if clip_norm > 0:
        clipped = np.sqrt(np.sum(g * g))
        if clipped > clip_norm:
            g = g * (clip_norm / clipped)
    p = param.astype(np.float64)
    if decay is not None:
        mask = decay.astype(bool)
        g = g + mask * (l1 * np.sign(p) + l2 * p)
    n = len(p)
    s1, s2 = state[:n].astype(np.float64), state[n:].astype(np.float64)
    if optimizer == "sgd":
        p = p - learning_rate * g
    elif optimizer == "momentum":
        s1 = momentum * s1 + g
        p = p - learning_rate * s1
    elif optimizer == "nesterov":
        s1 = momentum * s1 + g
        p = p - learning_rate * (g + momentum * s1)
    elif optimizer == "adagrad":
        s1 = s1 + g * g
        p = p - learning_rate * g / (np.sqrt(s1) + epsilon)
    elif optimizer == "rmsprop":
        s1 = rho * s1 + (1 - rho) * g * g
        p = p - learning_rate * g / (np.sqrt(s1) + epsilon)
    elif optimizer == "adam":
        s1 = beta1 * s1 + (1 - beta1) * g
        s2 = beta2 * s2 + (1 - beta2) * g * g
        m_hat = s1 / (1 - beta1 ** step)
        v_hat = s2 / (1 - beta2 ** step)
        p = p - learning_rate * m_hat / (np.sqrt(v_hat) + epsilon)
    else:
        raise ValueError(f"unknown optimizer {optimizer!r}")
    state[:n], state[n:] = s1, s2
    return p.astype(param.dtype), state, norm
