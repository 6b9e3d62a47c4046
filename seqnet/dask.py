"""Data-parallel training of one seqnet model across Dask workers.

:class:`DataParallel` trains one network as Deeplearning4j's
``ParameterAveragingTrainingMaster`` does on Spark: the training data is
cut into one shard per worker and sent there once; then, round after
round, every worker starts from the same (averaged) parameters and
optimiser state, trains ``averaging_frequency`` minibatches of its shard,
and sends its parameters and optimiser state back, where they are averaged
(weighted by the sequences each worker trained on) into the state of the
next round.  Epochs, shuffling (within each shard), validation and early
stopping run on the client, in the estimators' one training loop
(``BaseSequenceEstimator._train_loop``); a worker's round is the public
training-state API: ``set_parameters``, ``set_optimizer_state``,
``train_batches``, ``get_parameters``, ``get_optimizer_state``.

With plain SGD, ``averaging_frequency=1`` and shards of equal size, k
workers with ``batch_size=b`` make exactly the updates of one process with
batch ``k*b``: each worker's gradient is the weighted mean over its batch,
so their mean is the mean over the big batch (tests/test_dask.py checks
it to 1e-10 in float64).

dask[distributed] is an optional extra: ``pip install "seqnet[dask]"``.
``import seqnet`` never imports this module; ``import seqnet.dask`` does.
"""
import copy
import math
import time
from concurrent.futures import CancelledError
import types
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone, \
    is_classifier
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

try:
    import dask
    import dask.array as da
    import dask.bag as db
    import distributed
except ModuleNotFoundError as exc:
    if (exc.name or "").split(".")[0] not in ("dask", "distributed"):
        raise
    raise ImportError(
        "seqnet.dask needs dask[distributed], an optional extra of seqnet: "
        'pip install "seqnet[dask]"') from exc

from ._base import BaseSequenceEstimator, _n_threads, _resolve_threads
from .text import CharRNN

__all__ = ["DataParallel", "WorkerLostError"]


class WorkerLostError(RuntimeError):
    """A worker holding a shard left the cluster during a fit: the fit
    stops (its shard went with it) and the DataParallel is left as it was
    before the call."""


# ---------------------------------------------------------------- workers
# Module-level, so workers unpickle them by reference (seqnet must be
# installed on the workers, as for any task that uses it).

def _take(values, idx):
    """Items ``idx`` of an array or a list (ragged sequences, targets)."""
    if values is None:
        return None
    if isinstance(values, np.ndarray):
        return values[idx]
    return [values[i] for i in idx]


def _concat(parts):
    """Blocks of one shard (arrays, or lists of ragged items) as one."""
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    if all(isinstance(p, np.ndarray) for p in parts):
        return np.concatenate(parts) if len(parts) > 1 else parts[0]
    return [item for p in parts for item in p]


class _Shard:
    """One worker's part of the training data and its model: the state
    of a round is set into the model, never kept from round to round."""

    def __init__(self, model, seed, X_parts, y_parts, w_parts):
        self.X = _concat(X_parts)
        self.y = _concat(y_parts)
        self.w = _concat(w_parts)
        # A copy: a worker in the client's process (processes=False) gets
        # the client's object itself, not an unpickled one.
        self.model = model = copy.deepcopy(model)
        # Each worker draws its own dropout masks.
        model._seed = seed
        # Checked here, once, so bad data fails before the first round.
        self.n = len(model._training_data(self.X, self.y, self.w, False,
                                          None).seqs)


def _make_shard(model, seed, X_parts, y_parts, w_parts):
    return _Shard(model, seed, X_parts, y_parts, w_parts)


def _shard_size(shard):
    return shard.n


def _train_round(shard, parameters, optimizer_state, idx):
    """A worker's round: from the given state, one update per minibatch of
    its sequences ``idx``; returns the new state, the sequences trained on,
    their mean loss and the seconds this took on the worker."""
    started = time.perf_counter()
    model = shard.model
    model.set_parameters(parameters)
    model.set_optimizer_state(optimizer_state)
    loss = model.train_batches(_take(shard.X, idx), _take(shard.y, idx),
                               _take(shard.w, idx))
    return (model.get_parameters(), model.get_optimizer_state(), len(idx),
            loss, time.perf_counter() - started)


def _partial_fit_block(model, X, y, classes, sample_weight):
    kwargs = {} if classes is None else {"classes": classes}
    if sample_weight is not None:
        kwargs["sample_weight"] = sample_weight
    return model.partial_fit(X, y, **kwargs)


def _labels(part):
    """The distinct labels of a partition of targets (one per sequence, or
    an array per sequence), as a one-item list."""
    flat = [np.ravel(v) for v in part]
    return [np.unique(np.concatenate(flat)) if flat else np.empty(0)]


def _predict_block(X, model, method, trailing):
    out = getattr(model, method)(X)
    return np.asarray(out).reshape((len(X),) + trailing)


# ----------------------------------------------------------------- client

def _classes_of(model, y, classes):
    """``classes``, or for a classifier given none, every label of a Dask
    ``y`` (found on the workers): a first block need not hold them all."""
    if classes is not None or not is_classifier(model) or y is None:
        return classes
    if isinstance(y, da.Array):
        return np.unique(da.unique(y).compute())
    if isinstance(y, db.Bag):
        return np.unique(np.concatenate(
            y.map_partitions(_labels).compute()))
    return np.unique(np.concatenate(_labels(y)))


def _check_dask_array(X, name="X"):
    if not isinstance(X, da.Array):
        raise TypeError(f"{name} must be a Dask array here, got "
                        f"{type(X).__name__}")
    if X.ndim != 3:
        raise ValueError(f"a Dask array {name} must be 3-D (n_samples, "
                         f"n_timesteps, n_features), got {X.ndim}-D")
    if any(math.isnan(c) for c in X.chunks[0]):
        raise ValueError(f"{name} has unknown chunk sizes: call "
                         f"{name}.compute_chunk_sizes() first")
    # Whole sequences in every block.
    return X.rechunk({1: -1, 2: -1})


# How distributed reports a future whose task was forgotten (a worker left
# with its inputs): FuturesCancelledError in recent versions.
_CANCELLED = tuple({CancelledError, getattr(
    distributed.client, "FuturesCancelledError", CancelledError)})


def _raise_if_lost(client, workers, doing, patience=0.0, cause=None):
    """WorkerLostError if one of ``workers`` has left the cluster (waiting
    up to ``patience`` seconds for the scheduler to notice)."""
    deadline = time.monotonic() + patience
    while True:
        alive = set(client.nthreads())
        lost = [w for w in workers if w not in alive]
        if lost:
            raise WorkerLostError(
                f"worker {', '.join(lost)} left the cluster while {doing}; "
                "its shard went with it, so the fit stops (the "
                "DataParallel is unchanged)") from cause
        if time.monotonic() >= deadline:
            return
        time.sleep(0.1)


class DataParallel(MetaEstimatorMixin, BaseEstimator):
    """Train one seqnet estimator data-parallel on Dask workers.

    Every round, each worker trains ``averaging_frequency`` minibatches of
    ``estimator.batch_size`` sequences of its shard, starting from the
    averaged parameters and optimiser state of the previous round; the
    client then averages the workers' parameters and optimiser states
    (moments and step count), weighted by the sequences each trained on.
    An epoch is one pass over every shard, each shuffled on its own (by
    ``random_state`` of the estimator, one permutation per shard).

    Parameters
    ----------
    estimator : SequenceClassifier, SequenceRegressor or SequenceTagger
        The model to train, with its training parameters (optimiser,
        learning rate, batch size per worker, epochs, early stopping ...).
        It is cloned, not changed.
    client : distributed.Client, optional
        The cluster to train on; None: the current default client
        (``distributed.get_client()``).
    averaging_frequency : int, default=1
        Minibatches each worker trains between two averagings.
    n_workers : int, optional
        Workers to train on (the first ones by address); None: all the
        client's workers when ``fit`` starts.  The same ``random_state``
        and the same number of workers give the same model.
    shuffle : bool, default=True
        Deal NumPy data to the shards at random (else in order, contiguous
        shards) and shuffle each shard every epoch (else train its
        sequences in order).  Dask arrays and bags keep their blocks
        (partitions): shard i holds the i-th group of consecutive ones.
        With early stopping, a Dask X's validation data is its last
        ``validation_fraction`` of samples (of partitions, for a bag),
        computed on the client.

    Attributes
    ----------
    estimator_ : the fitted seqnet estimator
        An ordinary fitted estimator (``n_iter_``, ``loss_curve_``,
        ``validation_scores_`` ... as from its own ``fit``); ``predict``,
        ``predict_proba`` and ``score`` delegate to it.
    n_workers_ : int
        Workers the last ``fit`` trained on.
    n_rounds_ : int
        Rounds of the last ``fit``.
    round_times_ : list of (float, float)
        Per round of the last ``fit``: seconds from sending the state to
        having every result back on the client, and the longest time a
        worker spent in its round (setting the state, training, reading
        it back); the difference is the round's communication and
        scheduling.

    Notes
    -----
    Fault handling: a worker that leaves the cluster during ``fit``
    (crashes, is killed, loses its connection) takes its shard with it,
    so the fit stops with :class:`WorkerLostError` naming it, and the
    DataParallel keeps what it had before the call.  A round is not
    retried on the other workers: that would change the model (the lost
    shard would be missing or re-dealt), silently breaking "same seed,
    same cluster size, same model".  Fit again to continue on the workers
    that remain, with ``warm_start=True`` on the estimator (a fit then
    continues ``estimator_`` of the last fit that completed, as the
    estimator's own fit would).

    Examples
    --------
    >>> from distributed import Client, LocalCluster     # doctest: +SKIP
    >>> from seqnet import SequenceClassifier
    >>> from seqnet.dask import DataParallel
    >>> client = Client(LocalCluster(n_workers=2))       # doctest: +SKIP
    >>> model = DataParallel(SequenceClassifier(random_state=0),
    ...                      averaging_frequency=4)
    >>> model.fit(X, y).predict(X)                       # doctest: +SKIP
    """

    def __init__(self, estimator, *, client=None, averaging_frequency=1,
                 n_workers=None, shuffle=True):
        self.estimator = estimator
        self.client = client
        self.averaging_frequency = averaging_frequency
        self.n_workers = n_workers
        self.shuffle = shuffle

    def __sklearn_clone__(self):
        """A clone on the same client (a Client cannot be deep-copied)."""
        params = self.get_params(deep=False)
        params["estimator"] = clone(params["estimator"])
        return type(self)(**params)

    # ---------------------------------------------------------- checks

    def _check_params(self):
        if not isinstance(self.estimator, BaseSequenceEstimator) or \
                isinstance(self.estimator, CharRNN):
            raise TypeError(
                "estimator must be a SequenceClassifier, SequenceRegressor "
                f"or SequenceTagger, got {type(self.estimator).__name__}")
        for name in ("averaging_frequency", "n_workers"):
            value = getattr(self, name)
            if value is None and name == "n_workers":
                continue
            if isinstance(value, bool) or not isinstance(value, Integral) \
                    or value < 1:
                raise ValueError(f"{name} must be a positive int, got "
                                 f"{value!r}")
        if not isinstance(self.shuffle, (bool, np.bool_)):
            raise ValueError(f"shuffle must be True or False, got "
                             f"{self.shuffle!r}")

    def _client(self):
        if self.client is not None:
            return self.client
        try:
            return distributed.get_client()
        except ValueError:
            raise ValueError("DataParallel needs a Dask client: pass "
                             "client=, or create a distributed.Client "
                             "first") from None

    def _workers(self, client):
        workers = sorted(client.nthreads())
        n = len(workers) if self.n_workers is None else self.n_workers
        if n > len(workers):
            raise ValueError(f"n_workers={n} but the cluster has "
                             f"{len(workers)} workers")
        if n == 0:
            raise ValueError("the Dask cluster has no workers")
        return workers[:n]

    # ------------------------------------------------------------- fit

    def fit(self, X, y=None, sample_weight=None, classes=None):
        """Train ``estimator`` data-parallel on the client's workers.

        Parameters
        ----------
        X : sequences (as the estimator's ``fit`` takes them), a 3-D
            Dask array ``(n_samples, n_timesteps, n_features)`` chunked
            along samples, or a Dask bag of sequences (arrays
            ``(T_i, n_features)``)
        y : targets; a NumPy or Dask array for a Dask array X, a Dask bag
            partitioned as X for a bag X
        sample_weight : array-like of shape (n_samples,), optional
        classes : array-like, optional
            Every class (classifiers); for Dask data, found in y on the
            workers when not given.

        Returns
        -------
        self
        """
        self._check_params()
        client = self._client()
        workers = self._workers(client)
        model = self._new_model()
        model._validate_params()
        rng = check_random_state(model.random_state)
        if isinstance(X, (da.Array, db.Bag)):
            classes = _classes_of(model, y, classes)
        if isinstance(X, db.Bag):
            shards, data = self._bag_shards(client, model, workers, X, y,
                                            sample_weight, classes, rng)
        elif isinstance(X, da.Array):
            shards, data = self._dask_shards(client, model, workers, X, y,
                                             sample_weight, classes, rng)
        else:
            shards, data = self._numpy_shards(client, model, workers, X, y,
                                              sample_weight, classes, rng)
        try:
            self._watch(client, workers, shards, "preparing the shards")
            sizes = client.gather([client.submit(_shard_size, s, pure=False)
                                   for s in shards])
            trainer = _Rounds(self, client, model, workers, shards, sizes)
            run = types.SimpleNamespace(n_threads=_resolve_threads(
                _n_threads(model.n_jobs)))
            model._train_loop(data, run, rng, False, None,
                              train_epoch=trainer.epoch)
        finally:
            client.cancel(shards)
        self.estimator_ = model
        self.n_workers_ = len(workers)
        self.n_rounds_ = trainer.n_rounds
        self.round_times_ = trainer.times
        return self

    def _new_model(self):
        """The client's model: a clone of ``estimator``, or with its
        ``warm_start`` a copy of ``estimator_`` to continue."""
        if self.estimator.warm_start and "estimator_" in self.__dict__:
            model = copy.deepcopy(self.estimator_)
            return model.set_params(**self.estimator.get_params(deep=False))
        return clone(self.estimator)

    @staticmethod
    def _begin(model, rng, sample, classes):
        """Start the client's model as the estimator's fit would: a new
        one initialised from ``sample()`` (X, y), or a continued one (warm
        start) with the same network, its optimiser state zeroed and a new
        dropout seed."""
        if "_net" in model.__dict__:
            model._check_same_network()
            model._start_training(rng, reset_optimizer=True)
        else:
            X, y = sample()
            model.initialize(X, y, classes)

    def _numpy_shards(self, client, model, workers, X, y, sample_weight,
                      classes, rng):
        # Initialised from all of X: token input's vocabulary is all of
        # X's.
        self._begin(model, rng, lambda: (X, y), classes)
        data = model._training_data(X, y, sample_weight, False, None)
        if model.early_stopping:
            data = model._hold_out(data, rng)
        train = data.train
        if self.shuffle:
            train = rng.permutation(train)
        y_items = None if y is None else y if isinstance(
            y, (list, np.ndarray)) else np.asarray(y)
        X_items = X if isinstance(X, (list, np.ndarray)) else (
            list(X) if isinstance(X, tuple) else np.asarray(X))
        w = None if sample_weight is None else np.asarray(sample_weight,
                                                          np.float64)
        data.train = np.arange(0)   # the client trains on nothing itself
        shards = []
        for rank, (part, addr) in enumerate(zip(
                np.array_split(train, len(workers)), workers)):
            if len(part) == 0:
                raise ValueError(f"{len(train)} training sequences cannot "
                                 f"fill {len(workers)} shards")
            parts = client.scatter(
                [_take(X_items, part), _take(y_items, part), _take(w, part)],
                workers=[addr])
            shards.append(self._shard(client, model, rank, addr,
                                      [parts[0]], [parts[1]], [parts[2]]))
        return shards, data

    def _dask_shards(self, client, model, workers, X, y, sample_weight,
                     classes, rng):
        X = _check_dask_array(X)
        n = X.shape[0]
        n_val = 0
        if model.early_stopping:
            n_val = int(math.ceil(model.validation_fraction * n))
            if not 0 < n_val < n:
                raise ValueError("validation_fraction leaves no training or "
                                 f"no validation sequences out of {n}")
        n_train = n - n_val
        y_dask = isinstance(y, da.Array)
        first = X.blocks[0]

        def sample():       # the first block, to start a new model from
            n0 = first.shape[0]
            if y is None:
                return first.compute(), None
            return first.compute(), (y[:n0].compute() if y_dask
                                     else np.asarray(y)[:n0])

        self._begin(model, rng, sample, classes)
        if n_val:
            # Validation on the client: the last validation_fraction.
            y_val = y[n_train:]
            data = model._training_data(
                X[n_train:].compute(),
                y_val.compute() if y_dask else y_val, None if
                sample_weight is None else np.asarray(sample_weight)[n_train:],
                False, None)
            data.validation = np.arange(len(data.seqs))
        else:
            data = types.SimpleNamespace(validation=None)
        data.train = np.arange(0)
        X_train = X[:n_train]
        bounds = np.concatenate([[0], np.cumsum(X_train.chunks[0])])
        blocks = X_train.to_delayed().ravel()
        if len(blocks) < len(workers):
            raise ValueError(f"X has {len(blocks)} blocks for "
                             f"{len(workers)} workers: rechunk it along "
                             "samples into at least as many blocks")
        shards = []
        groups = np.array_split(np.arange(len(blocks)), len(workers))
        for rank, (group, addr) in enumerate(zip(groups, workers)):
            lo, hi = bounds[group[0]], bounds[group[-1] + 1]
            X_parts = client.compute(list(blocks[group]), workers=[addr])
            if y is None:
                y_parts = [None]
            elif y_dask:
                y_parts = [client.compute(y[lo:hi], workers=[addr])]
            else:
                y_parts = client.scatter([np.asarray(y)[lo:hi]],
                                         workers=[addr])
            w_parts = [None] if sample_weight is None else client.scatter(
                [np.asarray(sample_weight, np.float64)[lo:hi]],
                workers=[addr])
            shards.append(self._shard(client, model, rank, addr, X_parts,
                                      y_parts, w_parts))
        return shards, data

    def _bag_shards(self, client, model, workers, X, y, sample_weight,
                    classes, rng):
        """Shards of a Dask bag of sequences: each worker a group of
        consecutive partitions; y a bag partitioned as X."""
        if not isinstance(y, db.Bag) or y.npartitions != X.npartitions:
            raise ValueError("with a Dask bag X, y must be a Dask bag with "
                             f"the same partitions ({X.npartitions})")
        if sample_weight is not None:
            raise ValueError("sample_weight is not supported with a Dask "
                             "bag X")
        parts, y_parts = X.to_delayed(), y.to_delayed()
        n_val = 0
        if model.early_stopping:
            # Validation on the client: the last validation_fraction of
            # the partitions.
            n_val = int(math.ceil(model.validation_fraction * len(parts)))
        if len(parts) - n_val < len(workers):
            raise ValueError(
                f"X has {len(parts)} partitions ({n_val} held out for "
                f"validation) for {len(workers)} workers: repartition it "
                "into more")
        self._begin(model, rng, lambda: (list(parts[0].compute()),
                                         list(y_parts[0].compute())),
                    classes)
        data = types.SimpleNamespace(validation=None)
        if n_val:
            X_val, y_val = dask.compute(parts[-n_val:], y_parts[-n_val:])
            data = model._training_data(_concat(X_val), _concat(y_val),
                                        None, False, None)
            data.validation = np.arange(len(data.seqs))
        data.train = np.arange(0)
        shards = []
        groups = np.array_split(np.arange(len(parts) - n_val), len(workers))
        for rank, (group, addr) in enumerate(zip(groups, workers)):
            shards.append(self._shard(
                client, model, rank, addr,
                client.compute([parts[i] for i in group], workers=[addr]),
                client.compute([y_parts[i] for i in group], workers=[addr]),
                [None]))
        return shards, data

    def _shard(self, client, model, rank, addr, X_parts, y_parts, w_parts):
        seed = int(np.random.default_rng([model._seed, rank]).integers(
            2**31))
        model = client.scatter(model, workers=[addr], hash=False)
        return client.submit(_make_shard, model, seed, X_parts, y_parts,
                             w_parts, workers=[addr],
                             allow_other_workers=False, pure=False)

    @staticmethod
    def _watch(client, workers, futures, doing):
        """Wait for ``futures``, failing with WorkerLostError as soon as a
        worker of ``workers`` has left (its tasks would wait for it
        forever, as they may run nowhere else, or are cancelled)."""
        while True:
            try:
                distributed.wait(futures, timeout=0.5)
                done = True
            except TimeoutError:
                done = False
            except _CANCELLED as exc:
                # A task forgotten with its worker: say which worker.
                _raise_if_lost(client, workers, doing, patience=10.0,
                               cause=exc)
                raise
            if done:    # gather reports an error, if any
                return
            _raise_if_lost(client, workers, doing)

    # ------------------------------------------------- streaming, predict

    def partial_fit(self, X, y=None, classes=None, sample_weight=None):
        """One pass over X, block by block, continuing from the current
        model (``classes`` needed on the first call of a classifier).

        A 3-D Dask array is trained block after block where each block is
        (the model travels, the data does not), equal to calling the
        estimator's ``partial_fit`` on each block in order; NumPy data is
        the estimator's ``partial_fit`` on the client.
        """
        self._check_params()
        model = getattr(self, "estimator_", None)
        model = clone(self.estimator) if model is None else model
        if not isinstance(X, da.Array):
            kwargs = {} if sample_weight is None else {
                "sample_weight": sample_weight}
            if classes is not None:
                kwargs["classes"] = classes
            self.estimator_ = model.partial_fit(X, y, **kwargs)
            return self
        client = self._client()
        X = _check_dask_array(X)
        bounds = np.concatenate([[0], np.cumsum(X.chunks[0])])
        current = model
        for b, block in enumerate(X.to_delayed().ravel()):
            lo, hi = bounds[b], bounds[b + 1]
            y_block = None if y is None else y[lo:hi]
            w_block = None if sample_weight is None else \
                np.asarray(sample_weight)[lo:hi]
            current = client.submit(
                _partial_fit_block, current, client.compute(block),
                client.compute(y_block) if isinstance(y_block, da.Array)
                else y_block, classes, w_block, pure=False)
        self.estimator_ = current.result()
        return self

    def _dask_predict(self, X, method):
        check_is_fitted(self, "estimator_")
        model = self.estimator_
        if not isinstance(X, da.Array):
            return getattr(model, method)(X)
        X = _check_dask_array(X)
        probe = np.asarray(getattr(model, method)(
            np.zeros((1,) + X.shape[1:], model._net.dtype)))
        trailing = probe.shape[1:]
        chunks = (X.chunks[0],) + tuple((s,) for s in trailing)
        return X.map_blocks(
            _predict_block, model=model, method=method, trailing=trailing,
            dtype=probe.dtype, chunks=chunks,
            drop_axis=list(range(1 + len(trailing), 3)) if
            len(trailing) < 2 else None,
            new_axis=None, meta=np.empty((0,) + trailing, probe.dtype))

    def predict(self, X):
        """The estimator's predictions; for a 3-D Dask array, a Dask array
        computed block by block on the workers."""
        return self._dask_predict(X, "predict")

    def predict_proba(self, X):
        """As ``predict``, with the estimator's ``predict_proba``."""
        return self._dask_predict(X, "predict_proba")

    def score(self, X, y, sample_weight=None):
        """The estimator's ``score`` (NumPy data)."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.score(X, y, sample_weight=sample_weight)

    @property
    def classes_(self):
        check_is_fitted(self, "estimator_")
        return self.estimator_.classes_


class _Rounds:
    """The epochs of one data-parallel fit: the ``train_epoch`` hook the
    estimators' training loop calls."""

    def __init__(self, owner, client, model, workers, shards, sizes):
        self.owner, self.client, self.model = owner, client, model
        self.workers, self.shards, self.sizes = workers, shards, sizes
        self.n_rounds, self.times = 0, []

    def epoch(self, data, run, rng, deadline):
        owner, model = self.owner, self.model
        orders = [rng.permutation(n) if owner.shuffle else np.arange(n)
                  for n in self.sizes]
        per_round = owner.averaging_frequency * model.batch_size
        total, count = 0.0, 0
        for start in range(0, max(self.sizes), per_round):
            results = self._round(
                [order[start:start + per_round] for order in orders])
            seen = np.array([r[2] for r in results], np.float64)
            total += float(np.dot(seen, [r[3] for r in results]))
            count += int(seen.sum())
            self._average(results, seen)
            if deadline is not None and time.perf_counter() >= deadline:
                break
        return total / count, f"{self.n_rounds} rounds"

    def _round(self, parts):
        """Send the state, train, and collect each worker's result (None
        for a worker whose shard is spent this epoch)."""
        client, model = self.client, self.model
        started = time.perf_counter()
        busy = [(shard, addr, idx) for shard, addr, idx in
                zip(self.shards, self.workers, parts) if len(idx)]
        # Sent to each worker as data, not inside every task's graph.
        state = client.scatter(
            [model.get_parameters(), model.get_optimizer_state()],
            workers=[addr for _, addr, _ in busy], broadcast=True,
            hash=False)
        futures = [client.submit(_train_round, shard, state[0], state[1],
                                 idx, workers=[addr],
                                 allow_other_workers=False, pure=False)
                   for shard, addr, idx in busy]
        try:
            doing = f"training round {self.n_rounds + 1}"
            DataParallel._watch(client, self.workers, futures, doing)
            try:
                results = client.gather(futures)
            except _CANCELLED as exc:
                _raise_if_lost(client, self.workers, doing, 10.0, exc)
                raise
        finally:
            client.cancel(futures + state)
        self.n_rounds += 1
        self.times.append((time.perf_counter() - started,
                           max(r[4] for r in results)))
        return results

    def _average(self, results, seen):
        """The workers' states, averaged by the sequences each saw, into
        the client's model; the step count is the furthest worker's."""
        weights = seen / seen.sum()
        params = sum(w * r[0].astype(np.float64)
                     for w, r in zip(weights, results))
        moments = sum(w * r[1]["moments"].astype(np.float64)
                      for w, r in zip(weights, results))
        step = max(r[1]["step"] for r in results)
        self.model.set_parameters(params)
        self.model.set_optimizer_state({"step": step, "moments": moments})
