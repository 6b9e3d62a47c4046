"""Learning-rate schedules: the rate each epoch trains at.

A schedule sets one rate per epoch, which every update of that epoch passes
to the C optimiser step as a scalar.  Epochs of a schedule count from the
start of the optimiser it runs with: ``fit`` (``warm_start=True`` too)
starts the optimiser, and its schedule, anew; ``partial_fit`` continues
both, one schedule epoch per call.  The schedule's state (its epoch, the
current "plateau" rate) pickles with the estimator.

With ``lr = learning_rate``, ``W = warmup_epochs``, ``m =
min_learning_rate`` and ``d = learning_rate_decay``, epoch ``e`` (from 0)
trains at

- warm-up (``e < W``): ``lr * (e + 1) / (W + 1)``, then, with ``t = e - W``:
- "constant": ``lr``;
- "exponential": ``max(m, lr * d**t)`` (``d`` defaults to 0.9);
- "cosine": ``m + (lr - m) * (1 + cos(pi * min(t, T) / T)) / 2`` with
  ``T = max(1, max_epochs - W)``: ``lr`` down to ``m`` over the fit;
- "plateau": ``lr``, multiplied by ``d`` (default 0.2, as MLPClassifier's
  "adaptive" divides by 5) whenever the monitored loss (the validation loss
  with early stopping, else the training loss) has not improved on its best
  by ``tol`` for ``learning_rate_patience`` epochs, never below ``m``.
"""
import math

SCHEDULES = ("constant", "exponential", "plateau", "cosine")
_DEFAULT_DECAY = {"exponential": 0.9, "plateau": 0.2}


def check_schedule(est):
    """Combinations the parameter constraints cannot express."""
    kind = est.learning_rate_schedule
    decay = est.learning_rate_decay
    if decay is not None and kind not in _DEFAULT_DECAY:
        raise ValueError(f"learning_rate_decay applies to the 'exponential' "
                         f"and 'plateau' schedules, not {kind!r}: leave it "
                         "None")
    if kind != "constant" and est.min_learning_rate > est.learning_rate:
        raise ValueError(f"min_learning_rate={est.min_learning_rate} is "
                         f"above learning_rate={est.learning_rate}")


class Schedule:
    """The state of one estimator's schedule: the epochs it has run and,
    for "plateau", how often it has cut the rate, its best loss and the
    epochs since that improved.  The rate itself is computed from the
    estimator's parameters at the start of every epoch (so ``set_params``
    between ``partial_fit`` calls takes effect, as with no schedule) and
    kept in ``rate``, which every update of the epoch reads."""

    def __init__(self, est):
        self.epoch = 0
        self.cuts = 0
        self.best, self.wait = math.inf, 0
        self.rate = float(est.learning_rate)

    def start_epoch(self, est):
        """Set ``rate`` to the rate of the current epoch; returns it."""
        self.rate = rate_of(est, self.epoch, self.cuts)
        return self.rate

    def end_epoch(self, est, monitored):
        """Move on to the next epoch, after one whose monitored loss was
        ``monitored``."""
        if (est.learning_rate_schedule == "plateau"
                and self.epoch >= est.warmup_epochs):
            if monitored < self.best - est.tol:
                self.best, self.wait = monitored, 0
            else:
                self.wait += 1
                if self.wait >= est.learning_rate_patience:
                    self.cuts += 1
                    self.wait = 0
        self.epoch += 1


def decay_of(est):
    """``learning_rate_decay``, or the schedule's default for None."""
    d = est.learning_rate_decay
    return float(_DEFAULT_DECAY.get(est.learning_rate_schedule, 1.0)
                 if d is None else d)


def rate_of(est, epoch, cuts=0):
    """The rate of schedule epoch ``epoch`` (from 0) of ``est``, after
    ``cuts`` plateau reductions: the closed forms of the module docstring."""
    lr, warmup = float(est.learning_rate), int(est.warmup_epochs)
    if epoch < warmup:
        return lr * (epoch + 1) / (warmup + 1)
    kind, floor, t = est.learning_rate_schedule, \
        float(est.min_learning_rate), epoch - warmup
    if kind == "exponential":
        return max(floor, lr * decay_of(est) ** t)
    if kind == "plateau":
        return max(floor, lr * decay_of(est) ** cuts)
    if kind == "cosine":
        length = max(1, int(est.max_epochs) - warmup)
        frac = min(t, length) / length
        return floor + (lr - floor) * (1 + math.cos(math.pi * frac)) / 2
    return lr


# The constructor parameters, as every estimator's docstring gives them.
SCHEDULE_DOC = """\
    learning_rate_schedule : {"constant", "exponential", "plateau", \
"cosine"}, default="constant"
        The rate of each epoch (every update of an epoch uses it):
        "constant" keeps ``learning_rate``; "exponential" multiplies it by
        ``learning_rate_decay`` every epoch; "plateau" multiplies it by
        ``learning_rate_decay`` when the monitored loss (the validation
        loss with ``early_stopping``, else the training loss) has not
        improved by ``tol`` for ``learning_rate_patience`` epochs (Keras'
        ReduceLROnPlateau, MLPClassifier's "adaptive"); "cosine" anneals it
        to ``min_learning_rate`` over ``max_epochs`` (half a cosine).
        ``fit`` (also with ``warm_start``) starts the schedule anew, with
        the optimiser's state; ``partial_fit`` continues it, one epoch per
        call.  The rates used are in ``history_``.
    learning_rate_decay : float in (0, 1] or None, default=None
        The factor of "exponential" (None: 0.9 per epoch) and "plateau"
        (None: 0.2, a fifth); other schedules refuse it.
    learning_rate_patience : int, default=2
        "plateau": epochs without improvement before the rate is cut.
    min_learning_rate : float, default=0.0
        The floor of every schedule but "constant", and the end of "cosine".
    warmup_epochs : int, default=0
        Epochs of linear warm-up before the schedule starts: epoch ``e`` of
        them trains at ``learning_rate * (e + 1) / (warmup_epochs + 1)``.
"""
