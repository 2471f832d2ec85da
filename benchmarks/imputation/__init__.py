"""Imputation benchmark: the baselines of :mod:`stgraph.impute` on hidden readings, GRIN / SPIN protocols."""
