"""Sequences held in other layouts: long DataFrames, channels-first arrays.

seqnet's estimators read a list of arrays ``(T_i, n_features)`` or a 3-D
array ``(n_samples, n_timesteps, n_features)``.  :func:`sequences_from_frame`
turns a long DataFrame (pandas or polars, one row per time step) into that
list.  :class:`ChannelsFirstWarning` is what seqnet says when a 3-D array
looks like aeon's and sktime's ``(n_samples, n_channels, n_timesteps)``.

Neither pandas nor polars is a dependency: a frame is read through the
methods both have (``columns``, ``shape``, ``df[name].to_numpy()``).
"""
import numpy as np

__all__ = ["ChannelsFirstWarning", "sequences_from_frame"]


class ChannelsFirstWarning(UserWarning):
    """A 3-D array looks channels-first: far fewer steps than features.

    aeon and sktime hold equal-length series as ``(n_samples, n_channels,
    n_timesteps)``; seqnet reads ``(n_samples, n_timesteps, n_features)``,
    so such an array would be read as a few steps of very many features.
    seqnet warns when a 3-D array's feature axis is at least 4 times its
    time axis and at least 8 long.  Transpose such data with
    ``X.transpose(0, 2, 1)``; data that really has few steps of many
    features can silence the warning::

        import warnings
        from seqnet.frames import ChannelsFirstWarning
        warnings.filterwarnings("ignore", category=ChannelsFirstWarning)
    """


def sequences_from_frame(df, id, time, *, features=None, target=None,
                         per_step=False, return_ids=False):
    """Read a long DataFrame, one row per time step, into sequences.

    Each distinct value of the ``id`` column is one sequence; its rows,
    ordered by the ``time`` column, are its time steps.  Sequences may have
    different lengths.  The result is what seqnet's estimators take.

    Parameters
    ----------
    df : pandas.DataFrame or polars.DataFrame
        The long table: one row per (id, time) step.  Neither library is
        a dependency of seqnet; the frame's own is used to read it.
    id : str
        The column that says which sequence a row belongs to.  Sequences
        come in the order their ids first appear in ``df`` (the order
        ``df.groupby(id, sort=False)`` gives in pandas), not sorted.
    time : str or None
        The column that orders the steps of a sequence: numbers, dates or
        anything else the column's values can be sorted by.  An (id, time)
        pair may occur only once.  None keeps the rows of each id in the
        order they have in ``df``.
    features : list of str, default=None
        The numeric (bool, int or float) columns that form each step's
        features, in this order.  None takes every column except ``id``,
        ``time`` and ``target``, in the frame's order.
    target : str, default=None
        The column that holds what to predict.  Without ``per_step`` it
        must be constant within each id and gives one value per sequence
        (for :class:`~seqnet.SequenceClassifier` and
        :class:`~seqnet.SequenceRegressor`).
    per_step : bool, default=False
        If True, ``y`` holds the target of every step of every sequence
        (for :class:`~seqnet.SequenceTagger`).  Needs ``target``.
    return_ids : bool, default=False
        If True, also return the id of each sequence.

    Returns
    -------
    X : list of ndarray of shape (T_i, n_features)
        One array per id, its steps in time order.  float32 when every
        feature column is float32, float64 otherwise.
    y : ndarray of shape (n_sequences,) or list of ndarray of shape (T_i,)
        Only with ``target``: one value per sequence, or with
        ``per_step=True`` one array of per-step targets per sequence.
    ids : ndarray of shape (n_sequences,)
        Only with ``return_ids=True``: ``ids[i]`` is the id of ``X[i]``.

    Raises
    ------
    TypeError
        If ``df`` is not a DataFrame, or the id or time values cannot be
        compared with each other.
    ValueError
        If a named column is missing, the frame is empty, an id or time is
        missing, an (id, time) pair repeats, a feature column is not
        numeric or holds a missing or infinite value, or the target is
        missing or varies within an id (without ``per_step``).  The message
        names the column and the id.

    See Also
    --------
    ChannelsFirstWarning : For aeon's and sktime's 3-D arrays.

    Examples
    --------
    >>> import pandas as pd
    >>> from seqnet import sequences_from_frame
    >>> df = pd.DataFrame({"patient": ["b", "b", "a", "b", "a"],
    ...                    "hour": [2, 1, 1, 3, 2],
    ...                    "pulse": [71.0, 70.0, 88.0, 72.0, 90.0],
    ...                    "outcome": ["well", "well", "ill", "well", "ill"]})
    >>> X, y, ids = sequences_from_frame(df, id="patient", time="hour",
    ...                                  target="outcome", return_ids=True)
    >>> ids.tolist(), y.tolist()
    (['b', 'a'], ['well', 'ill'])
    >>> X[0]
    array([[70.],
           [71.],
           [72.]])
    >>> [x.shape for x in X]
    [(3, 1), (2, 1)]
    """
    columns = _frame_columns(df)
    if per_step and target is None:
        raise ValueError("per_step=True needs a target column to read.")
    if time is not None and time == id:
        raise ValueError(f"id and time are the same column {id!r}.")
    features = _feature_names(columns, id, time, target, features)
    for name in [id, time, target, *features]:
        if name is not None and name not in columns:
            raise ValueError(_missing_column_message(df, columns, name))
    if len(df) == 0:
        raise ValueError(f"The frame is empty: it has columns {columns} but "
                         "no rows, so there are no sequences to read.")

    id_values = _column(df, id, "id")
    codes, ids = _first_appearance_codes(id_values, id)
    if time is None:
        order = np.argsort(codes, kind="stable")
        times = None
    else:
        times = _column(df, time, "time")
        try:
            by_time = np.argsort(times, kind="stable")
        except TypeError as exc:
            raise TypeError(
                f"the values of the time column {time!r} cannot be sorted: "
                f"{exc}") from exc
        order = by_time[np.argsort(codes[by_time], kind="stable")]
        times = times[order]
    codes = codes[order]
    lengths = np.bincount(codes, minlength=len(ids))
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])

    def where(row):
        """Say which step row ``row`` (of the sorted rows) is."""
        at = f"id {_show(ids[codes[row]])}"
        if times is not None:
            at += f" at time {_show(times[row])}"
        return at

    if times is not None:
        repeated = np.flatnonzero((codes[1:] == codes[:-1])
                                  & np.asarray(times[1:] == times[:-1],
                                               dtype=bool))
        if repeated.size:
            raise ValueError(
                f"{where(repeated[0])} has more than one row: each ({id!r}, "
                f"{time!r}) pair must occur once, one row per time step.")

    X = _features(df, features, order, where)
    X = np.split(X, starts[1:])
    outputs = [X]
    if target is not None:
        y = _column(df, target, "target", where=where, order=order)
        if per_step:
            y = np.split(y, starts[1:])
        else:
            varies = np.flatnonzero(
                np.asarray(y != np.repeat(y[starts], lengths), dtype=bool))
            if varies.size:
                raise ValueError(
                    f"The target {target!r} varies within {where(varies[0])}"
                    f" ({_show(y[varies[0]])}, but "
                    f"{_show(y[starts[codes[varies[0]]]])} at its first "
                    "step): without per_step=True there is one target per "
                    "sequence. Pass per_step=True for one target per step "
                    "(SequenceTagger).")
            y = y[starts]
        outputs.append(y)
    if return_ids:
        outputs.append(ids)
    return outputs[0] if len(outputs) == 1 else tuple(outputs)


def _frame_columns(df):
    """The column names of a pandas or polars DataFrame, as a list."""
    shape = getattr(df, "shape", None)
    if not (isinstance(shape, tuple) and len(shape) == 2
            and hasattr(df, "columns")):
        hint = ""
        if hasattr(df, "collect"):
            hint = " (a lazy frame: call .collect() first)"
        raise TypeError(
            "df must be a pandas or polars DataFrame with one row per time "
            f"step, got {type(df).__name__}{hint}.")
    return list(df.columns)


def _feature_names(columns, id, time, target, features):
    """The feature columns, as a list, checked against the others."""
    if features is None:
        features = [c for c in columns if c not in (id, time, target)]
        if not features:
            raise ValueError(
                f"The frame has no feature columns: its columns {columns} "
                "are all id, time or target.")
        return features
    features = [features] if isinstance(features, str) else list(features)
    if not features:
        raise ValueError("features is empty: name at least one column.")
    if len(set(features)) != len(features):
        raise ValueError(f"features names a column twice: {features}.")
    if target is not None and target in features:
        raise ValueError(
            f"The target {target!r} is also among the features.")
    return features


def _missing_column_message(df, columns, name):
    message = (f"Column {name!r} is not in the frame; its columns are "
               f"{columns}.")
    if name in (getattr(getattr(df, "index", None), "names", None) or ()):
        message += f" {name!r} is the frame's index: call df.reset_index()."
    return message


def _column(df, name, role, where=None, order=None):
    """The values of column ``name`` as a 1-D NumPy array, refusing missing
    values; reordered by ``order`` when it is given."""
    series = df[name]
    values = np.asarray(series.to_numpy())
    if values.ndim != 1:
        raise ValueError(f"Column {name!r} appears more than once in the "
                         "frame.")
    missing = _missing(series, values)
    if order is not None:
        values, missing = values[order], missing[order]
    if missing.any():
        row = np.flatnonzero(missing)[0]
        at = (f" in {where(row)}" if where is not None
              else f" (row {row} of the frame)")
        raise ValueError(
            f"The {role} column {name!r} has a missing value (NaN or None)"
            f"{at}.")
    return values


def _show(value):
    """``repr`` of a value as the user wrote it: 3, not np.int64(3)."""
    if isinstance(value, (np.datetime64, np.timedelta64)):
        # .item() would give an int for nanosecond units.
        return str(value)
    return repr(value.item() if isinstance(value, np.generic) else value)


def _missing(series, values):
    """Where a column is null (pandas NA/None/NaN/NaT, polars null or
    NaN)."""
    null = series.isna() if hasattr(series, "isna") else series.is_null()
    missing = np.asarray(null.to_numpy(), dtype=bool)
    if values.dtype.kind == "f":
        missing = missing | np.isnan(values)
    elif values.dtype.kind in "mM":
        missing = missing | np.isnat(values)
    return missing


def _first_appearance_codes(values, name):
    """Number the distinct values 0, 1, ... in order of first appearance.

    Returns the code of each row and the distinct values in code order.
    """
    try:
        distinct, first, inverse = np.unique(values, return_index=True,
                                             return_inverse=True)
    except TypeError as exc:
        raise TypeError(
            f"the values of the id column {name!r} cannot be compared with "
            f"each other ({exc}); give them one type, e.g. "
            f"df[{name!r}].astype(str).") from exc
    appearance = np.argsort(first)
    rank = np.empty(len(distinct), dtype=np.intp)
    rank[appearance] = np.arange(len(distinct))
    return rank[inverse.reshape(-1)], distinct[appearance]


def _features(df, names, order, where):
    """The feature columns, rows in ``order``, as one float array."""
    columns = []
    for name in names:
        values = _column(df, name, "feature", where=where, order=order)
        if values.dtype.kind not in "biuf":
            raise ValueError(
                f"The feature column {name!r} is not numeric (its dtype is "
                f"{df[name].dtype}): features must be bool, int or float. "
                "Encode it as numbers first, or leave it out of features.")
        columns.append(values)
    dtype = (np.float32 if all(c.dtype == np.float32 for c in columns)
             else np.float64)
    X = np.empty((len(order), len(columns)), dtype=dtype)
    for j, values in enumerate(columns):
        X[:, j] = values
    bad = ~np.isfinite(X)
    if bad.any():
        row, j = np.argwhere(bad)[0]
        raise ValueError(
            f"The feature column {names[j]!r} holds {X[row, j]} in "
            f"{where(row)}: "
            "seqnet's estimators need finite features.")
    return X
