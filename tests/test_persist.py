"""estimator.save / seqnet.load: the same model back, bit for bit, and
nothing but ValueError from a damaged, truncated or forged file."""
import io
import json
import pickle
import tracemalloc
import warnings
import zipfile
from fractions import Fraction

import numpy as np
import pytest

import seqnet
from seqnet import (CharRNN, SequenceClassifier, SequenceRegressor,
                    SequenceTagger)
from seqnet._persist import FORMAT_VERSION

LENGTHS = [5, 3, 7, 2, 4, 6, 3, 5]


def _X(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((t, 3)) for t in LENGTHS]


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


def _models():
    """(name, fitted model, X, y) of every kind the format holds."""
    X = _X()
    labels = np.array(["b", "a", "c", "a", "b", "c", "a", "b"])
    tags = [(x[:, 0] > 0).astype(int) for x in X]
    values = np.array([[x.sum(), x[0, 1]] for x in X])
    words = ["ab", "ba", "abc", "c", "bca", "cab", "a", "bb"]
    common = dict(max_epochs=2, batch_size=3, random_state=0)
    fit = lambda est, X, y: _quiet(est.fit, X, y)   # noqa: E731
    return [
        ("classifier", fit(SequenceClassifier(
            hidden_sizes=(4, 3), bidirectional=True, cell="gru",
            class_weight={"a": 2.0, "b": 1.0}, **common), X, labels),
         X, labels),
        ("classifier-peepholes-f64", fit(SequenceClassifier(
            hidden_sizes=(4,), peepholes=True, dtype="float64",
            optimizer="rmsprop", **common), X, labels), X, labels),
        ("regressor", fit(SequenceRegressor(
            hidden_sizes=(4,), cell="elman", activation="relu",
            optimizer="momentum", learning_rate_schedule="exponential",
            **common), X, values), X, values),
        ("tagger", fit(SequenceTagger(
            hidden_sizes=(4,), tbptt_length=3, dropout=0.2,
            learning_rate_schedule="plateau", learning_rate_patience=1,
            tol=10.0, **common),
            X, tags), X, tags),
        ("tokens-one-hot", fit(SequenceClassifier(
            hidden_sizes=(4,), **common), words, labels), words, labels),
        ("tokens-embedding", fit(SequenceRegressor(
            hidden_sizes=(4,), embedding_size=2, cell="gru", **common),
            words, values[:, 0]), words, values[:, 0]),
    ]


MODELS = _models()


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """The classifier's file, for the fuzzing tests."""
    path = tmp_path_factory.mktemp("model") / "clf.seqnet"
    MODELS[0][1].save(path)
    return path


def _outputs(est, X):
    if isinstance(est, SequenceRegressor):
        return _quiet(est.predict, X)
    probs = _quiet(est.predict_proba, X)
    return np.concatenate(probs) if isinstance(probs, list) else probs


@pytest.mark.parametrize("name,est,X,y", MODELS, ids=[m[0] for m in MODELS])
def test_load_predicts_the_same_bits_and_trains_on_alike(name, est, X, y,
                                                          tmp_path):
    path = tmp_path / "model.seqnet"
    est.save(path)
    loaded = seqnet.load(path)
    assert type(loaded) is type(est)
    assert loaded.get_params() == est.get_params()
    assert np.array_equal(_outputs(loaded, X), _outputs(est, X))
    if hasattr(est, "classes_"):
        assert np.array_equal(loaded.predict(X[:3]), est.predict(X[:3])) \
            if name != "tagger" else True
    assert loaded.history_ == est.history_
    # partial_fit continues as the original does: same weights, optimiser
    # state, curves and learning-rate schedule after two more epochs.
    original = pickle.loads(pickle.dumps(est))
    for _ in range(2):
        _quiet(original.partial_fit, X, y)
        _quiet(loaded.partial_fit, X, y)
        assert np.array_equal(loaded._net.params, original._net.params)
        assert np.array_equal(loaded._opt_state, original._opt_state)
    assert loaded.loss_curve_ == original.loss_curve_
    assert loaded.n_iter_ == original.n_iter_
    rates = [[h["learning_rate"] for h in m.history_]
             for m in (loaded, original)]
    assert rates[0] == rates[1]
    if name in ("regressor", "tagger"):        # the schedule moved the rate
        assert len(set(rates[0])) > 1


def test_a_loaded_model_exports_the_same_graph(tmp_path):
    est = MODELS[0][1]
    est.save(tmp_path / "m")
    pytest.importorskip("onnx")
    assert seqnet.to_onnx(seqnet.load(tmp_path / "m")).SerializeToString() \
        == seqnet.to_onnx(est).SerializeToString()


def test_warm_start_and_random_state_instances_continue(tmp_path):
    X = _X(1)
    y = [i % 2 for i in range(len(X))]
    est = _quiet(SequenceClassifier(
        hidden_sizes=(3,), max_epochs=2, warm_start=True,
        random_state=np.random.RandomState(7)).fit, X, y)
    est.save(tmp_path / "m")
    loaded = seqnet.load(tmp_path / "m")
    _quiet(est.fit, X, y)
    _quiet(loaded.fit, X, y)
    assert np.array_equal(loaded._net.params, est._net.params)


def test_charrnn_samples_and_steps_alike_and_continues(tmp_path):
    text = ["the cat sat on the mat. " * 6, "a dog ran. " * 5]
    est = _quiet(CharRNN(hidden_sizes=(8, 6), max_epochs=1, tbptt_length=8,
                         batch_size=4, random_state=0, cell="gru").fit, text)
    est.save(tmp_path / "c")
    loaded = seqnet.load(tmp_path / "c")
    assert loaded.vocabulary_ == est.vocabulary_
    assert loaded.sample(50, prime="the", random_state=3) == \
        est.sample(50, prime="the", random_state=3)
    p1, s1 = est.step("ta")
    p2, s2 = loaded.step("ta")
    assert np.array_equal(p1, p2) and np.array_equal(s1.h, s2.h)
    assert loaded.score(text[1]) == est.score(text[1])
    _quiet(est.partial_fit, text)
    _quiet(loaded.partial_fit, text)
    assert np.array_equal(loaded._net.params, est._net.params)


def test_the_file_is_plain_arrays_and_json(saved):
    with np.load(saved, allow_pickle=False) as npz:
        assert "layer0.forward.W" in npz.files
        assert npz["optimizer.state"].size == 2 * MODELS[0][1]._net.params.size
    with zipfile.ZipFile(saved) as zf:
        meta = json.loads(zf.read("model.json"))
    assert meta["format"] == "seqnet-model"
    assert meta["format_version"] == FORMAT_VERSION
    assert meta["class"] == "SequenceClassifier"
    assert meta["params"]["class_weight"] == {"pairs": [["a", 2.0],
                                                        ["b", 1.0]]}


def test_saving_twice_writes_the_same_bytes(tmp_path):
    est = MODELS[2][1]
    est.save(tmp_path / "a")
    est.save(tmp_path / "b")
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()


def test_unfitted_and_unstorable_models_are_refused(tmp_path):
    with pytest.raises(Exception, match="fitted"):
        SequenceClassifier().save(tmp_path / "x")
    # Labels from a pandas Series of str are an object array: stored as
    # str.  Other objects (which fit refuses anyway) cannot be stored.
    X = _X()
    labels = np.array(["x", "y"] * 4, dtype=object)
    est = _quiet(SequenceClassifier(hidden_sizes=2, max_epochs=1).fit, X,
                 labels)
    est.save(tmp_path / "s")
    assert seqnet.load(tmp_path / "s").predict(X).tolist() == \
        est.predict(X).tolist()
    est.classes_ = np.array([Fraction(1, 2), Fraction(1, 3)], dtype=object)
    with pytest.raises(TypeError, match="classes_"):
        est.save(tmp_path / "x")


# ----------------------------------------------------------------- fuzzing


def _loads_or_refuses(data, original):
    """seqnet.load on bytes: a ValueError, or the original model intact
    (a flip in a field nothing reads, such as a timestamp)."""
    try:
        est = seqnet.load(io.BytesIO(data))
    except ValueError:
        return False
    X = MODELS[0][2]
    assert np.array_equal(_quiet(est.predict_proba, X),
                          _quiet(original.predict_proba, X))
    return True


def _regions(data):
    """Offsets where the ZIP's regions start: every member's local header
    and data, the central directory, its end record."""
    zf = zipfile.ZipFile(io.BytesIO(data))
    cuts = {0, len(data)}
    for info in zf.infolist():
        cuts.add(info.header_offset)
        cuts.add(info.header_offset + 30 + len(info.filename))
        cuts.add(info.header_offset + 30 + len(info.filename) +
                 info.file_size // 2)
    cuts.add(data.rfind(b"PK\x01\x02", 0, data.rfind(b"PK\x05\x06")))
    cuts.add(data.rfind(b"PK\x05\x06"))
    return sorted(cuts)


def test_truncated_files_are_refused(saved):
    data = saved.read_bytes()
    cuts = set()
    for cut in _regions(data):
        cuts.update({cut - 1, cut, cut + 1})
    cuts.update(np.random.default_rng(0).integers(0, len(data), 60).tolist())
    cuts = sorted(c for c in cuts if 0 <= c < len(data))
    for cut in cuts:
        with pytest.raises(ValueError):
            seqnet.load(io.BytesIO(data[:cut]))


def test_flipped_bytes_are_refused_or_harmless(saved):
    data = saved.read_bytes()
    rng = np.random.default_rng(1)
    positions = set(rng.integers(0, len(data), 400).tolist())
    for cut in _regions(data):
        positions.update(range(max(0, cut - 2), min(len(data), cut + 3)))
    refused = 0
    for pos in sorted(positions):
        damaged = bytearray(data)
        damaged[pos] ^= 1 << int(rng.integers(8))
        refused += not _loads_or_refuses(bytes(damaged), MODELS[0][1])
    # Every flip in a member's bytes (most of the file) fails its CRC.
    assert refused > 0.8 * len(positions)


def _rewrite(path, meta_edit=None, arrays=None, drop=(), raw=None):
    """The saved file with its JSON edited, arrays replaced (name -> array
    or raw bytes) or members dropped."""
    out = io.BytesIO()
    with zipfile.ZipFile(path) as zf, zipfile.ZipFile(out, "w") as new:
        for info in zf.infolist():
            name = info.filename
            if name in drop:
                continue
            data = zf.read(name)
            if name == "model.json" and meta_edit is not None:
                meta = json.loads(data)
                meta_edit(meta)
                data = json.dumps(meta).encode()
            stem = name[:-4]
            if arrays and stem in arrays:
                value = arrays.pop(stem)
                if isinstance(value, np.ndarray):
                    buf = io.BytesIO()
                    np.lib.format.write_array(
                        buf, value, allow_pickle=value.dtype.hasobject)
                    value = buf.getvalue()
                data = value
            if raw and name in raw:
                data = raw[name]
            new.writestr(name, data)
        for stem, value in (arrays or {}).items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, value, allow_pickle=True)
            new.writestr(stem + ".npy", buf.getvalue())
    return out.getvalue()


def _set(*keys):
    def edit(meta):
        d = meta
        for k in keys[:-2]:
            d = d[k]
        d[keys[-2]] = keys[-1]
    return edit


_EXPLODED = []


def _explode():
    _EXPLODED.append(True)
    return "boom"


class _Payload:
    def __reduce__(self):
        return (_explode, ())


def _forgeries(path):
    def edit(*keys):
        return _rewrite(path, _set(*keys))

    W = np.load(path)["layer0.forward.W"]
    nan_W = W.copy()
    nan_W[1, 2] = np.nan
    inf_W = W.copy()
    inf_W[0, 0] = -np.inf
    payload = np.empty(1, object)
    payload[0] = _Payload()
    header = b"\x93NUMPY\x01\x00" + b"v\x00" + (
        b"{'descr': '<f4', 'fortran_order': False, 'shape': "
        b"(1000000000000,), }").ljust(117) + b"\n"
    return {
        "wrong shape": (_rewrite(path, arrays={
            "layer0.forward.W": W[:-1]}), "shape"),
        "wrong dtype": (_rewrite(path, arrays={
            "layer0.forward.W": W.astype(np.float64)}), "float"),
        "NaN weight": (_rewrite(path, arrays={"layer0.forward.W": nan_W}),
                       "NaN"),
        "inf weight": (_rewrite(path, arrays={"layer0.forward.W": inf_W}),
                       "NaN or infinity"),
        "NaN optimiser state": (_rewrite(path, arrays={
            "optimizer.state": np.full_like(np.load(path)["optimizer.state"],
                                            np.nan)}), "optimiser"),
        "unknown class": (edit("class", "Evil"), "Evil"),
        "classes of another count": (_rewrite(path, arrays={
            "classes": np.array(["a", "b"])}), "classes"),
        "unsorted classes": (_rewrite(path, arrays={
            "classes": np.array(["c", "b", "a"])}), "sorted"),
        "oversized hidden size": (
            edit("network", "hidden_sizes", [10**9, 3]), "claims"),
        "oversized array header": (_rewrite(path, raw={
            "output.c.npy": header + b"\0" * 12}), "shape"),
        "parameter name missing": (_rewrite(
            path, drop=("layer1.backward.U.npy",)), "layer1.backward.U"),
        "unexpected array": (_rewrite(path, arrays={
            "extra": np.zeros(3, np.float32)}), "extra"),
        "pickled array": (_rewrite(path, arrays={
            "output.c": payload}), "output.c"),
        "pickle as the JSON": (_rewrite(path, raw={
            "model.json": pickle.dumps(_Payload())}), "JSON"),
        "a whole pickle": (pickle.dumps(_Payload()), "seqnet model"),
        "newer format": (
            edit("format_version", FORMAT_VERSION + 1),
            f"version {FORMAT_VERSION + 1}.*version {FORMAT_VERSION}"),
        "wrong parameter type": (
            edit("params", "hidden_sizes", "many"), "hidden_sizes"),
        "unknown parameter": (edit("params", "evil", 1), "evil"),
        "bad cell": (edit("network", "cell", "tree"), "cell"),
        "deep JSON": (_rewrite(path, raw={
            "model.json": b"[" * 100000 + b"]" * 100000}), "JSON"),
        "architecture mismatch": (
            edit("network", "bidirectional", False), "the file holds"),
        "features mismatch": (
            edit("fitted", "n_features_in_", 5), "n_features_in_"),
        "negative counter": (edit("fitted", "n_updates", -1), "n_updates"),
    }


@pytest.mark.parametrize("case", [
    "wrong shape", "wrong dtype", "NaN weight", "inf weight",
    "NaN optimiser state", "unknown class", "classes of another count",
    "unsorted classes", "oversized hidden size", "oversized array header",
    "parameter name missing", "unexpected array", "pickled array",
    "pickle as the JSON", "a whole pickle", "newer format",
    "wrong parameter type", "unknown parameter", "bad cell", "deep JSON",
    "architecture mismatch", "features mismatch", "negative counter"])
def test_forged_files_are_refused_naming_the_problem(case, saved):
    data, message = _forgeries(saved)[case]
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=message):
            seqnet.load(io.BytesIO(data))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not _EXPLODED
    # Memory stays within a few times the file's real size.
    assert peak < 10 * len(data) + (1 << 20)


def test_token_vocabulary_is_checked(tmp_path):
    est = MODELS[4][1]
    est.save(tmp_path / "t")
    bad = _rewrite(tmp_path / "t", _set("fitted", "tokens",
                                        ["a", "a", "b"]))
    with pytest.raises(ValueError, match="repeat"):
        seqnet.load(io.BytesIO(bad))
    short = _rewrite(tmp_path / "t", _set("fitted", "tokens",
                                          ["a"]))
    with pytest.raises(ValueError, match="vocabulary"):
        seqnet.load(io.BytesIO(short))


@pytest.mark.parametrize("params", [dict(batch_size=0),
                                    dict(hidden_sizes=())])
def test_save_refuses_parameters_load_would_refuse(params, tmp_path):
    # Found by tests/test_stress.py: a parameter set to a bad value after
    # the fit was written, and the file then refused by load.
    est = pickle.loads(pickle.dumps(MODELS[0][1])).set_params(**params)
    with pytest.raises(ValueError):
        est.save(tmp_path / "m")
    assert not (tmp_path / "m").exists()
