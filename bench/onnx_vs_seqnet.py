#!/usr/bin/env python
"""onnxruntime on seqnet.to_onnx's graph against seqnet's own predict.

For each cell (LSTM, GRU), batch size (1 and 256 sequences) and thread
count (1 and 2), both run the same fitted SequenceClassifier on the same
ragged batch in float32:

- seqnet: ``predict_proba`` (validation, batching, kernels, head) with
  ``n_jobs`` set to the thread count;
- onnxruntime: ``InferenceSession.run`` on the exported graph (inputs
  already padded: X (B, T, F) float32 and sequence_lens), the session made
  with ``intra_op_num_threads`` and ``inter_op_num_threads=1``.

The two are timed interleaved -- a block of seqnet calls, then a block of
onnxruntime calls, the order swapped every repetition -- so that the noise
of a shared machine lands on both; reported are the median time per call
and the median of the per-repetition ratios onnxruntime/seqnet (above 1:
seqnet is faster).  The script first checks that the outputs agree.

Run from the repository root after ``pip install .[onnx]``::

    python bench/onnx_vs_seqnet.py            # ~20 s
    python bench/onnx_vs_seqnet.py --quick    # smoke run
"""
import argparse
import statistics
import time
import warnings

import numpy as np
import onnxruntime as ort

import seqnet
from seqnet import SequenceClassifier

N_FEATURES, HIDDEN, T_MIN, T_MAX, N_CLASSES = 16, (128,), 50, 100, 5


def _model(cell, rng):
    X = [rng.standard_normal((t, N_FEATURES)).astype(np.float32)
         for t in rng.integers(T_MIN, T_MAX + 1, 64)]
    y = rng.integers(0, N_CLASSES, len(X))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return SequenceClassifier(cell=cell, hidden_sizes=HIDDEN,
                                  max_epochs=1, random_state=0).fit(X, y)


def _batch(n, rng):
    lengths = rng.integers(T_MIN, T_MAX + 1, n)
    X = [rng.standard_normal((t, N_FEATURES)).astype(np.float32)
         for t in lengths]
    padded = np.zeros((n, lengths.max(), N_FEATURES), np.float32)
    for i, x in enumerate(X):
        padded[i, :len(x)] = x
    return X, {"X": padded, "sequence_lens": lengths.astype(np.int32)}


def _block(fn, calls):
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    reps = 2 if args.quick else args.reps
    rng = np.random.default_rng(0)
    print(f"onnxruntime {ort.__version__}, seqnet {seqnet.__version__}; "
          f"features {N_FEATURES}, hidden {HIDDEN}, lengths "
          f"{T_MIN}-{T_MAX}, float32")
    print(f"{'cell':5} {'batch':>5} {'thr':>3} {'seqnet ms':>10} "
          f"{'ort ms':>10} {'ort/seqnet':>10}")
    for cell in ("lstm", "gru"):
        est = _model(cell, rng)
        graph = seqnet.to_onnx(est).SerializeToString()
        for n in (1, 256):
            X, feed = _batch(n, rng)
            for threads in (1, 2):
                est.set_params(n_jobs=threads)
                options = ort.SessionOptions()
                options.intra_op_num_threads = threads
                options.inter_op_num_threads = 1
                sess = ort.InferenceSession(
                    graph, options, providers=["CPUExecutionProvider"])
                expected = est.predict_proba(X)
                got = sess.run(["probabilities"], feed)[0]
                assert np.abs(got - expected).max() <= 1e-5
                calls = max(1, (200 if n == 1 else 4) // (4 if args.quick
                                                          else 1))
                ours, theirs, ratios = [], [], []
                for rep in range(reps):
                    pair = [lambda: est.predict_proba(X),
                            lambda: sess.run(["probabilities"], feed)]
                    order = pair if rep % 2 == 0 else pair[::-1]
                    times = [_block(fn, calls) for fn in order]
                    a, b = times if rep % 2 == 0 else times[::-1]
                    ours.append(a)
                    theirs.append(b)
                    ratios.append(b / a)
                print(f"{cell:5} {n:5d} {threads:3d} "
                      f"{1e3 * statistics.median(ours):10.3f} "
                      f"{1e3 * statistics.median(theirs):10.3f} "
                      f"{statistics.median(ratios):10.2f}", flush=True)


if __name__ == "__main__":
    main()
