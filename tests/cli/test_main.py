"""The ``stgraph`` entry point: the subcommands it offers, exit codes, one-line errors."""

from __future__ import annotations

import importlib

import pytest

import stgraph.cli.main as cli
from stgraph.cli import datasets_cmd
from stgraph.errors import ConfigError, GraphError


def _subcommands(parser) -> list[str]:
    action = next(a for a in parser._actions if a.dest == "command")
    return list(action.choices)


def test_every_subcommand_is_offered_in_order():
    assert _subcommands(cli.build_parser()) == list(cli.SUBCOMMANDS)


def test_a_subcommand_missing_from_the_build_is_left_out(monkeypatch):
    real = importlib.import_module

    def without_download(name, *args):
        if name == "stgraph.cli.download_cmd":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real(name, *args)

    monkeypatch.setattr(cli.importlib, "import_module", without_download)
    assert _subcommands(cli.build_parser()) == [name for name in cli.SUBCOMMANDS if name != "download"]


def test_a_subcommand_missing_a_dependency_is_an_error(monkeypatch):
    real = importlib.import_module

    def broken(name, *args):
        if name == "stgraph.cli.graph_cmd":
            raise ModuleNotFoundError("No module named 'networkx'", name="networkx")
        return real(name, *args)

    monkeypatch.setattr(cli.importlib, "import_module", broken)
    with pytest.raises(ModuleNotFoundError, match="networkx"):
        cli.build_parser()


def test_no_command_prints_help_and_exits_2(capsys):
    assert cli.main([]) == 2
    out = capsys.readouterr().out
    assert out.startswith("usage: stgraph") and all(name in out for name in cli.SUBCOMMANDS)


@pytest.mark.parametrize(("returned", "code"), [(None, 0), (0, 0), (3, 3)])
def test_exit_code_is_what_the_subcommand_returns(monkeypatch, returned, code):
    monkeypatch.setattr(datasets_cmd, "run", lambda args: returned)
    assert cli.main(["datasets"]) == code


@pytest.mark.parametrize("error", [ConfigError("training.lr must be a number"), FileNotFoundError("runs/x: no model")])
def test_bad_input_is_one_line_on_stderr_and_exit_1(monkeypatch, capsys, error):
    def fail(args):
        raise error

    monkeypatch.setattr(datasets_cmd, "run", fail)
    assert cli.main(["datasets"]) == 1
    assert capsys.readouterr().err == f"stgraph datasets: error: {error}\n"


def test_verbose_keeps_the_traceback(monkeypatch):
    def fail(args):
        raise GraphError("distances.csv, line 2: negative distance")

    monkeypatch.setattr(datasets_cmd, "run", fail)
    with pytest.raises(GraphError, match="negative distance"):
        cli.main(["--verbose", "datasets"])


def test_a_bug_is_not_reported_as_bad_input(monkeypatch):
    def fail(args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(datasets_cmd, "run", fail)
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main(["datasets"])


def test_ctrl_c_exits_130(monkeypatch, capsys):
    def interrupt(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(datasets_cmd, "run", interrupt)
    assert cli.main(["datasets"]) == 130
    assert capsys.readouterr().err == "stgraph datasets: interrupted\n"
