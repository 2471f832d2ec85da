r"""node2vec sensor embeddings (Grover & Leskovec, KDD 2016): second-order biased random walks
over the road graph, then skip-gram with negative sampling (Mikolov et al., NeurIPS 2013).

GMAN (Zheng et al., AAAI 2020) feeds such an embedding as its fixed spatial embedding; the
defaults of :func:`node2vec_embedding` are those of the authors' generator
(zhengchuanpan/GMAN, ``METR/node2vec/generateSE.py`` and ``node2vec.py``) except the number of
skip-gram epochs (see there).

* :func:`node2vec_walks`: the walks, ``[sensors * walks_per_node, walk_length]`` int64.
* :func:`skip_gram`: input vectors learned from the walks, ``[sensors, dim]``.
* :func:`node2vec_embedding`: both, float64 ``[sensors, dim]``.

numpy, scipy and torch only (no gensim, no networkx); every walk step is one set of array
operations over all walks, every skip-gram step one minibatch of (centre, context) pairs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.sparse as sp

from stgraph.errors import GraphError

__all__ = ["node2vec_embedding", "node2vec_walks", "skip_gram"]

#: the learning rate decays linearly from ``lr`` to this share of it (gensim: 1e-4 / 0.025).
_FINAL_LR_SHARE = 0.004


def node2vec_walks(adjacency: Any, *, walks_per_node: int, walk_length: int, p: float, q: float, seed: int) -> np.ndarray:
    r"""Second-order biased random walks of node2vec over a weighted, directed graph.

    A walk that arrived at sensor :math:`v` from :math:`t` moves along the out-edge
    :math:`v \to x` with probability

    .. math::
        P(x \mid v, t) = \frac{\alpha_{pq}(t, x)\, w_{vx}}{\sum_{y} \alpha_{pq}(t, y)\, w_{vy}},
        \qquad
        \alpha_{pq}(t, x) = \begin{cases}
            1/p & x = t \\
            1   & x \ne t,\ w_{xt} > 0 \\
            1/q & \text{otherwise}
        \end{cases}

    where :math:`w_{vx}` = ``adjacency[v, x]``; the first step, which has no :math:`t`, uses
    :math:`P(x \mid v) = w_{vx} / \sum_y w_{vy}`. "Neighbour of :math:`t`" is read as the
    authors' code reads it (``G.has_edge(x, t)``): an edge :math:`x \to t`; on a symmetric
    graph that is the paper's distance :math:`d_{tx} = 1`. Self-loops are edges like any other.

    Row ``r * sensors + i`` is the ``r``-th walk from sensor ``i`` (the authors' code visits the
    starting sensors in a shuffled order each round; the walks are the same in distribution).
    A walk that reaches a sensor without out-edges stops there, as in the authors' code; its
    remaining positions hold ``-1``. An isolated sensor's walks are ``[i, -1, -1, ...]``.

    Args:
        adjacency: ``[sensors, sensors]`` non-negative weights, scipy sparse or array-like;
            ``adjacency[i, j] > 0`` is an edge from ``i`` to ``j``.
        walks_per_node: walks started from every sensor (GMAN: 100).
        walk_length: sensors per walk, the start included (GMAN: 80).
        p: return parameter; a larger ``p`` makes stepping straight back less likely (GMAN: 2).
        q: in-out parameter; ``q > 1`` keeps the walk near ``t``, ``q < 1`` sends it away (GMAN: 1).
        seed: seed of the numpy generator; equal seeds give equal walks.

    Shapes:
        returns: ``[sensors * walks_per_node, walk_length]`` int64, ``-1`` after a walk stopped.
    """
    _check_positive_int(walks_per_node=walks_per_node, walk_length=walk_length)
    _check_positive_float(p=p, q=q)
    matrix = _as_adjacency(adjacency)
    n = matrix.shape[0]
    indptr = matrix.indptr.astype(np.int64)
    targets = matrix.indices.astype(np.int64)
    weights = matrix.data.astype(np.float64)
    degree = np.diff(indptr)
    # edge (x -> t) exists iff x * n + t is in this sorted array (CSR rows sorted, then columns)
    edge_keys = np.repeat(np.arange(n, dtype=np.int64), degree) * n + targets

    rng = np.random.default_rng(seed)
    walks = np.full((n * walks_per_node, walk_length), -1, dtype=np.int64)
    walks[:, 0] = np.tile(np.arange(n, dtype=np.int64), walks_per_node)
    active = np.flatnonzero(degree[walks[:, 0]] > 0)
    for step in range(1, walk_length):
        if active.size == 0:
            break
        current = walks[active, step - 1]
        counts = degree[current]
        # candidate out-edges of every active walk's current sensor, concatenated walk by walk
        starts = np.repeat(indptr[current] - np.cumsum(counts) + counts, counts)
        edges = starts + np.arange(int(counts.sum()), dtype=np.int64)
        candidates = targets[edges]
        bias = weights[edges]
        if step > 1:
            previous = np.repeat(walks[active, step - 2], counts)
            keys = candidates * n + previous
            where = np.minimum(np.searchsorted(edge_keys, keys), edge_keys.size - 1)
            linked = edge_keys[where] == keys
            bias = bias * np.where(candidates == previous, 1.0 / p, np.where(linked, 1.0, 1.0 / q))
        # sample one candidate per walk: a uniform draw scaled into the walk's stretch of the cumsum
        cumulative = np.cumsum(bias)
        last = np.cumsum(counts) - 1
        first = last - counts + 1
        base = np.where(first > 0, cumulative[np.maximum(first - 1, 0)], 0.0)
        draw = base + rng.random(active.size) * (cumulative[last] - base)
        chosen = np.clip(np.searchsorted(cumulative, draw, side="right"), first, last)
        walks[active, step] = candidates[chosen]
        active = active[degree[walks[active, step]] > 0]
    return walks


def skip_gram(
    walks: np.ndarray,
    num_nodes: int,
    dim: int,
    *,
    window: int,
    negatives: int,
    epochs: int,
    lr: float = 0.01,
    batch_size: int = 4096,
    seed: int = 0,
) -> np.ndarray:
    r"""Skip-gram with negative sampling (SGNS; Mikolov et al., NeurIPS 2013) over walks,
    minimised with Adam over minibatches of (centre, context) pairs.

    Every sensor :math:`i` has an input vector :math:`\mathbf{u}_i` and an output vector
    :math:`\mathbf{v}_i`. Each minibatch minimises the mean, over its pairs (centre :math:`c`,
    context :math:`o`) at most ``window`` positions apart in a walk, of

    .. math::
        -\log\sigma(\mathbf{u}_c^\top\mathbf{v}_o)
            - \sum_{j=1}^{k} \log\sigma(-\mathbf{u}_c^\top\mathbf{v}_{n_j}),
        \qquad n_j \sim P_n(i) \propto \mathrm{count}(i)^{3/4}

    with :math:`k` = ``negatives`` noise sensors drawn from the unigram distribution of the
    walks raised to 3/4, fresh for every pair. As in word2vec, each centre's window is shrunk
    to a uniform draw from ``1..window`` (nearer contexts count more), a noise draw equal to
    the context is skipped, input vectors start uniform in :math:`\pm 0.5/\mathrm{dim}` and
    output vectors at zero, and the learning rate decays linearly with the share of walks
    processed, from ``lr`` to ``0.004 * lr`` (gensim: 0.025 to 1e-4). An epoch is one pass
    over every walk, in a fresh order.

    Why Adam and not word2vec's plain SGD: word2vec applies each pair's step at once, so a
    sensor's vector sees its own updates. A minibatch over a few hundred sensors holds each
    sensor tens to hundreds of times; summing those steps, computed at the same parameters,
    overshoots and diverges (measured, from 0.025: NaN at 16,384 pairs a step on the 207-sensor
    graph and at 4,096 on a 12-sensor one), while averaging them would slow learning by about
    the same factor.
    Adam's per-coordinate step is bounded by the rate whatever the batch holds.

    Sensors that are in no pair (isolated, or never visited) get the zero vector.

    Args:
        walks: ``[walks, length]`` sensor indices; ``-1`` marks positions after a walk stopped.
        num_nodes: number of sensors (rows of the output).
        dim: width of the embedding.
        window: largest distance between centre and context in a walk.
        negatives: noise sensors :math:`k` per pair.
        epochs: passes over the walks.
        lr: initial learning rate of Adam (0.01; gensim's SGD starts at 0.025).
        batch_size: (centre, context) pairs per step (4,096).
        seed: seed of the walk order, windows, noise draws and initial vectors; the result is
            the same for a seed (on one machine and torch version).

    Shapes:
        walks: ``[walks, length]`` int -> ``[num_nodes, dim]`` float64 (the input vectors).
    """
    import torch

    _check_positive_int(num_nodes=num_nodes, dim=dim, window=window, epochs=epochs, batch_size=batch_size)
    if isinstance(negatives, bool) or not isinstance(negatives, int) or negatives < 0:
        raise ValueError(f"negatives must be a non-negative integer, got {negatives!r}")
    _check_positive_float(lr=lr)
    walks = np.asarray(walks)
    if walks.ndim != 2 or not np.issubdtype(walks.dtype, np.integer):
        raise ValueError(f"walks must be a 2-D integer array [walks, length], got {walks.dtype} {list(walks.shape)}")
    if walks.size and (walks.min() < -1 or walks.max() >= num_nodes):
        raise ValueError(
            f"walks must hold sensor indices 0..{num_nodes - 1} (or -1 after a walk stopped), got {walks.min()}..{walks.max()}"
        )
    inputs, _, trained = _train_sgns(walks.astype(np.int64), num_nodes, dim, window, negatives, epochs, lr, batch_size, seed)
    embedding: np.ndarray = inputs.to(torch.float64).numpy()
    embedding[~trained] = 0.0
    return embedding


def _train_sgns(
    walks: np.ndarray, num_nodes: int, dim: int, window: int, negatives: int, epochs: int, lr: float, batch_size: int, seed: int
) -> tuple[Any, Any, np.ndarray]:
    """:func:`skip_gram`'s training: ``(inputs, outputs, trained)``, the two float32 tables and
    which sensors were the centre of at least one pair."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    counts = np.bincount(walks[walks >= 0], minlength=num_nodes).astype(np.float64)
    noise = torch.from_numpy(counts**0.75)
    inputs = (torch.rand(num_nodes, dim, generator=generator, dtype=torch.float32) - 0.5) / dim
    outputs = torch.zeros(num_nodes, dim, dtype=torch.float32)
    tables = (inputs, outputs)
    moments = [(torch.zeros_like(table), torch.zeros_like(table)) for table in tables]
    step = 0
    trained = np.zeros(num_nodes, dtype=bool)

    # the rate decays with the share of walks processed, as gensim's with the share of words
    chunk = max(1, (1 << 20) // max(1, walks.shape[1] * 2 * window))  # walks per chunk of ~1M pairs at most
    total = epochs * walks.shape[0]
    for epoch in range(epochs):
        order = rng.permutation(walks.shape[0])
        for begin in range(0, order.size, chunk):
            block = walks[order[begin : begin + chunk]]
            pair_centre, pair_context = _window_pairs(block, window, rng)
            trained[pair_centre] = True
            shuffle = rng.permutation(pair_centre.size)
            centre_all, context_all = torch.from_numpy(pair_centre[shuffle]), torch.from_numpy(pair_context[shuffle])
            done = epoch * walks.shape[0] + begin
            for first in range(0, centre_all.numel(), batch_size):
                progress = (done + block.shape[0] * first / centre_all.numel()) / total
                rate = lr * (1.0 - (1.0 - _FINAL_LR_SHARE) * progress)
                centre = centre_all[first : first + batch_size]
                context = context_all[first : first + batch_size]
                gradients = _sgns_gradients(inputs, outputs, centre, context, noise, negatives, generator)
                step += 1
                for table, gradient, (mean, square) in zip(tables, gradients, moments):
                    _adam_update(table, gradient, mean, square, rate, step)
    return inputs, outputs, trained


def node2vec_embedding(
    adjacency: Any,
    dim: int = 64,
    *,
    walks_per_node: int = 100,
    walk_length: int = 80,
    p: float = 2.0,
    q: float = 1.0,
    window: int = 10,
    negatives: int = 5,
    epochs: int = 1,
    batch_size: int = 4096,
    seed: int = 0,
) -> np.ndarray:
    r"""node2vec embedding of every sensor, float64 ``[sensors, dim]``: :func:`node2vec_walks`
    then :func:`skip_gram`.

    The defaults are GMAN's (``METR/node2vec/generateSE.py``): the adjacency's weights on a
    directed graph, :math:`p = 2`, :math:`q = 1`, 100 walks of 80 sensors from every sensor,
    64 dimensions, window 10, 5 negatives from the unigram^0.75 distribution. A graph with fewer
    sensors than ``dim`` needs no padding (unlike eigenvectors, learned vectors are not limited
    in number by the sensors): every column is learned. Sensors in no walk pair (isolated,
    without a self-loop) get the zero vector.

    Where this differs from the authors' code:

    * one skip-gram epoch, not gensim's ``iter=1000``, which would take hours on a CPU thread.
      On METR-LA's 207-sensor graph (Los-loop ``los_adj.csv``: 20,700 walks, 17.3 million
      pairs an epoch) the mean SGNS loss of 866,156 held-out pairs (walks of another seed) is
      1.3618 after a tenth of an epoch, 1.3557 after a quarter, 1.3534 after a half, 1.3524
      after one, 1.3516 after two and 1.3518 after four: one epoch is within 0.1% of the
      plateau. The whole call takes about 15 s on one thread of a shared 2-core machine
      (tests/graph/test_node2vec.py's docstring has the curve and how it was measured).
    * Adam on minibatches of 4,096 pairs, starting at ``lr=0.01`` and decaying linearly to
      0.4% of it, where gensim runs plain SGD one pair at a time from 0.025 to 1e-4 in 8
      threads (why: :func:`skip_gram`).
    * no down-sampling of frequent tokens (gensim's ``sample=1e-3``): on walks over a few
      hundred sensors it keeps about two thirds of every sensor's tokens (keep probability
      0.66 at frequency 1/207), a near-uniform thinning whose main effect is a longer reach
      of the window.
    * seeded and reproducible; walks from a sensor without out-edges stop (as there) and are
      padded with ``-1``; a sensor in no edge, absent from the authors' edge list and so from
      their ``SE.txt``, gets zeros.

    Args:
        adjacency: ``[sensors, sensors]`` non-negative weights (``SensorGraph.adjacency``).
        dim: width of the embedding (64).
        walks_per_node, walk_length, p, q: the walks; see :func:`node2vec_walks`.
        window, negatives, epochs, batch_size: the skip-gram; see :func:`skip_gram`.
        seed: seed of walks and skip-gram; equal seeds give equal embeddings.

    Shapes:
        adjacency: ``[sensors, sensors]`` -> ``[sensors, dim]`` float64
    """
    _check_positive_int(dim=dim)
    matrix = _as_adjacency(adjacency)
    walks = node2vec_walks(matrix, walks_per_node=walks_per_node, walk_length=walk_length, p=p, q=q, seed=seed)
    return skip_gram(
        walks, matrix.shape[0], dim, window=window, negatives=negatives, epochs=epochs, batch_size=batch_size, seed=seed
    )


def _sgns_loss(embedding: tuple[Any, Any], centre: Any, context: Any, noise_samples: Any) -> float:
    r"""Mean negative SGNS objective :math:`-\log\sigma(\mathbf{u}_c^\top\mathbf{v}_o) -
    \sum_j \log\sigma(-\mathbf{u}_c^\top\mathbf{v}_{n_j})` over given pairs and noise draws.

    Used to measure convergence; ``embedding`` is ``(inputs, outputs)``, each ``[nodes, dim]``
    torch tensors. Shapes: centre, context ``[pairs]``; noise_samples ``[pairs, negatives]``.
    """
    import torch

    inputs, outputs = embedding
    u = inputs[centre]
    positive = torch.nn.functional.logsigmoid((u * outputs[context]).sum(-1))
    negative = torch.nn.functional.logsigmoid(-torch.einsum("bd,bkd->bk", u, outputs[noise_samples])).sum(-1)
    return float(-(positive + negative).mean())


def _sgns_gradients(
    inputs: Any, outputs: Any, centre: Any, context: Any, noise: Any, negatives: int, generator: Any, *, dense: bool | None = None
) -> tuple[Any, Any]:
    r"""Gradients of the minibatch's mean negative SGNS objective with respect to both tables,
    written out (no autograd graph).

    Two paths compute the same numbers: ``dense=False`` gathers ``[batch, 1 + negatives, dim]``
    output vectors (the definition); ``dense=True`` scores every sensor pair at once,
    :math:`\mathbf{S} = \mathbf{U}\mathbf{V}^\top`, reads the batch's scores from it, adds the
    batch's slopes into a ``[sensors, sensors]`` matrix :math:`\mathbf{M}` and returns
    :math:`\mathbf{M}\mathbf{V}` and :math:`\mathbf{M}^\top\mathbf{U}`: three small matrix
    products instead of gathers and scatters of whole vectors, several times faster while
    ``sensors**2`` is not much more than the batch's scores. None picks by that rule.
    """
    import torch

    if negatives > 0:
        noise_samples = torch.multinomial(noise, centre.numel() * negatives, replacement=True, generator=generator)
        targets = torch.cat([context[:, None], noise_samples.view(-1, negatives)], dim=1)  # [batch, 1 + k]
        labels = torch.zeros(targets.shape, dtype=inputs.dtype)
        labels[:, 0] = 1.0
        keep = torch.ones(targets.shape, dtype=inputs.dtype)
        keep[:, 1:] = (targets[:, 1:] != context[:, None]).to(inputs.dtype)  # word2vec skips a draw equal to the context
    else:
        targets = context[:, None]
        labels = torch.ones(targets.shape, dtype=inputs.dtype)
        keep = labels
    num_nodes = inputs.shape[0]
    if dense is None:
        dense = num_nodes * num_nodes <= 8 * targets.numel()
    if dense:
        keys = (centre[:, None] * num_nodes + targets).reshape(-1)
        scores = (inputs @ outputs.T).reshape(-1)[keys].view(targets.shape)
    else:
        u = inputs[centre]  # [batch, dim]
        v = outputs[targets]  # [batch, 1 + k, dim]
        scores = (u[:, None, :] * v).sum(-1)
    # d(-log sigma(s)) / ds = sigma(s) - 1 for the context, d(-log sigma(-s)) / ds = sigma(s) for noise
    slope = (torch.sigmoid(scores) - labels) * keep / centre.numel()
    if dense:
        weights = torch.zeros(num_nodes * num_nodes, dtype=inputs.dtype).index_add_(0, keys, slope.reshape(-1))
        weights = weights.view(num_nodes, num_nodes)
        return weights @ outputs, weights.T @ inputs
    input_gradient = torch.zeros_like(inputs).index_add_(0, centre, (slope[:, :, None] * v).sum(1))
    output_gradient = torch.zeros_like(outputs).index_add_(
        0, targets.reshape(-1), (slope[:, :, None] * u[:, None, :]).reshape(-1, u.shape[1])
    )
    return input_gradient, output_gradient


def _adam_update(table: Any, gradient: Any, mean: Any, square: Any, rate: float, step: int) -> None:
    """One Adam step in place (Kingma & Ba, ICLR 2015; beta 0.9, 0.999, epsilon 1e-8), as
    ``torch.optim.Adam`` computes it; written out because that class imports torch._dynamo
    (seconds) on first use."""
    mean.mul_(0.9).add_(gradient, alpha=0.1)
    square.mul_(0.999).addcmul_(gradient, gradient, value=0.001)
    denominator = (square / (1.0 - 0.999**step)).sqrt_().add_(1e-8)
    table.addcdiv_(mean, denominator, value=-rate / (1.0 - 0.9**step))


def _window_pairs(walks: np.ndarray, window: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(centre, context) pairs of ``walks`` with word2vec's shrunk window per centre token."""
    reach = window - rng.integers(0, window, size=walks.shape)  # 1..window per centre token
    centres: list[np.ndarray] = []
    contexts: list[np.ndarray] = []
    length = walks.shape[1]
    for offset in range(1, min(window, length - 1) + 1):
        for centre, context, centre_reach in (
            (walks[:, :-offset], walks[:, offset:], reach[:, :-offset]),  # context after the centre
            (walks[:, offset:], walks[:, :-offset], reach[:, offset:]),  # context before the centre
        ):
            valid = (centre >= 0) & (context >= 0) & (centre_reach >= offset)
            centres.append(centre[valid])
            contexts.append(context[valid])
    if not centres:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(centres), np.concatenate(contexts)


def _as_adjacency(adjacency: Any) -> sp.csr_matrix:
    """Square, finite, non-negative float64 CSR with sorted indices and no stored zeros."""
    try:
        matrix = sp.csr_matrix(adjacency, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise GraphError(f"adjacency must be a [sensors, sensors] matrix of weights: {error}") from None
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
        raise GraphError(f"adjacency must be a non-empty square [sensors, sensors] matrix, got {list(matrix.shape)}")
    if not np.all(np.isfinite(matrix.data)):
        raise GraphError(f"adjacency has {int((~np.isfinite(matrix.data)).sum())} non-finite weights")
    if np.any(matrix.data < 0):
        raise GraphError(f"adjacency has {int((matrix.data < 0).sum())} negative weights; node2vec walks need weights >= 0")
    matrix = matrix.copy()
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    matrix.sort_indices()
    return matrix


def _check_positive_int(**values: Any) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_positive_float(**values: Any) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a positive finite number, got {value!r}")
