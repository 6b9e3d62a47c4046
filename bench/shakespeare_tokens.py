#!/usr/bin/env python
"""Token classifiers on real text (the bundled tinyshakespeare) against
logistic regression on bags of tokens, in the same scikit-learn machinery.

Two tasks, both from the plays' own words (lower-cased, split into words):

  order     a line of 6 to 12 words as written (1) or with its words
            shuffled (0), half and half: the same bag of words either way,
            so a bag of single words is at chance by construction; word
            pairs see some of the order, the recurrent network all of it.
  speaker   a speech of GLOUCESTER, DUKE VINCENTIO, ROMEO or PETRUCHIO
            (the four most frequent speakers, four different plays): who
            says it.

    python bench/shakespeare_tokens.py        # about 2 minutes

Prints each model's test accuracy and fit time (one fixed split).
"""
import re
import time
import warnings

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from seqnet import SequenceClassifier
from seqnet.datasets import load_shakespeare

SPEAKERS = ("GLOUCESTER", "DUKE VINCENTIO", "ROMEO", "PETRUCHIO")


def words(text):
    return re.findall(r"[a-z']+", text.lower())


def order_task(text, seed=0):
    lines = [words(line) for line in text.split("\n")
             if line and not line.endswith(":")]
    lines = [line for line in lines if 6 <= len(line) <= 12]
    rng = np.random.default_rng(seed)
    X, y = [], []
    for k, i in enumerate(rng.permutation(len(lines))):
        line = list(lines[i])
        if k % 2:
            rng.shuffle(line)
        X.append(line)
        y.append(1 - k % 2)
    return X, np.array(y)


def speaker_task(text):
    X, y = [], []
    for block in text.split("\n\n"):
        name, _, speech = block.partition(":\n")
        if name in SPEAKERS:
            X.append(words(speech))
            y.append(name)
    return X, np.array(y)


def bag(ngrams):
    return make_pipeline(
        CountVectorizer(analyzer="word", tokenizer=list, preprocessor=list,
                        token_pattern=None, lowercase=False,
                        ngram_range=(1, ngrams)),
        LogisticRegression(max_iter=3000))


def main():
    warnings.simplefilter("ignore")
    text = load_shakespeare()
    rnn = dict(cell="gru", embedding_size=64, hidden_sizes=128, dropout=0.3,
               learning_rate=2e-3, min_frequency=2, max_epochs=60,
               early_stopping=True, n_iter_no_change=6, random_state=0)
    for task, (X, y) in (("order", order_task(text)),
                         ("speaker", speaker_task(text))):
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2,
                                              random_state=0, stratify=y)
        print(f"{task}: {len(Xtr)} training, {len(Xte)} test sequences")
        for name, model in (("bag of words, logistic regression", bag(1)),
                            ("bag of words and word pairs", bag(2)),
                            ("SequenceClassifier (GRU, embedding 64)",
                             SequenceClassifier(**rnn))):
            t0 = time.perf_counter()
            model.fit(Xtr, ytr)
            print(f"  {name:40s} {model.score(Xte, yte):.3f}  "
                  f"({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
