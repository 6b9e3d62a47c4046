"""Plain NumPy encoder-decoder: the oracle of ``seqnet.SequenceToSequence``.

Written for clarity on top of the cell references in ``seqnet._reference``
(tests check its gradients against central finite differences, then the
estimator's C path against it).  Parameters are a dict of arrays named as
the estimator's ``parameters_``:

- ``encoder.embedding.E`` (optional), ``encoder.layer{l}.{forward,backward}.
  {W,U,b[,p][,bh]}``: the encoder stack (absent in the one-to-many case);
- ``bridge.M`` (S, Z), ``bridge.m`` (Z): the learned bridge;
- ``decoder.embedding.E`` (optional), ``decoder.layer{l}.forward.*``,
  ``decoder.output.V``, ``decoder.output.c``: the decoder and its softmax.

The model, per sample:

    s = [h_n of the encoder's top layer, forward | backward]   (or s = x)
    z = tanh(s . M + m), cut into the decoder's initial states
        layer 0 h, (layer 0 c,) layer 1 h, ...
    decoder input  0, y_1, ..., y_n   (0 is the start token)
    decoder target y_1, ..., y_n, 0   (0 is the end token)
    loss = sum over the n + 1 steps of -log softmax(h_t . V + c)[target_t]
"""
import numpy as np

from . import _reference as ref

DIRECTIONS = ("forward", "backward")


def state_sizes(cell, hidden_sizes):
    """Width of each initial state the bridge writes, in its order."""
    n = 2 if cell == "lstm" else 1
    return [H for H in hidden_sizes for _ in range(n)]


def _layer_forward(cell, P, x, h0, c0, lengths, reverse, activation):
    if cell == "lstm":
        h, c, gates, h_n, c_n = ref.lstm_forward(
            x, h0, c0, P["W"], P["U"], P["b"], P.get("p"), lengths, reverse,
            activation)
        return (h, h_n, c_n), (h, c, gates)
    if cell == "gru":
        h, gates, hn, h_n = ref.gru_forward(
            x, h0, P["W"], P["U"], P["b"], P["bh"], lengths, reverse,
            activation)
        return (h, h_n, None), (h, gates, hn)
    h, h_n = ref.elman_forward(x, h0, P["W"], P["U"], P["b"], lengths,
                               activation, reverse)
    return (h, h_n, None), (h,)


def _layer_backward(cell, P, saved, dh, dh_n, dc_n, x, h0, c0, lengths,
                    reverse, activation):
    """(dx, dh0, dc0, grads by kind)."""
    if cell == "lstm":
        h, c, gates = saved
        dx, dh0, dc0, dW, dU, db, dp = ref.lstm_backward(
            dh, dh_n, dc_n, x, h0, c0, P["W"], P["U"], P.get("p"), h, c,
            gates, lengths, reverse, activation)
        g = {"W": dW, "U": dU, "b": db}
        if dp is not None:
            g["p"] = dp
        return dx, dh0, dc0, g
    if cell == "gru":
        h, gates, hn = saved
        dx, dh0, dW, dU, db, dbh = ref.gru_backward(
            dh, dh_n, x, h0, P["W"], P["U"], h, gates, hn, lengths, reverse,
            activation)
        return dx, dh0, None, {"W": dW, "U": dU, "b": db, "bh": dbh}
    (h,) = saved
    dx, dh0, dW, dU, db = ref.elman_backward(dh, dh_n, x, h0, P["W"], P["U"],
                                             h, lengths, activation, reverse)
    return dx, dh0, None, {"W": dW, "U": dU, "b": db}


def _layer_params(params, prefix):
    n = len(prefix)
    return {k[n:]: v for k, v in params.items() if k.startswith(prefix)}


def _inputs(params, prefix, x, lengths):
    """A stack's first input: dense x (T, B, F) as it is, token codes
    (T, B) through the embedding table or as one-hot rows."""
    if x.ndim == 3:
        return x
    E = params.get(prefix + "embedding.E")
    if E is not None:
        return ref.embedding_forward(E, x, lengths)
    n_in = params[prefix + "layer0.forward.W"].shape[0]
    T, B = x.shape
    out = np.zeros((T, B, n_in), params[prefix + "layer0.forward.W"].dtype)
    for b in range(B):
        out[np.arange(lengths[b]), b, x[:lengths[b], b]] = 1
    return out


def _stack_forward(params, prefix, cell, hidden_sizes, directions, x,
                   lengths, initial, activation):
    """Run a stack; returns the top output, per layer per direction the
    (h, h_n, c_n) and what its backward needs."""
    inp = _inputs(params, prefix, x, lengths)
    B = inp.shape[1]
    runs = []
    for layer, H in enumerate(hidden_sizes):
        outs, per_dir = [], []
        for d in range(directions):
            P = _layer_params(params, f"{prefix}layer{layer}.{DIRECTIONS[d]}.")
            if initial is None:
                h0 = np.zeros((B, H), inp.dtype)
                c0 = np.zeros((B, H), inp.dtype)
            else:
                h0, c0 = initial[layer]
                c0 = np.zeros((B, H), inp.dtype) if c0 is None else c0
            result, saved = _layer_forward(cell, P, inp, h0, c0, lengths,
                                           d == 1, activation)
            per_dir.append((P, result, saved, inp, h0, c0))
            outs.append(result[0])
        runs.append(per_dir)
        inp = np.concatenate(outs, axis=2)
    return inp, runs


def _stack_backward(params, prefix, cell, runs, d_top, d_final, lengths,
                    activation, grads, x):
    """Backward through a stack; ``d_final[layer][d]`` = (dh_n, dc_n) or
    None.  Adds parameter gradients to ``grads``; returns the gradients
    of the initial states per layer, (dh0, dc0) summed over directions."""
    d_out = d_top
    d_initial = [None] * len(runs)
    for layer in reversed(range(len(runs))):
        per_dir = runs[layer]
        dx_sum, d_init = None, []
        for d, (P, result, saved, inp, h0, c0) in enumerate(per_dir):
            H = h0.shape[1]
            dh = None if d_out is None else d_out[..., d * H:(d + 1) * H]
            dh_n, dc_n = (None, None) if d_final is None or \
                d_final[layer] is None else d_final[layer][d]
            dx, dh0, dc0, g = _layer_backward(cell, P, saved, dh, dh_n, dc_n,
                                              inp, h0, c0, lengths, d == 1,
                                              activation)
            for kind, v in g.items():
                grads[f"{prefix}layer{layer}.{DIRECTIONS[d]}.{kind}"] = v
            dx_sum = dx if dx_sum is None else dx_sum + dx
            d_init.append((dh0, dc0))
        d_initial[layer] = d_init
        d_out = dx_sum
    E = params.get(prefix + "embedding.E")
    if E is not None and x.ndim == 2:
        grads[prefix + "embedding.E"] = ref.embedding_backward(
            d_out, x, lengths, E.shape[0])
    return d_initial


def _decoder_io(Y):
    """Decoder inputs and targets (T, B) for target codes Y (a list of
    int arrays, codes >= 1), and their lengths n + 1."""
    lengths = np.array([len(y) + 1 for y in Y], np.int64)
    T, B = int(lengths.max()), len(Y)
    inp = np.zeros((T, B), np.int64)
    tgt = np.zeros((T, B), np.int64)
    for b, y in enumerate(Y):
        inp[1:len(y) + 1, b] = y
        tgt[:len(y), b] = y
    return inp, tgt, lengths


def seq2seq_loss(params, config, X, Y, x_lengths=None):
    """Summed cross-entropy over every output step (end tokens included)
    and its gradient by name.

    ``config``: dict with cell, encoder_sizes, decoder_sizes,
    bidirectional, activation.  ``X``: time-major (T, B, F) features or
    (T, B) codes with ``x_lengths``; or (B, F) for one to many.  ``Y``: a
    list of B arrays of target codes in [1, K).
    """
    cell, act = config["cell"], config.get("activation", "tanh")
    dec_sizes = config["decoder_sizes"]
    D = 2 if config.get("bidirectional") else 1
    grads = {}
    if X.ndim == 2 and x_lengths is None:       # one to many
        s, runs = X, None
    else:
        _, runs = _stack_forward(params, "encoder.", cell,
                                 config["encoder_sizes"], D, X, x_lengths,
                                 None, act)
        s = np.concatenate([r[1][1] for r in runs[-1]], axis=1)
    M, m = params["bridge.M"], params["bridge.m"]
    z = np.tanh(s @ M + m)
    widths = state_sizes(cell, dec_sizes)
    parts = np.split(z, np.cumsum(widths)[:-1], axis=1)
    per = 2 if cell == "lstm" else 1
    initial = [(parts[per * l], parts[per * l + 1] if per == 2 else None)
               for l in range(len(dec_sizes))]
    inp, tgt, lengths = _decoder_io(Y)
    top, druns = _stack_forward(params, "decoder.", cell, dec_sizes, 1, inp,
                                lengths, initial, act)
    T, B = inp.shape
    valid = np.arange(T)[:, None] < lengths[None, :]
    rows = valid.reshape(-1)
    feats = top.reshape(T * B, -1)
    loss, _, dfeats, dV, dc = ref.softmax_xent(
        feats, params["decoder.output.V"], params["decoder.output.c"],
        tgt.reshape(-1), rows.astype(feats.dtype))
    grads["decoder.output.V"], grads["decoder.output.c"] = dV, dc
    d_init = _stack_backward(params, "decoder.", cell, druns,
                             dfeats.reshape(top.shape), None, lengths, act,
                             grads, inp)
    dz = np.concatenate([g for dh0, dc0 in (d[0] for d in d_init)
                         for g in ((dh0, dc0) if per == 2 else (dh0,))],
                        axis=1)
    da = dz * (1 - z * z)
    grads["bridge.M"], grads["bridge.m"] = s.T @ da, da.sum(axis=0)
    ds = da @ M.T
    if runs is not None:
        H = config["encoder_sizes"][-1]
        d_final = [None] * len(runs)
        d_final[-1] = [(ds[:, d * H:(d + 1) * H], None) for d in range(D)]
        _stack_backward(params, "encoder.", cell, runs, None, d_final,
                        x_lengths, act, grads, X)
    return loss, grads


def step_log_probs(params, config, state, code):
    """One decoder step for one sample: (log-probabilities (K,), new
    state); ``state`` is the list of (h, c) per layer (c None without a
    cell state)."""
    cell, act = config["cell"], config.get("activation", "tanh")
    x = np.array([[code]], np.int64)
    ones = np.ones(1, np.int64)
    initial = [(h[None], None if c is None else c[None]) for h, c in state]
    top, runs = _stack_forward(params, "decoder.", cell,
                               config["decoder_sizes"], 1, x, ones, initial,
                               act)
    new = [(r[0][1][1][0], None if r[0][1][2] is None else r[0][1][2][0])
           for r in runs]
    z = top[0, 0] @ params["decoder.output.V"] + params["decoder.output.c"]
    z = z - z.max()
    return z - np.log(np.exp(z).sum()), new


def initial_states(params, config, X, x_lengths=None):
    """Per sample, the decoder's initial state (list of (h, c) per layer)
    that the bridge gives."""
    cell, act = config["cell"], config.get("activation", "tanh")
    D = 2 if config.get("bidirectional") else 1
    if X.ndim == 2 and x_lengths is None:
        s = X
    else:
        _, runs = _stack_forward(params, "encoder.", cell,
                                 config["encoder_sizes"], D, X, x_lengths,
                                 None, act)
        s = np.concatenate([r[1][1] for r in runs[-1]], axis=1)
    z = np.tanh(s @ params["bridge.M"] + params["bridge.m"])
    parts = np.split(z, np.cumsum(state_sizes(
        cell, config["decoder_sizes"]))[:-1], axis=1)
    per = 2 if cell == "lstm" else 1
    return [[(parts[per * l][b], parts[per * l + 1][b] if per == 2 else None)
             for l in range(len(config["decoder_sizes"]))]
            for b in range(len(s))]


def greedy(params, config, state, max_length):
    """Greedy decoding of one sample: the codes (end excluded) and the
    summed log-probability of the steps taken (end included)."""
    out, total, code = [], 0.0, 0
    for _ in range(max_length):
        logp, state = step_log_probs(params, config, state, code)
        code = int(np.argmax(logp))        # the lowest code among ties
        total += logp[code]
        if code == 0:
            return out, total
        out.append(code)
    return out, total


def beam_search(params, config, state, max_length, width):
    """Beam search for one sample, as seqnet's C decoder does it.

    Each step extends every live hypothesis by every code and keeps the
    ``width`` best extensions by summed log-probability (ties: the
    better-ranked parent, then the lower code).  A kept extension by the
    end token is finished and leaves the beam, which narrows; at
    ``max_length`` the live ones finish as they are.  A finished
    hypothesis scores its summed log-probability over its steps (end
    included when it has one).  The result is the best score per step
    among the finished ones and the greedy one (ties: greedy first, then
    the earlier finished, then the better ranked).
    """
    best_codes, best_total = greedy(params, config, state, max_length)
    best = best_total / (len(best_codes) + (len(best_codes) < max_length))
    beams = [([], 0.0, state)]
    for step in range(max_length):
        cands = []
        for rank, (codes, total, st) in enumerate(beams):
            logp, new = step_log_probs(params, config, st,
                                       codes[-1] if codes else 0)
            for k in range(len(logp)):
                cands.append((total + logp[k], rank, k, new))
        cands.sort(key=lambda c: (-c[0], c[1], c[2]))
        parents, beams = beams, []
        for total, rank, k, new in cands[:width]:
            codes = parents[rank][0]
            if k == 0:
                score = total / (len(codes) + 1)
                if score > best:
                    best, best_codes = score, list(codes)
            else:
                beams.append((codes + [k], total, new))
        if not beams:
            break
    for codes, total, _ in beams:
        score = total / len(codes)
        if score > best:
            best, best_codes = score, codes
    return best_codes, best
