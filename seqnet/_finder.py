"""The learning-rate range test (Smith 2017; fastai's lr_find).

Train a copy of the estimator from its initial weights for a bounded number
of updates while the rate rises geometrically from ``min_learning_rate`` to
``max_learning_rate``, record the loss of every update, smooth it, and
suggest a rate from where it falls fastest or bottoms out.  The copy runs
the estimators' own training loop (every estimator, CharRNN included); the
test only replaces the epoch's bookkeeping with one that sets the rate of
the next update and stops the fit when the updates are done or the loss
diverges.
"""
import math
from numbers import Integral, Real

import numpy as np
from sklearn.base import clone

from ._base import BaseSequenceEstimator
from ._monitor import EpochMonitor

RULES = ("minimum", "steepest")


class _Done(Exception):
    """Ends the copy's fit: the range test has what it needs."""


class LearningRateFinderResult:
    """What ``find_learning_rate`` measured.

    Attributes
    ----------
    learning_rates : ndarray
        The rate of every update run, rising geometrically.
    losses : ndarray
        The loss of those updates, smoothed (a bias-corrected exponential
        moving average, as fastai's).
    raw_losses : ndarray
        The loss of every update's batch, unsmoothed.
    suggestion : float
        The suggested ``learning_rate``.
    rule : str
        How it was chosen: "minimum" (a tenth of the rate at the smoothed
        loss's minimum) or "steepest" (the rate where the smoothed loss
        falls fastest against log10 of the rate, between the first tenth
        of the updates and its minimum).
    stopped_early : bool
        Whether the loss diverged before the last rate.
    """

    def __init__(self, learning_rates, losses, raw_losses, suggestion, rule,
                 stopped_early):
        self.learning_rates = learning_rates
        self.losses = losses
        self.raw_losses = raw_losses
        self.suggestion = suggestion
        self.rule = rule
        self.stopped_early = stopped_early

    def plot(self, ax=None):
        """The smoothed loss against the rate (log scale) with the
        suggestion marked; returns the matplotlib Axes."""
        from .plotting import plot_learning_rate_finder
        return plot_learning_rate_finder(self, ax=ax)

    def __repr__(self):
        return (f"LearningRateFinderResult(suggestion={self.suggestion:.3g}, "
                f"rule={self.rule!r}, updates={len(self.learning_rates)})")


class _RangeTest(EpochMonitor):
    """The bookkeeping of the copy's epochs: after every update, the loss
    is recorded and the next rate set; enough updates, or a diverging loss,
    end the fit."""

    def __init__(self, est, rates, smoothing, divergence):
        super().__init__(est._net, None)
        self.est, self.rates = est, rates
        self.smoothing, self.divergence = smoothing, divergence
        self.raw, self.smoothed = [], []
        self.avg, self.best, self.diverged = 0.0, math.inf, False

    def start(self):
        """Called as the epoch starts, after the schedule set its rate."""
        self.est._schedule.rate = float(self.rates[len(self.raw)])
        return self

    def after_update(self, params, grad_norm, loss):
        k = len(self.raw)
        beta = self.smoothing
        self.raw.append(loss)
        if not math.isfinite(loss):
            self.diverged = True
            raise _Done
        self.avg = beta * self.avg + (1 - beta) * loss
        smooth = self.avg / (1 - beta ** (k + 1))
        self.smoothed.append(smooth)
        self.best = min(self.best, smooth)
        if k > 0 and smooth > self.divergence * self.best:
            self.diverged = True
            raise _Done
        if k + 1 == len(self.rates):
            raise _Done
        self.est._schedule.rate = float(self.rates[k + 1])


def _check(estimator, min_learning_rate, max_learning_rate, n_updates,
           smoothing, divergence, rule):
    if not isinstance(estimator, BaseSequenceEstimator):
        raise TypeError("find_learning_rate takes a seqnet estimator, got "
                        f"{type(estimator).__name__}")
    for name, value in (("min_learning_rate", min_learning_rate),
                        ("max_learning_rate", max_learning_rate)):
        if not isinstance(value, Real) or not 0 < value < math.inf:
            raise ValueError(f"{name} must be a positive finite number, got "
                             f"{value!r}")
    if not min_learning_rate < max_learning_rate:
        raise ValueError(f"min_learning_rate={min_learning_rate} must be "
                         f"below max_learning_rate={max_learning_rate}")
    if not isinstance(n_updates, Integral) or n_updates < 5:
        raise ValueError(f"n_updates must be an int >= 5, got {n_updates!r}")
    if not isinstance(smoothing, Real) or not 0 <= smoothing < 1:
        raise ValueError(f"smoothing must be in [0, 1), got {smoothing!r}")
    if not isinstance(divergence, Real) or not divergence > 1:
        raise ValueError(f"divergence must be > 1, got {divergence!r}")
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")


def _suggest(rates, losses, rule):
    low = int(np.argmin(losses))
    # "steepest" skips the first tenth of the updates, as fastai does: there
    # the moving average is young and batch-to-batch noise dominates the
    # slope (it picked the lowest rate on 2 of 10 runs of
    # bench/finder_check.py without this).
    skip = len(losses) // 10
    if rule == "minimum" or low < skip + 2:
        return float(rates[low]) / 10
    slope = np.gradient(losses[:low + 1], np.log10(rates[:low + 1]))
    return float(rates[skip + int(np.argmin(slope[skip:]))])


def find_learning_rate(estimator, X, y=None, *, min_learning_rate=1e-6,
                       max_learning_rate=1.0, n_updates=100, smoothing=0.9,
                       divergence=4.0, rule="minimum", random_state=None,
                       **fit_params):
    """Suggest a learning rate by the range test.

    A copy of ``estimator`` (``sklearn.base.clone``: same parameters,
    unfitted) trains from its initial weights for ``n_updates`` updates
    (mini-batches, or truncated-BPTT chunks), the rate rising geometrically
    from ``min_learning_rate`` to ``max_learning_rate``, and stops early
    once the smoothed loss exceeds ``divergence`` times its minimum.
    ``estimator`` itself is not touched.  The copy trains without early
    stopping, schedule or warm-up; everything else (optimiser, batch size,
    clipping, ...) is the estimator's.

    Parameters
    ----------
    estimator : seqnet estimator
    X, y
        What ``estimator.fit`` takes (CharRNN: the text, no y).
    min_learning_rate, max_learning_rate : float, default=1e-6, 1.0
        The range of rates; min must be below max.
    n_updates : int, default=100
        Updates at most (epochs repeat when the data has fewer batches).
    smoothing : float in [0, 1), default=0.9
        Weight of the past in the moving average of the loss.
    divergence : float, default=4.0
        Stop when the smoothed loss exceeds this multiple of its minimum.
    rule : {"minimum", "steepest"}, default="minimum"
        The suggestion: a tenth of the rate at the smoothed loss's minimum,
        or the rate where it falls fastest (after the first tenth of the
        updates, before its minimum).
    random_state : int, RandomState instance or None, default=None
        The copy's seed (initial weights, batch order); None keeps the
        estimator's.  With a fixed seed the result is deterministic.
    **fit_params
        Passed to ``fit`` (e.g. ``sample_weight``).

    Returns
    -------
    LearningRateFinderResult
        ``learning_rates``, ``losses`` (smoothed), ``suggestion``, ``rule``
        and ``plot()``.

    Examples
    --------
    >>> import numpy as np
    >>> from seqnet import SequenceClassifier, find_learning_rate
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((64, 8, 2))
    >>> y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    >>> clf = SequenceClassifier(hidden_sizes=8, batch_size=8)
    >>> found = find_learning_rate(clf, X, y, n_updates=40, random_state=0)
    >>> 1e-6 <= found.suggestion <= 1.0
    True
    """
    _check(estimator, min_learning_rate, max_learning_rate, n_updates,
           smoothing, divergence, rule)
    est = clone(estimator)
    params = dict(learning_rate=float(min_learning_rate),
                  learning_rate_schedule="constant", learning_rate_decay=None,
                  warmup_epochs=0, early_stopping=False, warm_start=False,
                  verbose=0, max_epochs=int(n_updates),
                  n_iter_no_change=int(n_updates))
    if "max_time" in est.get_params():
        params["max_time"] = None
    if random_state is not None:
        params["random_state"] = random_state
    est.set_params(**params)
    rates = np.geomspace(min_learning_rate, max_learning_rate, n_updates)
    test = None

    def monitor(run):
        nonlocal test
        if test is None:
            test = _RangeTest(est, rates, smoothing, divergence)
        return test.start()

    # An instance attribute: the copy's loop asks it for each epoch's
    # bookkeeping instead of the class's EpochMonitor.
    est._epoch_monitor = monitor
    args = (X,) if y is None else (X, y)
    try:
        est.fit(*args, **fit_params)
    except (_Done, FloatingPointError):
        pass
    if test is None or not test.smoothed:
        raise ValueError("the range test ran no update: the loss of the "
                         "first was not finite")
    n = len(test.smoothed)
    losses = np.array(test.smoothed)
    used = rates[:n]
    return LearningRateFinderResult(
        used, losses, np.array(test.raw[:n]), _suggest(used, losses, rule),
        rule, test.diverged)
