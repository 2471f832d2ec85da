"""reuse_freed_memory's decisions, in this process, against a stand-in C library: where it
declines (opt-out, not glibc, mallopt refusing) and the settings it asks for, in order.
tests/ops/test_memory.py measures the real effect in fresh interpreters."""

from __future__ import annotations

import logging

import pytest

from stgraph.ops import memory


class _Libc:
    def __init__(self, answer: int) -> None:
        self.answer, self.calls = answer, []

    def mallopt(self, parameter: int, value: int) -> int:
        self.calls.append((parameter, value))
        return self.answer


@pytest.fixture
def libc(monkeypatch):
    """A glibc Linux whose C library is a stand-in (nothing process-wide changes), not yet tuned."""
    monkeypatch.setattr(memory, "_applied", None)
    monkeypatch.delenv("STGRAPH_MALLOC", raising=False)
    monkeypatch.setattr(memory.platform, "system", lambda: "Linux")
    monkeypatch.setattr(memory.platform, "libc_ver", lambda: ("glibc", "2.35"))
    fake = _Libc(answer=1)
    monkeypatch.setattr(memory.ctypes, "CDLL", lambda name: fake)
    return fake


def test_asks_to_keep_freed_memory_then_to_stop_mapping(libc):
    assert memory.reuse_freed_memory() is True
    # trimming off first: no freed memory goes back to the system between the two calls
    assert libc.calls == [(-1, 2**31 - 1), (-4, 0)]
    assert memory.reuse_freed_memory() is True and len(libc.calls) == 2  # once per process


@pytest.mark.parametrize("value", ["system", "SYSTEM"])
def test_the_opt_out_keeps_the_defaults(libc, monkeypatch, value):
    monkeypatch.setenv("STGRAPH_MALLOC", value)
    assert memory.reuse_freed_memory() is False
    monkeypatch.delenv("STGRAPH_MALLOC")
    assert memory.reuse_freed_memory() is False  # decided once: a later environment change does not apply it
    assert libc.calls == []


@pytest.mark.parametrize(("system", "libc_name"), [("Darwin", ""), ("Windows", ""), ("Linux", "")])  # Linux "": musl
def test_other_c_libraries_are_left_alone(libc, monkeypatch, system, libc_name):
    monkeypatch.setattr(memory.platform, "system", lambda: system)
    monkeypatch.setattr(memory.platform, "libc_ver", lambda: (libc_name, ""))
    assert memory.reuse_freed_memory() is False and libc.calls == []


def test_a_refused_setting_is_a_warning_and_false(libc, caplog):
    libc.answer = 0
    with caplog.at_level(logging.WARNING, logger="stgraph.ops.memory"):
        assert memory.reuse_freed_memory() is False
    assert libc.calls == [(-1, 2**31 - 1)]  # the second setting is not tried after the first is refused
    assert "glibc mallopt refused the settings" in caplog.text
