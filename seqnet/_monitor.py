"""What one training epoch records for ``history_`` and shows while it runs.

Per update: the global gradient norm before clipping (which the optimiser
step returns) and, from one C pass over the flat parameter buffer
(``_kernels.update_stats``), per layer the sum of squared parameters and of
squared changes.  Per epoch they become ``history_``'s entry: the mean
gradient norm, the fraction of updates that ``clip_norm`` rescaled, and per
layer the root mean square of the parameters and of the updates over the
epoch's updates and the log10 of their ratio (Deeplearning4j's "update:
parameter ratio", healthy around -3).
"""
import math
import time

import numpy as np

from . import _kernels
from ._network import aligned_empty

# Seconds between progress lines within an epoch, by verbose level (and
# before the first): a line a second fills a log over a long run, so
# verbose=1 writes one every ten.
PROGRESS_EVERY = {1: 10.0, 2: 1.0}


def layer_groups(net):
    """(names, bounds): the parameter groups of ``net`` as in
    ``parameters_`` without the tensor suffix ("layer0.forward",
    "output", "embedding"), in buffer order, and their element ranges,
    read off ``net.views``.  Alignment padding between views, as a
    SequenceToSequence's buffer has, is a group named None, not
    reported."""
    base, item = net.params.ctypes.data, net.params.itemsize
    spans = sorted(((view.ctypes.data - base) // item, view.size, name)
                   for name, view in net.views.items() if view.size)
    names, bounds = [], [0]
    for start, size, name in spans:
        group = name.rsplit(".", 1)[0]
        if start != bounds[-1]:
            names.append(None)
            bounds.append(start)
        if names and names[-1] == group:
            bounds[-1] = start + size
        else:
            names.append(group)
            bounds.append(start + size)
    return names, np.array(bounds, np.int64)


def _duration(seconds):
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}m{seconds:02d}s"


class EpochMonitor:
    """The bookkeeping of one epoch: ``after_update`` once per optimiser
    step, ``progress`` once per batch (prints at most every
    PROGRESS_EVERY[verbose] seconds), ``summary`` at the end."""

    def __init__(self, net, clip_norm, verbose=0, epoch=1):
        self.names, self.bounds = layer_groups(net)
        self.prev = aligned_empty(net.params.size, net.dtype)
        self.prev[...] = net.params
        self.sums = np.zeros((len(self.names), 2))
        self.clip_norm = clip_norm or 0.0
        self.n_updates, self.norm_sum, self.clipped = 0, 0.0, 0
        self.every = PROGRESS_EVERY.get(min(int(verbose), 2)) \
            if verbose else None
        self.epoch = epoch
        self.started = time.perf_counter()
        self.last_report = self.started

    def after_update(self, params, grad_norm, loss):
        """Record an update that left ``params`` after a gradient of norm
        ``grad_norm`` (before clipping) and a batch loss ``loss``."""
        _kernels.update_stats(self.sums, self.prev, params, self.bounds)
        self.n_updates += 1
        self.norm_sum += grad_norm
        self.clipped += 0 < self.clip_norm < grad_norm

    def progress(self, done, total, unit="batches", extra=None):
        """A progress line (``done`` of ``total`` units, ``extra()`` when
        given, elapsed time, time left), when verbose and the interval has
        passed."""
        if self.every is None or done <= 0:
            return
        now = time.perf_counter()
        if now - self.last_report < self.every:
            return
        self.last_report = now
        elapsed = now - self.started
        left = elapsed * max(total - done, 0) / done
        extra = extra() if extra is not None else ""
        print(f"  epoch {self.epoch}: {done:,}/{total:,} {unit}"
              f"{', ' + extra if extra else ''}, {_duration(elapsed)} "
              f"elapsed, ~{_duration(left)} left", flush=True)

    def summary(self):
        """The epoch's gradient and per-layer statistics (the part of a
        ``history_`` entry this monitor knows)."""
        if self.n_updates == 0:
            # The epoch's updates were made elsewhere (seqnet.dask's
            # workers): nothing was measured here.
            return {"seconds": time.perf_counter() - self.started,
                    "grad_norm": None, "clip_fraction": None,
                    "n_updates": 0, "layers": {}}
        n = self.n_updates
        sizes = np.diff(self.bounds)
        layers = {}
        for name, (pp, dd), size in zip(self.names, self.sums, sizes):
            if name is None:
                continue
            param_rms = math.sqrt(pp / (n * size))
            update_rms = math.sqrt(dd / (n * size))
            ratio = (math.log10(update_rms / param_rms)
                     if update_rms > 0 and param_rms > 0 else -math.inf)
            layers[name] = {"param_rms": param_rms, "update_rms": update_rms,
                            "log10_update_ratio": ratio}
        return {"seconds": time.perf_counter() - self.started,
                "grad_norm": self.norm_sum / n,
                "clip_fraction": self.clipped / n,
                "n_updates": self.n_updates, "layers": layers}


# The fitted attribute, as every estimator's docstring gives it.
HISTORY_DOC = """\
    history_ : list of dict
        One entry per epoch (continued by ``warm_start`` and
        ``partial_fit``): "epoch" (its number, as ``n_iter_`` counts),
        "loss", "validation_loss" and "validation_score" (None without
        early stopping), "learning_rate" (the rate of its updates),
        "seconds" (with validation), "n_updates", "grad_norm" (the mean
        global gradient norm before clipping), "clip_fraction" (of the
        updates that ``clip_norm`` rescaled) and "layers": for each layer
        named as in ``parameters_`` without the tensor suffix
        ("layer0.forward", "output"), "param_rms" and "update_rms" (root
        mean squares over the layer's parameters after each update and
        over each update's changes) and "log10_update_ratio", the log10 of
        their ratio (around -3 is healthy; see ``seqnet.plotting``).
        An epoch trained by ``seqnet.dask.DataParallel`` updates on its
        workers: its "grad_norm" and "clip_fraction" are None and its
        "layers" empty.
"""
