"""seqnet's sequence models as aeon classifiers and regressors.

aeon stores a collection of series channels-first: a "numpy3D" array
``(n_cases, n_channels, n_timepoints)`` or, for unequal lengths, an
"np-list" of ``(n_channels, n_timepoints_i)`` arrays.  seqnet reads each
sequence time-major, ``(n_timepoints, n_features)``.  The adapters here
take aeon's layouts (and every other collection type aeon converts to
them), transpose each case -- a view, which seqnet's own validation then
copies once into its packed layout -- and hand it to a seqnet estimator,
so they run in aeon's pipelines and pass its ``check_estimator``.

aeon is an optional extra: ``pip install "seqnet[aeon]"``.  ``import
seqnet`` never imports this module; ``import seqnet.aeon`` does.
"""
import warnings

try:
    from aeon.classification.base import BaseClassifier
    from aeon.regression.base import BaseRegressor
    from aeon.utils.validation import check_n_jobs
except ModuleNotFoundError as exc:
    # Only aeon itself missing gets this message: a missing dependency of
    # an installed aeon is a different problem, reported as is.
    if (exc.name or "").split(".")[0] != "aeon":
        raise
    raise ImportError(
        "seqnet.aeon needs aeon, an optional extra of seqnet: "
        'pip install "seqnet[aeon]"') from exc

from .classification import SequenceClassifier
from .frames import ChannelsFirstWarning
from .regression import SequenceRegressor

__all__ = ["SeqnetClassifier", "SeqnetRegressor"]

# The seqnet parameters the adapters do not take, and why.  Every other
# parameter of SequenceClassifier / SequenceRegressor is taken with the
# same name and default (tests/test_aeon.py checks this), except n_jobs,
# whose default follows aeon.
NOT_TAKEN = {
    "input": "aeon collections hold numeric series; the adapters always "
             "read them as numbers (input='numeric')",
    "embedding_size": "token input only",
    "min_frequency": "token input only",
    "max_tokens": "token input only",
    "warm_start": "aeon's fit starts with reset(), which drops the fitted "
                  "model, so there is nothing to continue from",
    "tbptt_length": "only per-step objectives truncate BPTT; many-to-one "
                    "models always backpropagate through whole sequences",
}

_PARAMS_DOC = """
    Parameters
    ----------
    cell, hidden_sizes, bidirectional, peepholes, activation, forget_bias, \
dropout, l1, l2, optimizer, learning_rate, momentum, batch_size, \
max_epochs, clip_norm, clip_value, early_stopping, validation_fraction, \
n_iter_no_change, tol{class_weight}, random_state, dtype, verbose, \
learning_rate_schedule, learning_rate_decay, learning_rate_patience, \
min_learning_rate, warmup_epochs
        As in :class:`seqnet.{seqnet_class}`, with the same defaults.
        ``random_state`` makes fits bit-identical whatever ``n_jobs``.
    n_jobs : int or None, default=1
        Threads of seqnet's C kernels, by aeon's convention (its
        ``check_n_jobs``): one by default, -1 every core, None or 0 one.
        The results are the same bits for any value.
"""

_ATTRIBUTES_DOC = """
    Attributes
    ----------
    estimator_ : {seqnet_class}
        The fitted seqnet model, with ``loss_curve_``, ``n_iter_``,
        ``parameters_`` and the rest of its API.
"""


def _time_major(X):
    """aeon's channels-first collection (numpy3D or np-list) as seqnet's
    time-major sequences: each case transposed, as a view."""
    if isinstance(X, list):
        return [x.T for x in X]
    return X.transpose(0, 2, 1)


class _SeqnetAdapter:
    """What both adapters share: the seqnet estimator built from their
    parameters, and the change of layout on the way in."""

    _seqnet_class = None

    _tags = {
        "capability:multivariate": True,
        "capability:unequal_length": True,
        "capability:multithreading": True,
        "X_inner_type": ["numpy3D", "np-list"],
        # random_state fixes every random draw and the kernels give the
        # same bits for any thread count.
        "non_deterministic": False,
        "algorithm_type": "deeplearning",
    }

    def _call(self, method, X, *args):
        """``self.estimator_.method`` on X in seqnet's layout.  seqnet's
        warning that a 3-D array may be channels-first is silenced: here
        the layout is known, and a series with many channels and few
        time points really has that shape.  (``catch_warnings`` changes
        the process's filters for the call: seqnet's validation has no
        per-call switch for the warning.)"""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ChannelsFirstWarning)
            return getattr(self.estimator_, method)(_time_major(X), *args)

    def _fit(self, X, y):
        self._n_jobs = check_n_jobs(self.n_jobs)
        params = self.get_params(deep=False)
        params["n_jobs"] = self._n_jobs
        self.estimator_ = self._seqnet_class(input="numeric", **params)
        self._call("fit", X, y)
        return self

    def _predict(self, X):
        return self._call("predict", X)

    @classmethod
    def _get_test_params(cls, parameter_set="default"):
        """Small fast models for aeon's estimator checks: an LSTM, and a
        stacked bidirectional GRU in float64."""
        return [
            {"hidden_sizes": 4, "max_epochs": 2, "batch_size": 4,
             "random_state": 0},
            {"cell": "gru", "hidden_sizes": (4, 3), "bidirectional": True,
             "max_epochs": 2, "batch_size": 4, "dtype": "float64",
             "random_state": 0},
        ]


class SeqnetClassifier(_SeqnetAdapter, BaseClassifier):
    __doc__ = """seqnet's :class:`~seqnet.SequenceClassifier` as an aeon
    classifier.

    Reads aeon's collections -- ``(n_cases, n_channels, n_timepoints)``
    arrays, lists of ``(n_channels, n_timepoints_i)`` arrays of unequal
    lengths, and every type aeon converts to them -- and gives the same
    predictions, bit for bit, as ``SequenceClassifier`` with the same
    parameters on the transposed data ``X.transpose(0, 2, 1)``.
    """ + _PARAMS_DOC.format(class_weight=", class_weight",
                             seqnet_class="SequenceClassifier") + \
        _ATTRIBUTES_DOC.format(seqnet_class="SequenceClassifier") + """\
    classes_ : ndarray of shape (n_classes,)
    n_classes_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from seqnet.aeon import SeqnetClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((40, 2, 12))   # (cases, channels, time)
    >>> y = (X[:, 0].sum(axis=1) > 0).astype(int)
    >>> clf = SeqnetClassifier(hidden_sizes=8, max_epochs=30,
    ...                        random_state=0).fit(X, y)
    >>> clf.predict(X[:3]).shape
    (3,)
    """

    _seqnet_class = SequenceClassifier

    def __init__(self, *, cell="lstm", hidden_sizes=(64,),
                 bidirectional=False, peepholes=False, activation="tanh",
                 forget_bias=1.0, dropout=0.0, l1=0.0, l2=0.0,
                 optimizer="adam", learning_rate=1e-3, momentum=0.9,
                 batch_size=32, max_epochs=100, clip_norm=5.0,
                 clip_value=None, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=10, tol=1e-4,
                 class_weight=None, random_state=None, n_jobs=1,
                 dtype="float32", verbose=0,
                 learning_rate_schedule="constant", learning_rate_decay=None,
                 learning_rate_patience=2, min_learning_rate=0.0,
                 warmup_epochs=0):
        self.cell = cell
        self.hidden_sizes = hidden_sizes
        self.bidirectional = bidirectional
        self.peepholes = peepholes
        self.activation = activation
        self.forget_bias = forget_bias
        self.dropout = dropout
        self.l1 = l1
        self.l2 = l2
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.clip_norm = clip_norm
        self.clip_value = clip_value
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.class_weight = class_weight
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.dtype = dtype
        self.verbose = verbose
        self.learning_rate_schedule = learning_rate_schedule
        self.learning_rate_decay = learning_rate_decay
        self.learning_rate_patience = learning_rate_patience
        self.min_learning_rate = min_learning_rate
        self.warmup_epochs = warmup_epochs
        super().__init__()

    def _predict_proba(self, X):
        # Columns in the order of classes_: aeon's and seqnet's are both
        # np.unique(y).
        return self._call("predict_proba", X)


class SeqnetRegressor(_SeqnetAdapter, BaseRegressor):
    __doc__ = """seqnet's :class:`~seqnet.SequenceRegressor` as an aeon
    regressor.

    Reads aeon's collections as :class:`SeqnetClassifier` does and gives
    the same predictions, bit for bit, as ``SequenceRegressor`` with the
    same parameters on the transposed data ``X.transpose(0, 2, 1)``.
    """ + _PARAMS_DOC.format(class_weight="",
                             seqnet_class="SequenceRegressor") + \
        _ATTRIBUTES_DOC.format(seqnet_class="SequenceRegressor") + """
    Examples
    --------
    >>> import numpy as np
    >>> from seqnet.aeon import SeqnetRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((40, 1, 8))    # (cases, channels, time)
    >>> reg = SeqnetRegressor(hidden_sizes=8, max_epochs=20,
    ...                       random_state=0).fit(X, X.sum(axis=(1, 2)))
    >>> reg.predict(X[:2]).shape
    (2,)
    """

    _seqnet_class = SequenceRegressor

    def __init__(self, *, cell="lstm", hidden_sizes=(64,),
                 bidirectional=False, peepholes=False, activation="tanh",
                 forget_bias=1.0, dropout=0.0, l1=0.0, l2=0.0,
                 optimizer="adam", learning_rate=1e-3, momentum=0.9,
                 batch_size=32, max_epochs=100, clip_norm=5.0,
                 clip_value=None, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=10, tol=1e-4,
                 random_state=None, n_jobs=1, dtype="float32", verbose=0,
                 learning_rate_schedule="constant", learning_rate_decay=None,
                 learning_rate_patience=2, min_learning_rate=0.0,
                 warmup_epochs=0):
        self.cell = cell
        self.hidden_sizes = hidden_sizes
        self.bidirectional = bidirectional
        self.peepholes = peepholes
        self.activation = activation
        self.forget_bias = forget_bias
        self.dropout = dropout
        self.l1 = l1
        self.l2 = l2
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.clip_norm = clip_norm
        self.clip_value = clip_value
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.dtype = dtype
        self.verbose = verbose
        self.learning_rate_schedule = learning_rate_schedule
        self.learning_rate_decay = learning_rate_decay
        self.learning_rate_patience = learning_rate_patience
        self.min_learning_rate = min_learning_rate
        self.warmup_epochs = warmup_epochs
        super().__init__()
