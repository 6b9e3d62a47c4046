"""Classifiers: one label per sequence, or one label per step."""
from numbers import Real

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

from ._base import BaseSequenceEstimator
from ._monitor import HISTORY_DOC
from ._schedules import SCHEDULE_DOC
from ._stateful import StatefulMixin
from ._validation import check_sequence_targets


class _SoftmaxHead:
    """Softmax + cross-entropy output layer and label encoding."""

    def _n_outputs(self):
        return len(self.classes_)

    def _set_classes(self, labels, classes):
        if classes is not None:
            classes = np.unique(np.asarray(classes))
            unseen = np.setdiff1d(np.unique(labels), classes)
            if unseen.size:
                raise ValueError(f"y contains labels {unseen.tolist()} that "
                                 f"are not in classes={classes.tolist()}")
            self.classes_ = classes
        else:
            self.classes_ = np.unique(labels)
        if isinstance(self.class_weight, dict):
            # As sample_weight: finite and non-negative; and every class it
            # names must be one the model has.
            unknown = [k for k in self.class_weight
                       if k not in set(self.classes_.tolist())]
            if unknown:
                raise ValueError(f"class_weight names labels {unknown} that "
                                 f"are not classes ({self.classes_.tolist()})")
            bad = {k: v for k, v in self.class_weight.items()
                   if not (isinstance(v, Real) and np.isfinite(v) and v >= 0)}
            if bad:
                raise ValueError(f"class_weight must be finite and "
                                 f"non-negative, got {bad}")
        if self.class_weight is None:
            self._class_weight_vec = None
        else:
            present = np.unique(labels)
            weights = np.ones(len(self.classes_))
            keep = np.isin(self.classes_, present)
            weights[keep] = compute_class_weight(
                self.class_weight, classes=self.classes_[keep], y=labels)
            self._class_weight_vec = weights

    def _partial_fit(self, X, y, classes, sample_weight):
        """partial_fit's checks of ``classes``, as scikit-learn's
        incremental classifiers make them."""
        if not hasattr(self, "_net"):
            if classes is None:
                raise ValueError("classes must be passed on the first call "
                                 "to partial_fit")
        elif classes is not None and not np.array_equal(
                np.unique(np.asarray(classes)), self.classes_):
            raise ValueError(f"classes={np.unique(classes).tolist()} is not "
                             "the same as on the first call, "
                             f"{self.classes_.tolist()}")
        return self._fit(X, y, sample_weight, incremental=True,
                         classes=classes)

    def _initial_data(self, X, y, classes):
        """``initialize`` reads the classes from ``classes`` alone when no
        ``y`` is given."""
        if y is not None or classes is None:
            return super()._initial_data(X, y, classes)
        self._check_X(X, reset=True)
        classes = np.asarray(classes)
        check_classification_targets(classes)
        self._set_classes(np.unique(classes), classes)

    def _encode(self, labels):
        codes = np.searchsorted(self.classes_, labels)
        codes = np.minimum(codes, len(self.classes_) - 1)
        bad = self.classes_[codes] != labels
        if np.any(bad):
            unseen = np.unique(np.asarray(labels)[bad])
            raise ValueError(f"y contains labels not seen when the model was "
                             f"first fitted: {unseen.tolist()}; known classes "
                             f"are {self.classes_.tolist()}")
        return codes.astype(np.int64)

    def _class_weights_for(self, tgt):
        if self._class_weight_vec is None:
            return 1.0
        return self._class_weight_vec[tgt]

    _head_kernel = "softmax_xent"


_CLASS_WEIGHT_DOC = """\
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss, multiplied with
        ``sample_weight``. Each batch's loss is the weighted mean over its
        sequences (steps, for the tagger), as in MLPClassifier.
"""

_CLASSIFIER_DOC_PARAMS = """
    Parameters
    ----------
    cell : {"lstm", "gru", "elman"}, default="lstm"
        Recurrent cell of every layer.
    hidden_sizes : int or tuple of int, default=(64,)
        Units of each stacked recurrent layer, bottom first.
    bidirectional : bool, default=False
        Run each layer in both directions and concatenate the outputs.
    peepholes : bool, default=False
        LSTM only: Graves peephole connections from the cell state.
    activation : {"tanh", "relu", "softsign"}, default="tanh"
        The squashing function of every cell: the LSTM's cell input and
        output (h = o * act(c)), the GRU's candidate, the Elman cell's
        state; gates stay logistic sigmoid (Keras' ``activation`` against
        its ``recurrent_activation``).  Softsign is the classic advice
        for LSTMs.
    forget_bias : float, default=1.0
        Initial bias of the LSTM forget gate.
    dropout : float in [0, 1), default=0.0
        Inverted dropout on the output of every recurrent layer (training
        only).
    l1, l2 : float, default=0.0
        Penalties on the weights (not biases), added to the gradient.
    optimizer : {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", \
"adam"}, default="adam"
    learning_rate : float, default=1e-3
        The step size (of the first epoch after any warm-up, for a
        schedule); ``seqnet.find_learning_rate`` suggests one.
{schedule}    momentum : float, default=0.9
        For "momentum" and "nesterov".
    batch_size : int, default=32
    max_epochs : int, default=100
    tbptt_length : int or None, default=None
        Truncated BPTT chunk length for per-step objectives (the state is
        carried across chunks, one update per chunk). Many-to-one models
        always backpropagate through the whole sequence.
    clip_norm : float or None, default=5.0
        Clip the gradient to this global L2 norm.
    clip_value : float or None, default=None
        Clip every gradient element to [-clip_value, clip_value].
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data (stratified), stop when
        the validation loss has not improved by ``tol`` for
        ``n_iter_no_change`` epochs, and restore the best weights. Without
        it, training stops when the training loss stalls the same way.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=10
    tol : float, default=1e-4
{class_weight}    warm_start : bool, default=False
        Continue from the fitted weights on the next ``fit``.
    random_state : int, RandomState instance or None, default=None
        Same seed, same data: bit-identical fits whatever ``n_jobs``.
    n_jobs : int or None, default=None
        Threads of the C kernels; None follows OMP_NUM_THREADS and
        threadpoolctl, -1 uses every core.
    dtype : {"float32", "float64"}, default="float32"
    verbose : int, default=0
        1 prints one line per epoch with losses and elapsed time, and
        within an epoch longer than 10 s a progress line (batches done,
        elapsed time, time left) every 10 s; 2 every second.
    input : {"auto", "numeric", "tokens"}, default="auto"
        How X is read.  "auto": tokens when X is a list of str (each
        character a token) or of sequences of non-numbers (words, event
        names, ...), numeric features otherwise; "tokens" also reads
        numbers as tokens (integer token ids); "numeric" never reads
        tokens.  ``fit`` builds ``vocabulary_`` from the tokens.
    embedding_size : int or None, default=None
        Token input only: None feeds each token to the first layer as a
        one-hot row of the vocabulary; an int learns an embedding table of
        that many columns (its rows gathered for the tokens of a batch,
        their gradients scattered back).
    min_frequency : int, default=1
        Token input: tokens seen fewer times in ``fit`` are read as the
        unknown token.
    max_tokens : int or None, default=None
        Token input: keep only this many of the most frequent tokens (the
        rest are read as the unknown token).
""".replace("{class_weight}", _CLASS_WEIGHT_DOC).replace(
    "{schedule}", SCHEDULE_DOC)

_FITTED_DOC = """
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
        Numeric input only.
    vocabulary_ : dict
        Token input only: each known token's code, 1 and up, the most
        frequent first; code 0 is the unknown token, which any other token
        is read as (with a warning at predict time).
    loss_curve_ : list of float
        Mean training loss of each epoch.
    validation_loss_curve_, validation_scores_ : list of float
        Per epoch, with ``early_stopping``.
    best_validation_score_ : float or None
        Validation accuracy of the restored weights.
    n_iter_ : int
        Epochs run.
{history}    parameters_ : dict of str to ndarray
        The weights as named views of one flat buffer.
""".replace("{history}", HISTORY_DOC)


class SequenceClassifier(StatefulMixin, _SoftmaxHead, ClassifierMixin,
                         BaseSequenceEstimator):
    # A docstring built from shared parts is an expression, which Python
    # does not take as the docstring: assign it.
    __doc__ = """Recurrent network classifying whole sequences (many-to-one).

    Reads each sequence to its last valid step (for a bidirectional layer:
    the forward direction's last step and the backward direction's first)
    and classifies that state with softmax and cross-entropy.
    """ + _CLASSIFIER_DOC_PARAMS + _FITTED_DOC + """
    Examples
    --------
    >>> import numpy as np
    >>> from seqnet import SequenceClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = [rng.standard_normal((t, 2)) for t in rng.integers(3, 9, 60)]
    >>> y = [int(x[:, 0].sum() > 0) for x in X]
    >>> clf = SequenceClassifier(hidden_sizes=8, max_epochs=30,
    ...                          random_state=0).fit(X, y)
    >>> clf.predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints = {
        **BaseSequenceEstimator._parameter_constraints,
        "class_weight": [None, dict, StrOptions({"balanced"})],
    }

    def __init__(self, *, cell="lstm", hidden_sizes=(64,),
                 bidirectional=False, peepholes=False, activation="tanh",
                 forget_bias=1.0, dropout=0.0, l1=0.0, l2=0.0,
                 optimizer="adam", learning_rate=1e-3, momentum=0.9,
                 batch_size=32, max_epochs=100, tbptt_length=None,
                 clip_norm=5.0, clip_value=None, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=10, tol=1e-4,
                 class_weight=None, warm_start=False, random_state=None,
                 n_jobs=None, dtype="float32", verbose=0, input="auto",
                 embedding_size=None, min_frequency=1, max_tokens=None,
                 learning_rate_schedule="constant", learning_rate_decay=None,
                 learning_rate_patience=2, min_learning_rate=0.0,
                 warmup_epochs=0):
        # Named explicitly, not super(): SequenceTagger shares this __init__,
        # and a zero-argument super() is bound to SequenceClassifier.
        BaseSequenceEstimator.__init__(
            self, cell=cell, hidden_sizes=hidden_sizes,
            bidirectional=bidirectional, peepholes=peepholes,
            activation=activation, forget_bias=forget_bias, dropout=dropout,
            l1=l1, l2=l2, optimizer=optimizer, learning_rate=learning_rate,
            momentum=momentum, batch_size=batch_size, max_epochs=max_epochs,
            tbptt_length=tbptt_length, clip_norm=clip_norm,
            clip_value=clip_value, early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change, tol=tol,
            warm_start=warm_start, random_state=random_state, n_jobs=n_jobs,
            dtype=dtype, verbose=verbose, input=input,
            embedding_size=embedding_size, min_frequency=min_frequency,
            max_tokens=max_tokens,
            learning_rate_schedule=learning_rate_schedule,
            learning_rate_decay=learning_rate_decay,
            learning_rate_patience=learning_rate_patience,
            min_learning_rate=min_learning_rate, warmup_epochs=warmup_epochs)
        self.class_weight = class_weight

    def _encode_targets(self, y, seqs, fitting):
        if y is None:
            raise ValueError("SequenceClassifier requires y to be passed, "
                             "but the target y is None")
        y = column_or_1d(np.asarray(y), warn=True)
        if len(y) != len(seqs):
            raise ValueError(f"X has {len(seqs)} sequences but y has "
                             f"{len(y)} labels")
        check_classification_targets(y)
        if fitting:
            self._set_classes(y, self._classes_arg)
        return self._encode(y)

    def _stratify_labels(self, targets):
        return targets

    def _batch_targets(self, targets, idx, order, lengths):
        return targets[idx]

    def _score_outputs(self, outputs, targets, idx):
        return float(np.mean(outputs.argmax(axis=1) == targets[idx]))

    def _validation_loss(self, outputs, targets, idx):
        p = outputs[np.arange(len(idx)), targets[idx]].astype(np.float64)
        return float(-np.mean(np.log(np.maximum(p, 1e-300))))

    def fit(self, X, y, sample_weight=None):
        """Train on sequences X with one label per sequence.

        Parameters
        ----------
        X : array of shape (n_samples, n_timesteps, n_features), list of
            arrays of shape (T_i, n_features) or (T_i,), or array of shape
            (n_samples, n_features) (one step per sample)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight)

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over (X, y); ``classes`` is required on the first
        call and fixes the label set."""
        return self._partial_fit(X, y, classes, sample_weight)

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), columns in the
        order of ``classes_``."""
        self._check_fitted()
        return self._forward_outputs(self._check_X(X, reset=False))

    def predict_log_proba(self, X):
        return np.log(self.predict_proba(X))

    def predict(self, X):
        """Most probable class of each sequence."""
        # predict_proba first: it raises NotFittedError before classes_ is
        # looked up.
        best = self.predict_proba(X).argmax(axis=1)
        return self.classes_[best]


class SequenceTagger(StatefulMixin, _SoftmaxHead, ClassifierMixin,
                     BaseSequenceEstimator):
    # Assigned, as built from shared parts (see SequenceClassifier).
    __doc__ = """Recurrent network labelling every step (many-to-many).

    ``y`` holds one label per step: a list of 1-D arrays matching the
    sequences' lengths (or a 2-D array for 3-D ``X``; a 1-D array for 2-D
    ``X``, whose sequences have one step). ``predict`` returns the labels in
    the same form. ``tbptt_length`` trains with truncated BPTT.
    """ + _CLASSIFIER_DOC_PARAMS + _FITTED_DOC + """
    Examples
    --------
    >>> import numpy as np
    >>> from seqnet import SequenceTagger
    >>> rng = np.random.default_rng(0)
    >>> X = [rng.standard_normal((t, 1)) for t in rng.integers(3, 9, 40)]
    >>> y = [(x[:, 0] > 0).astype(int) for x in X]
    >>> tagger = SequenceTagger(hidden_sizes=8, max_epochs=20,
    ...                         random_state=0).fit(X, y)
    >>> [p.shape for p in tagger.predict(X[:2])] == [x.shape[:1] for x in X[:2]]
    True
    """

    _per_step = True
    _parameter_constraints = SequenceClassifier._parameter_constraints

    __init__ = SequenceClassifier.__init__

    def _encode_targets(self, y, seqs, fitting):
        if y is None:
            raise ValueError("SequenceTagger requires y to be passed, but "
                             "the target y is None")
        labels = check_sequence_targets(y, seqs)
        check_classification_targets(labels)
        if fitting:
            self._set_classes(labels, self._classes_arg)
        self._offsets = seqs.offsets
        return self._encode(labels)

    def _stratify_labels(self, targets):
        return None

    def _batch_targets(self, targets, idx, order, lengths):
        T, B = int(lengths[0]), len(idx)
        out = np.zeros((T, B), np.int64)
        for j, i in enumerate(idx):
            out[:lengths[j], j] = targets[self._offsets[i]:
                                          self._offsets[i + 1]]
        return out.reshape(-1)

    def _gather(self, targets, idx):
        return [targets[self._offsets[i]:self._offsets[i + 1]] for i in idx]

    def _score_outputs(self, outputs, targets, idx):
        hits = [np.sum(p.argmax(axis=1) == t)
                for p, t in zip(outputs, self._gather(targets, idx))]
        return float(np.sum(hits) / sum(len(p) for p in outputs))

    def _validation_loss(self, outputs, targets, idx):
        total = sum(-np.sum(np.log(np.maximum(
            p[np.arange(len(t)), t].astype(np.float64), 1e-300)))
            for p, t in zip(outputs, self._gather(targets, idx)))
        return float(total / sum(len(p) for p in outputs))

    def fit(self, X, y, sample_weight=None):
        """Train on sequences X with one label per step.

        Parameters
        ----------
        X : sequences (see SequenceClassifier.fit)
        y : list of arrays of shape (T_i,), or array (n_samples, n_timesteps)
            for 3-D X, or (n_samples,) for 2-D X
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of every step of each sequence.

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight)

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over (X, y); ``classes`` is required on the first
        call."""
        return self._partial_fit(X, y, classes, sample_weight)

    def _per_step_outputs(self, X):
        self._check_fitted()
        seqs = self._check_X(X, reset=False)
        return seqs, self._forward_outputs(seqs)

    def _shape_like_input(self, seqs, per_seq):
        if seqs.kind == "2d":
            return np.array([p[0] for p in per_seq])
        if seqs.kind == "3d":
            return np.stack(per_seq)
        return per_seq

    def predict_proba(self, X):
        """Per-step class probabilities: a list of (T_i, n_classes) arrays
        (an array for 3-D or 2-D X)."""
        seqs, probs = self._per_step_outputs(X)
        return self._shape_like_input(seqs, probs)

    def predict(self, X):
        """Most probable label of every step, shaped like ``y`` in fit."""
        seqs, probs = self._per_step_outputs(X)
        return self._shape_like_input(
            seqs, [self.classes_[p.argmax(axis=1)] for p in probs])

    def score(self, X, y, sample_weight=None):
        """Accuracy over all steps (each step of a sequence weighs its
        sequence's sample weight)."""
        seqs, probs = self._per_step_outputs(X)
        labels = check_sequence_targets(y, seqs)
        pred = np.concatenate([self.classes_[p.argmax(axis=1)]
                               for p in probs])
        hits = (pred == labels).astype(np.float64)
        if sample_weight is None:
            return float(hits.mean())
        w = np.repeat(np.asarray(sample_weight, np.float64), seqs.lengths)
        return float(np.sum(hits * w) / np.sum(w))
