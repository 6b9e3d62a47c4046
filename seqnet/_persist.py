"""Safe persistence: ``estimator.save(path)`` and ``seqnet.load(path)``.

A pickle runs code when it is loaded, so a pickled model is only as safe
as whoever wrote it.  This format holds data only -- JSON and plain
arrays -- and ``load`` checks every field before it builds a model.

The format (version 1)
----------------------
A ZIP archive of uncompressed members, which ``numpy.load(path,
allow_pickle=False)`` also opens:

- ``model.json`` (UTF-8 JSON): ``format`` ("seqnet-model"),
  ``format_version`` (1), ``seqnet_version``, ``class`` (the estimator's
  class name), ``params`` (its constructor parameters: tuples as lists, a
  ``class_weight`` dict as ``{"pairs": [[label, weight], ...]}``, a
  ``RandomState`` as ``{"mt19937": {"pos", "has_gauss",
  "cached_gaussian"}}`` with its key in ``random_state.npy``),
  ``network`` (cell, hidden_sizes, bidirectional, peepholes, activation,
  n_inputs, n_outputs, dtype, embedding_size) and ``fitted`` (the fitted
  attributes that are numbers, lists or strings; ``history_``; the
  learning-rate schedule's state, ``schedule`` {epoch, cuts, wait, rate,
  best}, which ``partial_fit`` continues; a token vocabulary as its tokens
  in code order, from code 1).
- ``<name>.npy`` for every parameter of the network, by its name in
  ``parameters_`` (``layer0.forward.W.npy``, ``output.V.npy`` ...), in
  the model's dtype;
- ``optimizer.state.npy``: the optimiser's state (2 values per
  parameter), so that ``partial_fit`` and ``warm_start`` continue exactly
  as the saved model would have;
- ``classes.npy`` (classifiers), ``class_weight.npy`` (when
  ``class_weight`` was given).

Arrays are little-endian, C order, of numeric or unicode dtypes only.  A
reader refuses members that are compressed, missing, unexpected or
whose header, dtype or shape differs from what the architecture implies,
and checks each member's CRC, so truncation, flipped bytes and forged
sizes are all a ``ValueError``; memory stays within a few times the
file's size whatever the file claims.  A file of a newer format version
is refused, naming both versions.
"""
import io
import json
import math
import os
import types
import zipfile
from numbers import Integral, Real

import numpy as np

from . import _kernels

FORMAT = "seqnet-model"
FORMAT_VERSION = 1
_JSON = "model.json"
_OPT = "optimizer.state"
# The fixed timestamp of every member: the same model, the same bytes.
_EPOCH = (1980, 1, 1, 0, 0, 0)
_CURVES = ("loss_curve_", "validation_loss_curve_", "validation_scores_")


def _classes():
    from .classification import SequenceClassifier, SequenceTagger
    from .regression import SequenceRegressor
    from .text import CharRNN
    return {cls.__name__: cls for cls in (SequenceClassifier, SequenceTagger,
                                          SequenceRegressor, CharRNN)}


# ------------------------------------------------------------------ saving

def _plain(value, what):
    """A JSON value from a Python or NumPy scalar, or an error naming
    ``what``."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        return float(value)
    if isinstance(value, str) or value is None:
        return None if value is None else str(value)
    raise TypeError(f"save cannot write {what} of type "
                    f"{type(value).__name__}: only str, int, float and bool "
                    "are stored (no pickle)")


def _json_params(est):
    """The constructor parameters as JSON values, and arrays they need."""
    out, arrays = {}, {}
    for key, value in est.get_params(deep=False).items():
        if key == "random_state" and isinstance(value,
                                                np.random.RandomState):
            kind, keys, pos, has_gauss, cached = value.get_state()
            arrays["random_state"] = np.asarray(keys, np.uint32)
            out[key] = {"mt19937": {"pos": int(pos),
                                    "has_gauss": int(has_gauss),
                                    "cached_gaussian": float(cached)}}
        elif key == "class_weight" and isinstance(value, dict):
            out[key] = {"pairs": [[_plain(k, "a class_weight label"),
                                   _plain(v, "a class_weight")]
                                  for k, v in value.items()]}
        elif isinstance(value, (tuple, list)):
            out[key] = [_plain(v, f"parameter {key}") for v in value]
        else:
            out[key] = _plain(value, f"parameter {key}")
    return out, arrays


def gather_state(est):
    """Everything a fitted estimator is, as (JSON-ready dict, arrays).

    The one place that knows which attributes make a fitted model: the
    network (architecture and parameters), the optimiser state and update
    count, the fitted attributes and the constructor parameters.
    """
    net = est._net
    params, arrays = _json_params(est)
    network = dict(cell=net.cell, hidden_sizes=list(net.hidden_sizes),
                   bidirectional=net.directions == 2,
                   peepholes=net.peepholes, activation=net.activation,
                   n_inputs=net.n_inputs, n_outputs=net.n_outputs,
                   dtype=net.dtype.name, embedding_size=net.embedding_size)
    fitted = {"n_iter_": int(est.n_iter_),
              "n_updates": int(est._n_updates),
              "seed": int(est.__dict__.get("_seed", 0)),
              "best_validation_score_": _plain(
                  est.best_validation_score_, "best_validation_score_")}
    for name in _CURVES:
        fitted[name] = [float(v) for v in getattr(est, name)]
    d = est.__dict__
    fitted["history_"] = [_history_entry(e) for e in d.get("history_", [])]
    schedule = d.get("_schedule")
    if schedule is not None:
        fitted["schedule"] = {
            "epoch": int(schedule.epoch), "cuts": int(schedule.cuts),
            "wait": int(schedule.wait), "rate": float(schedule.rate),
            "best": None if math.isinf(schedule.best)
            else float(schedule.best)}
    if isinstance(d.get("vocabulary_"), str):              # CharRNN
        fitted["vocabulary_"] = d["vocabulary_"]
        if "chars_per_second_" in d:
            fitted["chars_per_second_"] = float(d["chars_per_second_"])
    elif "vocabulary_" in d:
        by_code = sorted(d["vocabulary_"].items(), key=lambda kv: kv[1])
        fitted["tokens"] = [_plain(tok, "a token") for tok, _ in by_code]
    else:
        fitted["n_features_in_"] = int(est.n_features_in_)
        names = d.get("feature_names_in_")
        if names is not None:
            fitted["feature_names_in_"] = [str(n) for n in names]
    if "n_outputs_" in d:                                  # regressor
        fitted["n_outputs_"] = int(est.n_outputs_)
        fitted["y_1d"] = bool(est._y_1d)
    if "classes_" in d and not isinstance(d.get("vocabulary_"), str):
        classes = np.asarray(est.classes_)
        if classes.dtype.kind == "O":     # labels from a pandas Series
            if not all(isinstance(c, str) for c in classes):
                raise TypeError("save stores classes_ of str, int, float or "
                                "bool; these are Python objects "
                                f"({classes.tolist()!r})")
            classes = classes.astype(str)
        arrays["classes"] = classes
        if d.get("_class_weight_vec") is not None:
            arrays["class_weight"] = np.asarray(d["_class_weight_vec"],
                                                np.float64)
    arrays.update(net.views)
    arrays[_OPT] = est._opt_state
    from . import __version__
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION,
            "seqnet_version": __version__, "class": type(est).__name__,
            "params": params, "network": network, "fitted": fitted}
    return meta, arrays


def _check_params(est):
    """The checks of the constructor parameters that load makes; save
    makes them too, so that it never writes a file load refuses (a
    parameter set to a bad value after the fit)."""
    est._validate_params()
    est._hidden()


def save(est, path):
    """Write a fitted estimator to ``path`` (see the module docstring)."""
    if type(est).__name__ not in _classes():
        raise TypeError(
            f"save does not store a {type(est).__name__} yet (it stores "
            f"{', '.join(sorted(_classes()))}); pickle it, for files you "
            "trust only")
    est._check_fitted()
    _check_params(est)
    meta, arrays = gather_state(est)
    text = json.dumps(meta, indent=1, sort_keys=True).encode("utf-8")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(zipfile.ZipInfo(_JSON, _EPOCH), text)
        for name, arr in arrays.items():
            arr = np.ascontiguousarray(arr)
            arr = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
            buf = io.BytesIO()
            np.lib.format.write_array(buf, arr, allow_pickle=False)
            zf.writestr(zipfile.ZipInfo(name + ".npy", _EPOCH),
                        buf.getvalue())


# ----------------------------------------------------------------- loading

class _Archive:
    """A model file's members, read whole into memory and checked: stored
    (not compressed) members only, each no larger than the file."""

    def __init__(self, path):
        if hasattr(path, "read"):
            data = path.read()
        else:
            with open(os.fspath(path), "rb") as f:
                data = f.read()
        if not isinstance(data, bytes):
            raise ValueError("load reads a seqnet model file opened in "
                             "binary mode")
        self.size = len(data)
        try:
            zf = zipfile.ZipFile(io.BytesIO(data))
            infos = zf.infolist()
        except Exception as exc:   # any failure of the zip reader
            raise ValueError(f"not a seqnet model file, or a damaged one: "
                             f"{exc}") from None
        self.zf, self.members = zf, {}
        for info in infos:
            if info.filename in self.members:
                raise ValueError(f"the file holds member {info.filename!r} "
                                 "twice: it is damaged or forged")
            if info.compress_type != zipfile.ZIP_STORED or \
                    info.compress_size != info.file_size or \
                    info.file_size > self.size:
                raise ValueError(f"member {info.filename!r} is compressed or "
                                 "claims more bytes than the file has: the "
                                 "file is damaged or was not written by "
                                 "seqnet")
            self.members[info.filename] = info

    def read(self, name):
        """The bytes of a member, its size and CRC checked."""
        info = self.members.get(name)
        if info is None:
            raise ValueError(f"the file has no {name!r}: it is truncated, "
                             "damaged or not a seqnet model")
        try:
            with self.zf.open(info) as f:
                data = f.read(info.file_size + 1)
        except Exception as exc:   # bad CRC, bad local header, ...
            raise ValueError(f"{name!r} is damaged: {exc}") from None
        if len(data) != info.file_size:
            raise ValueError(f"{name!r} is truncated")
        return data

    def array(self, name, dtypes, shape=None):
        """Member ``name + ".npy"`` as an array of one of ``dtypes`` (kinds
        for a str), of ``shape`` if given, its header checked before any
        data is read."""
        data = self.read(name + ".npy")
        f = io.BytesIO(data)
        try:
            version = np.lib.format.read_magic(f)
            read_header = (np.lib.format.read_array_header_1_0
                           if version == (1, 0) else
                           np.lib.format.read_array_header_2_0)
            got_shape, fortran, dtype = read_header(f, max_header_size=1000)
        except Exception as exc:
            raise ValueError(f"{name}.npy is not a valid .npy array: "
                             f"{exc}") from None
        if isinstance(dtypes, str):
            ok = dtype.kind in dtypes and not dtype.hasobject and \
                dtype.names is None and dtype.subdtype is None
        else:
            ok = dtype in dtypes
        if not ok or dtype.byteorder == ">" or fortran:
            raise ValueError(f"{name}.npy holds {dtype} data"
                             f"{' in Fortran order' if fortran else ''}; "
                             f"expected {dtypes}")
        if shape is not None and tuple(got_shape) != tuple(shape):
            raise ValueError(f"{name}.npy has shape {tuple(got_shape)}, the "
                             f"model's architecture needs {tuple(shape)}")
        count = math.prod(got_shape)
        if count * dtype.itemsize != len(data) - f.tell():
            raise ValueError(f"{name}.npy claims {count} values of {dtype} "
                             f"but holds {len(data) - f.tell()} bytes")
        return np.frombuffer(data, dtype, count, f.tell()).reshape(
            got_shape).copy()


def _field(d, key, kinds, where):
    """``d[key]``, which must be of one of the JSON ``kinds``."""
    if not isinstance(d, dict) or key not in d:
        raise ValueError(f"{where} has no {key!r}")
    value = d[key]
    allowed = {"int": lambda v: isinstance(v, int) and
               not isinstance(v, bool),
               "float": lambda v: isinstance(v, (int, float)) and
               not isinstance(v, bool),
               "bool": lambda v: isinstance(v, bool),
               "str": lambda v: isinstance(v, str),
               "list": lambda v: isinstance(v, list),
               "dict": lambda v: isinstance(v, dict),
               "null": lambda v: v is None}
    if not any(allowed[k](value) for k in kinds):
        raise ValueError(f"{where}[{key!r}] is {value!r}; expected "
                         f"{' or '.join(kinds)}")
    return value


def _read_meta(archive):
    text = archive.read(_JSON)
    try:
        meta = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ValueError(f"{_JSON} is not valid JSON: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{_JSON} does not describe a seqnet model (no "
                         f"\"format\": \"{FORMAT}\")")
    version = _field(meta, "format_version", ["int"], _JSON)
    if version > FORMAT_VERSION:
        raise ValueError(
            f"this file has seqnet model format version {version}, written "
            f"by a newer seqnet; this seqnet reads format version "
            f"{FORMAT_VERSION} and older: upgrade seqnet to load it")
    if version < 1:
        raise ValueError(f"format_version {version} is not a valid version")
    return meta


def _params(meta, archive, cls):
    """The constructor parameters, validated by the estimator itself."""
    raw = _field(meta, "params", ["dict"], _JSON)
    est = cls()
    valid = est.get_params(deep=False)
    unknown = sorted(set(raw) - set(valid))
    if unknown:
        raise ValueError(f"params names {unknown}, which {cls.__name__} "
                         "does not have")
    params = {}
    for key, value in raw.items():
        if key == "random_state" and isinstance(value, dict):
            mt = _field(value, "mt19937", ["dict"], "random_state")
            pos = _field(mt, "pos", ["int"], "random_state")
            gauss = _field(mt, "has_gauss", ["int"], "random_state")
            cached = _field(mt, "cached_gaussian", ["float"], "random_state")
            keys = archive.array("random_state", [np.dtype("<u4")], (624,))
            if not (0 <= pos <= 624 and gauss in (0, 1)
                    and math.isfinite(cached)):
                raise ValueError("random_state's saved state is invalid")
            value = np.random.RandomState()
            value.set_state(("MT19937", keys, pos, gauss, float(cached)))
        elif key == "class_weight" and isinstance(value, dict):
            pairs = _field(value, "pairs", ["list"], "class_weight")
            if not all(isinstance(p, list) and len(p) == 2 and
                       isinstance(p[0], (str, int, float, bool))
                       for p in pairs):
                raise ValueError("class_weight pairs must be [label, weight]")
            value = {k: v for k, v in pairs}
        elif isinstance(value, list):
            value = tuple(value)
        elif isinstance(value, dict):
            raise ValueError(f"params[{key!r}] is a mapping, which "
                             f"{cls.__name__} does not take")
        params[key] = value
    est.set_params(**params)
    try:
        _check_params(est)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the saved parameters are invalid: {exc}") \
            from None
    return est


def _network(meta, archive, est):
    """The network, its architecture checked before any allocation and its
    parameters read into it."""
    from ._network import Network
    spec = _field(meta, "network", ["dict"], _JSON)
    where = "network"
    cell = _field(spec, "cell", ["str"], where)
    if cell not in _kernels.CELLS:
        raise ValueError(f"network cell {cell!r} is not one of "
                         f"{sorted(_kernels.CELLS)}")
    hidden = _field(spec, "hidden_sizes", ["list"], where)
    if not hidden or not all(isinstance(h, int) and not isinstance(h, bool)
                             and h >= 1 for h in hidden):
        raise ValueError(f"network hidden_sizes {hidden!r} must be positive "
                         "ints")
    bidirectional = _field(spec, "bidirectional", ["bool"], where)
    peepholes = _field(spec, "peepholes", ["bool"], where)
    activation = _field(spec, "activation", ["str"], where)
    if activation not in ("tanh", "relu", "softsign"):
        raise ValueError(f"network activation {activation!r} is unknown")
    n_inputs = _field(spec, "n_inputs", ["int"], where)
    n_outputs = _field(spec, "n_outputs", ["int"], where)
    embedding = _field(spec, "embedding_size", ["int", "null"], where)
    dtype = _field(spec, "dtype", ["str"], where)
    if dtype not in ("float32", "float64"):
        raise ValueError(f"network dtype {dtype!r} is not float32 or "
                         "float64")
    if min(n_inputs, n_outputs, embedding or 1) < 1:
        raise ValueError("network n_inputs, n_outputs and embedding_size "
                         "must be positive")
    info = _kernels.CELLS[cell]
    if peepholes and not info.peepholes:
        raise ValueError(f"network: a {cell} cell has no peepholes")
    if activation != "tanh" and not info.activation:
        raise ValueError(f"network: a {cell} cell has no activation choice")
    dtype = np.dtype(dtype).newbyteorder("<")
    # The architecture's tensors, computed without allocating them, so that
    # forged sizes are refused before any memory is taken.
    shell = types.SimpleNamespace(
        info=info, hidden_sizes=tuple(hidden), n_inputs=n_inputs,
        n_outputs=n_outputs, embedding_size=embedding,
        directions=2 if bidirectional else 1, peepholes=peepholes)
    layout = Network._make_layout(shell)
    size = sum(math.prod(shape) for _, shape, _ in layout)
    if size * dtype.itemsize > archive.size:
        raise ValueError(f"network claims {size} parameters, more than the "
                         f"file's {archive.size} bytes hold: it is damaged "
                         "or forged")
    arrays = {name[:-len(".npy")] for name in archive.members
              if name.endswith(".npy")}
    unexpected = arrays - {name for name, _, _ in layout} - {
        _OPT, "classes", "class_weight", "random_state"}
    if unexpected:
        raise ValueError(f"the file holds arrays the model does not have: "
                         f"{sorted(unexpected)}")
    net = Network(cell, hidden, bidirectional, peepholes, activation,
                  n_inputs, n_outputs, dtype.name, embedding)
    for name, shape, _ in layout:
        value = archive.array(name, [dtype], shape)
        if not np.isfinite(value).all():
            raise ValueError(f"parameter {name} holds NaN or infinity: the "
                             "file is damaged")
        net.views[name][...] = value
    opt = archive.array(_OPT, [dtype], (2 * size,))
    if not np.isfinite(opt).all():
        raise ValueError("the optimiser state holds NaN or infinity: the "
                         "file is damaged")
    return net, opt


def _tokens(values, n_inputs):
    if not isinstance(values, list) or not all(
            isinstance(t, (str, int, float, bool)) for t in values):
        raise ValueError("fitted tokens must be a list of str, int, float "
                         "or bool")
    index = {tok: code for code, tok in enumerate(values, 1)}
    if len(index) != len(values):
        raise ValueError("fitted tokens repeat a token")
    if len(values) + 1 != n_inputs:
        raise ValueError(f"the vocabulary has {len(values)} tokens and the "
                         f"unknown one, the network reads {n_inputs} codes")
    return index


def _history_entry(entry):
    """One epoch of ``history_`` as JSON: numbers, None and the per-layer
    dicts of numbers."""
    return {key: ({layer: {k: float(v) for k, v in stats.items()}
                   for layer, stats in value.items()}
                  if key == "layers" else _plain(value, f"history_ {key}"))
            for key, value in entry.items()}


def _is_number(value, none=True):
    return (value is None and none) or (
        isinstance(value, (int, float)) and not isinstance(value, bool))


def _history(entries):
    """``history_`` read back: a list of dicts of numbers or None, with
    ``layers`` a dict of dicts of numbers."""
    for entry in entries:
        if not isinstance(entry, dict) or not all(
                isinstance(k, str) for k in entry):
            raise ValueError("fitted history_ must be a list of dicts")
        for key, value in entry.items():
            if key != "layers":
                ok = _is_number(value)
            else:
                ok = isinstance(value, dict) and all(
                    isinstance(stats, dict) and all(
                        isinstance(k, str) and _is_number(v, none=False)
                        for k, v in stats.items())
                    for stats in value.values())
            if not ok:
                raise ValueError(f"fitted history_ {key!r} must be a number"
                                 " or None (layers: dicts of numbers)")
    return entries


def _schedule(fields, est):
    """The learning-rate schedule's state, which partial_fit continues."""
    from ._schedules import Schedule
    where = "fitted schedule"
    schedule = Schedule(est)
    for name in ("epoch", "cuts", "wait"):
        value = _field(fields, name, ["int"], where)
        if value < 0:
            raise ValueError(f"{where} {name} must be >= 0")
        setattr(schedule, name, value)
    schedule.rate = _field(fields, "rate", ["float"], where)
    best = _field(fields, "best", ["float", "null"], where)
    schedule.best = math.inf if best is None else best
    if not (math.isfinite(schedule.rate) and schedule.rate >= 0
            and (best is None or math.isfinite(best))):
        raise ValueError(f"{where} rate and best must be finite, rate >= 0")
    return schedule


def _fitted(meta, archive, est, net):
    """Set the fitted attributes, each checked against the network."""
    from ._base import _STATE_VERSION
    from ._tokens import Vocabulary
    from .text import CharRNN
    fit = _field(meta, "fitted", ["dict"], _JSON)
    where = "fitted"
    d = {"_net": net, "_classes_arg": None, "_state_version": _STATE_VERSION}
    d["n_iter_"] = _field(fit, "n_iter_", ["int"], where)
    d["_n_updates"] = _field(fit, "n_updates", ["int"], where)
    d["_seed"] = _field(fit, "seed", ["int"], where)
    if min(d["n_iter_"], d["_n_updates"], d["_seed"]) < 0:
        raise ValueError("fitted n_iter_, n_updates and seed must be >= 0")
    d["best_validation_score_"] = _field(
        fit, "best_validation_score_", ["float", "null"], where)
    for name in _CURVES:
        curve = _field(fit, name, ["list"], where)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                   for v in curve):
            raise ValueError(f"fitted {name} must be a list of numbers")
        d[name] = [float(v) for v in curve]
    d["history_"] = _history(_field(fit, "history_", ["list"], where))
    if "schedule" in fit:
        d["_schedule"] = _schedule(_field(fit, "schedule", ["dict"], where),
                                   est)
    K = net.n_outputs
    if isinstance(est, CharRNN):
        if net.directions != 1 or net.embedding_size is not None:
            raise ValueError("a CharRNN's network is unidirectional and "
                             "reads one-hot characters")
        vocab = _field(fit, "vocabulary_", ["str"], where)
        if len(set(vocab)) != len(vocab) or list(vocab) != sorted(vocab) or \
                len(vocab) != net.n_inputs or len(vocab) != K:
            raise ValueError(f"the vocabulary ({len(vocab)} characters) must "
                             "be distinct sorted characters, one per input "
                             f"({net.n_inputs}) and output ({K}) of the "
                             "network")
        d.update(vocabulary_=vocab, classes_=np.array(list(vocab)),
                 _lookup={ch: i for i, ch in enumerate(vocab)},
                 n_features_in_=len(vocab), _class_weight_vec=None)
        if "chars_per_second_" in fit:
            d["chars_per_second_"] = _field(fit, "chars_per_second_",
                                            ["float"], where)
        return d
    if "tokens" in fit:
        index = _tokens(fit["tokens"], net.n_inputs)
        vocab = Vocabulary.__new__(Vocabulary)
        vocab.index = index
        d.update(_vocabulary=vocab, vocabulary_=dict(index),
                 _n_inputs=net.n_inputs)
    else:
        if net.embedding_size is not None:
            raise ValueError("network has an embedding but the model has no "
                             "vocabulary")
        n = _field(fit, "n_features_in_", ["int"], where)
        if n != net.n_inputs:
            raise ValueError(f"n_features_in_ {n} differs from the network's "
                             f"{net.n_inputs} inputs")
        d.update(n_features_in_=n, _n_inputs=n)
        if "feature_names_in_" in fit:
            names = _field(fit, "feature_names_in_", ["list"], where)
            if len(names) != n or not all(isinstance(s, str) for s in names):
                raise ValueError(f"feature_names_in_ must be {n} str")
            d["feature_names_in_"] = np.array(names, dtype=object)
    if est._head_kernel == "linear_mse":
        n_out = _field(fit, "n_outputs_", ["int"], where)
        if n_out != K:
            raise ValueError(f"n_outputs_ {n_out} differs from the "
                             f"network's {K} outputs")
        d.update(n_outputs_=n_out, _y_1d=_field(fit, "y_1d", ["bool"], where))
        return d
    classes = archive.array("classes", "biufU", (K,))
    if classes.dtype.kind == "f" and not np.isfinite(classes).all():
        raise ValueError("classes_ holds NaN or infinity")
    if K > 1 and not np.all(classes[1:] > classes[:-1]):
        raise ValueError("classes_ must be distinct and sorted, as fit "
                         "leaves them")
    d["classes_"] = classes.astype(classes.dtype.newbyteorder("="))
    d["_class_weight_vec"] = None
    if "class_weight.npy" in archive.members:
        weights = archive.array("class_weight", [np.dtype("<f8")], (K,))
        if not (np.isfinite(weights).all() and (weights >= 0).all()):
            raise ValueError("class weights must be finite and >= 0")
        d["_class_weight_vec"] = weights
    return d


def restore_state(est, fitted, opt_state):
    """Make ``est`` the fitted model (``fitted`` holds its network and
    attributes): the counterpart of gather_state."""
    est.__dict__.update(fitted)
    est._opt_state = opt_state


def load(path):
    """Read a model written by ``save``, checking every field first.

    Parameters
    ----------
    path : str, path-like or binary file object

    Returns
    -------
    estimator
        The fitted estimator, as it was saved: it predicts the same bits
        and continues training (``partial_fit``, ``warm_start``) exactly
        as the saved one would have.

    Raises
    ------
    ValueError
        The file is not a seqnet model, is damaged, truncated or forged,
        or was written by a newer format version; the message names what
        is wrong.  No code from the file is ever run.
    """
    archive = _Archive(path)
    meta = _read_meta(archive)
    name = _field(meta, "class", ["str"], _JSON)
    classes = _classes()
    if name not in classes:
        raise ValueError(f"the file holds a {name!r}; seqnet loads "
                         f"{sorted(classes)}")
    est = _params(meta, archive, classes[name])
    net, opt = _network(meta, archive, est)
    fitted = _fitted(meta, archive, est, net)
    from ._network import aligned_empty
    opt_state = aligned_empty(opt.size, net.dtype)
    opt_state[...] = opt
    restore_state(est, fitted, opt_state)
    return est
