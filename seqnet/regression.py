"""Regression on whole sequences: one value or vector per sequence."""
import numpy as np
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score

from ._base import BaseSequenceEstimator
from ._monitor import HISTORY_DOC
from ._stateful import StatefulMixin
from .classification import _CLASS_WEIGHT_DOC, _CLASSIFIER_DOC_PARAMS


class SequenceRegressor(StatefulMixin, RegressorMixin, BaseSequenceEstimator):
    # Assigned, as built from shared parts (see SequenceClassifier).
    __doc__ = """Recurrent network regressing whole sequences (many-to-one).

    The state at each sequence's last valid step feeds a linear output
    layer trained with mean squared error. ``y`` may be 1-D (one value per
    sequence) or 2-D (a vector per sequence).
    """ + _CLASSIFIER_DOC_PARAMS.replace(_CLASS_WEIGHT_DOC, "") + """
    Attributes
    ----------
    n_features_in_ : int
        Numeric input only.
    vocabulary_ : dict
        Token input only: each known token's code (0 is the unknown token).
    n_outputs_ : int
    loss_curve_ : list of float
        Mean training loss (MSE) of each epoch.
    validation_loss_curve_, validation_scores_ : list of float
        Per epoch, with ``early_stopping`` (scores are R^2).
    best_validation_score_ : float or None
    n_iter_ : int
""" + HISTORY_DOC + """\
    parameters_ : dict of str to ndarray

    Examples
    --------
    >>> import numpy as np
    >>> from seqnet import SequenceRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((50, 6, 1))
    >>> y = X.sum(axis=(1, 2))
    >>> reg = SequenceRegressor(hidden_sizes=8, max_epochs=20,
    ...                         random_state=0).fit(X, y)
    >>> reg.predict(X[:2]).shape
    (2,)
    """

    def _n_outputs(self):
        return self.n_outputs_

    def _encode_targets(self, y, seqs, fitting):
        if y is None:
            raise ValueError("SequenceRegressor requires y to be passed, but "
                             "the target y is None")
        y = np.asarray(y)
        if y.dtype.kind == "c":
            # astype(float) would drop the imaginary part with a warning.
            raise ValueError("Complex data not supported for y")
        if y.dtype.kind not in "biuf":
            try:
                y = y.astype(np.float64)
            except (TypeError, ValueError):
                raise ValueError("y must be numeric for a regressor") from None
        if y.ndim not in (1, 2):
            raise ValueError(f"y must be 1-D or 2-D, got {y.ndim} dimensions")
        if len(y) != len(seqs):
            raise ValueError(f"X has {len(seqs)} sequences but y has "
                             f"{len(y)} values")
        with np.errstate(over="ignore"):
            y2 = y.reshape(len(y), -1).astype(self._real_dtype() if fitting
                                              else self._net.dtype)
        # Checked after the cast: 1e39 is finite, but not in float32.
        if not np.all(np.isfinite(y2)):
            raise ValueError("Input y contains NaN, infinity or a value too "
                             f"large for {y2.dtype}.")
        if fitting:
            self._y_1d = y.ndim == 1
            self.n_outputs_ = y2.shape[1]
        elif y2.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {y2.shape[1]} outputs, the model was "
                             f"fitted with {self.n_outputs_}")
        return np.ascontiguousarray(y2)

    def _batch_targets(self, targets, idx, order, lengths):
        return targets[idx]

    _head_kernel = "linear_mse"

    def _score_outputs(self, outputs, targets, idx):
        return float(r2_score(targets[idx], outputs))

    def _validation_loss(self, outputs, targets, idx):
        return float(np.mean((outputs.astype(np.float64) - targets[idx]) ** 2))

    def fit(self, X, y, sample_weight=None):
        """Train on sequences X with a value (or vector) per sequence.

        Parameters
        ----------
        X : sequences (see SequenceClassifier.fit)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight)

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y)."""
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X):
        """Predicted values: (n_samples,) if fitted on 1-D y, else
        (n_samples, n_outputs)."""
        self._check_fitted()
        out = self._forward_outputs(self._check_X(X, reset=False))
        # float64 whatever the model's dtype, as scikit-learn's regressors.
        out = out.astype(np.float64)
        return out[:, 0] if self._y_1d else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
