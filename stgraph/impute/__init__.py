"""Imputation: fill missing readings, and hide observed ones to score how well it was done.

* :mod:`stgraph.impute.baselines`: last observation carried forward, linear interpolation in
  time, the historical average, the weighted mean of graph neighbours; each over
  ``[time, sensors]`` values and a bool mask (``True`` = observed).
* :mod:`stgraph.impute.masking`: the GRIN / SPIN protocols (point missing 25 %, block missing
  of 1-4 hours per sensor), seeded.
* :mod:`stgraph.impute.learned`: the learned imputer (a residual over linear interpolation that
  receives the linear fill and the mask), trained by hiding observed readings again;
  :mod:`stgraph.impute.imputer_file` keeps a trained one in ``RUN/imputer.pt``.
* :mod:`stgraph.impute.methods`: the imputers by name, as ``stgraph impute --model`` takes them.
* :mod:`stgraph.impute.tables`: readings tables read and written back in their own layout.

The learned imputer imports torch; the baselines and the masks do not.
"""

from stgraph.impute.baselines import historical_average, linear_in_time, locf, neighbour_mean
from stgraph.impute.masking import block_missing, point_missing
from stgraph.impute.methods import METHODS, impute

__all__ = [
    "METHODS",
    "block_missing",
    "historical_average",
    "impute",
    "linear_in_time",
    "locf",
    "neighbour_mean",
    "point_missing",
]
