#!/usr/bin/env python
"""Two threads with one core busy: the thread back-off off against on.

A parallel region whose thread finished late makes the next ones run on
one thread for a while (csrc/team.c); SEQNET_ADAPTIVE_THREADS=0 turns that
off.  This runs the same fits and predictions at 1 and 2 threads in fresh
processes with the back-off off and on in turn (ABAB...), while another
process spins on one core, and prints the medians over rounds:

    python bench/busy_threads.py --rounds 3          # about 3 minutes

Without --busy=no the spinning process runs throughout; the column t2/t1
is the 2-thread time over the 1-thread time of the same setting.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = r"""
import json, time, warnings
import numpy as np
warnings.simplefilter("ignore")
from seqnet import CharRNN, SequenceClassifier
from seqnet.datasets import load_shakespeare


def best(fn, reps=3):
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


out = {}
rng = np.random.default_rng(0)
for name, (B, T, I, H, n) in {"medium": (64, 100, 128, 256, 128),
                              "small": (64, 100, 16, 64, 512)}.items():
    X = rng.standard_normal((n, T, I)).astype(np.float32)
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    for n_jobs in (1, 2):
        model = SequenceClassifier(hidden_sizes=H, batch_size=B, max_epochs=1,
                                   n_jobs=n_jobs, random_state=0)
        out[f"{name} lstm fit epoch|{n_jobs}"] = best(lambda: model.fit(X, y))
        out[f"{name} lstm predict_proba|{n_jobs}"] = best(
            lambda: model.predict_proba(X))
text = load_shakespeare()[:20000]
for n_jobs in (1, 2):
    char = CharRNN(hidden_sizes=(128, 128), max_epochs=1, n_jobs=n_jobs,
                   random_state=0)
    out[f"charrnn fit epoch|{n_jobs}"] = best(lambda: char.fit(text))
print(json.dumps(out))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--busy", action=argparse.BooleanOptionalAction,
                        default=True)
    args = parser.parse_args()
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"]) \
        if args.busy else None
    results = {"off": [], "on": []}
    try:
        for r in range(args.rounds):
            for setting in (("off", "on") if r % 2 == 0 else ("on", "off")):
                env = {**os.environ,
                       "SEQNET_ADAPTIVE_THREADS": "1" if setting == "on"
                       else "0"}
                proc = subprocess.run([sys.executable, "-c", CHILD],
                                      capture_output=True, text=True, env=env,
                                      cwd=os.path.expanduser("~"), check=True)
                results[setting].append(
                    json.loads(proc.stdout.strip().splitlines()[-1]))
    finally:
        if spin is not None:
            spin.kill()

    def median_ms(setting, key):
        return statistics.median(d[key] for d in results[setting]) * 1e3

    print(f"{'one core busy' if args.busy else 'idle':26s} {'threads':>7s}"
          f" {'off ms':>8s} {'on ms':>8s} {'off/on':>7s} {'t2/t1 off':>9s}"
          f" {'t2/t1 on':>8s}")
    for key in results["off"][0]:
        name, n = key.split("|")
        off, on = median_ms("off", key), median_ms("on", key)
        row = f"{name:26s} {n:>7s} {off:8.1f} {on:8.1f} {off / on:7.2f}"
        if n == "2":
            one = key[:-1] + "1"
            row += (f" {off / median_ms('off', one):9.2f}"
                    f" {on / median_ms('on', one):8.2f}")
        print(row)


if __name__ == "__main__":
    main()
