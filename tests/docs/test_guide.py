"""The guide pages in ``docs/guide`` run as written: their ``python`` blocks and ``console``
commands are executed in order, in a fresh directory beside the committed sample, so that the
documentation cannot drift from the code.

Blocks fenced as ``bash`` are shown, not run (they need a download or a GPU). The commands run
in this process through :func:`stgraph.cli.main.main`, the function behind the ``stgraph``
script, so that a page does not pay torch's import once per command; what a command changes in
the process (torch's thread count) is put back after it.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import torch

from stgraph.cli.main import main

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "guide"
PAGES = sorted(GUIDE.glob("*.md"))
BLOCK = re.compile(r"^```(?P<kind>[a-z]*)\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)


def runnable_blocks(page: Path) -> list[tuple[str, str, int]]:
    """``(kind, body, line)`` of every ``python`` and ``console`` block of ``page``."""
    text = page.read_text(encoding="utf-8")
    return [
        (m["kind"], m["body"], text.count("\n", 0, m.start()) + 2)
        for m in BLOCK.finditer(text)
        if m["kind"] in ("python", "console")
    ]


def console_commands(body: str) -> list[str]:
    """The ``$ ``-prompted lines of a console block (other lines are the output shown)."""
    return [line[2:] for line in body.splitlines() if line.startswith("$ ")]


def test_every_page_has_something_to_run():
    assert [p.name for p in PAGES] == [
        "1-reproduce-a-paper-number.md",
        "2-your-own-sensor-network.md",
        "3-models-in-your-own-code.md",
        "anomalies.md",
        "export.md",
        "imputation.md",
        "intervals.md",
        "serving.md",
        "several-processes.md",
    ]
    for page in PAGES:
        assert runnable_blocks(page), f"{page.name} has no python or console block"


def test_the_parser_finds_blocks_and_commands(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("text\n```python\nx = 1\n```\n```bash\nrm -rf /\n```\n```console\n$ stgraph datasets\noutput\n```\n")
    assert runnable_blocks(page) == [("python", "x = 1\n", 3), ("console", "$ stgraph datasets\noutput\n", 9)]
    assert console_commands("$ stgraph datasets\noutput\n$ stgraph --help\n") == ["stgraph datasets", "stgraph --help"]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_page_runs(page, tmp_path, monkeypatch, capsys):
    (tmp_path / "datasets").symlink_to(REPO / "datasets")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STGRAPH_DATA", str(REPO / "datasets"))
    monkeypatch.setenv("STGRAPH_MALLOC", "system")
    namespace: dict = {"__name__": "__guide__"}
    for kind, body, line in runnable_blocks(page):
        where = f"{page.relative_to(REPO)}:{line}"
        if kind == "python":
            exec(compile(body, where, "exec"), namespace)
            continue
        for command in console_commands(body):
            argv = shlex.split(command)
            assert argv[0] == "stgraph", f"{where}: only stgraph commands run here, got {command!r}"
            threads = torch.get_num_threads()
            try:
                status = main(argv[1:])
            finally:
                torch.set_num_threads(threads)
            output = capsys.readouterr()
            assert status == 0, f"{where}: $ {command}\n{output.out[-2000:]}\n{output.err[-2000:]}"
