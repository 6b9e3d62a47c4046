#!/usr/bin/env python
"""Two builds of seqnet against each other, end to end, interleaved.

For a change that must not cost speed (a refactor): install the old build
in one virtual environment and the new one in another, then

    python bench/compare_builds.py /path/to/old/bin/python \\
        /path/to/new/bin/python --rounds 5

runs the same workloads (public API only, fixed seeds, float32) in fresh
processes of each interpreter in turn, ABAB..., so that the machine's
drifting speed lands on both; each process reports the best of a few
repetitions per workload, and the table gives, per workload, the median
over rounds of each build and the median of the per-round ratios
new / old (below 1: the new build is faster).

Workloads: one training epoch and one predict_proba of the classifier
on the medium and small shapes of bench/compare_torch.py, LSTM and GRU;
predict_proba of one sequence (its latency config); a tagger epoch with
truncated BPTT; a CharRNN epoch on Shakespeare; at 1 and 2 threads.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = r"""
import json, sys, time, warnings
import numpy as np
warnings.simplefilter("ignore")
from seqnet import CharRNN, SequenceClassifier, SequenceTagger
from seqnet.datasets import load_shakespeare

REPS = int(sys.argv[1])


def best(fn, reps=REPS):
    fn()                                     # warm: buffers, pages
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def data(n, T, I, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, T, I)).astype(np.float32)
    return X, (X[:, :, 0].sum(axis=1) > 0).astype(int)


out = {}
for n_jobs in (1, 2):
    for cell in ("lstm", "gru"):
        for name, (B, T, I, H, n) in {"medium": (64, 100, 128, 256, 256),
                                      "small": (64, 100, 16, 64, 512)}.items():
            X, y = data(n, T, I)
            model = SequenceClassifier(cell=cell, hidden_sizes=H,
                                       batch_size=B, max_epochs=1,
                                       n_jobs=n_jobs, random_state=0)
            out[f"{name} {cell} fit epoch, {n_jobs}t"] = best(
                lambda: model.fit(X, y))
            out[f"{name} {cell} predict_proba, {n_jobs}t"] = best(
                lambda: model.predict_proba(X))
        X, y = data(64, 100, 32)
        model = SequenceClassifier(cell=cell, hidden_sizes=128, max_epochs=1,
                                   n_jobs=n_jobs, random_state=0).fit(X, y)
        one = X[:1]
        out[f"latency {cell} predict_proba x100, {n_jobs}t"] = best(
            lambda: [model.predict_proba(one) for _ in range(100)])
    rng = np.random.default_rng(1)
    Xt = [rng.standard_normal((int(t), 16)).astype(np.float32)
          for t in rng.integers(50, 200, 128)]
    yt = [(np.cumsum(x[:, 0]) > 0).astype(int) for x in Xt]
    tagger = SequenceTagger(hidden_sizes=(64, 64), tbptt_length=25,
                            max_epochs=1, n_jobs=n_jobs, random_state=0)
    out[f"tagger tbptt fit epoch, {n_jobs}t"] = best(
        lambda: tagger.fit(Xt, yt))
    text = load_shakespeare()[:40000]
    char = CharRNN(hidden_sizes=(128, 128), max_epochs=1, batch_size=32,
                   tbptt_length=50, n_jobs=n_jobs, random_state=0)
    out[f"charrnn fit epoch, {n_jobs}t"] = best(lambda: char.fit(text))
    out[f"charrnn score, {n_jobs}t"] = best(lambda: char.score(text[:8000]))
print(json.dumps(out))
"""


def run(python, reps):
    proc = subprocess.run([python, "-c", CHILD, str(reps)],
                          capture_output=True, text=True,
                          cwd=os.path.expanduser("~"), check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", help="python of the old build")
    parser.add_argument("new", help="python of the new build")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reps", type=int, default=3,
                        help="repetitions per workload in one process")
    args = parser.parse_args()
    old, new = [], []
    for r in range(args.rounds):
        pair = [(args.old, old), (args.new, new)]
        for python, results in (pair if r % 2 == 0 else pair[::-1]):
            t0 = time.perf_counter()
            results.append(run(python, args.reps))
            print(f"round {r + 1}: {'old' if results is old else 'new'} "
                  f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr,
                  flush=True)
    print(f"{'workload':44s} {'old ms':>9s} {'new ms':>9s} {'new/old':>8s}"
          f" {'range':>13s}")
    for key in old[0]:
        a = statistics.median(o[key] for o in old) * 1e3
        b = statistics.median(n[key] for n in new) * 1e3
        ratios = [n[key] / o[key] for o, n in zip(old, new)]
        print(f"{key:44s} {a:9.2f} {b:9.2f} {statistics.median(ratios):8.3f}"
              f" {min(ratios):6.3f}-{max(ratios):.3f}")


if __name__ == "__main__":
    main()
