"""What history_'s bookkeeping costs: epoch time of the medium config
(LSTM, T=100, B=64, I=128, H=256, 8 batches an epoch) with the per-update
statistics (seqnet._monitor.EpochMonitor: one C pass over the flat buffer
and a gradient norm per update) against the same loop with a monitor that
records nothing.  Rounds interleave the two, so a busy machine slows both.

    python bench/history_overhead.py [--rounds 7] [--threads 2]
"""
import argparse
import time
import warnings

import numpy as np

from seqnet import SequenceClassifier


class _Nothing:
    def after_update(self, params, grad_norm, loss):
        pass

    def progress(self, *args, **kwargs):
        pass

    def summary(self):
        return {}


class _Unmonitored(SequenceClassifier):
    def _epoch_monitor(self, run):
        return _Nothing()


def epoch_seconds(cls, X, y, threads, epochs):
    est = cls(hidden_sizes=256, batch_size=64, max_epochs=epochs,
              random_state=0, n_jobs=threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        est.fit(X, y)
    return (time.perf_counter() - start) / epochs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    X = rng.standard_normal((512, 100, 128)).astype(np.float32)
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    epoch_seconds(SequenceClassifier, X[:64], y[:64], args.threads, 1)
    times = {"history": [], "none": []}
    for r in range(args.rounds):
        order = [("history", SequenceClassifier), ("none", _Unmonitored)]
        for name, cls in (order if r % 2 == 0 else order[::-1]):
            times[name].append(epoch_seconds(cls, X, y, args.threads,
                                             args.epochs))
    with_h, without = np.median(times["history"]), np.median(times["none"])
    ratios = np.array(times["history"]) / np.array(times["none"])
    print(f"epoch, median of {args.rounds} rounds: with history "
          f"{with_h:.3f}s, without {without:.3f}s, ratio "
          f"{with_h / without:.4f} (per-round ratios "
          f"{', '.join(f'{x:.3f}' for x in ratios)})")


if __name__ == "__main__":
    main()
