"""A small fit / predict / step / pickle cycle of every estimator and cell,
for tools/memcheck.sh to run under valgrind.

Small on purpose: valgrind runs it some 50 times slower than Python does.
"""
import pickle
import warnings

import numpy as np

from seqnet import (CharRNN, SequenceClassifier, SequenceRegressor,
                    SequenceScaler, SequenceTagger, SequenceToSequence)

warnings.simplefilter("ignore")
rng = np.random.default_rng(0)
X = [rng.standard_normal((int(t), 3)) for t in rng.integers(1, 9, 12)]
labels = np.array([int(x[:, 0].sum() > 0) for x in X])
values = np.array([x[:, 1].sum() for x in X])
tags = [(x[:, 2] > 0).astype(int) for x in X]

for cell, extra in (("lstm", dict(peepholes=True)), ("gru", {}),
                    ("elman", dict(activation="relu"))):
    for dtype in ("float32", "float64"):
        params = dict(cell=cell, hidden_sizes=(5, 4), max_epochs=2,
                      batch_size=5, dropout=0.1, random_state=0, n_jobs=2,
                      dtype=dtype, **extra)
        models = [
            SequenceClassifier(**params).fit(X, labels),
            SequenceRegressor(bidirectional=True, **params).fit(X, values),
            SequenceTagger(tbptt_length=3, **params).fit(X, tags),
        ]
        models[0].partial_fit(X, labels)
        for model in models:
            copy = pickle.loads(pickle.dumps(model))
            a = copy.predict(X)
            b = model.predict(X)
            assert all(np.array_equal(p, q) for p, q in zip(a, b))
            if not model.bidirectional:
                state = model.initial_state(2)
                for t in range(3):
                    model.step(rng.standard_normal((2, 3)), state)
    text = "hello world, hello valgrind.\n" * 4
    char = CharRNN(cell=cell, hidden_sizes=(6, 5), max_epochs=1,
                   tbptt_length=8, batch_size=3, random_state=0,
                   early_stopping=True).fit([text, text[::-1]])
    char = pickle.loads(pickle.dumps(char))
    char.sample(20, prime="hel", temperature=0.8, random_state=0)
    char.score("hello")
    char.step("he")

    # Tokens through an embedding; an encoder-decoder decoding greedily
    # and by beam search (sn_decode); a schedule (the monitor's
    # update_stats runs on every update of every fit above too).
    words = ["abc", "ba", "cab", "a", "bca", "cb"] * 2
    SequenceClassifier(cell=cell, hidden_sizes=(4,), embedding_size=3,
                       max_epochs=1, random_state=0, n_jobs=2,
                       learning_rate_schedule="cosine").fit(
        words, [len(w) % 2 for w in words]).predict(words)
    s2s = SequenceToSequence(cell=cell, hidden_sizes=(5,), bidirectional=True,
                             embedding_size=3, max_epochs=2, random_state=0,
                             n_jobs=2).fit(words, [w[::-1] for w in words])
    s2s.predict(words)
    s2s.predict(words, beam_width=3)

SequenceScaler().fit(X).transform(X)
print("memcheck cycle done")
