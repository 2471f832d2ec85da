"""Argument types and checks shared by the subcommands: counts, devices and accelerators.

A bad value fails in argparse (``stgraph train: error: argument --max-steps: expected a positive
integer, got '-7'``, exit code 2) or, for hardware that is not there, before any data is read.
No import of torch here until a device is actually checked.
"""

from __future__ import annotations

import argparse
import importlib.util
from typing import TYPE_CHECKING, Any

from stgraph.errors import ConfigError

if TYPE_CHECKING:
    from stgraph.pipeline.config import ExperimentConfig

__all__ = [
    "accelerator_problem",
    "check_accelerator",
    "device_problem",
    "devices",
    "non_negative_int",
    "one_line",
    "positive_float",
    "positive_int",
]


def one_line(error: BaseException | str) -> str:
    """An error's message on one line (Lightning's and torch's span several)."""
    return " ".join(str(error).split()) or (type(error).__name__ if isinstance(error, BaseException) else "error")


def _integer_at_least(text: str, minimum: int, expected: str) -> int:
    """``int(text)`` if it is at least ``minimum``; otherwise argparse's error saying ``expected``."""
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (epochs, steps, batch sizes, threads, neighbours)."""
    return _integer_at_least(text, 1, "a positive integer")


def non_negative_int(text: str) -> int:
    """An integer >= 0 (a random seed)."""
    return _integer_at_least(text, 0, "an integer >= 0")


def positive_float(text: str) -> float:
    """A finite number > 0 (a time budget in seconds)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def devices(text: str) -> Any:
    """``--devices`` as Lightning takes it: a count (-1 = all), a list ``0,1`` or a name (``auto``)."""
    text = text.strip()
    if text.lstrip("-").isdigit():
        count = int(text)
        if count < 1 and count != -1:
            raise argparse.ArgumentTypeError(f"expected a device count >= 1 (or -1 for all), got {text!r}")
        return count
    if "," in text:
        parts = [part.strip() for part in text.split(",") if part.strip()]
        if not parts or not all(part.isdigit() for part in parts):
            raise argparse.ArgumentTypeError(f"expected device indices such as 0,1, got {text!r}")
        return [int(part) for part in parts]
    if not text:
        raise argparse.ArgumentTypeError("expected a device count, a list such as 0,1, or auto")
    return text


def _no_gpu() -> str:
    return "no GPU is visible to torch (torch.cuda.is_available() is False)"


def accelerator_problem(accelerator: str | None) -> str | None:
    """Why Lightning's ``accelerator`` cannot run here, or ``None`` (also for names it will judge).

    Checked before training so that ``--accelerator gpu`` on a machine without one fails in a
    line, before the data are read, instead of in Lightning's ``MisconfigurationException``.
    """
    name = (accelerator or "auto").lower()
    if name in ("auto", "cpu"):
        return None
    import torch

    if name == "cuda" and not torch.cuda.is_available():
        return _no_gpu()
    if name == "gpu" and not (torch.cuda.is_available() or torch.backends.mps.is_available()):
        return _no_gpu()
    if name == "mps" and not torch.backends.mps.is_available():
        return "no Apple MPS device is visible to torch (torch.backends.mps.is_available() is False)"
    if name == "tpu" and importlib.util.find_spec("torch_xla") is None:
        return "TPUs need torch_xla, which is not installed"
    return None


def check_accelerator(config: ExperimentConfig, flag: str | None) -> None:
    """Refuse, before any data is read, an accelerator that is not there (``--accelerator gpu``
    on a machine without a GPU), naming where it was asked for: ``flag`` or the configuration.

    Raises:
        ConfigError: e.g. ``--accelerator gpu: no GPU is visible to torch (...); use --accelerator cpu or auto``.
    """
    accelerator = config.training.accelerator
    problem = accelerator_problem(accelerator)
    if problem:
        if flag:
            raise ConfigError(f"{flag} {accelerator}: {problem}; use {flag} cpu or auto")
        raise ConfigError(f"training.accelerator {accelerator!r}: {problem}; set training.accelerator=cpu or auto")


def device_problem(device: str) -> str | None:
    """Why ``device`` (a torch device string: ``cpu``, ``cuda:1``, ``mps``) cannot be used, or ``None``."""
    if device == "cpu":
        return None
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        return "not a torch device (expected cpu, cuda, cuda:N or mps)"
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            return _no_gpu()
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            return f"torch sees {torch.cuda.device_count()} GPU(s), numbered from 0"
    if parsed.type == "mps" and not torch.backends.mps.is_available():
        return "no Apple MPS device is visible to torch (torch.backends.mps.is_available() is False)"
    return None
