#!/usr/bin/env python
"""Token input against dense one-hot arrays, and what an embedding costs.

One training epoch of a SequenceClassifier (LSTM, 128 units, batches of
32) on 2048 sequences of 50 tokens from a vocabulary of V, given as

  dense     one-hot float32 arrays (T_i, V), the way users fed tokens
            before token input existed;
  tokens    the same tokens as lists, embedding_size=None: one-hot codes,
            rows of W gathered;
  embedded  the same with embedding_size=32: a learned table in front.

Reported: the best of --reps epochs each, interleaved, and for the
embedding the gather (forward) and scatter (backward) of one batch alone.

    python bench/tokens.py                 # V = 65 and 2000
    python bench/tokens.py --only dense    # runs on builds without tokens

``--only dense`` on an older build (another virtual environment) gives
the dense one-hot number of that build.
"""
import argparse
import time
import warnings

import numpy as np

from seqnet import SequenceClassifier

N, T, B, H, D = 2048, 50, 32, 128, 32


def data(V, seed=0):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, V, (N, T))
    y = (codes[:, :5].sum(axis=1) % 2).astype(int)
    tokens = [[f"w{c}" for c in row] for row in codes]
    dense = [np.eye(V, dtype=np.float32)[row] for row in codes]
    return tokens, dense, y


def epoch(X, y, **kwargs):
    model = SequenceClassifier(hidden_sizes=H, batch_size=B, max_epochs=1,
                               random_state=0, n_jobs=1, **kwargs)

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X, y)
    return run


def best(fn, reps):
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def embedding_alone(V, reps):
    """One batch's gather and scatter, as Network runs them."""
    from seqnet import _kernels
    rng = np.random.default_rng(1)
    E = rng.standard_normal((V + 1, D)).astype(np.float32)
    codes = rng.integers(0, V + 1, (T, B))
    lengths = np.full(B, T, np.int64)
    out = np.empty((T, B, D), np.float32)
    dE = np.zeros_like(E)
    gather = best(lambda: _kernels.embedding_forward(out, E, codes, lengths),
                  reps * 20)
    scatter = best(lambda: _kernels.embedding_backward(dE, out, codes,
                                                       lengths), reps * 20)
    return gather, scatter


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", default="65,2000")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--only", choices=("dense",), default=None)
    args = parser.parse_args()
    for V in map(int, args.vocab.split(",")):
        tokens, dense, y = data(V)
        runs = {"dense": epoch(dense, y)}
        if args.only is None:
            runs["tokens"] = epoch(tokens, y)
            runs["embedded"] = epoch(tokens, y, embedding_size=D)
        times = {name: [] for name in runs}
        for _ in range(args.reps):
            for name, fn in runs.items():
                times[name].append(best(fn, 1))
        line = ", ".join(f"{name} {min(t) * 1e3:.0f} ms"
                         for name, t in times.items())
        print(f"V={V}: one epoch ({N // B} batches of {B} x {T} steps, "
              f"LSTM {H}, 1 thread): {line}")
        if args.only is None:
            gather, scatter = embedding_alone(V, args.reps)
            per_batch = min(times["embedded"]) / (N // B)
            print(f"  embedding {D}: gather {gather * 1e6:.0f} us and "
                  f"scatter {scatter * 1e6:.0f} us per batch, "
                  f"{(gather + scatter) / per_batch:.1%} of its "
                  f"{per_batch * 1e3:.1f} ms train step")


if __name__ == "__main__":
    main()
