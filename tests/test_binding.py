"""Bad input at the Cython binding: ``seqnet._kernels.Layer``, ``Tape``,
``layer_forward`` and ``layer_backward``.

Every shape, dtype, layout, length, token code, workspace or option the C
kernels cannot take must raise ``ValueError`` -- when the ``Layer`` is made
or at the call, before any C call (a wrong shape reaching C would read or
write out of bounds), or from C's own check of the values (lengths, token
codes, the workspace's size).  Read-only *inputs* are fine; read-only
*outputs* (the forward's tape, the backward's gradients) are not.

Each case starts from one valid call per cell and step (checked to work)
and changes one argument.  Arrays are only ever made *larger* than valid,
so a missing check shows up as "no ValueError", never as a crash.  A call
is kept as a flat dict of named arguments: the layer's arrays (W, U, b,
p, bh), its gradients' (dW, ...), the tape's (h, c, gates, hn, h_n, c_n)
and the rest; ``_call`` builds the Layer, gradient Layer and Tape from it.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from seqnet import _kernels

T, B, I, H = 3, 2, 3, 4
LENGTHS = [3, 2]
KINDS = tuple(_kernels.CELLS)
FUNCTIONS = [f"{kind}_{step}" for kind in KINDS
             for step in ("forward", "backward")]
PARAMETERS = ("W", "U", "b", "p", "bh")
TAPE = ("h", "c", "gates", "hn", "h_n", "c_n")
UPSTREAM = ("dh", "dh_n", "dc_n")


def _shapes(kind, T=T, B=B, I=I, H=H):
    G = _kernels.CELLS[kind].n_gates * H
    shapes = {"x": (T, B, I), "h0": (B, H), "c0": (B, H), "W": (I, G),
              "U": (H, G), "b": (G,), "p": (3 * H,), "bh": (H,),
              "h": (T, B, H), "c": (T, B, H), "hn": (T, B, H),
              "gates": (T, B, G), "h_n": (B, H), "c_n": (B, H),
              "dh": (T, B, H), "dh_n": (B, H), "dc_n": (B, H)}
    for name in ("x", "h0", "c0", "W", "U", "b", "p", "bh"):
        shapes["d" + name] = shapes[name]
    return shapes


def _arrays(function):
    """The arrays one call of ``function`` ("<cell>_<step>") takes, read
    off the cell's description: peepholes for the cells that have them."""
    kind, step = function.split("_")
    info = _kernels.CELLS[kind]
    params = ["W", "U", "b"] + ["p"] * info.peepholes + ["bh"] * info.has_bh
    tape = (["h"] + ["c"] * info.has_c + ["gates"] * (not info.gates_in_h)
            + ["hn"] * info.has_hn + ["h_n"] + ["c_n"] * info.has_c)
    inputs = ["x", "h0"] + ["c0"] * info.has_c
    if step == "forward":
        return params + tape + inputs
    return (params + ["d" + n for n in params] + ["dx", "dh0"]
            + ["dc0"] * info.has_c + ["dh", "dh_n"] + ["dc_n"] * info.has_c
            + inputs + tape)


def _outputs(function):
    """The arrays a call writes: the forward's tape, the backward's
    gradients (all but the upstream ones)."""
    if function.endswith("forward"):
        return [n for n in _arrays(function) if n in TAPE]
    return [n for n in _arrays(function)
            if n.startswith("d") and n not in UPSTREAM]


def _inputs(function):
    return [n for n in _arrays(function) if n not in _outputs(function)]


def _workspace(kind, dtype, T=T, B=B, I=I, H=H, n_threads=0):
    layer = _kernels.Layer(kind, *(np.zeros(_shapes(kind, T, B, I, H)[n],
                                            dtype) for n in ("W", "U", "b")),
                           bh=np.zeros(H, dtype)
                           if _kernels.CELLS[kind].has_bh else None)
    return np.empty(_kernels.layer_workspace_size(layer, T, B, n_threads),
                    np.uint8)


def _valid(function, dtype=np.float64, dims=None, lengths=None):
    """Arguments of one valid call of ``function``, by name."""
    kind, step = function.split("_")
    dims = dims or {}
    shapes = _shapes(kind, **dims)
    rng = np.random.default_rng(0)
    args = {name: rng.normal(scale=0.5, size=shapes[name]).astype(dtype)
            for name in _arrays(function)}
    args["lengths"] = np.array(LENGTHS if lengths is None else lengths,
                               dtype=np.int64)
    args["reverse"] = False
    args["workspace"] = _workspace(kind, dtype, **dims)
    args["n_threads"] = 0
    args["activation"] = "tanh"
    if step == "forward":
        args["keep"] = True
    elif not dims:
        # The saved forward state, as the forward pass writes it.
        fwd = _valid(f"{kind}_forward", dtype)
        for name in fwd:
            if name not in TAPE and name in args:
                fwd[name] = args[name]
        _call(f"{kind}_forward", fwd)
        for name in TAPE:
            if name in args:
                args[name] = fwd[name]
    return args


def _layer(kind, args, prefix=""):
    return _kernels.Layer(kind, *(args.get(prefix + n) for n in PARAMETERS),
                          activation=args["activation"])


def _call(function, args, grads=None):
    """Make the call's Layer (and, unless given, gradient Layer) and Tape,
    then call ``_kernels.layer_<step>``."""
    kind, step = function.split("_")
    layer = _layer(kind, args)
    tape = _kernels.Tape(*(args.get(n) for n in TAPE))
    if step == "forward":
        _kernels.layer_forward(layer, tape, args["x"], args["h0"],
                               args.get("c0"), args["lengths"],
                               args["reverse"], args["workspace"],
                               args["n_threads"], args["keep"])
    else:
        if grads is None:
            grads = _layer(kind, args, "d")
        _kernels.layer_backward(layer, grads, args["dx"],
                                args["dh0"], args.get("dc0"), args["dh"],
                                args["dh_n"], args.get("dc_n"), args["x"],
                                args["h0"], args.get("c0"), tape,
                                args["lengths"], args["reverse"],
                                args["workspace"], args["n_threads"])


# ---------------------------------------------------------------- sanity


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("function", FUNCTIONS)
def test_valid_call_works(function, dtype):
    args = _valid(function, dtype)
    before = {name: args[name].copy() for name in _outputs(function)}
    _call(function, args)
    written = _outputs(function)
    assert written
    for name in written:
        assert np.all(np.isfinite(args[name])), name
        assert not np.array_equal(args[name], before[name]), name


@pytest.mark.parametrize("kind", KINDS)
def test_layer_describes_its_arrays(kind):
    args = _valid(f"{kind}_forward", np.float32)
    layer = _layer(kind, args)
    info = _kernels.CELLS[kind]
    assert layer.info is info and layer.cell == kind
    assert (layer.I, layer.H, layer.G) == (I, H, info.n_gates * H)
    assert layer.dtype == np.float32 and layer.activation == "tanh"
    for name in PARAMETERS:
        assert getattr(layer, name) is args.get(name), name
    assert layer.writeable
    args["U"].flags.writeable = False
    assert not _layer(kind, args).writeable


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


@pytest.mark.parametrize("function", [f for f in FUNCTIONS
                                      if f.endswith("backward")])
def test_optional_arrays_may_be_none(function):
    args = _valid(function)
    for name in ("dx", "dh", "dh_n", "dc_n", "p", "dp"):
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
    "big_endian": lambda a: a.astype(a.dtype.newbyteorder(">")),
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
    names = [n for n in _arrays(function) if n not in optional]
    assert names
    for name in names:
        args = _valid(function)
        args[name] = None
        with pytest.raises(ValueError):
            _call(function, args)


# ------------------------------------------------------------ the Layer


def _layer_arrays(kind, dtype=np.float64):
    """W, U, b and (GRU) bh of a valid layer, by name."""
    args = _valid(f"{kind}_forward", dtype)
    return {name: args[name] for name in PARAMETERS
            if name in args and name != "p"}


LAYER_CASES = {
    # name: (cell, change to the valid arrays or options, message)
    "unknown_cell": ("transformer", {}, "unknown cell"),
    "cell_case": ("LSTM", {}, "unknown cell"),
    "cell_none": (None, {}, "unknown cell"),
    "lstm_activation": ("lstm", {"activation": "sigmoid"}, "activation"),
    "gru_activation": ("gru", {"activation": "Tanh"}, "activation"),
    "gru_peepholes": ("gru", {"p": np.zeros(3 * H)}, "peepholes"),
    "elman_peepholes": ("elman", {"p": np.zeros(3 * H)}, "peepholes"),
    "gru_without_bh": ("gru", {"bh": None}, "bh"),
    "lstm_with_bh": ("lstm", {"bh": np.zeros(H)}, "bh"),
    "elman_with_bh": ("elman", {"bh": np.zeros(H)}, "bh"),
    "lstm_short_p": ("lstm", {"p": np.zeros(2 * H)}, "shape"),
    "W_list": ("elman", {"W": [[0.0] * H] * I}, "float32 or float64"),
}


@pytest.mark.parametrize("case", list(LAYER_CASES))
def test_layer_refuses_what_its_cell_cannot_take(case):
    cell, change, message = LAYER_CASES[case]
    kind = cell if cell in KINDS else "elman"
    arrays = {**_layer_arrays(kind), "activation": "tanh", **change}
    with pytest.raises(ValueError, match=message):
        _kernels.Layer(cell, arrays["W"], arrays["U"], arrays["b"],
                       arrays.get("p"), arrays.get("bh"),
                       arrays["activation"])


@pytest.mark.parametrize("kind, name", [
    (kind, name) for kind in KINDS for name in PARAMETERS[1:]
    if name in _arrays(f"{kind}_forward")])
def test_layer_refuses_mixed_dtypes(kind, name):
    arrays = _layer_arrays(kind)
    if name == "p":
        arrays["p"] = np.zeros(3 * H)
    for dtype in (np.float32, np.float64):
        arrays = {k: a.astype(dtype) for k, a in arrays.items()}
        other = np.float64 if dtype == np.float32 else np.float32
        bad = dict(arrays, **{name: arrays[name].astype(other)})
        with pytest.raises(ValueError, match="like W"):
            _kernels.Layer(kind, bad["W"], bad["U"], bad["b"], bad.get("p"),
                           bad.get("bh"))


@pytest.mark.parametrize("activation", ["sigmoid", "Tanh", "", None, 1])
@pytest.mark.parametrize("kind", KINDS)
def test_unknown_activation_raises(kind, activation):
    arrays = _layer_arrays(kind)
    with pytest.raises(ValueError, match="activation"):
        _kernels.Layer(kind, arrays["W"], arrays["U"], arrays["b"],
                       bh=arrays.get("bh"), activation=activation)


@pytest.mark.parametrize("activation", _kernels.ACTIVATIONS)
def test_known_activations_are_accepted(activation):
    args = _valid("elman_forward")
    args["activation"] = activation
    assert _layer("elman", args).activation == activation
    _call("elman_forward", args)
    if activation == "relu":
        assert np.all(args["h"] >= 0.0)
        assert np.any(args["h"] > 0.0)


@pytest.mark.parametrize("given", ["p", "dp"])
def test_lstm_backward_p_and_dp_go_together(given):
    args = _valid("lstm_backward")
    args["dp" if given == "p" else "p"] = None
    with pytest.raises(ValueError, match="grads must be a Layer shaped"):
        _call("lstm_backward", args)
    # Neither is fine: a plain LSTM.
    args["p"] = args["dp"] = None
    _call("lstm_backward", args)


@pytest.mark.parametrize("function, other", [
    (f, other) for f in FUNCTIONS for other in KINDS
    if not f.startswith(other)])
def test_tape_of_another_cell_raises(function, other):
    # Same T, B, H: only the arrays the cell keeps differ (c, c_n; the
    # gates' width or none; hn).
    args = _valid(function)
    theirs = _valid(f"{other}_forward")
    for name in TAPE:
        args[name] = theirs.get(name)
    with pytest.raises(ValueError):
        _call(function, args)


# ------------------------------------------------------------ the grads


def _zero_grads(kind, dtype=np.float64, **dims):
    """A gradient Layer of zeros for a ``kind`` layer of ``dims``."""
    shapes = _shapes(kind, **dims)
    return _kernels.Layer(
        kind, *(np.zeros(shapes[n], dtype) for n in ("W", "U", "b")),
        bh=np.zeros(shapes["bh"], dtype) if _kernels.CELLS[kind].has_bh
        else None)


@pytest.mark.parametrize("case", ["other_cell", "other_dtype", "more_inputs",
                                  "more_units"])
@pytest.mark.parametrize("kind", KINDS)
def test_grads_must_be_shaped_as_the_layer(kind, case):
    args = _valid(f"{kind}_backward")
    args["p"] = args["dp"] = None
    _call(f"{kind}_backward", args, _zero_grads(kind))
    grads = {"other_cell": lambda: _zero_grads(
                 next(k for k in KINDS if k != kind)),
             "other_dtype": lambda: _zero_grads(kind, np.float32),
             "more_inputs": lambda: _zero_grads(kind, I=I + 1),
             "more_units": lambda: _zero_grads(kind, H=H + 1)}[case]()
    with pytest.raises(ValueError, match="grads must be a Layer shaped"):
        _call(f"{kind}_backward", args, grads)


@pytest.mark.parametrize("kind, name", [
    (kind, "d" + name) for kind in KINDS for name in PARAMETERS
    if name in _arrays(f"{kind}_forward")])
def test_grads_must_be_writeable(kind, name):
    args = _valid(f"{kind}_backward")
    expected = _valid(f"{kind}_backward")
    args[name].flags.writeable = False
    with pytest.raises(ValueError, match="grads must be writeable"):
        _call(f"{kind}_backward", args)
    # Nothing was written before the refusal.
    for other in _outputs(f"{kind}_backward"):
        assert np.array_equal(args[other], expected[other]), other


# ----------------------------------------------------------- token codes


def _codes():
    """Valid int64 token codes (T, B), in [0, I)."""
    return np.random.default_rng(1).integers(0, I, (T, B))


@pytest.mark.parametrize("function", FUNCTIONS)
def test_token_codes_are_accepted(function):
    args = _valid(function)
    args["x"] = _codes()
    if "dx" in args:
        args["dx"] = None
    args["x"].flags.writeable = False
    _call(function, args)
    written = _outputs(function)
    assert all(np.all(np.isfinite(args[n])) for n in written if n != "dx")


CODES_CASES = {
    "int32": lambda c: c.astype(np.int32),
    "uint64": lambda c: c.astype(np.uint64),
    "big_endian": lambda c: c.astype(">i8"),
    "float64": lambda c: c.astype(np.float64),
    "bool": lambda c: c.astype(bool),
    "one_more_row": lambda c: np.zeros((T, B + 1), np.int64),
    "one_more_step": lambda c: np.zeros((T + 1, B), np.int64),
    "flat": lambda c: c.reshape(-1),
    "trailing_axis": lambda c: c[:, :, None],
    "strided": lambda c: _strided(c, 1),
    "fortran": np.asfortranarray,
    "list": lambda c: c.tolist(),
    "below_0": lambda c: np.where(c == c[0, 0], -1, c),
    "I": lambda c: np.full_like(c, I),
}


@pytest.mark.parametrize("case", list(CODES_CASES))
@pytest.mark.parametrize("function", FUNCTIONS)
def test_bad_codes_raise(function, case):
    args = _valid(function)
    args["x"] = CODES_CASES[case](_codes())
    if "dx" in args:
        args["dx"] = None
    with pytest.raises(ValueError,
                       match="token code" if case in ("below_0", "I")
                       else None):
        _call(function, args)


@pytest.mark.parametrize("kind", KINDS)
def test_dx_with_codes_raises(kind):
    args = _valid(f"{kind}_backward")
    args["x"] = _codes()
    with pytest.raises(ValueError, match="dx must be None"):
        _call(f"{kind}_backward", args)


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
    # Making the layer (I, H) or sizing the workspace (T, B) refuses the
    # zero dimension already.
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


@pytest.mark.parametrize("bad", ["float64", "2d", "strided", "read_only",
                                 "none"])
@pytest.mark.parametrize("function", FUNCTIONS)
def test_workspace_of_wrong_kind_raises(function, bad):
    args = _valid(function)
    ws = args["workspace"]
    args["workspace"] = {
        "float64": lambda: ws.view(np.float64),
        "2d": lambda: ws[:, None],
        "strided": lambda: np.empty(2 * ws.size, np.uint8)[::2],
        "read_only": lambda: _read_only(ws),
        "none": lambda: None}[bad]()
    with pytest.raises(ValueError):
        _call(function, args)


def test_workspace_size_refuses_zero_steps_and_rows():
    layer = _layer("elman", _valid("elman_forward"))
    assert _kernels.layer_workspace_size(layer, T, B) > 0
    for t, b in ((0, B), (T, 0), (-1, B)):
        with pytest.raises(ValueError, match="at least 1"):
            _kernels.layer_workspace_size(layer, t, b)


# ------------------------------------------- what is not a Layer or Tape


NOT_A_LAYER_CASES = {
    "layer_dict": "_kernels.layer_forward({}, tape, x, h0, None, lengths, "
                  "False, ws)",
    "tape_dict": "_kernels.layer_forward(layer, {}, x, h0, None, lengths, "
                 "False, ws)",
    "grads_tape": "_kernels.layer_backward(layer, tape, None, h0.copy(), "
                  "None, None, None, None, x, h0, None, tape, lengths, "
                  "False, ws)",
    "size_of_a_dict": "_kernels.layer_workspace_size({}, 3, 2)",
    "stack_of_dicts": "_kernels.Stack([{}])",
}
NONE_CASES = {
    "layer_none": "_kernels.layer_forward(None, tape, x, h0, None, lengths, "
                  "False, ws)",
    "tape_none": "_kernels.layer_forward(layer, None, x, h0, None, lengths, "
                 "False, ws)",
    "grads_none": "_kernels.layer_backward(layer, None, None, h0.copy(), "
                  "None, None, None, None, x, h0, None, tape, lengths, "
                  "False, ws)",
    "backward_tape_none": "_kernels.layer_backward(layer, layer, None, "
                          "h0.copy(), None, None, None, None, x, h0, None, "
                          "None, lengths, False, ws)",
    "size_of_none": "_kernels.layer_workspace_size(None, 3, 2)",
    "stack_step_none": "_kernels.stack_step(np.zeros((2, 4)), "
                       "np.zeros((2, 4)), np.zeros((2, 4)), "
                       "np.zeros((2, 3)), None, ws)",
    "generate_none": "_kernels.generate(np.zeros(3, np.int64), np.zeros(4), "
                     "np.zeros(4), None, np.zeros((4, 3)), np.zeros(3), "
                     "np.zeros(0, np.int64), 0, 1.0, 0, 0, ws)",
}


def _in_a_child(call):
    """Run ``call`` on a valid Elman layer and tape in a child process (a
    crash must not take the test run with it): the exception it raised, as
    "<type>: <message>", or what else happened."""
    script = textwrap.dedent(f"""
        import numpy as np
        from seqnet import _kernels
        layer = _kernels.Layer("elman", np.zeros((3, 4)), np.zeros((4, 4)),
                               np.zeros(4))
        tape = _kernels.Tape(np.zeros((3, 2, 4)), None, None, None,
                             np.zeros((2, 4)), None)
        x, h0 = np.zeros((3, 2, 3)), np.zeros((2, 4))
        lengths = np.array([3, 2])
        ws = np.empty(_kernels.layer_workspace_size(layer, 3, 2), np.uint8)
        try:
            {call}
        except Exception as e:
            print(f"{{type(e).__name__}}: {{e}}")
        else:
            print("no exception")
        """)
    # From outside the source tree, whose seqnet/ has no compiled kernels.
    run = subprocess.run([sys.executable, "-c", script], capture_output=True,
                         text=True, timeout=120,
                         cwd=os.path.expanduser("~"))
    if run.returncode != 0:
        return f"exit status {run.returncode}: {run.stderr[-2000:]}"
    return run.stdout.strip()


@pytest.mark.parametrize("case", list(NOT_A_LAYER_CASES))
def test_what_is_not_a_layer_or_tape_is_refused(case):
    outcome = _in_a_child(NOT_A_LAYER_CASES[case])
    assert outcome.startswith("TypeError: "), outcome


@pytest.mark.parametrize("case", list(NONE_CASES))
def test_none_for_a_layer_tape_or_stack_is_refused(case):
    # Refused by name: an error from fields read out of None (a shape
    # check against garbage) does not count.
    outcome = _in_a_child(NONE_CASES[case])
    assert outcome.startswith(("TypeError: ", "ValueError: ")), outcome
    assert "None" in outcome, outcome
