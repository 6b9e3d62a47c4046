#!/usr/bin/env python
"""Token classifiers on real text against logistic regression on bags of
tokens, in the same scikit-learn machinery.

  names     a first name's gender, "M" or "F", one character per token:
            the 36,888 unambiguous first names of the dictionary that the
            gender-guesser package ships (nam_dict.txt; `pip install
            seqnet[data]`), a real data set that installs offline.  The
            ending carries most of it, which a bag of characters loses.

and two from the bundled tinyshakespeare (lower-cased words):

  order     a line of 6 to 12 words as written (1) or with its words
            shuffled (0), half and half: the same bag of words either way,
            so a bag of single words is at chance by construction; word
            pairs see some of the order, the recurrent network all of it.
  speaker   a speech of GLOUCESTER, DUKE VINCENTIO, ROMEO or PETRUCHIO
            (the four most frequent speakers, four different plays): who
            says it.

    python bench/token_learning.py        # about 3 minutes

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


def names_task():
    import os
    import gender_guesser
    path = os.path.join(os.path.dirname(gender_guesser.__file__), "data",
                        "nam_dict.txt")
    X, y = [], []
    with open(path, encoding="iso8859-1") as f:
        for line in f:
            name = line[3:29].strip()
            if line[:2] in ("M ", "F ") and name and not set("+ ") & set(name):
                X.append(name.lower())
                y.append(line[0])
    return X, np.array(y)


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


def bag(ngrams, analyzer="word"):
    if analyzer == "char":
        vectorizer = CountVectorizer(analyzer="char",
                                     ngram_range=(1, ngrams))
    else:
        vectorizer = CountVectorizer(analyzer="word", tokenizer=list,
                                     preprocessor=list, token_pattern=None,
                                     lowercase=False, ngram_range=(1, ngrams))
    return make_pipeline(vectorizer, LogisticRegression(max_iter=3000))


def main():
    warnings.simplefilter("ignore")
    text = load_shakespeare()
    small = dict(cell="gru", hidden_sizes=64, embedding_size=16,
                 learning_rate=3e-3, batch_size=64, max_epochs=30,
                 early_stopping=True, n_iter_no_change=4, random_state=0)
    large = dict(cell="gru", hidden_sizes=(128, 128), embedding_size=32,
                 dropout=0.2, learning_rate=3e-3, batch_size=64,
                 max_epochs=30, early_stopping=True, n_iter_no_change=6,
                 random_state=0)
    words_rnn = dict(cell="gru", embedding_size=64, hidden_sizes=128,
                     dropout=0.3, learning_rate=2e-3, min_frequency=2,
                     max_epochs=60, early_stopping=True, n_iter_no_change=6,
                     random_state=0)
    tasks = {}
    try:
        tasks["names"] = (names_task(), [
            ("bag of characters, logistic regression", bag(1, "char")),
            ("bag of character 1-3-grams", bag(3, "char")),
            ("SequenceClassifier (GRU 64, embedding 16)",
             SequenceClassifier(**small)),
            ("SequenceClassifier (GRU 128x2, embedding 32)",
             SequenceClassifier(**large))])
    except ImportError:
        print("names: skipped (pip install gender-guesser)")
    for name, data in (("order", order_task(text)),
                       ("speaker", speaker_task(text))):
        tasks[name] = (data, [
            ("bag of words, logistic regression", bag(1)),
            ("bag of words and word pairs", bag(2)),
            ("SequenceClassifier (GRU 128, embedding 64)",
             SequenceClassifier(**words_rnn))])
    for task, ((X, y), models) in tasks.items():
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2,
                                              random_state=0, stratify=y)
        print(f"{task}: {len(Xtr)} training, {len(Xte)} test sequences")
        for name, model in models:
            t0 = time.perf_counter()
            model.fit(Xtr, ytr)
            print(f"  {name:46s} {model.score(Xte, yte):.3f}  "
                  f"({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
