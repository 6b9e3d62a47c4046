"""seqnet: recurrent sequence models for CPUs.

Fused C kernels (LSTM, GRU, Elman; forward and backpropagation through
time) parallelised with OpenMP, bound by a thin Cython layer and exposed as
scikit-learn estimators.
"""
try:
    from . import _kernels
except ImportError as exc:  # running from a source tree that was never built
    raise ImportError(
        "seqnet's compiled kernels are missing: install the package with "
        "`pip install .` and import it from outside the source tree") from exc


def _check_isa_request():
    """SEQNET_ISA names the micro-kernel path to use; one this build or CPU
    cannot run (or no path at all) falls back to the best one, and says so
    once, here, at import."""
    import os
    import warnings
    asked = os.environ.get("SEQNET_ISA")
    if asked is None or asked in _kernels.isa_available():
        return
    why = ("this CPU or build cannot run it" if asked in _kernels.ISAS else
           f"the paths are {', '.join(_kernels.ISAS)}")
    warnings.warn(f"SEQNET_ISA={asked!r} is ignored: {why}; using "
                  f"{_kernels.isa_current()!r}", RuntimeWarning, stacklevel=3)


_check_isa_request()

from .classification import SequenceClassifier, SequenceTagger  # noqa: E402
from .frames import sequences_from_frame  # noqa: E402
from .preprocessing import SequenceScaler  # noqa: E402
from .regression import SequenceRegressor  # noqa: E402
from .seq2seq import SequenceToSequence  # noqa: E402
from .text import CharRNN  # noqa: E402
from ._stateful import StreamState  # noqa: E402
from ._onnx import to_onnx  # noqa: E402
from ._persist import load  # noqa: E402
from . import datasets  # noqa: E402
from . import plotting  # noqa: E402
from ._finder import LearningRateFinderResult, find_learning_rate  # noqa

__version__ = "0.1.0"


def show_config():
    """Print how this build of seqnet runs on this machine."""
    print(f"seqnet {__version__}")
    print(f"  ISA paths available : {', '.join(_kernels.isa_available())}")
    print(f"  ISA path in use     : {_kernels.isa_current()}"
          "  (SEQNET_ISA=ref|avx2|avx512 overrides)")
    print(f"  OpenMP              : "
          f"{'yes' if _kernels.has_openmp() else 'no (single-threaded)'}")
    print(f"  default threads     : {_kernels.max_threads()}")


__all__ = ["CharRNN", "LearningRateFinderResult", "SequenceClassifier",
           "SequenceRegressor", "SequenceTagger", "SequenceScaler",
           "SequenceToSequence", "StreamState", "datasets",
           "find_learning_rate", "load", "plotting", "sequences_from_frame",
           "show_config", "to_onnx", "__version__"]
