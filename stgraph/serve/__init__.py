"""``stgraph serve``: a trained run's forecasts over HTTP (FastAPI under uvicorn).

- :mod:`~stgraph.serve.run`: the run being served: its model, calibration and test metrics,
  and one model call for a batch of requests;
- :mod:`~stgraph.serve.requests`: a request's JSON or CSV -> a :class:`~stgraph.data.SensorSeries`
  aligned to the run, or a one-line :class:`RequestError` naming the field, sensor or row;
- :mod:`~stgraph.serve.batcher`: requests that arrive together share one model call; a bounded queue;
- :mod:`~stgraph.serve.app`: the FastAPI application (routes, API key, body limit, errors as 422);
- :mod:`~stgraph.serve.server`: uvicorn, the loopback rule and the "ready" line.

FastAPI and uvicorn (the ``serve`` extra) are imported by :mod:`~stgraph.serve.app` and
:mod:`~stgraph.serve.server` only; ``import stgraph.serve`` needs neither.
"""

from stgraph.serve.requests import RequestError

__all__ = ["RequestError"]
