"""Fingerprints of a set of fits: the bit-for-bit check of a refactor.

Every case fits a small model on fixed data and hashes, bit for bit, what
a user can see of it: the fitted parameters, the loss curves, predictions,
one-step outputs, samples and scores.  Run it before a change that must not
change results, save the output, run it after and compare:

    python tools/fingerprint.py > before.json       # on the old build
    python tools/fingerprint.py --compare before.json

Results depend on the SIMD path (its tiles fix the summation order), so a
file is only comparable with one made on the same path; the path is
recorded and checked.  Thread counts never change results; the cases run
on one and two threads.
"""
import argparse
import hashlib
import json
import sys
import warnings

import numpy as np

import seqnet
from seqnet import (CharRNN, SequenceClassifier, SequenceRegressor,
                    SequenceTagger)
from seqnet import _kernels


def _digest(*values):
    h = hashlib.sha256()
    for v in values:
        if isinstance(v, np.ndarray):
            h.update(str((v.dtype.str, v.shape)).encode())
            h.update(np.ascontiguousarray(v).tobytes())
        elif isinstance(v, (list, tuple)):
            h.update(_digest(*v).encode())
        else:
            h.update(repr(v).encode())
    return h.hexdigest()[:16]


def _data(seed=0, n=48, features=3):
    rng = np.random.default_rng(seed)
    X = [rng.standard_normal((int(t), features))
         for t in rng.integers(2, 12, n)]
    y = np.array([int(x[:, 0].sum() > 0) + int(x[:, 1].mean() > 0.3)
                  for x in X])
    return X, y


def _fitted(est):
    return {name: _digest(v) for name, v in sorted(est.parameters_.items())}


def _curves(est):
    return _digest(list(est.loss_curve_),
                   list(getattr(est, "validation_loss_curve_", [])))


def classifier_cases():
    X, y = _data()
    base = dict(max_epochs=4, batch_size=8, random_state=3)
    configs = {
        "lstm": dict(cell="lstm"),
        "lstm_peep_stack": dict(cell="lstm", peepholes=True,
                                hidden_sizes=(7, 5)),
        "lstm_bidir_f64": dict(cell="lstm", bidirectional=True,
                               dtype="float64", hidden_sizes=(6, 4)),
        "gru_bidir_drop": dict(cell="gru", bidirectional=True, dropout=0.2,
                               hidden_sizes=(9, 9)),
        "gru_es_cw": dict(cell="gru", early_stopping=True,
                          class_weight="balanced", validation_fraction=0.25),
        "elman_relu": dict(cell="elman", activation="relu", l2=1e-3,
                           optimizer="momentum", learning_rate=1e-2),
        "elman_softsign": dict(cell="elman", activation="softsign",
                               optimizer="rmsprop", clip_value=0.5),
        "lstm_sgd_l1": dict(cell="lstm", optimizer="nesterov", l1=1e-4,
                            learning_rate=5e-2),
        "gru_adagrad": dict(cell="gru", optimizer="adagrad",
                            learning_rate=5e-2),
        "lstm_sgd": dict(cell="lstm", optimizer="sgd", learning_rate=0.1),
        "lstm_softsign_peep": dict(cell="lstm", activation="softsign",
                                   peepholes=True),
        "gru_relu_f64": dict(cell="gru", activation="relu", dtype="float64"),
    }
    for name, cfg in configs.items():
        for n_jobs in (1, 2):
            est = SequenceClassifier(n_jobs=n_jobs,
                                     **{"hidden_sizes": 8, **base, **cfg})
            sw = np.linspace(0.5, 1.5, len(X))
            est.fit(X, y, sample_weight=sw)
            out = {"params": _fitted(est), "curves": _curves(est),
                   "proba": _digest(est.predict_proba(X)),
                   "proba_one": _digest(est.predict_proba(X[:1]))}
            if not cfg.get("bidirectional"):
                state = est.initial_state(2)
                steps = [est.step(np.stack([X[0][t], X[1][t]]), state)[0]
                         for t in range(2)]
                out["step"] = _digest(steps, state.h, state.c)
            est.partial_fit(X[:20], y[:20])
            out["partial"] = _digest(est.predict_proba(X))
            yield f"classifier/{name}/n_jobs={n_jobs}", out


def regressor_cases():
    X, _ = _data(1)
    y = np.array([[x[:, 0].mean(), x[:, 2].max()] for x in X])
    for cell in ("lstm", "gru", "elman"):
        est = SequenceRegressor(cell=cell, hidden_sizes=(6, 5),
                                max_epochs=5, batch_size=16, random_state=1)
        est.fit(X, y)
        yield f"regressor/{cell}", {"params": _fitted(est),
                                    "curves": _curves(est),
                                    "pred": _digest(est.predict(X))}
        est.set_params(warm_start=True, max_epochs=2)
        est.fit(X, y)
        yield f"regressor/{cell}/warm", {"params": _fitted(est)}


def tagger_cases():
    X, _ = _data(2, n=40)
    y = [(x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5) for x in X]
    configs = {
        "lstm": dict(cell="lstm"),
        "lstm_tbptt": dict(cell="lstm", tbptt_length=3, hidden_sizes=(6, 6)),
        "gru_tbptt_drop": dict(cell="gru", tbptt_length=4, dropout=0.1),
        "elman_bidir": dict(cell="elman", bidirectional=True),
        "gru_bidir_es": dict(cell="gru", bidirectional=True,
                             early_stopping=True),
    }
    for name, cfg in configs.items():
        for n_jobs in (1, 2):
            est = SequenceTagger(max_epochs=4, batch_size=8,
                                 random_state=5, n_jobs=n_jobs,
                                 **{"hidden_sizes": 7, **cfg}).fit(X, y)
            yield f"tagger/{name}/n_jobs={n_jobs}", {
                "params": _fitted(est), "curves": _curves(est),
                "proba": _digest(est.predict_proba(X))}


TEXT = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
        "All:\nSpeak, speak.\n\nFirst Citizen:\nYou are all resolved rather "
        "to die than to famish?\n") * 6


def charrnn_cases():
    configs = {
        "lstm": dict(cell="lstm", hidden_sizes=(16, 12)),
        "gru_es": dict(cell="gru", hidden_sizes=(16,), early_stopping=True),
        "elman_docs": dict(cell="elman", hidden_sizes=(12,)),
        "lstm_peep_drop": dict(cell="lstm", peepholes=True, dropout=0.1,
                               hidden_sizes=(10,)),
    }
    for name, cfg in configs.items():
        for n_jobs in (1, 2):
            text = TEXT if name != "elman_docs" else TEXT.split("\n\n")
            est = CharRNN(max_epochs=3, batch_size=6, tbptt_length=9,
                          random_state=2, n_jobs=n_jobs, **cfg).fit(text)
            state = est.initial_state(3)
            steps = [est.step("ace", state)[0], est.step("Fir", state)[0]]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                score = est.score("Speak, speak, citizens!")
            yield f"charrnn/{name}/n_jobs={n_jobs}", {
                "params": _fitted(est), "curves": _curves(est),
                "sample": _digest(est.sample(60, prime="All:",
                                             temperature=0.7,
                                             random_state=4)),
                "greedy": est.sample(30, temperature=0),
                "score": repr(score), "step": _digest(steps, state.h,
                                                      state.c)}
            est.partial_fit(TEXT[:200])
            yield f"charrnn/{name}/n_jobs={n_jobs}/partial", {
                "params": _fitted(est)}


def run():
    results = {}
    for cases in (classifier_cases, regressor_cases, tagger_cases,
                  charrnn_cases):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for name, out in cases():
                results[name] = out
    return {"isa": _kernels.isa_current(), "seqnet": seqnet.__version__,
            "cases": results}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", metavar="FILE",
                        help="compare with a saved run instead of printing")
    args = parser.parse_args()
    now = run()
    if not args.compare:
        json.dump(now, sys.stdout, indent=1, sort_keys=True)
        print()
        return 0
    with open(args.compare) as f:
        then = json.load(f)
    if then["isa"] != now["isa"]:
        print(f"the saved run used the {then['isa']} path, this one "
              f"{now['isa']}: set SEQNET_ISA={then['isa']}")
        return 2
    differ = [name for name in then["cases"]
              if then["cases"][name] != now["cases"].get(name)]
    missing = sorted(set(then["cases"]) - set(now["cases"]))
    for name in differ:
        a, b = then["cases"][name], now["cases"].get(name, {})
        keys = [k for k in a if a[k] != b.get(k)]
        print(f"DIFFERS {name}: {', '.join(keys)}")
    print(f"{len(then['cases']) - len(differ)} of {len(then['cases'])} "
          f"cases bit-identical ({now['isa']} path)"
          + (f"; missing: {missing}" if missing else ""))
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
