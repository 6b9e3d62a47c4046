"""Does find_learning_rate's suggestion train as well as the best of a
5-point grid of learning rates?  On Japanese Vowels and BasicMotions, with
the configurations of tests/test_learning.py (features standardised by
SequenceScaler fitted on the training set): test accuracy of a fit at the
suggestion (both rules; with --cosine also under the cosine schedule)
against fits at 3e-4, 1e-3, 3e-3, 1e-2, 3e-2.

    python bench/finder_check.py [--seeds 0 1] [--threads 2]
"""
import argparse
import time
import warnings

from seqnet import SequenceClassifier, SequenceScaler, find_learning_rate
from seqnet.datasets import load_basic_motions, load_japanese_vowels

GRID = (3e-4, 1e-3, 3e-3, 1e-2, 3e-2)
CONFIGS = {
    "JapaneseVowels": (load_japanese_vowels,
                       dict(cell="gru", hidden_sizes=64, max_epochs=60)),
    "BasicMotions": (load_basic_motions,
                     dict(cell="gru", hidden_sizes=64, max_epochs=100,
                          n_iter_no_change=20, batch_size=16)),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cosine", action="store_true",
                        help="also fit at the suggestion with the cosine "
                        "schedule")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    for name, (load, cfg) in CONFIGS.items():
        data = load()
        scaler = SequenceScaler().fit(data.X_train)
        X_train = scaler.transform(data.X_train)
        X_test = scaler.transform(data.X_test)
        for seed in args.seeds:
            est = SequenceClassifier(random_state=seed, n_jobs=args.threads,
                                     **cfg)

            def accuracy(rate, schedule="constant"):
                model = est.set_params(learning_rate=rate,
                                       learning_rate_schedule=schedule)
                return model.fit(X_train, data.y_train).score(
                    X_test, data.y_test)

            grid = {rate: accuracy(rate) for rate in GRID}
            best = max(grid.values())
            cells = "  ".join(f"{r:g}: {a:.3f}" for r, a in grid.items())
            print(f"{name} seed {seed}: grid {cells}")
            for rule in ("minimum", "steepest"):
                start = time.perf_counter()
                found = find_learning_rate(est, X_train, data.y_train,
                                           rule=rule, random_state=seed)
                took = time.perf_counter() - start
                acc = accuracy(found.suggestion)
                print(f"  {rule:8s} suggestion {found.suggestion:.3g} "
                      f"({len(found.learning_rates)} updates, {took:.2f}s): "
                      f"accuracy {acc:.3f}, best of grid {best:.3f}, "
                      f"difference {acc - best:+.3f}", flush=True)
                if args.cosine:
                    acc = accuracy(found.suggestion, "cosine")
                    print(f"  {rule:8s} suggestion, cosine schedule: "
                          f"accuracy {acc:.3f}, difference "
                          f"{acc - best:+.3f}", flush=True)


if __name__ == "__main__":
    main()
