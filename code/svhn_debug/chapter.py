"""The one setup every chapter imports in its hidden first cell: quiet warnings, fixed seeds,
plot defaults, and the names chapters use."""

from __future__ import annotations

import random
import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch

from . import runner as ex  # noqa: E402,F401  (reads cached runs; never trains)
from . import facts, plots, report  # noqa: E402,F401
from .report import code, num, pct, points, pp, printed_difference, sci  # noqa: E402,F401

# Library chatter that says nothing about the experiments (each one checked and harmless here).
warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
warnings.filterwarnings("ignore", message="Full backward hook is firing")
warnings.filterwarnings("ignore", category=FutureWarning)

random.seed(0)
np.random.seed(0)
torch.manual_seed(0)

plt.rcParams.update({
    "figure.dpi": 110,
    "savefig.dpi": 110,
    "font.size": 8,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
})

__all__ = ["ex", "facts", "plots", "report", "code", "num", "pct", "points", "pp", "printed_difference", "sci", "np", "plt", "torch"]
