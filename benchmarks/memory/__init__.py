"""The memory benchmark: peak memory and step time of a training step with bf16-mixed, activation checkpointing and sensor batches."""
