"""Preprocessing for sequence data."""
import numpy as np
from sklearn.base import (BaseEstimator, OneToOneFeatureMixin,
                          TransformerMixin, _fit_context)
from sklearn.utils.validation import check_is_fitted

from ._validation import (FLOAT_DTYPES, check_feature_names, check_sequences,
                          to_format)

__all__ = ["SequenceScaler"]


class SequenceScaler(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Standardise features over the valid time steps of sequences.

    Each feature is centred and scaled to unit variance as
    :class:`~sklearn.preprocessing.StandardScaler` does, with the mean and
    standard deviation taken over every time step of every sequence, each
    step weighted equally, and never over padding.  Unlike
    ``StandardScaler`` it accepts 3-D arrays and lists of sequences of
    different lengths, and answers in the format it was given, so it can
    precede a recurrent estimator in a :class:`~sklearn.pipeline.Pipeline`.

    Parameters
    ----------
    with_mean : bool, default=True
        If True, subtract the mean of each feature.
    with_std : bool, default=True
        If True, divide each feature by its standard deviation.
    copy : bool, default=True
        If False, scale in place where possible: a 3-D or 2-D float array
        of the dtype the output has is then modified and returned.  Lists
        of sequences are always copied.

    Attributes
    ----------
    mean_ : ndarray of shape (n_features_in_,), dtype float64
        Mean of each feature over all time steps seen.  Computed whatever
        ``with_mean`` is (it only decides whether ``transform`` subtracts
        it).
    var_ : ndarray of shape (n_features_in_,), dtype float64
        Variance of each feature over all time steps seen (computed whatever
        ``with_std`` is).
    scale_ : ndarray of shape (n_features_in_,), dtype float64
        Standard deviation of each feature, 1.0 for a constant feature (so
        that it is left unscaled rather than divided by zero).
    n_samples_seen_ : int
        Number of time steps the statistics were computed from (not the
        number of sequences).
    n_features_in_ : int
        Number of features per time step seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of the DataFrame seen during ``fit``; only set when it
        had string column names.

    See Also
    --------
    sklearn.preprocessing.StandardScaler : The same for 2-D tables.

    Notes
    -----
    Output dtype: float32 and float64 input keep their dtype, anything else
    becomes float64.  Output format: a 3-D array for a 3-D array, a 2-D
    array for a 2-D array-like, and a list of ``(T_i, n_features)`` arrays
    for a list of sequences (a 1-D sequence ``(T_i,)`` comes back as
    ``(T_i, 1)``).  ``set_output(transform="pandas")`` only suits 2-D input.

    Statistics are accumulated in float64, with a two-pass variance per
    call and pairwise merging across ``partial_fit`` calls.

    Examples
    --------
    >>> import numpy as np
    >>> from seqnet.preprocessing import SequenceScaler
    >>> X = [np.array([[0.0], [2.0]]), np.array([[4.0], [6.0], [8.0]])]
    >>> scaler = SequenceScaler().fit(X)
    >>> scaler.mean_, scaler.n_samples_seen_
    (array([4.]), 5)
    >>> [x.ravel().round(3).tolist() for x in scaler.transform(X)]
    [[-1.414, -0.707], [0.0, 0.707, 1.414]]
    """

    _parameter_constraints = {
        "with_mean": ["boolean"],
        "with_std": ["boolean"],
        "copy": ["boolean"],
    }

    def __init__(self, *, with_mean=True, with_std=True, copy=True):
        self.with_mean = with_mean
        self.with_std = with_std
        self.copy = copy

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Compute the mean and standard deviation of each feature.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps, n_features) or \
(n_samples, n_features), or list of array-like
            The sequences: a 3-D array, a 2-D array of one-step sequences,
            or a list of ``(T_i, n_features)`` (or ``(T_i,)``) arrays.
        y : None
            Ignored.

        Returns
        -------
        self : SequenceScaler
            The fitted scaler.
        """
        return self._update(X, reset=True)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Update the statistics with more sequences.

        The result of several calls equals one ``fit`` on all the sequences
        together (up to rounding), so data larger than memory can be
        scaled block by block.

        Parameters
        ----------
        X : array-like or list of array-like
            More sequences, in any format ``fit`` accepts.
        y : None
            Ignored.

        Returns
        -------
        self : SequenceScaler
            The updated scaler.
        """
        return self._update(X, reset=not hasattr(self, "n_samples_seen_"))

    def transform(self, X, copy=None):
        """Standardise sequences with the fitted statistics.

        Parameters
        ----------
        X : array-like or list of array-like
            Sequences with ``n_features_in_`` features, in any format
            ``fit`` accepts.
        copy : bool, default=None
            Overrides the ``copy`` parameter when given.

        Returns
        -------
        X_scaled : ndarray or list of ndarray
            The scaled sequences, in the format of ``X``.
        """
        data, seqs = self._validated_steps(X, copy)
        if self.with_mean:
            data -= self.mean_.astype(data.dtype)
        if self.with_std:
            data /= self.scale_.astype(data.dtype)
        return to_format(data, seqs.lengths, seqs.kind)

    def inverse_transform(self, X, copy=None):
        """Undo :meth:`transform`: scale back and add the mean.

        Parameters
        ----------
        X : array-like or list of array-like
            Scaled sequences, in any format ``fit`` accepts.
        copy : bool, default=None
            Overrides the ``copy`` parameter when given.

        Returns
        -------
        X_original : ndarray or list of ndarray
            The sequences in their original units, in the format of ``X``.
        """
        data, seqs = self._validated_steps(X, copy)
        if self.with_std:
            data *= self.scale_.astype(data.dtype)
        if self.with_mean:
            data += self.mean_.astype(data.dtype)
        return to_format(data, seqs.lengths, seqs.kind)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def _update(self, X, reset):
        """Fold the time steps of X into the statistics (from scratch if
        ``reset``)."""
        check_feature_names(self, X, reset=reset)
        seqs = check_sequences(
            X, dtype=FLOAT_DTYPES, estimator=self,
            ensure_n_features=None if reset else self.n_features_in_)
        steps = seqs.data
        n_new = steps.shape[0]
        # Moments of the steps shifted by the first one: a constant feature
        # then has exactly its value as mean and 0 as variance, however
        # large it is (unshifted, 1e300's mean is off by ulps of 1e300).
        first = steps[0].astype(np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            shifted = steps - first
            mean_new = first + shifted.mean(axis=0)
            var_new = shifted.var(axis=0)

        if reset:
            self.n_features_in_ = seqs.n_features
            n_total, mean, var = n_new, mean_new, var_new
        else:
            # Chan, Golub and LeVeque's pairwise update of the mean and the
            # sum of squared deviations from it.
            n_old = self.n_samples_seen_
            n_total = n_old + n_new
            delta = mean_new - self.mean_
            mean = self.mean_ + delta * (n_new / n_total)
            with np.errstate(over="ignore", invalid="ignore"):
                sum_sq = (self.var_ * n_old + var_new * n_new
                          + delta ** 2 * (n_old * n_new / n_total))
                var = sum_sq / n_total

        _check_representable(mean, var, self.n_features_in_)
        self.n_samples_seen_ = int(n_total)
        self.mean_ = mean
        self.var_ = var
        self.scale_ = _scale_from_var(var, mean, n_total)
        return self

    def _validated_steps(self, X, copy):
        """Check X against the fit; return writeable packed steps and X's
        SequenceData."""
        check_is_fitted(self)
        copy = self.copy if copy is None else copy
        check_feature_names(self, X, reset=False)
        seqs = check_sequences(X, dtype=FLOAT_DTYPES, estimator=self,
                               ensure_n_features=self.n_features_in_,
                               copy=copy)
        data = seqs.data
        if not data.flags.writeable:
            data = data.copy()
        return data, seqs


def _check_representable(mean, var, n_features):
    """Refuse statistics that overflowed float64: features spread over more
    than about 1e154 have a variance float64 cannot hold, and their scaled
    values would silently come out 0."""
    bad = np.flatnonzero(~(np.isfinite(mean) & np.isfinite(var)))
    if bad.size:
        shown = ", ".join(str(j) for j in bad[:5])
        more = f" and {bad.size - 5} more" if bad.size > 5 else ""
        raise ValueError(
            f"feature(s) {shown}{more} of {n_features} spread too widely for "
            "a float64 mean and variance (their squared deviations overflow)"
            ": divide them by a large power of ten before scaling.")


def _scale_from_var(var, mean, n_samples):
    """Standard deviations, with 1.0 for features that are constant.

    A constant feature's float64 variance need not come out exactly 0: the
    computed mean can be off by a few ulps of ``|mean|``, summed over
    ``n_samples`` steps.  Variances below that rounding level count as 0.
    """
    scale = np.sqrt(var)
    rounding = n_samples * np.finfo(np.float64).eps * np.abs(mean)
    scale[scale <= rounding] = 1.0
    return scale
