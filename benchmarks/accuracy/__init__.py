"""Accuracy benchmark: our models under the papers' own protocols, beside the published tables.

    python -m benchmarks.accuracy --dataset los-loop --protocol tgcn --seeds 3
    python -m benchmarks.accuracy --dataset los-loop --protocol dcrnn --models stgcn dcrnn graph_wavenet

Data, windows and forecasts come from the library's pipeline (:mod:`stgraph.pipeline`), the
data root from :mod:`benchmarks.data_root`. Modules: :mod:`.tgcn_metrics` (T-GCN's RMSE, MAE,
accuracy, R^2, explained variance), :mod:`.protocols` (the two protocols: splits, scaling,
windows), :mod:`.training` (a lean training loop over the models), :mod:`.card` (machine and
protocol card, Markdown + JSON output), :mod:`.report` (the tables), :mod:`.run` (both
protocols end to end).
"""
