"""Accuracy benchmark: our models under the papers' own protocols, beside the published tables.

    python -m benchmarks.accuracy --dataset los-loop --protocol tgcn --seeds 3
    python -m benchmarks.accuracy --dataset los-loop --protocol dcrnn --models stgcn dcrnn graph_wavenet

Modules: :mod:`.data` (a catalog dataset from the data root), :mod:`.tgcn_metrics` (T-GCN's
RMSE, MAE, accuracy, R^2, explained variance), :mod:`.protocols` (the two protocols: splits,
scaling, windows, scoring), :mod:`.training` (a lean training loop over the models),
:mod:`.card` (machine and protocol card, Markdown + JSON output), :mod:`.run` (both protocols
end to end).
"""
