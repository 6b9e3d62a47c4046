"""Tuning the learning rate on Japanese Vowels: the range test, a cosine
schedule with warm-up, and the plots of the fit (docs/tuning.png).

    python examples/tuning.py [out.png]
"""
import sys

from matplotlib.figure import Figure

from seqnet import SequenceClassifier, SequenceScaler, find_learning_rate
from seqnet.datasets import load_japanese_vowels
from seqnet.plotting import plot_history, plot_update_ratios

data = load_japanese_vowels()
scaler = SequenceScaler().fit(data.X_train)
X_train, X_test = scaler.transform(data.X_train), scaler.transform(data.X_test)

model = SequenceClassifier(cell="gru", hidden_sizes=64, max_epochs=40,
                           early_stopping=True, n_iter_no_change=40,
                           random_state=0)
found = find_learning_rate(model, X_train, data.y_train, random_state=0)
print(found)
model.set_params(learning_rate=found.suggestion,
                 learning_rate_schedule="cosine", warmup_epochs=2)
model.fit(X_train, data.y_train)
print("test accuracy", model.score(X_test, data.y_test))
last = model.history_[-1]
print({k: last[k] for k in ("epoch", "loss", "validation_loss",
                            "learning_rate", "grad_norm")})

fig = Figure(figsize=(15, 4.2), layout="constrained")
left, middle, right = fig.subplots(1, 3)
found.plot(ax=left)
plot_history(model, ax=middle)
plot_update_ratios(model, ax=right)
fig.savefig(sys.argv[1] if len(sys.argv) > 1 else "tuning.png", dpi=80)
