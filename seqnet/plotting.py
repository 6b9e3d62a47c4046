"""Plots of training: the curves and rates of ``history_``, the per-layer
update:parameter ratios, and the learning-rate range test.

matplotlib is an optional extra (``pip install seqnet[plot]``), imported
when a function here is called.  Every function draws on ``ax`` (a new
figure's when None) and returns the Axes it drew on.
"""
import math

from sklearn.utils.validation import check_is_fitted

# DL4J's rule of thumb: updates about a thousandth of the parameters.
HEALTHY_LOG10_RATIO = -3.0


def _axes(ax):
    if ax is not None:
        return ax
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "seqnet.plotting needs matplotlib: install the 'plot' extra "
            "(pip install 'seqnet[plot]') or matplotlib itself") from exc
    return plt.subplots()[1]


def _epoch_axis(ax):
    from matplotlib.ticker import MaxNLocator
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _history(estimator):
    check_is_fitted(estimator, "history_")
    history = estimator.history_
    if not history:
        raise ValueError(f"this {type(estimator).__name__}'s history_ is "
                         "empty: there is nothing to plot")
    return history


def plot_history(estimator, ax=None):
    """Training (and validation) loss per epoch on ``ax``, and the
    learning rate per epoch on a second y axis sharing its x axis
    (``ax.lr_axis``).

    Returns
    -------
    matplotlib.axes.Axes
        The loss axes: its lines are "training loss" and, with early
        stopping, "validation loss"; ``ax.lr_axis`` holds "learning rate".
    """
    history = _history(estimator)
    ax = _axes(ax)
    epochs = [h["epoch"] for h in history]
    ax.plot(epochs, [h["loss"] for h in history], marker=".",
            label="training loss")
    if history[-1]["validation_loss"] is not None:
        shown = [(h["epoch"], h["validation_loss"]) for h in history
                 if h["validation_loss"] is not None]
        ax.plot(*zip(*shown), marker=".", label="validation loss")
    _epoch_axis(ax)
    ax.set_ylabel("loss")
    lr_axis = ax.twinx()
    lr_axis.plot(epochs, [h["learning_rate"] for h in history], color="0.5",
                 linestyle="--", label="learning rate")
    lr_axis.set_yscale("log")
    lr_axis.set_ylabel("learning rate")
    lines = ax.get_lines() + lr_axis.get_lines()
    ax.legend(lines, [ln.get_label() for ln in lines], loc="upper right")
    ax.set_title(f"{type(estimator).__name__} training")
    ax.lr_axis = lr_axis
    return ax


def plot_update_ratios(estimator, ax=None):
    """log10 of each layer's update:parameter ratio per epoch (one line
    per layer, labelled as in ``history_``), with the healthy -3 marked
    (a dotted line labelled "healthy (-3)").

    Returns
    -------
    matplotlib.axes.Axes
    """
    history = _history(estimator)
    ax = _axes(ax)
    epochs = [h["epoch"] for h in history]
    for name in history[-1]["layers"]:
        ratios = [h["layers"][name]["log10_update_ratio"]
                  if name in h["layers"] else math.nan for h in history]
        ax.plot(epochs, ratios, marker=".", label=name)
    ax.axhline(HEALTHY_LOG10_RATIO, color="0.5", linestyle=":",
               label=f"healthy ({HEALTHY_LOG10_RATIO:g})")
    _epoch_axis(ax)
    ax.set_ylabel("log10(update RMS / parameter RMS)")
    ax.set_title("update:parameter ratio by layer")
    ax.legend()
    return ax


def plot_learning_rate_finder(result, ax=None):
    """The range test's smoothed loss against the rate (log x axis), the
    suggestion a vertical line labelled "suggestion".

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _axes(ax)
    ax.plot(result.learning_rates, result.losses, label="smoothed loss")
    ax.axvline(result.suggestion, color="C3", linestyle="--",
               label=f"suggestion {result.suggestion:.2g} ({result.rule})")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    ax.set_title("learning-rate range test")
    ax.legend()
    return ax


__all__ = ["plot_history", "plot_update_ratios", "plot_learning_rate_finder"]
