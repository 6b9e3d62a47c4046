"""Shape checks and workspace sizings per batch: bidirectional 2-layer LSTM."""
import sys, warnings
import numpy as np
warnings.simplefilter("ignore")
from seqnet import SequenceClassifier, _kernels
counts = {}
def wrap(name):
    f = getattr(_kernels, name, None)
    if f is None:
        return
    def counted(*a, **k):
        counts[name] = counts.get(name, 0) + 1
        return f(*a, **k)
    setattr(_kernels, name, counted)
for name in ["_expect", "_expect_optional", "_check_workspace", "_dims",
             "lstm_workspace_size", "layer_workspace_size",
             "stack_workspace_size", "_check_stack", "_real_type"]:
    wrap(name)
rng = np.random.default_rng(0)
X = [rng.standard_normal((int(t), 4)) for t in rng.integers(5, 20, 64)]
y = [int(x[:, 0].sum() > 0) for x in X]
est = SequenceClassifier(hidden_sizes=(8, 8), bidirectional=True, batch_size=32,
                         max_epochs=1, random_state=0)
est.fit(X, y)          # 2 batches + setup
c1 = dict(counts); counts.clear()
est.set_params(max_epochs=3, warm_start=True).fit(X, y)   # 6 batches
c3 = dict(counts); counts.clear()
per_batch = {k: (c3.get(k, 0) - c1.get(k, 0)) / 4 for k in set(c1) | set(c3)}
print("per batch:", {k: v for k, v in per_batch.items() if v})
uni = SequenceClassifier(hidden_sizes=(8, 8), max_epochs=1, random_state=0).fit(X, y)
state = uni.initial_state(2)
counts.clear()
for _ in range(10):
    uni.step(rng.standard_normal((2, 4)), state)
print("per step():", {k: v / 10 for k, v in counts.items()})
