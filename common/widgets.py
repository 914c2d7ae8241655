"""Thin slider wrappers around plain functions.

The pattern in every notebook:

    plot_decision_line(w1=0.5, w2=0.5, b=-0.7)        # an ordinary call: the figure is saved and tested
    plt.show()
    slider_panel(plot_decision_line, w1=(-1.0, 1.0, 0.1), w2=(-1.0, 1.0, 0.1), b=(-1.5, 1.5, 0.1))

``slider_panel`` re-runs the function whenever a control moves and shows its figure (and anything
it prints) below the controls. It adds no logic of its own, so what the sliders show is exactly
what the tested function computes.

Under nbval the panel's first rendering reaches the kernel as plain stdout and clear_output
messages, so the cell that shows a panel starts with ``# NBVAL_IGNORE_OUTPUT``; the ordinary call
of the same function just above it is the one whose output is compared.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

import matplotlib.pyplot as plt


def slider_panel(func: Callable[..., Any], continuous_update: bool = True, **controls: Any):
    """Return an ``ipywidgets.interactive`` panel calling ``func(**values)`` and showing its figure.

    controls: ipywidgets abbreviations — ``(min, max, step)`` for a slider, a list for a dropdown, a
    bool for a checkbox, a fixed value with ``ipywidgets.fixed(v)`` — or widget objects.
    continuous_update=False re-runs only when a slider is released (use it for callbacks that train).
    """
    import ipywidgets as widgets

    def update(**kwargs: Any) -> None:
        result = func(**kwargs)
        if result is not None and not hasattr(result, "savefig"):
            print(result)
        plt.show()

    # ipywidgets reads the callback's signature: expose exactly the controlled parameters, with the
    # function's own defaults, so each slider starts where the plain call of the function does.
    defaults = {name: p.default for name, p in inspect.signature(func).parameters.items()}
    update.__signature__ = inspect.Signature([
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=defaults.get(name, inspect.Parameter.empty))
        for name in controls])
    panel = widgets.interactive(update, **controls)
    if not continuous_update:
        for child in panel.children:
            if hasattr(child, "continuous_update"):
                child.continuous_update = False
    panel.layout.border = "1px solid #ddd"
    return panel


def log_slider(description: str, value: float, min_exp: float, max_exp: float, step: float = 0.25,
               readout_format: str = ".3g"):
    """A slider over 10**min_exp .. 10**max_exp (learning rates, weight scales, lambdas)."""
    import ipywidgets as widgets
    return widgets.FloatLogSlider(value=value, base=10, min=min_exp, max=max_exp, step=step,
                                  description=description, readout_format=readout_format,
                                  continuous_update=False)
