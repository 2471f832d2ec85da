#!/usr/bin/env bash
# Train one stgraph run with NPROC processes on this machine, started by torchrun.
#
#   NPROC=2 examples/ddp/train_torchrun.sh --dataset metr-la --model stgcn --accelerator gpu --out runs/stgcn-ddp
#
# Every process runs `stgraph train` with the same arguments; --out is required (they all write
# one run, rank 0 alone writes its files). data.batch_size stays the global batch: each process
# takes batch_size / NPROC windows of every step. On CPU give each process its share of the
# cores: --set training.threads=N. For several machines run this on each with
# --nnodes, --node-rank and --rdzv-endpoint in TORCHRUN_ARGS instead of --standalone, and add
# --num-nodes to the stgraph arguments.
set -euo pipefail
NPROC="${NPROC:-2}"
PYTHON="${PYTHON:-python}"
# shellcheck disable=SC2086  # TORCHRUN_ARGS is a list of options
exec "$PYTHON" -m torch.distributed.run ${TORCHRUN_ARGS:---standalone} --nproc-per-node "$NPROC" \
    -m stgraph train --strategy ddp --devices "$NPROC" "$@"
