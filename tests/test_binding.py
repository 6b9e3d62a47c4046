"""Bad input at the Cython binding: ``seqnet._kernels.*_forward/_backward``.

Every shape, dtype, layout, length, workspace or option the C kernels cannot
take must raise ``ValueError`` before any C call (a wrong shape reaching C
would read or write out of bounds).  Read-only *inputs* are fine; read-only
*outputs* are not.

Each case starts from one valid call (checked to work) and changes one
argument.  Arrays are only ever made *larger* than valid, so a missing check
shows up as "no ValueError", never as a crash.
"""

import inspect

import numpy as np
import pytest

from seqnet import _kernels

T, B, I, H = 3, 2, 3, 4
LENGTHS = [3, 2]
GATES = {"lstm": 4, "gru": 3, "elman": 1}
FUNCTIONS = [f"{kind}_{step}" for kind in ("lstm", "gru", "elman")
             for step in ("forward", "backward")]
# Arrays each pass writes; everything else it is given is read only.
OUTPUTS = {"forward": {"h", "c", "gates", "hn", "h_n", "c_n"},
           "backward": {"dx", "dh0", "dc0", "dW", "dU", "db", "dp", "dbh"}}
NOT_ARRAYS = {"lengths", "reverse", "workspace", "n_threads", "activation",
              "keep_gates"}


def _shapes(kind, T=T, B=B, I=I, H=H):
    G = GATES[kind] * H
    shapes = {"x": (T, B, I), "h0": (B, H), "c0": (B, H), "W": (I, G),
              "U": (H, G), "b": (G,), "p": (3 * H,), "bh": (H,),
              "h": (T, B, H), "c": (T, B, H), "hn": (T, B, H),
              "gates": (T, B, G), "h_n": (B, H), "c_n": (B, H),
              "dh": (T, B, H), "dh_n": (B, H), "dc_n": (B, H)}
    for name in ("x", "h0", "c0", "W", "U", "b", "p", "bh"):
        shapes["d" + name] = shapes[name]
    return shapes


def _params(function):
    return list(inspect.signature(getattr(_kernels, function)).parameters)


def _workspace(kind, dtype, T=T, B=B, I=I, H=H, n_threads=0):
    size = getattr(_kernels, f"{kind}_workspace_size")
    return np.empty(size(dtype, T, B, I, H, n_threads), np.uint8)


def _valid(function, dtype=np.float64, dims=None, lengths=None):
    """Keyword arguments of one valid call of ``_kernels.<function>``."""
    kind, step = function.split("_")
    dims = dims or {}
    shapes = _shapes(kind, **dims)
    rng = np.random.default_rng(0)
    args = {}
    for name in _params(function):
        if name in shapes:
            args[name] = rng.normal(scale=0.5, size=shapes[name]).astype(dtype)
    args["lengths"] = np.array(LENGTHS if lengths is None else lengths,
                               dtype=np.int64)
    args["reverse"] = False
    args["workspace"] = _workspace(kind, dtype, **dims)
    args["n_threads"] = 0
    if kind == "elman":
        args["activation"] = "tanh"
    if step == "backward" and not dims:
        # The saved forward state, as the forward pass writes it.
        fwd = _valid(f"{kind}_forward", dtype)
        for name in ("x", "h0", "c0", "W", "U", "b", "p", "bh"):
            if name in fwd and name in args:
                fwd[name] = args[name]
        getattr(_kernels, f"{kind}_forward")(**fwd)
        for name in ("h", "c", "gates", "hn"):
            if name in args:
                args[name] = fwd[name]
    return args


def _call(function, args):
    getattr(_kernels, function)(**args)


def _arrays(function):
    return [n for n in _params(function) if n not in NOT_ARRAYS]


def _outputs(function):
    return [n for n in _arrays(function)
            if n in OUTPUTS[function.split("_")[1]]]


def _inputs(function):
    return [n for n in _arrays(function) if n not in _outputs(function)]


# ---------------------------------------------------------------- sanity


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("function", FUNCTIONS)
def test_valid_call_works(function, dtype):
    args = _valid(function, dtype)
    _call(function, args)
    written = _outputs(function)
    assert written
    for name in written:
        assert np.all(np.isfinite(args[name])), name
    assert np.any(args[written[0]] != 0.0)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_read_only_inputs_are_accepted(function):
    expected = _valid(function)
    _call(function, expected)
    args = _valid(function)
    for name in _inputs(function) + ["lengths"]:
        args[name].flags.writeable = False
    _call(function, args)
    for name in _outputs(function):
        assert np.array_equal(args[name], expected[name]), name


@pytest.mark.parametrize("function", ["lstm_backward", "gru_backward",
                                      "elman_backward"])
def test_optional_arrays_may_be_none(function):
    args = _valid(function)
    for name in ("dx", "dh", "dh_n", "dc_n"):
        if name in args:
            args[name] = None
    _call(function, args)
    assert np.all(np.isfinite(args["dh0"]))


# -------------------------------------------------------- one bad array


def _grow(a, axis):
    shape = list(a.shape)
    shape[axis] += 1
    return np.zeros(shape, a.dtype)


def _strided(a, axis):
    """Same shape and values, every other element of a larger array along
    ``axis`` (``x[:, ::2]`` for axis 1 of x)."""
    shape = list(a.shape)
    shape[axis] *= 2
    big = np.zeros(shape, a.dtype)
    index = (slice(None),) * (axis % a.ndim) + (slice(None, None, 2),)
    big[index] = a
    view = big[index]
    assert view.shape == a.shape and not view.flags.c_contiguous
    return view


def _read_only(a):
    a = a.copy()
    a.flags.writeable = False
    return a


MUTATIONS = {
    "extra_dim": lambda a: a[None],
    "fewer_dims": lambda a: np.ascontiguousarray(a[0]),
    "float16": lambda a: a.astype(np.float16),
    "int": lambda a: a.astype(np.int64),
    "other_float": lambda a: a.astype(
        np.float32 if a.dtype == np.float64 else np.float64),
    "strided_first_axis": lambda a: _strided(a, 0),
    "strided_second_axis": lambda a: _strided(a, 1 if a.ndim > 1 else 0),
    "strided_last_axis": lambda a: _strided(a, -1),
    "fortran": np.asfortranarray,      # only used on arrays of ndim >= 2
}


def _bad_array_cases():
    cases = []
    for function in FUNCTIONS:
        for name in _arrays(function):
            ndim = len(_shapes(function.split("_")[0])[name])
            for mutation in MUTATIONS:
                if mutation == "fortran" and ndim < 2:
                    continue
                cases.append((function, name, mutation))
            cases += [(function, name, f"grow_axis{k}") for k in range(ndim)]
            if name in _outputs(function):
                cases.append((function, name, "read_only"))
    return cases


@pytest.mark.parametrize("function, name, mutation", _bad_array_cases())
def test_bad_array_raises(function, name, mutation):
    # float32 and float64 both valid: mutations to the other are mixed.
    for dtype in (np.float32, np.float64):
        args = _valid(function, dtype)
        a = args[name]
        if mutation.startswith("grow_axis"):
            args[name] = _grow(a, int(mutation[-1]))
        elif mutation == "read_only":
            args[name] = _read_only(a)
        else:
            args[name] = MUTATIONS[mutation](a)
        with pytest.raises(ValueError):
            _call(function, args)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_missing_required_array_raises(function):
    optional = {"p", "dp", "dx", "dh", "dh_n", "dc_n"}
    for name in _arrays(function):
        if name in optional:
            continue
        args = _valid(function)
        args[name] = None
        with pytest.raises(ValueError):
            _call(function, args)


# ---------------------------------------------------------------- lengths


LENGTH_CASES = {
    "too_many": np.array([3, 2, 1], np.int64),
    "too_few": np.array([3], np.int64),
    "int32": np.array(LENGTHS, np.int32),
    "float": np.array(LENGTHS, np.float64),
    "unsorted": np.array([1, 3], np.int64),
    "zero": np.array([3, 0], np.int64),
    "negative": np.array([3, -1], np.int64),
    "longer_than_T": np.array([4, 2], np.int64),
    "2d": np.array([LENGTHS], np.int64),
    "strided": np.array([3, 0, 2, 0], np.int64)[::2],
}


@pytest.mark.parametrize("case", list(LENGTH_CASES))
@pytest.mark.parametrize("function", FUNCTIONS)
def test_bad_lengths_raise(function, case):
    args = _valid(function)
    args["lengths"] = LENGTH_CASES[case]
    with pytest.raises(ValueError):
        _call(function, args)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_lengths_may_end_before_T(function):
    args = _valid(function, lengths=[2, 2])
    _call(function, args)


# ---------------------------------------------------- dims and workspace


@pytest.mark.parametrize("dim", ["T", "B", "I", "H"])
@pytest.mark.parametrize("function", FUNCTIONS)
def test_zero_size_dimension_raises(function, dim):
    dims = {"T": T, "B": B, "I": I, "H": H, dim: 0}
    lengths = [] if dim == "B" else LENGTHS
    # Sizing the workspace refuses the zero dimension already.
    with pytest.raises(ValueError, match="at least 1"):
        _call(function, _valid(function, dims=dims, lengths=lengths))


@pytest.mark.parametrize("function", FUNCTIONS)
def test_small_workspace_raises(function):
    args = _valid(function)
    need = args["workspace"].shape[0]
    args["workspace"] = np.empty(need - 1, np.uint8)
    with pytest.raises(ValueError, match="workspace"):
        _call(function, args)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_workspace_for_fewer_threads_raises(function):
    kind = function.split("_")[0]
    args = _valid(function)
    small = _workspace(kind, np.float64, n_threads=1)
    big = _workspace(kind, np.float64, n_threads=8)
    assert small.shape[0] < big.shape[0]
    args["workspace"], args["n_threads"] = small, 8
    with pytest.raises(ValueError, match="workspace"):
        _call(function, args)
    args["workspace"] = big
    _call(function, args)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_workspace_of_wrong_dtype_raises(function):
    args = _valid(function)
    args["workspace"] = args["workspace"].view(np.float64)
    with pytest.raises(ValueError):
        _call(function, args)


# --------------------------------------------------------------- options


@pytest.mark.parametrize("activation", ["sigmoid", "Tanh", "", None, 1])
@pytest.mark.parametrize("function", ["elman_forward", "elman_backward"])
def test_unknown_activation_raises(function, activation):
    args = _valid(function)
    args["activation"] = activation
    with pytest.raises(ValueError, match="activation"):
        _call(function, args)


@pytest.mark.parametrize("activation", ["tanh", "relu", "softsign"])
def test_known_activations_are_accepted(activation):
    args = _valid("elman_forward")
    args["activation"] = activation
    _call("elman_forward", args)
    if activation == "relu":
        assert np.all(args["h"] >= 0.0)


@pytest.mark.parametrize("given", ["p", "dp"])
def test_lstm_backward_p_and_dp_go_together(given):
    args = _valid("lstm_backward")
    args["dp" if given == "p" else "p"] = None
    with pytest.raises(ValueError):
        _call("lstm_backward", args)
    # Neither is fine: a plain LSTM.
    args["p"] = args["dp"] = None
    _call("lstm_backward", args)
