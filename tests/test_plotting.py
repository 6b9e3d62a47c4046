"""seqnet.plotting under the Agg backend: the data drawn, read back from
the returned Axes, is the history's."""
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose

from seqnet import CharRNN, SequenceClassifier, find_learning_rate, plotting

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
plt = pytest.importorskip("matplotlib.pyplot")

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def lines(ax):
    return {ln.get_label(): ln for ln in ax.get_lines()}


def fitted(**kw):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 6, 2))
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    return SequenceClassifier(**{"hidden_sizes": (6, 5), "max_epochs": 5,
                                 "random_state": 0, "batch_size": 16,
                                 "learning_rate_schedule": "exponential",
                                 **kw}).fit(X, y)


def test_plot_history_draws_the_curves_and_the_rate():
    est = fitted(early_stopping=True)
    ax = plotting.plot_history(est)
    drawn = lines(ax)
    epochs = [1, 2, 3, 4, 5]
    assert_allclose(drawn["training loss"].get_xdata(), epochs)
    assert_allclose(drawn["training loss"].get_ydata(), est.loss_curve_)
    assert_allclose(drawn["validation loss"].get_ydata(),
                    est.validation_loss_curve_)
    rate = lines(ax.lr_axis)["learning rate"]
    assert_allclose(rate.get_ydata(), [1e-3 * 0.9 ** e for e in range(5)])
    assert ax.lr_axis in ax.figure.axes


def test_plot_history_without_validation_has_no_validation_line():
    fig, ax = plt.subplots()
    assert plotting.plot_history(fitted(), ax=ax) is ax
    assert "validation loss" not in lines(ax)


def test_plot_update_ratios_draws_a_line_per_layer():
    est = fitted()
    ax = plotting.plot_update_ratios(est)
    drawn = lines(ax)
    assert set(drawn) == {"layer0.forward", "layer1.forward", "output",
                          "healthy (-3)"}
    for name in ("layer0.forward", "output"):
        assert_allclose(drawn[name].get_ydata(),
                        [h["layers"][name]["log10_update_ratio"]
                         for h in est.history_])
    assert_allclose(drawn["healthy (-3)"].get_ydata(), [-3, -3])


def test_finder_plot_draws_the_smoothed_losses_and_the_suggestion():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 6, 2))
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    found = find_learning_rate(SequenceClassifier(hidden_sizes=6,
                                                  batch_size=8), X, y,
                               n_updates=30, random_state=0)
    ax = found.plot()
    drawn = lines(ax)
    assert_allclose(drawn["smoothed loss"].get_xdata(), found.learning_rates)
    assert_allclose(drawn["smoothed loss"].get_ydata(), found.losses)
    [mark] = [ln for label, ln in drawn.items()
              if label.startswith("suggestion")]
    assert_allclose(mark.get_xdata(), [found.suggestion] * 2)
    assert ax.get_xscale() == "log"


def test_charrnn_history_plots():
    est = CharRNN(hidden_sizes=(8,), batch_size=4, tbptt_length=8,
                  max_epochs=2, random_state=0).fit("abcabd " * 30)
    ax = plotting.plot_history(est)
    assert_allclose(lines(ax)["training loss"].get_ydata(), est.loss_curve_)


def test_unfitted_or_missing_matplotlib_is_explained():
    from sklearn.exceptions import NotFittedError
    with pytest.raises(NotFittedError):
        plotting.plot_history(SequenceClassifier())
    # In a child whose matplotlib cannot be imported.
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "import seqnet, numpy as np\n"
            "X = np.random.default_rng(0).standard_normal((8, 3, 1))\n"
            "m = seqnet.SequenceClassifier(hidden_sizes=2, max_epochs=1)"
            ".fit(X, [0, 1] * 4)\n"
            "try:\n    seqnet.plotting.plot_history(m)\n"
            "except ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, cwd="/", check=True).stdout
    assert "'plot' extra" in out and "matplotlib" in out


def test_the_demo_writes_a_png_of_its_curves(tmp_path, capsys):
    from seqnet.__main__ import main
    path = tmp_path / "curves.png"
    assert main(["demo", "--minutes", "0.01", "--hidden", "8", "--chars",
                 "5", "--plot", str(path)]) == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"training curves written to {path}" in capsys.readouterr().out
