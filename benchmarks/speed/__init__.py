"""Speed benchmarks.

- ``python -m benchmarks.speed``: model steps (STGCN, DCRNN, Graph WaveNet at the papers'
  configurations): training and inference samples/s, peak memory, FLOPs per sample and the
  share of the machine's measured GEMM rate (:mod:`.model_step`, :mod:`.ceilings`,
  :mod:`.graphs`, :mod:`.profile`, :mod:`.epoch`), and the same for PyTorch Geometric Temporal
  and Torch Spatiotemporal in the same run when their environment is given
  (:mod:`.peers`, :mod:`.peer_models`).
- ``python -m benchmarks.speed.propagate`` / ``.propagate_gpu``: the propagation core per
  backend against measured memory bandwidth.

Graphs: :mod:`.graphs`; every CPU time and the ceilings: :func:`.ceilings.timed`.
"""
