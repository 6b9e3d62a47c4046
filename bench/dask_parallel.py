#!/usr/bin/env python
"""Data-parallel training on a 2-worker LocalCluster against one process.

The medium configuration of bench/compare_torch.py (one LSTM layer, 128
inputs, 256 hidden units, 100 steps, 10 classes), Adam, float32.  Three
ways to train the same number of sequences per update (128):

* one process, 2 threads, batch 128;
* seqnet.dask.DataParallel on a LocalCluster of 2 worker processes of one
  thread each, 64 sequences per worker per update, averaging every update
  (``averaging_frequency=1``) and every 4 updates.

It reports each fit end to end, and for DataParallel the part spent in
rounds (the rest: checking the data and sending the shards, once, and
averaging on the client); and per round, the wall time on the client
(send the state, train, gather) and the longest time a worker spent in
its round (set the state, train, read it back): the difference is
communication and scheduling.
The runs alternate (one process, then each DataParallel setting, again),
medians over --reps:

    python bench/dask_parallel.py                 # about a minute
    python bench/dask_parallel.py --n 1024 --reps 3
"""
import argparse
import statistics
import time
import warnings

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=512,
                        help="training sequences (default 512)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--frequencies", default="1,4")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()

    from distributed import Client, LocalCluster
    from seqnet import SequenceClassifier
    from seqnet.dask import DataParallel
    warnings.simplefilter("ignore")

    T, I, H, K, B = 100, 128, 256, 10, 64
    rng = np.random.default_rng(0)
    X = rng.normal(size=(args.n, T, I)).astype(np.float32)
    y = rng.integers(0, K, args.n)
    config = dict(hidden_sizes=(H,), max_epochs=args.epochs,
                  n_iter_no_change=10**6, random_state=0, dtype="float32")
    n_params = SequenceClassifier(**config).initialize(
        X[:1], classes=np.arange(K)).get_parameters().size
    frequencies = [int(f) for f in args.frequencies.split(",")]

    cluster = LocalCluster(n_workers=2, threads_per_worker=1,
                           processes=True, host="127.0.0.1",
                           dashboard_address=None, silence_logs=40)
    client = Client(cluster)
    try:
        # Workers up, seqnet imported and its kernels loaded on them.
        DataParallel(SequenceClassifier(batch_size=8, max_epochs=1),
                     client=client).fit(X[:16, :20], y[:16])
        rows = {"one process, 2 threads": []}
        rows.update({f"2 workers, averaging every {f}": []
                     for f in frequencies})
        rounds = {f: [] for f in frequencies}
        for _ in range(args.reps):
            model = SequenceClassifier(batch_size=2 * B, n_jobs=2, **config)
            t0 = time.perf_counter()
            model.fit(X, y)
            rows["one process, 2 threads"].append(
                (time.perf_counter() - t0, 0.0))
            for f in frequencies:
                dp = DataParallel(SequenceClassifier(batch_size=B, **config),
                                  client=client, averaging_frequency=f)
                t0 = time.perf_counter()
                dp.fit(X, y)
                total = time.perf_counter() - t0
                in_rounds = sum(wall for wall, _ in dp.round_times_)
                rows[f"2 workers, averaging every {f}"].append(
                    (total, in_rounds))
                rounds[f].extend(dp.round_times_)
                if args.verbose:
                    print(f"every {f}: {total:.2f} s, rounds "
                          f"{in_rounds:.2f} s", flush=True)
    finally:
        client.close()
        cluster.close()

    print(f"medium LSTM (I={I}, H={H}, T={T}), {args.n} sequences, "
          f"{n_params:,} parameters (float32), 128 sequences per update, "
          f"medians of {args.reps}")
    print(f"{args.epochs} epochs, end to end (fit)   {'s':>8s} {'x':>6s} "
          f"{'rounds s':>9s} {'rest s':>7s}")
    base = statistics.median(t for t, _ in rows["one process, 2 threads"])
    for name, runs in rows.items():
        total = statistics.median(t for t, _ in runs)
        in_rounds = statistics.median(r for _, r in runs)
        split = f"{in_rounds:9.2f} {total - in_rounds:7.2f}" \
            if in_rounds else ""
        print(f"{name:34s} {total:8.2f} {base / total:6.2f} {split}")
    print()
    print("per round (ms)          wall  worker  comm+sched  state sent "
          "and received per worker")
    state_mb = 2 * 3 * n_params * 4 / 1e6
    for f in frequencies:
        wall = statistics.median(w for w, _ in rounds[f]) * 1e3
        work = statistics.median(c for _, c in rounds[f]) * 1e3
        print(f"averaging every {f:<3d}  {wall:8.1f} {work:7.1f} "
              f"{wall - work:11.1f}  {state_mb:.1f} MB (3 x parameters "
              "each way)")


if __name__ == "__main__":
    main()
