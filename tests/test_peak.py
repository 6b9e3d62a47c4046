"""_kernels.fma_peak: the measured FMA throughput the benchmarks' %peak
divides by, on every micro-kernel path, and its argument checks."""
import math

import pytest

from seqnet import _kernels


@pytest.mark.parametrize("isa", _kernels.isa_available())
def test_fma_peak_is_a_finite_positive_rate_on_every_path(isa):
    previous = _kernels.isa_current()
    try:
        _kernels.set_isa(isa)
        gflops = _kernels.fma_peak(0.01)
    finally:
        _kernels.set_isa(previous)
    assert math.isfinite(gflops) and gflops > 0


@pytest.mark.parametrize("seconds", [0, -1, 10.5, math.inf, -math.inf,
                                     math.nan])
def test_fma_peak_refuses_bad_seconds(seconds):
    with pytest.raises(ValueError, match="seconds"):
        _kernels.fma_peak(seconds)
