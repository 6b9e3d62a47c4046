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

from .classification import SequenceClassifier, SequenceTagger
from .frames import sequences_from_frame
from .preprocessing import SequenceScaler
from .regression import SequenceRegressor
from .text import CharRNN
from ._stateful import StreamState
from . import datasets

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


__all__ = ["CharRNN", "SequenceClassifier", "SequenceRegressor",
           "SequenceTagger", "SequenceScaler", "StreamState", "datasets",
           "sequences_from_frame", "show_config", "__version__"]
