"""The kernels' exp, sigmoid and tanh (csrc/act.h) against NumPy.

The bounds are the maximum errors csrc/act.h states, measured on a dense
grid of [-20, 20] against float64 NumPy; a change of polynomial or range
reduction that loses accuracy fails here.
"""
import numpy as np
import pytest

from seqnet import _kernels

GRID = np.linspace(-20, 20, 400_001)
# (relative bound for exp and sigmoid, absolute bound for tanh)
BOUNDS = {np.float32: (2e-7, 1.2e-7), np.float64: (6e-16, 3e-16)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_and_sigmoid_relative_error(dtype):
    x = GRID.astype(dtype)
    xd = x.astype(np.float64)
    rel, _ = BOUNDS[dtype]
    for name, ref in (("exp", np.exp(xd)), ("sigmoid", 1 / (1 + np.exp(-xd)))):
        y = _kernels.activate(name, x).astype(np.float64)
        assert np.max(np.abs(y - ref) / ref) < rel, name


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tanh_absolute_error_and_oddness(dtype):
    x = GRID.astype(dtype)
    y = _kernels.activate("tanh", x)
    _, tol = BOUNDS[dtype]
    assert np.max(np.abs(y.astype(np.float64) - np.tanh(x.astype(np.float64)))) < tol
    np.testing.assert_array_equal(_kernels.activate("tanh", -x), -y)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_saturation_is_finite(dtype):
    x = np.array([-1e30, -1e4, -800, 800, 1e4, 1e30], dtype)
    assert np.all(np.isfinite(_kernels.activate("exp", x)))
    s = _kernels.activate("sigmoid", x)
    assert np.all((s >= 0) & (s <= 1))
    np.testing.assert_array_equal(s[3:], 1)
    t = _kernels.activate("tanh", x)
    np.testing.assert_array_equal(t, np.sign(x))
    np.testing.assert_allclose(_kernels.activate("softsign", x),
                               x / (1 + np.abs(x)), rtol=1e-6)


def test_rejects_unknown_function():
    with pytest.raises(ValueError, match="function"):
        _kernels.activate("gelu", np.zeros(3))
