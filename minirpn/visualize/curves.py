"""Training curves: each loss by iteration, the learning-rate steps and the validation mAP.

:func:`draw_loss_curves` draws on an Axes (what lesson 10 shows); :func:`plot_loss_curves`
saves the run folder's ``loss_curve.png`` with it. The numbers are those of ``history.csv``
(:mod:`minirpn.history`): iterations count from 1.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes

from minirpn.visualize.axes import axes_or_new, new_figure, save_figure

LR_STEP_COLOR = "0.35"
VALIDATION_MARKERS = {"mAP@0.5": "o", "COCO mAP@[.5:.95]": "s"}


def draw_loss_curves(
    history: Mapping[str, Sequence[float]],
    *,
    learning_rates: Sequence[float] | None = None,
    validation: Mapping[int, tuple[float, float]] | None = None,
    title: str = "training losses",
    log_scale: bool = True,
    ax: Axes | None = None,
) -> Axes:
    """Each loss against the iteration, faint as it is and bold as a moving average (window
    ~1/50 of the run), with the learning-rate drops and the validation mAP marked.

    history:        name -> one value per iteration ("rpn_cls", "rpn_reg", "cls", "reg").
    learning_rates: the rate of every iteration (``history.csv``'s ``learning_rate``); each
                    drop is a dotted vertical line labelled with its factor (x0.1) in the
                    legend. None: no marks.
    validation:     iteration -> (mAP@0.5, COCO mAP) measured after it (``--eval-every``),
                    drawn on a second axis from 0 to 1 on the right.
    log_scale:      a logarithmic loss axis (losses fall over orders of magnitude); values
                    <= 0 are then not shown.
    """
    ax = axes_or_new(ax, (9, 5))
    series = _checked(history)
    for i, (name, values) in enumerate(series.items()):
        color = f"C{i % 10}"
        iterations = np.arange(1, values.size + 1)
        ax.plot(iterations, values, color=color, alpha=0.25, linewidth=0.8)
        window = max(1, values.size // 50)
        ax.plot(
            iterations[window - 1 :],
            _moving_average(values, window),
            color=color,
            linewidth=1.6,
            label=f"{name} (moving average of {window})" if window > 1 else name,
        )
    if log_scale:
        ax.set_yscale("log")
    if learning_rates is not None:
        _mark_rate_drops(ax, np.asarray(learning_rates, dtype=np.float64))
    handles, labels = ax.get_legend_handles_labels()
    if validation:
        other = _draw_validation(ax, validation)
        more_handles, more_labels = other.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss" + (" (log scale)" if log_scale else ""))
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(handles, labels, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
    return ax


def _checked(history) -> dict[str, np.ndarray]:
    if not isinstance(history, Mapping) or not history:
        raise ValueError(f"history must be a non-empty dict of name -> values, got {history!r}")
    series = {}
    for name, values in history.items():
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 1 or values.size == 0:
            raise ValueError(
                f"history[{name!r}] must be a non-empty list of numbers, got shape {values.shape}"
            )
        series[name] = values
    return series


def _mark_rate_drops(ax: Axes, rates: np.ndarray) -> None:
    """A dotted line at every iteration whose rate is lower than the one before (the step
    schedule's drops; a warm-up only raises the rate)."""
    drops = np.flatnonzero(rates[1:] < rates[:-1]) + 1  # 0-based index of the new rate
    for k, index in enumerate(drops):
        factor = rates[index] / rates[index - 1]
        ax.axvline(
            index + 1,
            color=LR_STEP_COLOR,
            linestyle=":",
            linewidth=1.5,
            label=f"learning rate ×{factor:.2g} from here" if k == 0 else None,
        )
        ax.annotate(
            f"lr ×{factor:.2g}",
            (index + 1, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, -3),
            textcoords="offset points",
            va="top",
            fontsize=8,
            color=LR_STEP_COLOR,
        )


def _draw_validation(ax: Axes, validation) -> Axes:
    """mAP@0.5 and COCO mAP after the iterations evaluated, on a twin axis [0, 1]."""
    other = ax.twinx()
    iterations = sorted(validation)
    values = np.array([validation[i] for i in iterations], dtype=np.float64)  # (n, 2)
    for column, (name, marker) in enumerate(VALIDATION_MARKERS.items()):
        other.plot(
            iterations,
            values[:, column],
            color="black",
            marker=marker,
            markersize=4,
            linewidth=1,
            linestyle="-" if column == 0 else "--",
            label=f"validation {name} (right axis)",
        )
    other.set_ylim(0, 1)
    other.set_ylabel("validation mAP")
    return other


def _moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Means of each run of ``window`` consecutive values: (n - window + 1,)."""
    sums = np.cumsum(np.concatenate([[0.0], values]))
    return (sums[window:] - sums[:-window]) / window


def plot_loss_curves(
    history: Mapping[str, Sequence[float]],
    path: str | os.PathLike,
    *,
    learning_rates: Sequence[float] | None = None,
    validation: Mapping[int, tuple[float, float]] | None = None,
    title: str = "training losses",
    log_scale: bool = True,
) -> None:
    """:func:`draw_loss_curves` on a figure of its own, saved to ``path`` (atomically; PNG,
    PDF or SVG by the suffix)."""
    figure, (ax,) = new_figure(1, (9, 5))
    draw_loss_curves(
        history,
        learning_rates=learning_rates,
        validation=validation,
        title=title,
        log_scale=log_scale,
        ax=ax,
    )
    save_figure(figure, path)
