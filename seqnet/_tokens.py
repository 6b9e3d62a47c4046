"""Token input: telling token sequences from numbers, the vocabulary, and
the codes the kernels read.

X holds tokens when it is a list of ``str`` (each character a token) or a
list of sequences of hashable non-numbers (words, event names, ...); with
``input="tokens"`` numbers are tokens too (integer token ids).  ``fit``
builds a ``Vocabulary``: code 0 is the one unknown token, the others go to
the known tokens, most frequent first.  Sequences of codes travel in a
``SequenceData`` of int64 ``(n_steps_total, 1)`` and reach the kernels as
``(T, B)`` codes.
"""
import warnings
from collections import Counter
from numbers import Number

import numpy as np

from ._validation import SequenceData, _estimator_name

# The code of every token fit did not keep.
UNKNOWN = 0
# Unseen tokens named in predict's warning.
_SHOWN = 5


def _is_number(token):
    return isinstance(token, (Number, np.number, np.bool_))


def _sequence_of(element):
    """An element of X as a list of tokens, or None if it is not a
    sequence (a scalar)."""
    if isinstance(element, str):
        return list(element)
    if isinstance(element, np.ndarray):
        return list(element) if element.ndim == 1 else None
    if isinstance(element, (list, tuple)):
        return list(element)
    return None


def _one_column(X):
    """A pandas or polars Series (a column of texts, as scikit-learn's text
    vectorizers take) as a 1-D object array; anything else as it is."""
    if not isinstance(X, (np.ndarray, list, tuple, str)) and \
            getattr(X, "ndim", None) == 1 and hasattr(X, "__array__"):
        return np.asarray(X, dtype=object)
    return X


def looks_like_tokens(X):
    """Whether ``input="auto"`` reads X as tokens: a list, tuple, Series or
    1-D array of str, or of sequences whose first entry is not a number."""
    X = _one_column(X)
    if isinstance(X, np.ndarray):
        if X.ndim != 1 or X.dtype.kind not in "OU":
            return False
    elif not isinstance(X, (list, tuple)):
        return False
    for element in X:
        if isinstance(element, str):
            return True
        seq = _sequence_of(element)
        if seq is None:
            return False
        for token in seq:
            return not _is_number(token) and not isinstance(
                token, (list, tuple, np.ndarray))
    return False


def token_sequences(X, estimator=None, numbers_are_tokens=False):
    """X as a list of lists of tokens, checked: non-empty, every sequence
    non-empty, every token hashable, and -- unless ``numbers_are_tokens``
    -- no number among the tokens."""
    name = _estimator_name(estimator)
    where = f" for {name}" if name else ""
    X = _one_column(X)
    if isinstance(X, np.ndarray) and X.ndim == 2:
        X = list(X)          # input="tokens": one row of ids per sequence
    if not isinstance(X, (list, tuple, np.ndarray)) or \
            getattr(X, "ndim", 1) != 1:
        raise TypeError(f"token input{where} is a list of str or a list of "
                        f"token sequences, got {type(X).__name__}")
    if len(X) == 0:
        raise ValueError(f"Found an empty list of sequences: 0 sample(s) "
                         f"while a minimum of 1 is required{where}.")
    out, distinct = [], set()
    for i, element in enumerate(X):
        seq = _sequence_of(element)
        if seq is None:
            raise TypeError(f"sequence {i} is a {type(element).__name__}, "
                            "not a sequence of tokens (a str, list, tuple or "
                            "1-D array)")
        if not seq:
            raise ValueError(f"sequence {i} is empty; every sequence needs "
                             "at least one token")
        try:
            distinct.update(seq)        # hashes every token, in C
        except TypeError:
            bad = next(tok for tok in seq if not _hashable(tok))
            raise TypeError(f"sequence {i} holds an unhashable token of "
                            f"type {type(bad).__name__}: tokens must be "
                            "hashable (str, int, ...)") from None
        out.append(seq)
    if not numbers_are_tokens:
        numbers = {tok for tok in distinct if _is_number(tok)}
        if numbers:
            i = next(i for i, seq in enumerate(out)
                     if not numbers.isdisjoint(seq))
            token = next(tok for tok in out[i] if tok in numbers)
            raise ValueError(
                f"sequence {i} mixes tokens and numbers ({token!r}): pass "
                "input='tokens' to read numbers as token ids, or give "
                "numeric features as arrays")
    return out


def _hashable(token):
    try:
        hash(token)
    except TypeError:
        return False
    return True


class Vocabulary:
    """The tokens a model knows and their codes.

    Built from the training sequences: tokens seen at least
    ``min_frequency`` times, the ``max_tokens`` most frequent of them when
    given (ties in order of first appearance), get codes 1, 2, ... in that
    order; every other token -- dropped here or never seen -- gets code 0,
    the unknown token.
    """

    def __init__(self, sequences, min_frequency=1, max_tokens=None):
        counts = Counter()
        for seq in sequences:
            counts.update(seq)
        # Counter keeps first-appearance order; the sort is stable.
        kept = [tok for tok, n in counts.items() if n >= min_frequency]
        kept.sort(key=lambda tok: -counts[tok])
        if max_tokens is not None:
            kept = kept[:max_tokens]
        if not kept:
            raise ValueError(
                f"no token occurs min_frequency={min_frequency} times: the "
                "vocabulary would hold only the unknown token")
        self.index = {tok: code for code, tok in enumerate(kept, 1)}

    def __len__(self):
        """Number of codes, the unknown token's included."""
        return len(self.index) + 1

    def encode(self, sequences, warn_unseen):
        """The sequences as a SequenceData of codes; tokens without a code
        become UNKNOWN, and with ``warn_unseen`` one warning names a few."""
        index = self.index
        lengths = np.fromiter((len(s) for s in sequences), np.int64,
                              len(sequences))
        codes = np.fromiter((index.get(tok, UNKNOWN) for seq in sequences
                             for tok in seq), np.int64, int(lengths.sum()))
        if warn_unseen and not codes.all():
            unseen = list(dict.fromkeys(
                tok for seq in sequences for tok in seq if tok not in index))
            if unseen:
                shown = ", ".join(repr(t) for t in unseen[:_SHOWN])
                more = f" and {len(unseen) - _SHOWN} more" \
                    if len(unseen) > _SHOWN else ""
                warnings.warn(f"{len(unseen)} token(s) not in vocabulary_ "
                              f"read as the unknown token: {shown}{more}",
                              UserWarning, stacklevel=4)
        return SequenceData(codes.reshape(-1, 1), lengths, kind="ragged")
