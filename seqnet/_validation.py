"""Input validation for sequence data.

Every estimator converts its input once, at the top of ``fit`` /
``predict`` / ``transform``, into a :class:`SequenceData`: all time steps of
all sequences packed row after row into one C-contiguous
``(n_steps_total, n_features)`` array, plus the length of each sequence.
Training loops then gather mini-batches from it with :func:`pad_batch`
into the time-major, zero-padded, longest-first layout the C kernels read.

Three input formats are accepted (the last axis is always the features):

* a 3-D array-like ``(n_samples, n_timesteps, n_features)``: sequences of
  equal length;
* a 2-D array-like ``(n_samples, n_features)``: sequences of one time step
  each (so scikit-learn's own estimator checks apply);
* a list (or tuple, or 1-D object array) of sequences, each an array
  ``(T_i, n_features)`` or ``(T_i,)`` (one feature), of any lengths.

Every problem is reported as a ``ValueError`` or ``TypeError`` that names
it, before any kernel runs.
"""
import functools
import os
import sys
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_array
from sklearn.utils.validation import validate_data

from . import _kernels
from .frames import ChannelsFirstWarning

# The input formats a SequenceData remembers in its ``kind``.
KINDS = ("3d", "2d", "ragged")

# As ``dtype``: keep float64 or float32 input, make the rest (integers,
# booleans, float16, ...) float64.
FLOAT_DTYPES = (np.float64, np.float32)

# A 3-D array whose feature axis is at least CHANNELS_FIRST_RATIO times its
# time axis and at least CHANNELS_FIRST_MIN_LENGTH long is most likely
# aeon's or sktime's (n_samples, n_channels, n_timesteps), and is warned
# about.  Read that way, such arrays are a few channels of series at least
# 4 times longer, as nearly all of the UEA archive is (BasicMotions: 6
# channels of 100 steps; Epilepsy 3 of 206; univariate series 1 of 8 or
# more); read seqnet's way, sequences rarely have 4 times more features
# than steps.  The minimum length keeps one-step arrays of a few features,
# such as (n, 1, 4), quiet.
CHANNELS_FIRST_RATIO = 4
CHANNELS_FIRST_MIN_LENGTH = 8

_ACCEPTED_SHAPES = (
    "a 3-D array (n_samples, n_timesteps, n_features), a 2-D array "
    "(n_samples, n_features) of one-step sequences, or a list of arrays "
    "(n_timesteps_i, n_features) or (n_timesteps_i,) of any lengths")


class SequenceData:
    """Sequences of possibly different lengths, packed into one array.

    Sequence ``i`` is ``data[offsets[i]:offsets[i + 1]]``, an array of shape
    ``(lengths[i], n_features)``.  Build one with :func:`check_sequences`.

    Parameters
    ----------
    data : ndarray of shape (n_steps_total, n_features)
        Every time step of every sequence, one row each, sequence after
        sequence.  Must be C-contiguous.
    lengths : array-like of int of shape (n_sequences,)
        Number of time steps of each sequence, each at least 1, summing to
        ``len(data)``.
    kind : {"3d", "2d", "ragged"}, default="ragged"
        The format the sequences were given in, so that transformers can
        answer in the same one (see :func:`to_format`).

    Attributes
    ----------
    data : ndarray of shape (n_steps_total, n_features)
        The packed time steps.  It may share memory with the array it was
        made from, and then be read-only; use ``copy=True`` in
        :func:`check_sequences` for a private, writeable buffer.
    lengths : ndarray of shape (n_sequences,), dtype int64
        Number of time steps of each sequence.
    offsets : ndarray of shape (n_sequences + 1,), dtype int64
        Where each sequence starts in ``data``; ``offsets[-1] == len(data)``.
    n_features : int
        Number of features per time step.
    kind : str
        ``"3d"``, ``"2d"`` or ``"ragged"``.

    Examples
    --------
    >>> import numpy as np
    >>> from seqnet._validation import check_sequences
    >>> seqs = check_sequences([np.ones((3, 2)), np.zeros((5, 2))])
    >>> len(seqs), seqs.n_features, seqs.lengths.tolist()
    (2, 2, [3, 5])
    >>> seqs.sequence(1).shape
    (5, 2)
    """

    def __init__(self, data, lengths, kind="ragged"):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}.")
        data = np.asarray(data)
        if data.ndim != 2 or not data.flags.c_contiguous:
            raise ValueError(
                "data must be a C-contiguous 2-D array (n_steps_total, "
                f"n_features), got shape {data.shape}.")
        lengths = np.ascontiguousarray(lengths, dtype=np.int64)
        if lengths.ndim != 1:
            raise ValueError(
                f"lengths must be 1-D, got shape {lengths.shape}.")
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        lengths.cumsum(out=offsets[1:])
        if offsets[-1] != len(data):
            raise ValueError(
                f"lengths sum to {offsets[-1]}, but data has {len(data)} "
                "rows.")
        self.data = data
        self.lengths = lengths
        self.offsets = offsets
        self.n_features = data.shape[1]
        self.kind = kind

    @classmethod
    def _equal_lengths(cls, data, n_sequences, kind):
        """``n_sequences`` sequences of ``len(data) // n_sequences`` steps,
        packed in ``data``, a C-contiguous 2-D array that divides evenly.

        ``__init__``'s checks and cumulative sum, which the caller's array
        makes needless, are a tenth of predicting one short sequence.
        """
        steps = len(data) // n_sequences
        seqs = cls.__new__(cls)
        seqs.data = data
        seqs.lengths = np.empty(n_sequences, np.int64)
        seqs.lengths.fill(steps)
        seqs.offsets = np.arange(0, len(data) + 1, steps, dtype=np.int64)
        seqs.n_features = data.shape[1]
        seqs.kind = kind
        return seqs

    def __len__(self):
        return len(self.lengths)

    def __repr__(self):
        return (f"SequenceData(n_sequences={len(self)}, "
                f"n_steps={len(self.data)}, n_features={self.n_features}, "
                f"dtype={self.data.dtype}, kind={self.kind!r})")

    @property
    def dtype(self):
        """The dtype of ``data``."""
        return self.data.dtype

    @property
    def max_length(self):
        """The length of the longest sequence (0 when there are none)."""
        return int(self.lengths.max()) if len(self) else 0

    def sequence(self, i):
        """Return sequence ``i`` as a view ``(lengths[i], n_features)``.

        Parameters
        ----------
        i : int
            Index of the sequence; negative values count from the end.

        Returns
        -------
        seq : ndarray of shape (lengths[i], n_features)
            A view into ``data``.
        """
        n = len(self)
        if not -n <= i < n:
            raise IndexError(
                f"sequence index {i} is out of range for {n} sequences.")
        i %= n
        return self.data[self.offsets[i]:self.offsets[i + 1]]

    def take(self, indices):
        """Return a new :class:`SequenceData` holding the given sequences.

        Parameters
        ----------
        indices : array-like of int, array-like of bool or slice
            Which sequences to keep, in the order to keep them (anything
            that indexes a 1-D NumPy array of length ``len(self)``).

        Returns
        -------
        subset : SequenceData
            Its own copy of the selected time steps, in the requested order,
            with the same ``kind``.
        """
        selected = np.arange(len(self))[indices]
        lengths = self.lengths[selected]
        starts = self.offsets[selected]
        new_offsets = np.zeros(len(selected) + 1, dtype=np.int64)
        np.cumsum(lengths, out=new_offsets[1:])
        # Row r of the subset is row r - new_start + old_start of ``data``.
        rows = (np.arange(new_offsets[-1], dtype=np.int64)
                + np.repeat(starts - new_offsets[:-1], lengths))
        return SequenceData(self.data[rows], lengths, kind=self.kind)


def check_sequences(X, *, dtype=np.float32, estimator=None,
                    ensure_n_features=None, allow_nan=False, copy=False):
    """Validate sequence input and pack it into a :class:`SequenceData`.

    Parameters
    ----------
    X : array-like or list of array-like
        One of

        * a 3-D array-like ``(n_samples, n_timesteps, n_features)``:
          sequences of equal length;
        * a 2-D array-like ``(n_samples, n_features)``, including a pandas
          DataFrame: one-step sequences;
        * a list, tuple or 1-D object array of sequences, each an array-like
          ``(T_i, n_features)`` or ``(T_i,)`` (one feature).  A list whose
          elements are arrays is always read this way, even when all have
          the same shape; a nested list of numbers is read as
          :func:`numpy.asarray` reads it, unless its rows have different
          lengths, in which case each row is one sequence.

        A :class:`SequenceData` is passed through (converted to ``dtype``).
    dtype : dtype or tuple of dtypes, default=np.float32
        The dtype of the packed data.  With a tuple, the input's dtype is
        kept when it is in the tuple and the first entry is used otherwise
        (``FLOAT_DTYPES`` keeps float32 and float64).
    estimator : estimator instance or str, default=None
        Named in error messages.
    ensure_n_features : int, default=None
        If given, the number of features the data must have.
    allow_nan : bool, default=False
        Whether NaN is accepted (infinity never is).
    copy : bool, default=False
        If True, ``data`` never shares memory with ``X``.  If False, it is a
        view of ``X`` whenever ``X`` is an array that already has the right
        dtype and layout (3-D or 2-D input), and then may be read-only.
        Ragged input is always copied into a new buffer.

    Returns
    -------
    seqs : SequenceData
        The packed sequences; ``seqs.kind`` records which format ``X`` had.

    Raises
    ------
    ValueError
        For NaN or infinite values, a rank other than those above, no
        samples, a sequence without time steps, no features, sequences with
        different numbers of features, strings that are not numbers,
        complex numbers, or a number of features other than
        ``ensure_n_features``.
    TypeError
        For sparse matrices and objects that are not numbers.

    Warns
    -----
    ChannelsFirstWarning
        For a 3-D array with at least ``CHANNELS_FIRST_RATIO`` (4) times
        more features than time steps, and at least
        ``CHANNELS_FIRST_MIN_LENGTH`` (8) features: most likely aeon's
        channels-first layout, to be transposed.

    Examples
    --------
    >>> import numpy as np
    >>> from seqnet._validation import check_sequences
    >>> seqs = check_sequences(np.zeros((4, 10, 3)))
    >>> seqs.kind, seqs.data.shape, seqs.dtype
    ('3d', (40, 3), dtype('float32'))
    >>> seqs = check_sequences([np.zeros(7), np.zeros(2)], dtype=np.float64)
    >>> seqs.kind, seqs.lengths.tolist(), seqs.n_features
    ('ragged', [7, 2], 1)
    """
    name = _estimator_name(estimator)
    if X is None:
        # NumPy would read it as the scalar NaN.
        raise ValueError(f"X is None, but sequences must be given as "
                         f"{_ACCEPTED_SHAPES}.")
    if isinstance(X, SequenceData):
        data = X.data.astype(_resolve_dtype(dtype, [X.data.dtype]),
                             copy=copy)
        seqs = SequenceData(data, X.lengths, kind=X.kind)
        _check_finite(seqs.data, allow_nan, name)
    elif _is_sequence_list(X):
        seqs = _pack_sequence_list(X, dtype, name)
        _check_finite(seqs.data, allow_nan, name)
    else:
        seqs = _pack_array(X, dtype, name, allow_nan, copy)

    if ensure_n_features is not None and seqs.n_features != ensure_n_features:
        raise ValueError(
            f"X has {seqs.n_features} features, but {name or 'the estimator'}"
            f" is expecting {ensure_n_features} features as input.")
    return seqs


def check_feature_names(estimator, X, *, reset):
    """Record or check the feature names of a DataFrame input.

    Sets (``reset=True``) or checks (``reset=False``) ``feature_names_in_``
    exactly as scikit-learn's ``validate_data`` does; input without column
    names (arrays, lists of sequences) records none.  ``n_features_in_`` is
    left to the caller.

    Parameters
    ----------
    estimator : estimator instance
        The estimator to record the names on.
    X : object
        The input as the user passed it.
    reset : bool
        True in ``fit`` (and the first ``partial_fit``), False elsewhere.
    """
    if (not reset and type(X) in (np.ndarray, list, tuple)
            and getattr(estimator, "feature_names_in_", None) is None):
        # An array or a plain list of sequences has no names and none were
        # recorded: validate_data would find nothing to check or warn
        # about, after a long look for DataFrames -- 40 us, a fifth of
        # predicting one short sequence (bench/test_bench_kernels.py,
        # SequenceClassifier group; bench/onnx_vs_seqnet.py at batch 1).
        return
    # ensure_2d=False stops validate_data from counting features itself:
    # it would read a list of sequences as a 2-D table.
    validate_data(estimator, X, skip_check_array=True, ensure_2d=False,
                  reset=reset)


def pad_batch(seqs, indices, out=None):
    """Gather sequences into a time-major, zero-padded, longest-first batch.

    Parameters
    ----------
    seqs : SequenceData
        Where to read the sequences.
    indices : array-like of int of shape (B,)
        Which sequences form the batch (negative values count from the end).
    out : ndarray, default=None
        A C-contiguous buffer of ``seqs.dtype`` with at least
        ``T_max * B * n_features`` elements, of any shape, to write the
        batch into instead of allocating one (reuse it across the batches
        of a training loop).

    Returns
    -------
    x : ndarray of shape (T_max, B, n_features)
        ``x[t, j]`` is step ``t`` of sequence ``indices[order[j]]``, zero
        after that sequence's end; ``T_max = lengths[0]``.  A view of
        ``out`` when it is given.
    lengths : ndarray of shape (B,), dtype int64
        The length of each column of ``x``, non-increasing.
    order : ndarray of shape (B,), dtype intp
        Column ``j`` of ``x`` holds ``indices[order[j]]``: a stable sort, so
        sequences of equal length keep their order in ``indices``.  Undo it
        with ``result[order] = batch_result``.

    Examples
    --------
    >>> import numpy as np
    >>> from seqnet._validation import check_sequences, pad_batch
    >>> seqs = check_sequences([np.ones(2), 2 * np.ones(3), 3 * np.ones(1)])
    >>> x, lengths, order = pad_batch(seqs, [0, 1, 2])
    >>> x[:, :, 0]
    array([[2., 1., 3.],
           [2., 1., 0.],
           [2., 0., 0.]], dtype=float32)
    >>> lengths.tolist(), order.tolist()
    ([3, 2, 1], [1, 0, 2])
    """
    indices = np.asarray(indices)
    if indices.ndim != 1 or not (indices.size == 0 or
                                 np.issubdtype(indices.dtype, np.integer)):
        raise ValueError(
            "indices must be a 1-D array of integers, got "
            f"{indices.dtype} array of shape {indices.shape}.")
    n = len(seqs)
    if indices.size and (indices.min() < -n or indices.max() >= n):
        raise IndexError(
            f"indices must lie in [{-n}, {n}) for {n} sequences.")
    indices = np.where(indices < 0, indices + n, indices).astype(np.intp)

    lengths = seqs.lengths[indices]
    order = np.argsort(-lengths, kind="stable")
    lengths = lengths[order]
    starts = seqs.offsets[indices[order]]
    B = len(indices)
    T = int(lengths[0]) if B else 0
    x = _batch_buffer(out, (T, B, seqs.n_features), seqs.dtype)

    data = seqs.data
    if 4 * T <= B:
        # Many short sequences: one gather per time step over the prefix of
        # columns still running beats one Python iteration per column.
        n_running = np.searchsorted(-lengths, -np.arange(T), side="left")
        for t in range(T):
            k = n_running[t]
            np.take(data, starts[:k] + t, axis=0, out=x[t, :k], mode="clip")
            x[t, k:] = 0
    else:
        for j in range(B):
            length = lengths[j]
            start = starts[j]
            x[:length, j] = data[start:start + length]
            x[length:, j] = 0
    return x, lengths, order


def check_sequence_targets(y, seqs, *, dtype=None, estimator=None):
    """Validate one target per time step and pack them like ``seqs.data``.

    Parameters
    ----------
    y : list of array-like, or array-like
        The per-step targets, as

        * a list, tuple or 1-D object array of 1-D array-likes, ``y[i]``
          with ``seqs.lengths[i]`` entries;
        * a 2-D array-like ``(n_samples, n_timesteps)`` when every sequence
          has ``n_timesteps`` steps (e.g. 3-D ``X``);
        * a 1-D array-like ``(n_samples,)`` when every sequence has one step
          (2-D ``X``).
    seqs : SequenceData
        The validated input the targets belong to.
    dtype : dtype, default=None
        The dtype of the result; None keeps what NumPy makes of ``y``.
    estimator : estimator instance or str, default=None
        Named in error messages.

    Returns
    -------
    y_packed : ndarray of shape (n_steps_total,)
        ``y_packed[seqs.offsets[i] + t]`` is the target of step ``t`` of
        sequence ``i``, row for row with ``seqs.data``.

    Raises
    ------
    ValueError
        When ``y`` is None, its number of sequences or any sequence's number
        of targets does not match ``seqs``, or it holds NaN or infinity.
    TypeError
        For sparse ``y``.

    Examples
    --------
    >>> import numpy as np
    >>> from seqnet._validation import check_sequences, check_sequence_targets
    >>> seqs = check_sequences([np.zeros((2, 3)), np.zeros((3, 3))])
    >>> check_sequence_targets([["a", "b"], ["c", "d", "e"]], seqs)
    array(['a', 'b', 'c', 'd', 'e'], dtype='<U1')
    """
    name = _estimator_name(estimator)
    n = len(seqs)
    if y is None:
        raise ValueError(
            f"{name or 'This estimator'} requires y to be passed, but the "
            "target y is None.")
    if sp.issparse(y):
        raise TypeError(
            "Sparse data was passed for y, but dense data is required: pass "
            "one array of labels per sequence.")

    if _is_target_list(y):
        _check_n_sequences(len(y), n)
        targets = []
        for i, target in enumerate(y):
            target = np.asarray(target)
            if target.ndim != 1:
                raise ValueError(
                    f"y[{i}] must be 1-D, one target per time step, got "
                    f"shape {target.shape}.")
            if len(target) != seqs.lengths[i]:
                raise ValueError(
                    f"y[{i}] has {len(target)} targets, but sequence {i} of X"
                    f" has {seqs.lengths[i]} time steps.")
            targets.append(target)
        y_packed = np.concatenate(targets) if targets else np.empty(0)
    else:
        array = np.asarray(y)
        all_equal = n > 0 and seqs.lengths.min() == seqs.lengths.max()
        if array.ndim == 1 and all_equal and seqs.lengths[0] == 1:
            _check_n_sequences(len(array), n)
            y_packed = array
        elif array.ndim == 2 and all_equal:
            _check_n_sequences(len(array), n)
            if array.shape[1] != seqs.lengths[0]:
                raise ValueError(
                    f"y has {array.shape[1]} targets per sequence, but the "
                    f"sequences of X have {seqs.lengths[0]} time steps.")
            y_packed = array.reshape(-1)
        else:
            raise ValueError(
                "y must hold one target per time step: a list of 1-D arrays "
                "(one per sequence), a 2-D array (n_samples, n_timesteps) "
                "when all sequences have the same length, or a 1-D array "
                f"when all have one step; got shape {array.shape} for "
                f"sequences of lengths {_describe_lengths(seqs.lengths)}.")

    y_packed = np.ascontiguousarray(y_packed, dtype=dtype)
    if y_packed.dtype.kind in "fc":
        _check_finite(y_packed, False, name, input_name="y")
    return y_packed


def to_format(data, lengths, kind):
    """Unpack per-step rows into the format the input came in.

    Parameters
    ----------
    data : ndarray of shape (n_steps_total, ...)
        One row per time step, row for row with a :class:`SequenceData`
        (for example its transformed ``data``, or per-step predictions).
    lengths : array-like of int of shape (n_sequences,)
        The length of each sequence.
    kind : {"3d", "2d", "ragged"}
        The format to return.

    Returns
    -------
    out : ndarray or list of ndarray
        ``"3d"``: an array ``(n_sequences, n_timesteps, ...)`` (all lengths
        must be equal); ``"2d"``: ``data`` itself, one row per one-step
        sequence; ``"ragged"``: a list of views ``(lengths[i], ...)`` into
        ``data``.  A sequence given as a 1-D array comes back 2-D
        ``(T_i, 1)``: the packed rows no longer know how it was given.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    if kind == "ragged":
        return np.split(data, np.cumsum(lengths)[:-1])
    if kind == "2d":
        return data
    if kind == "3d":
        n = len(lengths)
        T = int(lengths[0]) if n else 0
        if n and np.any(lengths != T):
            raise ValueError(
                "A 3-D array needs sequences of equal length, got lengths "
                f"{_describe_lengths(lengths)}.")
        return data.reshape((n, T) + data.shape[1:])
    raise ValueError(f"kind must be one of {KINDS}, got {kind!r}.")


def _estimator_name(estimator):
    if estimator is None:
        return None
    if isinstance(estimator, str):
        return estimator
    return type(estimator).__name__


def _context(name):
    return f" by {name}" if name else ""


def _describe_lengths(lengths):
    if len(lengths) == 0:
        return "(none)"
    return f"{int(lengths.min())} to {int(lengths.max())}"


def _check_n_sequences(n_y, n_x):
    if n_y != n_x:
        raise ValueError(
            "Found input variables with inconsistent numbers of samples: X "
            f"has {n_x} sequences, but y has {n_y}.")


def _resolve_dtype(dtype, input_dtypes):
    """The output dtype: ``dtype``, or with a tuple the input's if listed."""
    if not isinstance(dtype, (tuple, list)):
        return np.dtype(dtype)
    accepted = [np.dtype(d) for d in dtype]
    try:
        common = functools.reduce(np.promote_types, set(input_dtypes))
    except TypeError:
        return accepted[0]
    return common if common in accepted else accepted[0]


def _is_array_element(element):
    """Whether a list element is an array (not a Python or NumPy scalar)."""
    if sp.issparse(element):
        return True
    return (hasattr(element, "__array__")
            and not isinstance(element, np.generic)
            and np.ndim(element) >= 1)


def _is_sequence_list(X):
    """Whether X is a container of sequences rather than one array."""
    if isinstance(X, np.ndarray):
        return (X.dtype == object and X.ndim == 1 and X.size > 0
                and all(_is_array_element(x) for x in X))
    if not isinstance(X, (list, tuple)):
        return False
    if len(X) == 0 or any(_is_array_element(x) for x in X):
        return True
    try:
        np.asarray(X)
    except ValueError:
        # Nested lists whose rows differ in length: one sequence per row.
        return True
    return False


def _pack_sequence_list(X, dtype, name):
    n = len(X)
    if n == 0:
        raise ValueError(
            "Found an empty list of sequences: 0 sample(s) while a minimum "
            f"of 1 is required{_context(name)}.")
    arrays = []
    lengths = np.empty(n, dtype=np.int64)
    n_features = None
    for i, element in enumerate(X):
        if sp.issparse(element):
            raise TypeError(
                f"Sparse data was passed for X (sequence {i}), but dense "
                "data is required. Use '.toarray()' to convert to a dense "
                "numpy array.")
        try:
            seq = np.asarray(element)
        except ValueError as exc:
            raise ValueError(
                f"sequence {i} could not be read as an array: {exc}") from exc
        if seq.ndim == 1:
            seq = seq[:, None]
        elif seq.ndim != 2:
            raise ValueError(
                f"sequence {i} has shape {seq.shape}, but each sequence must "
                "be a 2-D array (n_timesteps, n_features) or a 1-D array "
                "(n_timesteps,) of one feature.")
        if seq.dtype.kind == "c":
            raise ValueError(
                f"Complex data not supported (sequence {i} is {seq.dtype}).")
        steps, features = seq.shape
        if steps == 0:
            raise ValueError(
                f"sequence {i} has no time steps (shape {seq.shape}); every "
                "sequence needs at least one.")
        if n_features is None:
            if features == 0:
                raise ValueError(
                    f"sequence {i} has 0 feature(s) (shape {seq.shape}) while"
                    f" a minimum of 1 is required{_context(name)}.")
            n_features = features
        elif features != n_features:
            hint = ""
            if steps == lengths[0]:
                hint = (
                    f" Both have {steps} rows: if each sequence is "
                    "channels-first (n_channels, n_timesteps_i), as aeon "
                    "stores unequal-length series, pass [x.T for x in X].")
            raise ValueError(
                f"sequence {i} has {features} features, but sequence 0 has "
                f"{n_features}: all sequences must have the same number of "
                "features." + hint)
        lengths[i] = steps
        arrays.append(seq)

    if np.all(lengths == lengths[0]):
        _warn_if_channels_first(
            f"X holds {n} sequences of shape {arrays[0].shape}",
            int(lengths[0]), n_features, "[x.T for x in X]")
    out_dtype = _resolve_dtype(dtype, [seq.dtype for seq in arrays])
    seqs = SequenceData(np.empty((int(lengths.sum()), n_features), out_dtype),
                        lengths, kind="ragged")
    offsets = seqs.offsets
    for i, seq in enumerate(arrays):
        try:
            with np.errstate(over="ignore"):
                seqs.data[offsets[i]:offsets[i + 1]] = seq
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"sequence {i}: {exc}") from exc
    return seqs


def _pack_array(X, dtype, name, allow_nan, copy):
    """Validate a 3-D or 2-D array-like.

    scikit-learn's check_array converts it (so DataFrames, sparse and
    complex input, objects and strings are handled and worded as in
    scikit-learn); the rank, size and finiteness checks are ours.
    """
    array = _as_float_array(X, dtype, copy)
    if array is None:
        # Values beyond the float32 range become inf, reported below.
        with np.errstate(over="ignore"):
            array = check_array(
                X, accept_sparse=False, dtype=dtype, order="C", copy=copy,
                ensure_all_finite=False, ensure_2d=False, allow_nd=True,
                ensure_min_samples=0, ensure_min_features=0, estimator=name,
                input_name="X")
    if array.ndim == 3:
        n_samples, n_steps, n_features = array.shape
        kind = "3d"
    elif array.ndim == 2:
        (n_samples, n_features), n_steps = array.shape, 1
        kind = "2d"
    else:
        if array.ndim == 0:
            got = f"a scalar ({array!r})"
        else:
            got = f"a {array.ndim}-D array of shape {array.shape}"
        hint = ""
        if array.ndim == 1:
            hint = (" Reshape your data with X.reshape(1, -1, 1) if it is one"
                    " univariate sequence, or X.reshape(-1, 1) if it holds "
                    "one-step samples of a single feature.")
        raise ValueError(
            f"X is {got}, but sequences must be given as {_ACCEPTED_SHAPES}."
            + hint)
    context = _context(name)
    if n_samples == 0:
        raise ValueError(
            f"Found array with 0 sample(s) (shape={array.shape}) while a "
            f"minimum of 1 is required{context}.")
    if n_features == 0:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={array.shape}) while a "
            f"minimum of 1 is required{context}.")
    if n_steps == 0:
        raise ValueError(
            f"Found array with 0 time step(s) (shape={array.shape}) while a "
            f"minimum of 1 is required{context}: the sequences have no time "
            "steps.")
    data = array.reshape(n_samples * n_steps, n_features)
    _check_finite(data, allow_nan, name)
    if kind == "3d":
        _warn_if_channels_first(f"X has shape {array.shape}", n_steps,
                                n_features, "X.transpose(0, 2, 1)")
    return SequenceData._equal_lengths(data, n_samples, kind)


def _warn_if_channels_first(what, n_steps, n_features, fix):
    """Warn when sequences of ``n_steps`` steps of ``n_features`` features
    look like aeon's or sktime's channels-first series (see
    CHANNELS_FIRST_RATIO)."""
    if (n_features >= CHANNELS_FIRST_RATIO * n_steps
            and n_features >= CHANNELS_FIRST_MIN_LENGTH):
        warnings.warn(
            f"{what}: {n_steps} time step(s) of {n_features} features each. "
            "If it is channels-first (n_channels, n_timesteps) per sequence, "
            f"as aeon and sktime store series, pass {fix}: seqnet reads "
            "(n_timesteps, n_features) per sequence. If it really has few "
            "steps of many features, silence this with "
            "warnings.filterwarnings('ignore', "
            "category=seqnet.frames.ChannelsFirstWarning).",
            ChannelsFirstWarning, stacklevel=_stacklevel_outside_seqnet())


def _stacklevel_outside_seqnet():
    """The ``stacklevel`` that points a warning at the first caller outside
    seqnet (the user's ``fit``), however deep in seqnet it is raised."""
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def _as_float_array(X, dtype, copy):
    """check_array's answer for a plain float32 or float64 ndarray, or None.

    Such an array needs none of what check_array does for other input
    (DataFrame, array-API and dtype detection, which would dominate
    predicting one short sequence: bench/test_bench_kernels.py): it only changes dtype and
    layout as asked, and copies when asked to or when it must.  Anything
    else -- subclasses, other dtypes, byte-swapped floats, a ``dtype`` that
    is not a float dtype or tuple of them -- returns None for check_array.
    """
    if type(X) is not np.ndarray or X.dtype not in FLOAT_DTYPES:
        return None
    if isinstance(dtype, (tuple, list)):
        # As check_array resolves a tuple: keep the input's dtype if listed.
        out = X.dtype if X.dtype in dtype else dtype[0]
    else:
        out = dtype
    if out not in FLOAT_DTYPES:
        return None
    if X.dtype == out and X.flags.c_contiguous:
        return X.copy() if copy else X
    # Values beyond the float32 range become inf, reported by the caller.
    with np.errstate(over="ignore"):
        return np.asarray(X, dtype=out, order="C")


def _batch_buffer(out, shape, dtype):
    """A C-contiguous array of ``shape``: new, or a view of ``out``."""
    if out is None:
        return np.empty(shape, dtype=dtype)
    needed = int(np.prod(shape))
    if not isinstance(out, np.ndarray) or out.dtype != dtype:
        raise ValueError(
            f"out must be a numpy array of dtype {dtype}, got "
            f"{getattr(out, 'dtype', type(out).__name__)}.")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError("out must be a writeable C-contiguous array.")
    if out.size < needed:
        raise ValueError(
            f"out has {out.size} elements, but the batch {shape} needs "
            f"{needed}.")
    return out.reshape(-1)[:needed].reshape(shape)


def _check_finite(values, allow_nan, name, input_name="X"):
    """Raise scikit-learn's ValueError for NaN (unless allowed) or inf."""
    # One pass in C for float arrays, no temporary; the messages below
    # only once something is wrong.
    if _kernels.all_finite(values):
        return
    if not allow_nan and np.isnan(values).any():
        message = f"Input {input_name} contains NaN."
        if name and input_name == "X":
            message += (f"\n{name} does not accept missing values encoded as"
                        " NaN natively.")
        raise ValueError(message)
    if np.isinf(values).any():
        raise ValueError(
            f"Input {input_name} contains infinity or a value too large for "
            f"{values.dtype!r}.")


def _is_target_list(y):
    """Whether y is a container with one array of targets per sequence."""
    if isinstance(y, np.ndarray):
        return (y.dtype == object and y.ndim == 1
                and any(np.ndim(v) >= 1 for v in y))
    if isinstance(y, (list, tuple)):
        return any(np.ndim(v) >= 1 for v in y)
    return False
